"""Plain call events: an AMI message with the time it happened.

The call logic only ever sees these, never a socket or an AMI library.  Time
comes from Asterisk's ``Timestamp:`` header (``timestampevents = yes``, exact
to the microsecond); without it, from when callmon received the frame, and the
event says which.
"""

from __future__ import annotations

from dataclasses import dataclass

from callmon.sources.ami_protocol import Message, parse_frame

# Synthetic events callmon writes into a call's own event list so a pure
# rebuild from storage sees the same facts the live tracker saw.
GAP = "CallmonGap"  # the AMI connection dropped while the call was in progress
EVICTED = "CallmonEvicted"  # no event for longer than the TTL
STREAM_END = "CallmonStreamEnd"  # a replayed capture ended before the call did
SNAPSHOT = "CallmonSnapshot"  # the call was first seen in a reconnect snapshot
MARKERS = frozenset({GAP, EVICTED, STREAM_END, SNAPSHOT})
# One line of Asterisk's queue_log standing in for a call missed on AMI (calls.queue_log_calls).
QUEUE_LOG = "CallmonQueueLog"


@dataclass(slots=True)
class CallEvent:
    """One event of one call, in arrival order."""

    message: Message
    ts_us: int  # when it happened, microseconds since the epoch
    timed_by: str  # "event" (Timestamp header) or "received"
    received_us: int = 0

    @property
    def name(self) -> str:
        return self.message.name

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.message.get(key, default)

    @property
    def linkedid(self) -> str | None:
        return self.message.get("Linkedid")


# The latest time callmon can store and print in any time zone: 9999-01-01T00:00:00Z.  A larger
# Timestamp is a corrupt header, not a time (it would overflow datetime and the synthetic markers).
MAX_TIMESTAMP_S = 253_370_764_800


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()  # not "²" or "١": str.isdigit accepts those, int() may not


def timestamp_us(value: str | None) -> int | None:
    """Exact microseconds from an AMI ``Timestamp: 1795357773.903577``; None if it is not a plausible time."""
    if not value:
        return None
    whole, _, frac = value.strip().partition(".")
    if not _digits(whole) or (frac and not _digits(frac)):
        return None
    if len(whole) > 12 or int(whole) >= MAX_TIMESTAMP_S:
        return None
    return int(whole) * 1_000_000 + int((frac + "000000")[:6])


def format_us(ts_us: int) -> str:
    """``1795357773.903577``: exact (no float rounding) for any size, read back by ``timestamp_us``."""
    sign, us = ("-", -ts_us) if ts_us < 0 else ("", ts_us)
    return f"{sign}{us // 1_000_000}.{us % 1_000_000:06d}"


def make_event(message: Message, received_us: int) -> CallEvent:
    """Attach the event's own time, or the receive time when it has none."""
    ts = timestamp_us(message.get("Timestamp"))
    if ts is None:
        return CallEvent(message, received_us, "received", received_us)
    return CallEvent(message, ts, "event", received_us)


def marker(name: str, linkedid: str, ts_us: int, **fields: str) -> CallEvent:
    """A synthetic callmon event for one call (gap, eviction, stream end)."""
    headers = [("Event", name), ("Linkedid", linkedid), ("Timestamp", format_us(ts_us))]
    headers += [(k, v) for k, v in fields.items()]
    raw = "".join(f"{k}: {v}\r\n" for k, v in headers).encode()
    return CallEvent(Message(headers, 0, raw), ts_us, "event", ts_us)


def event_from_raw(raw: str, received_us: int) -> CallEvent | None:
    """Rebuild an event from its stored frame text."""
    message, _ = parse_frame(raw.encode("utf-8"), 0)
    if message is None:
        return None
    return make_event(message, received_us)
