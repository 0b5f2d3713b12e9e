"""The review web application: FastAPI with server-rendered Jinja2 pages and the JSON API.

``create_app`` wires the store, the site grammar (to recompute a reviewed score) and the
configuration; ``callmon web`` serves it with uvicorn.  Security headers go on every answer;
nothing but the sign-in page, its static files and /healthz is served without a session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from callmon import __version__
from callmon.compliance.grammar import load_grammar
from callmon.compliance.grammar_schema import Grammar
from callmon.config import Config
from callmon.live.hub import LiveHub
from callmon.ops.health import DaemonState, ops_router
from callmon.store.accounts import Principal
from callmon.store.db import open_store
from callmon.timeutil import PeriodError
from callmon.web import api, exports, pages
from callmon.web import live as live_routes
from callmon.web.security import SignInRequired, principal

HERE = Path(__file__).resolve().parent
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def create_app(cfg: Config, engine: Engine | None = None, grammar: Grammar | None = None,
               state: DaemonState | None = None, live: LiveHub | None = None) -> FastAPI:
    """The review UI and its API, with /healthz, /readyz and /metrics (``state``: the daemon's, when
    ``callmon run`` serves it)."""
    # the schema is served below, to signed-in users only (FastAPI's own route would need no session)
    app = FastAPI(title="callmon", version=__version__, openapi_url=None, docs_url=None,
                  redoc_url=None, description="110 call-handling review: calls, verdicts, reviews, disputes.")
    app.state.config = cfg
    app.state.engine = engine if engine is not None else open_store(cfg.database.url)
    app.state.grammar = grammar if grammar is not None else load_grammar(cfg.compliance.grammar)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(exports.router)
    app.include_router(ops_router(cfg, app.state.engine, state))
    app.state.live = live  # the wallboard's hub when callmon run serves the UI
    app.include_router(live_routes.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi_schema(who: Principal = Depends(principal)) -> dict[str, Any]:
        return app.openapi()

    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, exc: SignInRequired) -> Response:
        if exc.api or request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "sign-in required"}, status_code=401)
        return RedirectResponse("/login?next=" + request.url.path, status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/") or exc.status_code not in (403, 404, 409):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return pages.error_page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(PeriodError)
    async def bad_period(request: Request, exc: PeriodError) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(DataError)
    async def bad_data(request: Request, exc: DataError) -> Response:
        # a value the database cannot hold, e.g. a NUL character (PostgreSQL text): the request's fault, not a 500
        return JSONResponse({"detail": "a value in the request cannot be stored or searched"}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
