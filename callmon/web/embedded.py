"""``callmon run``'s HTTP server on ``[http]`` host:port: /healthz, /readyz, /metrics, and the review
UI too when ``[web] enabled = true``.  One uvicorn server on the daemon's loop.

The daemon owns the signals (SIGTERM ends it cleanly), so the embedded server installs none of
its own and is stopped by the daemon after the in-flight events are stored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from callmon.config import Config
from callmon.live.hub import LiveHub
from callmon.ops.health import DaemonState, ops_router


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def http_server(cfg: Config, engine: Engine, state: DaemonState, live: LiveHub | None = None) -> EmbeddedServer:
    """The server to run beside the daemon."""
    if cfg.web.enabled:
        from callmon.web.app import create_app

        app = create_app(cfg, engine=engine, state=state, live=live)
    else:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        app.include_router(ops_router(cfg, engine, state))
    return EmbeddedServer(uvicorn.Config(app, host=cfg.http.host, port=cfg.http.port, log_level="warning",
                                         access_log=False, proxy_headers=False,
                                         timeout_graceful_shutdown=5))
