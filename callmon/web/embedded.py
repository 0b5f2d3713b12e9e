"""The review UI inside ``callmon run`` ([web] enabled = true): one uvicorn server on the daemon's loop.

The daemon owns the signals (SIGTERM ends it cleanly), so the embedded server installs none of
its own and is stopped by the daemon after the in-flight events are stored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn
from sqlalchemy.engine import Engine

from callmon.config import Config


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def web_server(cfg: Config, engine: Engine) -> EmbeddedServer | None:
    """The server to run beside the daemon, or None when [web] is not enabled."""
    if not cfg.web.enabled:
        return None
    from callmon.web.app import create_app

    return EmbeddedServer(uvicorn.Config(create_app(cfg, engine=engine), host=cfg.web.host, port=cfg.web.port,
                                         log_level="warning", access_log=False, proxy_headers=False))
