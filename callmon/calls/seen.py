"""Which calls this process has seen, by channel and by caller number.

Why: a call Asterisk logged to queue_log during an AMI gap may still have been
seen in part (its first events before the gap, or its last ones after).  The
queue_log names the call by its queue channel's Uniqueid and the caller's
number; this index answers "is that a call we already have?" so the backfill
never stores a call twice.  Bounded: the oldest calls are forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from callmon.calls.events import MARKERS, CallEvent

_NUMBER_KEYS = ("CallerIDNum", "ConnectedLineNum")
BEFORE_US = 30_000_000  # a call's channels exist a little before its ENTERQUEUE (whole seconds in queue_log)
AFTER_US = 5_000_000


@dataclass(slots=True)
class _Span:
    first_us: int
    last_us: int
    numbers: set[str] = field(default_factory=set)
    uids: list[str] = field(default_factory=list)


class SeenCalls:
    """Channels (Uniqueid -> Linkedid) and per-call caller numbers and time span."""

    def __init__(self, keep: int = 50_000, keep_hours: float = 6.0) -> None:
        self.keep = keep
        self.keep_us = int(keep_hours * 3600 * 1_000_000)  # on the stream's clock: a day holds a few hours
        self._newest_us = 0
        self.channels: OrderedDict[str, str] = OrderedDict()
        self._spans: OrderedDict[str, _Span] = OrderedDict()
        self._by_number: dict[str, set[str]] = {}

    def note(self, event: CallEvent, linkedid: str) -> None:
        # only Asterisk's own Timestamps move the clock: gap markers and snapshot rows carry callmon's
        # wall clock, which in a replay of another day (or with a skewed PBX) is hours away
        timed = event.timed_by == "event" and event.name not in MARKERS
        span = self._spans.get(linkedid)
        if span is None:
            at = event.ts_us if timed else self._newest_us
            span = self._spans[linkedid] = _Span(at, at)
            if len(self._spans) > self.keep:
                self._forget()
        elif timed:
            span.first_us, span.last_us = min(span.first_us, event.ts_us), max(span.last_us, event.ts_us)
        uid = event.get("Uniqueid")
        if uid and uid not in self.channels:
            self.channel(uid, linkedid)
            span.uids.append(uid)
        if timed and event.ts_us > self._newest_us:
            self._newest_us = event.ts_us
            self._expire()
        for key in _NUMBER_KEYS:
            number = event.get(key)
            if number and number.isdigit() and number not in span.numbers:
                span.numbers.add(number)
                self._by_number.setdefault(number, set()).add(linkedid)

    def channel(self, uniqueid: str, linkedid: str) -> None:
        if uniqueid not in self.channels:
            self.channels[uniqueid] = linkedid
            if len(self.channels) > self.keep * 4:
                self.channels.popitem(last=False)

    def _expire(self) -> None:
        """Forget calls silent for ``keep_hours`` of stream time, oldest first."""
        cutoff = self._newest_us - self.keep_us
        while self._spans:
            oldest = next(iter(self._spans.values()))
            if oldest.last_us >= cutoff:
                break
            self._forget()

    def _forget(self) -> None:
        linkedid, span = self._spans.popitem(last=False)
        for uid in span.uids:
            if self.channels.get(uid) == linkedid:
                del self.channels[uid]
        for number in span.numbers:
            ids = self._by_number.get(number)
            if ids is not None:
                ids.discard(linkedid)
                if not ids:
                    del self._by_number[number]

    def knows(self, callid: str, caller: str | None, start_us: int, end_us: int) -> bool:
        """Seen: the queue channel itself, or a call of that caller within the queue_log call's time."""
        if callid in self.channels:
            return True
        if not caller:
            return False
        for linkedid in self._by_number.get(caller, ()):
            span = self._spans[linkedid]
            if span.first_us <= end_us + AFTER_US and span.last_us >= start_us - BEFORE_US:
                return True
        return False
