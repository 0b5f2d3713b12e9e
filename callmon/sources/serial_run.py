"""One serial source at work: lines -> call records -> store (and whoever listens), with its reader.

Shared by ``callmon serial`` (one source, records printed) and ``callmon run`` (the sources of
``[serial] sources`` beside AMI, each on its own threads).  Each call's lines are stored as its raw
events, under the PBX name ``serial:<device>``, before its record.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from callmon.calls.events import CallEvent
from callmon.calls.record import CallRecord
from callmon.calls.rings import RingPolicy
from callmon.calls.serial_calls import RingCalls, detail_record
from callmon.sources.ami_protocol import Message
from callmon.sources.serial_lines import BUILT_IN, CallDetail, Garbage, custom_parser
from callmon.sources.serial_reader import SerialSource
from callmon.sources.serial_spec import SourceSpec
from callmon.store.repository import PendingEvent, Store

log = logging.getLogger(__name__)
Emit = Callable[[CallRecord, str], None]


def pbx_name(port: str) -> str:
    """The name a serial source's calls are stored under: ``serial:`` and the device's file name or
    the URL's host:port (short enough for the column; the full port is the calls' ``source``)."""
    name = port.split("://", 1)[1].split("/", 1)[0] if "://" in port else Path(port).name
    return f"serial:{name or port}"[:64]


def _raw_event(linkedid: str, source: str, at: float, raw: bytes) -> PendingEvent:
    text = raw.decode("ascii", errors="backslashreplace")
    us = round(at * 1_000_000)
    # stored as an AMI-shaped frame so the store reads it back like any event (the line escaped)
    frame = f"Event: SerialLine\r\nLine: {text}\r\n\r\n".encode()
    message = Message([("Event", "SerialLine"), ("Line", text)], raw=frame)
    return PendingEvent(linkedid, CallEvent(message, us, "received", us), source)


class SerialRun:
    """Lines of one source -> call records -> store, then ``emit(record, source)``."""

    def __init__(self, spec: SourceSpec, policy: RingPolicy, tz: ZoneInfo, store: Store | None,
                 emit: Emit | None = None, patterns: dict[str, tuple[str, str]] | None = None,
                 gap_seconds: float = 0.0) -> None:
        self.spec, self.policy, self.tz, self.store, self.emit = spec, policy, tz, store, emit
        self.source = f"serial:{spec.port}"
        self.pbx = pbx_name(spec.port)
        custom = (patterns or {}).get(spec.protocol)
        self.parse = BUILT_IN[spec.protocol] if custom is None else custom_parser(*custom)
        self.rings = RingCalls(policy, self.pbx, spec.operators, gap_seconds or None)
        self.garbage = 0
        self.calls = 0

    def line(self, raw: bytes, at: float) -> None:
        event = self.parse(raw)
        if event is None:
            return
        if isinstance(event, Garbage):
            self.garbage += 1
            log.warning("%s: %s", self.source, event)
            return
        if isinstance(event, CallDetail):
            record = detail_record(event, self.policy, self.pbx, self.tz, self.spec.operators)
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
        self.calls += len(finished)
        if self.emit is not None:
            for record, _ in finished:
                self.emit(record, self.source)

    def serve(self, stop: threading.Event) -> SerialSource:
        """Read the port until ``stop``; then store what is left (open calls marked incomplete)."""
        lines: queue.Queue[tuple[bytes, float]] = queue.Queue()
        source = SerialSource(self.spec.port, self.spec.baud, self.spec.framing,
                              sink=lambda raw, at: lines.put((raw, at)), stop=stop)
        reader = threading.Thread(target=source.run, name=f"serial-reader {self.spec.port}", daemon=True)
        reader.start()
        try:
            while not stop.is_set():
                try:
                    raw, at = lines.get(timeout=0.25)
                except queue.Empty:
                    self.tick(time.time())
                    continue
                self.line(raw, at)
        finally:
            stop.set()
            reader.join(timeout=5)
            while not lines.empty():  # every line already read counts
                self.line(*lines.get_nowait())
            self.close(time.time())
        return source
