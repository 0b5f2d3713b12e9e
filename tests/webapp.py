"""Helpers for the web tests: a month made by the real pipeline, accounts, a real server on a port.

``pipeline_db`` runs ``callmon demo`` (AMI capture replay -> calls -> recordings -> Whisper
transcripts -> checks -> scores) into a SQLite file once per test session; tests copy that
file so each starts from the same real data.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from sqlalchemy.orm import Session

from callmon.cli import main as callmon_main
from callmon.config import Config, load_config
from callmon.store import accounts
from callmon.store.db import open_store
from callmon.web.app import create_app

PASSWORDS = {
    "admin": "admin-password-1",
    "sup": "supervisor-password-1",
    "sup2": "supervisor-password-2",
    "op1": "operator-password-1",
    "op2": "operator-password-2",
    "aud": "auditor-password-1",
}
ROLES = {"admin": ("admin", None), "sup": ("supervisor", None), "sup2": ("supervisor", None),
         "op1": ("operator", "op1001"), "op2": ("operator", "op1002"), "aud": ("auditor", None)}


def build_pipeline_db(path: Path) -> str:
    """The bundled captures through the whole real pipeline into a SQLite file; returns its URL."""
    url = f"sqlite:///{path}"
    status = callmon_main(["demo", "--db", url])
    assert status == 0, f"callmon demo failed ({status})"
    return url


def copy_db(template: Path, target: Path) -> str:
    """A consistent copy (SQLite's online backup: the template is in WAL mode, a file copy could miss pages)."""
    with sqlite3.connect(template) as source, sqlite3.connect(target) as dest:
        source.backup(dest)
    return f"sqlite:///{target}"


def add_accounts(url: str) -> None:
    with Session(open_store(url)) as session, session.begin():
        for name, (role, operator) in ROLES.items():
            accounts.add_user(session, name, role, PASSWORDS[name], operator)


def web_config(url: str) -> Config:
    cfg = load_config(None)
    cfg.database.url = url
    return cfg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(cfg: Config) -> Iterator[str]:
    """The app under a real uvicorn server on 127.0.0.1 (a thread); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(cfg), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
