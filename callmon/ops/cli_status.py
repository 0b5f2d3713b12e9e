"""``callmon status``: what ``/readyz`` of the running daemon says, on the command line."""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from collections.abc import Callable

from callmon.config import Config

LABELS = {"ami": "AMI connection", "database": "database", "backlog": "transcription backlog"}


def cmd_status(cfg: Config, args: argparse.Namespace) -> int:
    """0 ready, 1 not ready or not running."""
    host = "127.0.0.1" if cfg.http.host in ("0.0.0.0", "::", "") else cfg.http.host
    url = f"http://{host}:{cfg.http.port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as answer:
            result = json.load(answer)
    except urllib.error.HTTPError as exc:
        if exc.code != 503:
            print(f"callmon status: {url} answered {exc.code}")
            return 1
        result = json.load(exc)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        print(f"callmon is not running at {cfg.http.host}:{cfg.http.port} ({getattr(exc, 'reason', exc)})")
        return 1
    if args.json:
        print(json.dumps(result))
    else:
        print("ready" if result["ready"] else "NOT READY")
        for key, ok in result["checks"].items():
            print(f"  {LABELS.get(key, key):22} {'ok' if ok else 'FAILING'}")
    return 0 if result["ready"] else 1


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("status", cmd_status, "is the running daemon ready? (its /readyz: AMI, database, backlog)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS")
