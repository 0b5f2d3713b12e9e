"""Server time of the review API on a generated month of 150,000 calls (target: p95 < 300 ms).

For each database (SQLite in a temporary file, PostgreSQL in a temporary schema) the store is
opened (``open_store`` migrates it), a month is generated (``tests/generated_month.py``: 150,000
calls of 2026-10 and 2,000 in each of the 11 months before), a supervisor account is added and
signed in through ``POST /api/session``, and then the real application (``create_app``, every
dependency, the session check, the handler, the JSON rendering) answers, in-process through
``fastapi.testclient.TestClient``:

* the flagged queue ``GET /api/calls?month=2026-10&flagged=true``: first page, a deep page
  (offset 20,000) and the last page, each sort (time, score, ring, operator) in both orders
  (and one at offset 10,000), each filter (operator, reason = each flag kind, score range,
  review state) and two combinations;
* the whole month's list (``flagged=false``) first and last page;
* ``GET /api/operators/{op}/scorecard?month=2026-10`` (the month, its items, the 12-month trend,
  the flagged calls) for several operators.

SERVER TIME is measured by an ASGI wrapper around the application: from the moment the request
enters the app until it hands over the last byte of the answer, so the test client's own work
(building the request, parsing the JSON) is not counted.  Every request runs once unmeasured
(the "cold" column: its first run) and then ``--repeats`` times.  The generator leaves
PostgreSQL vacuumed and analysed (as autovacuum would a while after a bulk load) and SQLite
without ANALYZE (as the application leaves it).

Run: .venv/bin/python bench/bench_web.py [--calls N] [--db sqlite|postgresql|both] [--repeats N]
PostgreSQL: CALLMON_TEST_POSTGRES_URL or postgresql+psycopg://postgres@127.0.0.1:5432/test.
``--sqlite-file PATH`` / ``--pg-schema NAME`` keep the database (and reuse it when it already
holds calls), to measure an index change without generating the month again.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Engine, create_engine, func, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from callmon.config import load_config  # noqa: E402
from callmon.store import accounts  # noqa: E402
from callmon.store.db import open_store  # noqa: E402
from callmon.store.models import Call  # noqa: E402
from callmon.store.review import FLAG_KINDS, REVIEW_STATES  # noqa: E402
from callmon.store.review_models import User  # noqa: E402
from callmon.web.app import create_app  # noqa: E402
from tests.generated_month import generate_month, operator_names  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MONTH = "2026-10"
USER, PASSWORD = "bench-supervisor", "bench-password-1"
TARGET_MS = 300.0
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ServerTimer:
    """ASGI wrapper: seconds from the request entering the app to the last byte of its answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        done: list[float] = []

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                done.append(time.perf_counter())
            await send(message)

        await self.app(scope, receive, timed_send)
        self.last = (done[0] if done else time.perf_counter()) - start


@dataclass
class Result:
    db: str
    generate_seconds: float | None
    rows: dict[str, int]
    samples: dict[str, list[float]] = field(default_factory=dict)  # group -> ms
    cold: dict[str, list[float]] = field(default_factory=dict)
    slowest: dict[str, tuple[float, str]] = field(default_factory=dict)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@contextmanager
def sqlite_url(keep: str | None) -> Iterator[str]:
    if keep:
        yield f"sqlite:///{Path(keep).resolve()}"
        return
    with tempfile.TemporaryDirectory(prefix="bench_web_") as tmp:
        yield f"sqlite:///{tmp}/callmon.db"


@contextmanager
def postgres_url(keep: str | None) -> Iterator[str]:
    base = os.environ.get("CALLMON_TEST_POSTGRES_URL", PG_DEFAULT)
    schema = keep or f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        if not keep:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def prepare(engine: Engine, args: argparse.Namespace) -> tuple[float | None, dict[str, int]]:
    """Generate the month unless the store holds calls already (a kept database); add the account."""
    with Session(engine) as session:
        have = session.scalar(select(func.count(Call.id))) or 0
    made: tuple[float | None, dict[str, int]]
    if have:
        print(f"  reusing {have:,} stored calls", file=sys.stderr)
        made = None, {"calls": int(have)}
    else:
        info = generate_month(engine, MONTH, calls=args.calls, operators=args.operators, seed=args.seed,
                              history_calls=args.history_calls)
        made = float(info["seconds"]), dict(info["rows"])
        print(f"  generated {info['rows']} in {info['seconds']} s", file=sys.stderr)
    with Session(engine) as session, session.begin():
        if session.scalars(select(User.id).where(User.username == USER)).first() is None:
            accounts.add_user(session, USER, "supervisor", PASSWORD)
    return made


