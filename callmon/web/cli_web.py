"""``callmon web`` (serve the review UI) and ``callmon user add|passwd|disable|enable|list``.

There is no default account: the first admin and supervisors are made here, on the server.
A password is read from standard input when it is not a terminal (one line), and prompted
for twice otherwise; it never appears on the command line or in the logs.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from collections.abc import Callable

from sqlalchemy.orm import Session

from callmon.config import Config
from callmon.store import accounts
from callmon.store.db import open_store, safe_url

log = logging.getLogger("callmon.web")


def cmd_web(cfg: Config, args: argparse.Namespace) -> int:
    """Serve the review UI and the JSON API (default 127.0.0.1:8110, the [web] settings)."""
    import uvicorn

    from callmon.web.app import create_app

    host, port = args.host or cfg.web.host, args.port or cfg.web.port
    app = create_app(cfg)
    log.info("review UI on http://%s:%d/ (database %s)", host, port, safe_url(cfg.database.url))
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, proxy_headers=False)
    return 0


def _password(prompt_twice: bool = True) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if prompt_twice and getpass.getpass("again: ") != first:
        raise accounts.AccountError("the two passwords differ")
    return first


def cmd_user(cfg: Config, args: argparse.Namespace) -> int:
    engine = open_store(cfg.database.url)
    try:
        with Session(engine) as session, session.begin():
            if args.action == "add":
                accounts.add_user(session, args.name, args.role, _password(), args.operator)
            elif args.action == "passwd":
                accounts.set_password(session, args.name, _password())
            elif args.action in ("disable", "enable"):
                accounts.set_disabled(session, args.name, args.action == "disable")
            else:
                users = [{"username": u.username, "role": u.role, "operator": u.operator, "disabled": u.disabled}
                         for u in accounts.list_users(session)]
                if args.json:
                    print(json.dumps(users, ensure_ascii=False))
                for u in [] if args.json else users:
                    state = "disabled" if u["disabled"] else "enabled"
                    print(f"{u['username']:20} {u['role']:10} {u['operator'] or '-':12} {state}")
    except accounts.AccountError as exc:
        print(f"callmon: {exc}", file=sys.stderr)
        return 2
    if args.action != "list":
        print(f"user {args.name}: {args.action} done")
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("web", cmd_web, "serve the review web UI and JSON API")
    p.add_argument("--host", help="bind address (default: [web] host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: [web] port, 8110)")
    p = add("user", cmd_user, "manage review UI accounts")
    sub = p.add_subparsers(dest="action", required=True)
    a = sub.add_parser("add", help="add an account (password from stdin, or prompted)")
    a.add_argument("name")
    a.add_argument("--role", required=True, choices=accounts.ROLES)
    a.add_argument("--operator", metavar="MEMBERNAME", help="for --role operator: the name calls carry")
    for action in ("passwd", "disable", "enable"):
        sub.add_parser(action, help=f"{action} an account").add_argument("name")
    sub.add_parser("list", help="list accounts").add_argument("--json", action="store_true")
    for action_parser in sub.choices.values():  # --db after the action too, as in the other commands
        action_parser.add_argument("--db", metavar="URL", default=argparse.SUPPRESS,
                                   help="database URL (default: config database.url)")
