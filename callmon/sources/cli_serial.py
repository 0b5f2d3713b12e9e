"""``callmon serial``: one serial source alone, its call records stored and printed as they finish.

``--json`` prints one object per finished call: the keys of ``callmon replay --json`` plus
``source``.  The lines of each call are stored as its raw events (its evidence) before the call
record, under the PBX name ``serial:<port>``.  SIGTERM ends it after the records already complete
are stored and printed; calls still open are stored marked incomplete.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from callmon.calls.events import CallEvent
from callmon.calls.record import CallRecord
from callmon.calls.serial_calls import RingCalls, detail_record
from callmon.config import Config
from callmon.sources.ami_protocol import Message
from callmon.sources.serial_lines import BUILT_IN, PROTOCOLS, CallDetail, Garbage
from callmon.sources.serial_reader import SerialSource, framing
from callmon.store.db import open_store
from callmon.store.repository import PendingEvent, Store

log = logging.getLogger(__name__)


def pbx_name(port: str) -> str:
    """The name a serial source's calls are stored under: ``serial:`` and the device's file name or
    the URL's host:port (short enough for the column; the full port is the calls' ``source``)."""
    name = port.split("://", 1)[1].split("/", 1)[0] if "://" in port else Path(port).name
    return f"serial:{name or port}"[:64]


def _mapping(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise ValueError(f"--map {pair!r}: expected EXTENSION=OPERATOR, e.g. 1001=op1001")
        out[key.strip()] = value.strip()
    return out


def _raw_event(linkedid: str, source: str, at: float, raw: bytes) -> PendingEvent:
    text = raw.decode("ascii", errors="backslashreplace")
    us = round(at * 1_000_000)
    # stored as an AMI-shaped frame so the store reads it back like any event (the line escaped)
    frame = f"Event: SerialLine\r\nLine: {text}\r\n\r\n".encode()
    message = Message([("Event", "SerialLine"), ("Line", text)], raw=frame)
    return PendingEvent(linkedid, CallEvent(message, us, "received", us), source)


class SerialRun:
    """Lines -> call records -> store and stdout, on the command's own thread."""

    def __init__(self, cfg: Config, args: argparse.Namespace, store: Store | None) -> None:
        self.cfg, self.store, self.json = cfg, store, args.json
        self.source = f"serial:{args.port}"
        self.pbx = pbx_name(args.port)
        self.policy = cfg.rings.policy()
        self.operators = _mapping(args.map or [])
        self.parse = BUILT_IN[args.protocol]
        self.rings = RingCalls(self.policy, self.pbx, self.operators)
        self.garbage = 0

    def line(self, raw: bytes, at: float) -> None:
        event = self.parse(raw)
        if event is None:
            return
        if isinstance(event, Garbage):
            self.garbage += 1
            log.warning("%s: %s", self.source, event)
            return
        if isinstance(event, CallDetail):
            record = detail_record(event, self.policy, self.pbx, self.cfg.tz, self.operators)
            if record is not None:
                self._done([(record, [(at, raw)])])
            return
        self._finished(self.rings.feed(event, at, raw))

    def tick(self, now: float) -> None:
        self._finished(self.rings.tick(now))

    def close(self, now: float) -> None:
        self._finished(self.rings.flush(now))

    def _finished(self, records: list[CallRecord]) -> None:
        self._done([(r, self.rings.evidence.pop(r.linkedid, [])) for r in records])

    def _done(self, finished: list[tuple[CallRecord, list[tuple[float, bytes]]]]) -> None:
        if not finished:
            return
        if self.store is not None:
            events = [_raw_event(r.linkedid, self.source, at, raw) for r, lines in finished for at, raw in lines]
            self.store.write_batch(self.pbx, events, [(r, self.source) for r, _ in finished], self.policy)
        for record, _ in finished:
            if self.json:
                print(json.dumps({**record.to_json(self.cfg.tz), "source": self.source}, ensure_ascii=False),
                      flush=True)
            else:
                print(f"{record.linkedid}  {record.outcome:9}  {record.operator or '-':8}  rings {record.rings}  "
                      f"within {record.within_limit}", flush=True)


def cmd_serial(cfg: Config, args: argparse.Namespace) -> int:
    try:
        framing(args.framing)
        run = SerialRun(cfg, args, None if args.no_store else Store(open_store(cfg.database.url), transcribe=False))
    except ValueError as exc:
        print(f"callmon serial: {exc}", file=sys.stderr)
        return 2
    lines: queue.Queue[tuple[bytes, float]] = queue.Queue()
    stop = threading.Event()
    source = SerialSource(args.port, args.baud, args.framing, sink=lambda raw, at: lines.put((raw, at)), stop=stop)
    reader = threading.Thread(target=source.run, name="serial-reader", daemon=True)
    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    reader.start()
    try:
        while not stop.is_set():
            try:
                raw, at = lines.get(timeout=0.25)
            except queue.Empty:
                run.tick(time.time())
                continue
            run.line(raw, at)
    finally:
        stop.set()
        reader.join(timeout=5)
        while not lines.empty():  # every line already read counts
            run.line(*lines.get_nowait())
        run.close(time.time())
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("serial", cmd_serial, "one serial source (ring detector, Whozz Calling?, PBX SMDR) alone")
    p.add_argument("--port", required=True, help="device path or pyserial URL (loop://, socket://, rfc2217://)")
    p.add_argument("--protocol", required=True, choices=PROTOCOLS)
    p.add_argument("--baud", type=int, default=9600)
    p.add_argument("--framing", default="8N1", help="data bits, parity, stop bits (8N1, 7E2, ...)")
    p.add_argument("--map", action="append", metavar="EXT=OPERATOR", help="line or extension to operator")
    p.add_argument("--json", action="store_true", help="one JSON object per finished call")
    p.add_argument("--no-store", action="store_true", help="print only")
