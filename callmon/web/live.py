"""实时监控: the live wallboard page and its Server-Sent Events stream (supervisors).

The board lives in ``callmon run`` (it hears AMI), so the page works where the UI is served by the
daemon (``[web] enabled``); under ``callmon web`` alone it says so.  Caller numbers are masked as
the user's role sees them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from callmon.live.hub import LiveHub
from callmon.masking import mask_number
from callmon.store.accounts import Principal
from callmon.web.pages import render
from callmon.web.security import masks, require

router = APIRouter(include_in_schema=False)
WATCHERS = ("supervisor",)
KEEPALIVE = 15.0  # seconds between comment lines, so proxies keep the stream open


def _hub(request: Request) -> LiveHub | None:
    return getattr(request.app.state, "live", None)


def _shown(state: dict[str, Any], mask: bool) -> dict[str, Any]:
    if not mask:
        return state
    return {**state, "calls": [{**c, "caller": mask_number(c["caller"])} for c in state["calls"]]}


@router.get("/live")
def live_page(request: Request, who: Principal = Depends(require(*WATCHERS, page=True))) -> HTMLResponse:
    return render(request, "live.html", who, available=_hub(request) is not None)


@router.get("/api/live")
def live_state(request: Request, who: Principal = Depends(require(*WATCHERS))) -> JSONResponse:
    hub = _hub(request)
    if hub is None:
        return JSONResponse({"detail": "the live board is served by callmon run"}, status_code=503)
    return JSONResponse(_shown(hub.board.snapshot(), masks(request, who)))


@router.get("/api/live/stream")
async def live_stream(request: Request, who: Principal = Depends(require(*WATCHERS))) -> Response:
    hub = _hub(request)
    if hub is None:
        return JSONResponse({"detail": "the live board is served by callmon run"}, status_code=503)
    mask = masks(request, who)

    async def events() -> AsyncIterator[bytes]:
        queue = hub.subscribe()
        try:
            while not await request.is_disconnected():
                try:
                    kind, data = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if kind == "close":
                    return
                if kind == "state":
                    data = _shown(data, mask)
                yield f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
        finally:
            hub.unsubscribe(queue)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
