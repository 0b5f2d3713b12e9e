"""``callmon serial``: one serial source alone, its call records stored and printed as they finish.

``--json`` prints one object per finished call: the keys of ``callmon replay --json`` plus
``source``.  SIGTERM ends it after the records already complete are stored and printed; calls
still open are stored marked incomplete.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from callmon.calls.record import CallRecord
from callmon.config import Config
from callmon.sources.serial_lines import PROTOCOLS
from callmon.sources.serial_reader import framing
from callmon.sources.serial_run import SerialRun
from callmon.sources.serial_spec import SourceSpec, parse_map, parse_patterns
from callmon.store.db import open_store
from callmon.store.repository import Store


def cmd_serial(cfg: Config, args: argparse.Namespace) -> int:
    def emit(record: CallRecord, source: str) -> None:
        if args.json:
            print(json.dumps({**record.to_json(cfg.tz), "source": source}, ensure_ascii=False), flush=True)
        else:
            print(f"{record.linkedid}  {record.outcome:9}  {record.operator or '-':8}  rings {record.rings}  "
                  f"within {record.within_limit}", flush=True)

    try:
        framing(args.framing)
        patterns = parse_patterns(cfg.serial.patterns)
        if args.protocol not in PROTOCOLS + tuple(patterns):
            raise ValueError(f"--protocol {args.protocol!r}: expected one of {', '.join(PROTOCOLS + tuple(patterns))}"
                             " (a site's own format goes in [serial] patterns)")
        spec = SourceSpec(args.port, args.protocol, args.baud, args.framing, parse_map(args.map or [], "="))
    except ValueError as exc:
        print(f"callmon serial: {exc}", file=sys.stderr)
        return 2
    store = None if args.no_store else Store(open_store(cfg.database.url), transcribe=False,
                                             witness_seconds=cfg.serial.match_seconds)
    run = SerialRun(spec, cfg.rings.policy(), cfg.tz, store, emit, patterns, cfg.serial.gap_seconds)
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        run.serve(stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("serial", cmd_serial, "one serial source (ring detector, Whozz Calling?, PBX SMDR) alone")
    p.add_argument("--port", required=True, help="device path or pyserial URL (loop://, socket://, rfc2217://)")
    p.add_argument("--protocol", required=True, metavar="NAME",
                   help=f"{', '.join(PROTOCOLS)}, or a name from [serial] patterns")
    p.add_argument("--baud", type=int, default=9600)
    p.add_argument("--framing", default="8N1", help="data bits, parity, stop bits (8N1, 7E2, ...)")
    p.add_argument("--map", action="append", metavar="EXT=OPERATOR", help="line or extension to operator")
    p.add_argument("--json", action="store_true", help="one JSON object per finished call")
    p.add_argument("--no-store", action="store_true", help="print only")
