"""Helpers to run captures through parser, tracker and builder in tests."""

from __future__ import annotations

from pathlib import Path

from callmon.calls.builder import build_call
from callmon.calls.events import CallEvent, make_event
from callmon.calls.record import CallRecord
from callmon.calls.rings import RingPolicy
from callmon.calls.tracker import CallTracker, linkedids_of
from callmon.sources.ami_protocol import Message, StreamParser


def records_from_bytes(data: bytes, policy: RingPolicy | None = None) -> dict[str, CallRecord]:
    """Every call of a capture, keyed by Linkedid, as the live pipeline would build it."""
    tracker = CallTracker()
    finished = []
    for item in StreamParser().feed(data):
        if isinstance(item, Message) and item.kind == "Event":
            event = make_event(item, 0)
            for linkedid in linkedids_of(item):
                finished += tracker.add(event, linkedid)
    finished += tracker.end_of_stream(0, "end of test capture")
    policy = policy or RingPolicy()
    return {f.linkedid: build_call(f.linkedid, f.events, policy) for f in finished}


def records_from_capture(path: Path, policy: RingPolicy | None = None) -> dict[str, CallRecord]:
    return records_from_bytes(path.read_bytes(), policy)


def ev(name: str, t: float | None, received: float = 0.0, **headers: str) -> CallEvent:
    """A hand-made event at ``t`` seconds (None: no Timestamp header)."""
    pairs = [("Event", name)]
    if t is not None:
        pairs.append(("Timestamp", f"{t:.6f}"))
    pairs += [(k.replace("_", "-") if k == "Cause_txt" else k, v) for k, v in headers.items()]
    raw = "".join(f"{k}: {v}\r\n" for k, v in pairs).encode()
    return make_event(Message(pairs, 0, raw), int(received * 1e6))