def requests(total: int, every: int, operators: list[str], scorecards: int) -> list[tuple[str, str]]:
    """(group, URL) of everything measured; ``total`` flagged calls, ``every`` calls in the month."""
    q = f"/api/calls?month={MONTH}&flagged=true"
    last = max(0, (total - 1) // 50 * 50)
    out = [("queue: first page", q), ("queue: deep page (offset 20000, last)", f"{q}&offset={min(20_000, last)}"),
           ("queue: deep page (offset 20000, last)", f"{q}&offset={last}")]
    for sort in ("time", "score", "ring", "operator"):
        for order in ("desc", "asc"):
            out.append(("queue: sort (4 keys x 2 orders)", f"{q}&sort={sort}&order={order}"))
    out.append(("queue: sort (4 keys x 2 orders)", f"{q}&sort=score&order=asc&offset={min(10_000, last)}"))
    for op in operators[:: max(1, len(operators) // 4)][:4]:
        out.append(("queue: filter operator", f"{q}&operator={op}"))
    for kind in FLAG_KINDS:
        out.append(("queue: filter reason", f"{q}&reason={kind}"))
    for rng in ("min_score=60", "max_score=70", "min_score=50&max_score=79", "min_score=90"):
        out.append(("queue: filter score", f"{q}&{rng}"))
    for state in REVIEW_STATES:
        out.append(("queue: filter state", f"{q}&state={state}"))
    out.append(("queue: combined filters", f"{q}&operator={operators[0]}&reason=below_pass&sort=score&order=asc"))
    out.append(("queue: combined filters", f"{q}&reason=rings&state=unreviewed&min_score=60&sort=ring"))
    a = f"/api/calls?month={MONTH}"
    out += [("all calls: first, last page", a),
            ("all calls: first, last page", f"{a}&offset={max(0, (every - 1) // 50 * 50)}")]
    for op in operators[1:: max(1, len(operators) // scorecards)][:scorecards]:
        out.append(("scorecard", f"/api/operators/{op}/scorecard?month={MONTH}"))
    return out


def measure(db: str, url: str, args: argparse.Namespace) -> Result:
    print(f"{db}: opening and migrating", file=sys.stderr)
    engine = open_store(url)
    try:
        generated, rows = prepare(engine, args)
        cfg = load_config(None)
        cfg.database.url = url
        app = create_app(cfg, engine=engine)
        timer = ServerTimer(app)
        result = Result(db, generated, rows)
        with TestClient(timer) as client:
            signed = client.post("/api/session", json={"username": USER, "password": PASSWORD})
            signed.raise_for_status()
            first = client.get(f"/api/calls?month={MONTH}&flagged=true")
            first.raise_for_status()
            every = client.get(f"/api/calls?month={MONTH}&limit=1").json()["total"]
            ops = operator_names(args.operators)
            todo = requests(first.json()["total"], every, ops, args.scorecards)
            print(f"  {len(todo)} requests x (1 cold + {args.repeats}); flagged {first.json()['total']:,} "
                  f"of {every:,}", file=sys.stderr)
            for rep in range(args.repeats + 1):
                for group, path in todo:
                    answer = client.get(path)
                    if answer.status_code != 200:
                        raise SystemExit(f"{db}: {path} -> {answer.status_code} {answer.text[:300]}")
                    ms = timer.last * 1000
                    (result.cold if rep == 0 else result.samples).setdefault(group, []).append(ms)
                    if rep and ms > result.slowest.get(group, (0.0, ""))[0]:
                        result.slowest[group] = (ms, path)
        return result
    finally:
        engine.dispose()


def table(results: list[Result]) -> str:
    groups = list(dict.fromkeys(g for r in results for g in r.samples))
    head = "| endpoint group | n |" + "".join(f" {r.db} p50 | p95 | max | cold |" for r in results)
    lines = [head, "|" + "---|" * (2 + 4 * len(results))]
    for g in groups:
        n = len(results[0].samples.get(g, []))
        cells = []
        for r in results:
            s = r.samples.get(g, [])
            cells.append(f" {pct(s, 50):.0f} | {pct(s, 95):.0f} | {max(s):.0f} | {max(r.cold[g]):.0f} |" if s
                         else " - | - | - | - |")
        lines.append(f"| {g} | {n} |" + "".join(cells))
    overall = []
    for r in results:
        every = [v for s in r.samples.values() for v in s]
        overall.append(f" **{pct(every, 50):.0f}** | **{pct(every, 95):.0f}** | **{max(every):.0f}** | |")
    lines.append(f"| **all requests** | {sum(len(s) for s in results[0].samples.values())} |" + "".join(overall))
    gen = "".join(f" {'-' if r.generate_seconds is None else f'{r.generate_seconds:.0f} s'} | | | |" for r in results)
    lines.append("| generating the month (not server time) | |" + gen)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=150_000, help="calls in the measured month")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--repeats", type=int, default=5, help="measured runs of each request (after a cold one)")
    parser.add_argument("--operators", type=int, default=40)
    parser.add_argument("--history-calls", type=int, default=2_000, help="calls in each of the 11 months before")
    parser.add_argument("--scorecards", type=int, default=6, help="operators whose scorecard is asked")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sqlite-file", help="keep (and reuse) this SQLite file instead of a temporary one")
    parser.add_argument("--pg-schema", help="keep (and reuse) this PostgreSQL schema instead of a temporary one")
    args = parser.parse_args(argv)
    results = []
    if args.db in ("sqlite", "both"):
        with sqlite_url(args.sqlite_file) as url:
            results.append(measure("SQLite", url, args))
    if args.db in ("postgresql", "both"):
        with postgres_url(args.pg_schema) as url:
            results.append(measure("PostgreSQL", url, args))
    print(f"\nServer time in ms, {args.calls:,} calls in {MONTH} (+{args.history_calls:,} in each of the 11 months "
          f"before), {args.repeats} measured runs per request:\n")
    print(table(results))
    print()
    worst = []
    for r in results:
        every = [v for s in r.samples.values() for v in s]
        p95 = pct(every, 95)
        print(f"{r.db}: overall p95 {p95:.0f} ms ({'meets' if p95 < TARGET_MS else 'MISSES'} the {TARGET_MS:.0f} ms "
              f"target)")
        for ms, path in r.slowest.values():
            if ms >= TARGET_MS:
                worst.append(f"  {r.db} {ms:.0f} ms: {path}")
    if worst:
        print("requests over the target:\n" + "\n".join(worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
