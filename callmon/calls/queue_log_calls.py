"""A call callmon never saw on AMI, rebuilt from Asterisk's queue_log lines.

Why: AMI does not resend what happened while callmon was disconnected (or not
running), but app_queue writes queue_log regardless.  Such a call is stored
with its queue_log lines as its events (so it can be recomputed like any
other) and is always marked incomplete: queue_log has whole seconds and no
channel detail, and says so in the record.
"""

from __future__ import annotations

from collections.abc import Sequence

from callmon.calls.events import QUEUE_LOG, CallEvent
from callmon.calls.record import CallRecord, OperatorRing
from callmon.calls.rings import RingPolicy
from callmon.sources.ami_protocol import Message
from callmon.sources.queue_log import QueueLogCall, calls_from_queue_log, parse_line

REASON = "not seen on AMI (callmon was disconnected or not running): rebuilt from Asterisk's queue_log, whole seconds"


def queue_log_event(linkedid: str, line: str, epoch: int) -> CallEvent:
    """One queue_log line as a call event (its text kept whole, as the evidence)."""
    headers = [("Event", QUEUE_LOG), ("Linkedid", linkedid), ("Timestamp", f"{epoch}.000000"), ("Line", line)]
    raw = "".join(f"{k}: {v}\r\n" for k, v in headers).encode()
    return CallEvent(Message(headers, 0, raw), epoch * 1_000_000, "queue_log", epoch * 1_000_000)


def is_queue_log_call(events: Sequence[CallEvent]) -> bool:
    return bool(events) and all(e.name == QUEUE_LOG for e in events)


def build_from_queue_log(linkedid: str, events: Sequence[CallEvent], policy: RingPolicy) -> CallRecord:
    """The record a queue_log summary supports, marked incomplete with the reason."""
    entries = [e for n, ev in enumerate(events, 1) if (e := parse_line(ev.get("Line") or "", n)) is not None]
    calls = calls_from_queue_log(entries)
    call = calls[0] if calls else QueueLogCall(linkedid)
    return _record(linkedid, call, policy, len(events))


def _us(epoch: int | None) -> int | None:
    return None if epoch is None else epoch * 1_000_000


def _record(linkedid: str, call: QueueLogCall, policy: RingPolicy, count: int) -> CallRecord:
    ring_ms = None if call.ring_seconds is None else call.ring_seconds * 1000
    outcome = {"answered": "answered", "abandoned": "abandoned", "timeout": "unanswered"}.get(call.outcome, "unknown")
    rings = []
    for ring in call.rings:
        ended = _us(ring.time) or 0
        ms = ring.ring_ms or 0
        rings.append(OperatorRing(
            ring.agent, None, ended - ms * 1000, ended, ring.outcome, "",
            rings=policy.rings(ms) if ring.ring_ms is not None else None,
            within_limit=policy.within_limit(ms) if ring.ring_ms is not None else None))
    record = CallRecord(
        linkedid=linkedid, caller=call.caller, queue=call.queue, operator=call.agent,
        offered_us=_us(call.entered_at), answered_us=_us(call.connected_at), ended_us=_us(call.ended_at),
        ring_ms=ring_ms, rings=policy.rings(ring_ms) if ring_ms is not None else None,
        within_limit=policy.within_limit(ring_ms) if ring_ms is not None else None,
        wait_ms=None if call.hold_seconds is None else call.hold_seconds * 1000,
        abandoned=call.abandoned,
        abandoned_after_ms=None if call.wait_seconds is None or not call.abandoned else call.wait_seconds * 1000,
        transferred=call.transfer_target is not None, transfer_target=call.transfer_target,
        talk_ms=None if call.talk_seconds is None else call.talk_seconds * 1000,
        outcome=outcome, incomplete=True, incomplete_reasons=[REASON], timed_by="queue_log",
        operators_rung=rings, event_count=count, first_event_us=_us(call.entered_at))
    return record
