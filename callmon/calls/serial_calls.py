"""Serial events become call records: the same ``CallRecord`` the AMI path stores, marked with its source.

Ring detectors (``modem``, ``whozz``): rings are counted literally, one per ``RING``/``R`` line;
ring seconds run from the first ring's line to the off-hook line (the times the lines arrived);
the call is answered at off-hook and ends at on-hook; it is abandoned when the rings stop with no
answer for ``gap_seconds`` (default: twice the ring period).  Within the limit means at most
``limit`` rings were heard before the answer.

PBX call records (SMDR) arrive finished: the ring time and duration are the PBX's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo

from callmon.calls.record import CallRecord, OperatorRing
from callmon.calls.rings import RingPolicy
from callmon.sources.serial_lines import CallDetail, CallerId, Hook, Ring, SerialEvent


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


@dataclass
class _Line:
    first_ring: float
    last_ring: float
    rings: int = 0
    caller: str | None = None
    caller_name: str | None = None
    answered: float | None = None
    events: int = 0
    raw: list[tuple[float, bytes]] = field(default_factory=list)  # the lines, the call's evidence


@dataclass
class RingCalls:
    """One ring-detecting device's lines -> finished call records."""

    policy: RingPolicy
    source: str  # the PBX name its calls are stored under, e.g. "serial:ttyUSB0"
    operators: dict[str, str] = field(default_factory=dict)  # line -> operator
    gap_seconds: float | None = None
    lines: dict[str, _Line] = field(default_factory=dict)
    evidence: dict[str, list[tuple[float, bytes]]] = field(default_factory=dict)  # linkedid -> lines, taken once
    _pending_caller: dict[str, tuple[float, str]] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        return self.gap_seconds if self.gap_seconds is not None else 2 * self.policy.period_ms / 1000

    def feed(self, event: SerialEvent, at: float, raw: bytes = b"") -> list[CallRecord]:
        """Apply one event received at ``at`` (epoch seconds); returns the calls it finished (their
        lines wait in ``evidence`` under the call's id)."""
        done = self.tick(at)
        if isinstance(event, Ring):
            state = self.lines.get(event.line)
            if state is not None and state.answered is not None:  # rang again after an answer: a new call
                done.append(self._finish(event.line, at, incomplete="no on-hook before the next call"))
                state = None
            if state is None:
                state = self.lines[event.line] = _Line(at, at)
                pending = self._pending_caller.pop(event.line, None)
                if pending is not None and at - pending[0] < 10:
                    state.caller = pending[1]
            state.rings += 1
            state.last_ring = at
            state.events += 1
            state.raw.append((at, raw))
        elif isinstance(event, CallerId) and event.field in ("NMBR", "NAME"):
            state = self.lines.get(event.line)
            if state is None:
                if event.field == "NMBR":
                    self._pending_caller[event.line] = (at, event.value)
            elif event.field == "NMBR":
                state.caller, state.events = event.value, state.events + 1
                state.raw.append((at, raw))
            else:
                state.caller_name = event.value
                state.raw.append((at, raw))
        elif isinstance(event, Hook) and not event.flash:
            state = self.lines.get(event.line)
            if state is None:
                return done
            state.events += 1
            state.raw.append((at, raw))
            if event.off and state.answered is None:
                state.answered = at
            elif not event.off:
                done.append(self._finish(event.line, at))
        return done

    def tick(self, now: float) -> list[CallRecord]:
        """Calls whose rings stopped ``gap`` seconds ago with nobody answering: abandoned."""
        done = []
        for line, state in list(self.lines.items()):
            if state.answered is None and now - state.last_ring > self.gap:
                done.append(self._finish(line, state.last_ring + self.policy.on_ms / 1000))
        return done

    def flush(self, now: float) -> list[CallRecord]:
        """Every call still open (stopping): answered ones end now, incomplete; ringing ones by ``tick``."""
        done = self.tick(now)
        for line in list(self.lines):
            done.append(self._finish(line, now, incomplete="still open when the source stopped"))
        return done

    def _finish(self, line: str, ended: float, incomplete: str | None = None) -> CallRecord:
        state = self.lines.pop(line)
        operator = self.operators.get(line, line or None)
        first = _us(state.first_ring)
        rec = CallRecord(linkedid=f"{line or '0'}-{first // 1000}", caller=state.caller,
                         operator=operator if state.answered is not None else None, offered_us=first,
                         first_event_us=first, ended_us=_us(ended), rings=state.rings, timed_by="received",
                         event_count=state.events)
        if state.answered is not None:
            rec.answered_us = _us(state.answered)
            rec.ring_ms = rec.wait_ms = (rec.answered_us - first) // 1000
            rec.within_limit = state.rings <= self.policy.limit
            rec.talk_ms = max(0, (rec.ended_us or rec.answered_us) - rec.answered_us) // 1000
            rec.outcome = "answered"
        else:
            rec.abandoned, rec.outcome = True, "abandoned"
            rec.abandoned_after_ms = ((rec.ended_us or first) - first) // 1000
        if operator is not None:
            rec.operators_rung = [OperatorRing(operator, f"line {line}" if line else None, first,
                                               rec.answered_us or rec.ended_us,
                                               "answered" if state.answered is not None else "cancelled",
                                               f"{self.source}:{line}", state.rings, rec.within_limit)]
        if incomplete:
            rec.incomplete, rec.incomplete_reasons = True, [incomplete]
        self.evidence[rec.linkedid] = state.raw
        return rec


def detail_record(detail: CallDetail, policy: RingPolicy, source: str, tz: tzinfo,
                  operators: dict[str, str] | None = None) -> CallRecord | None:
    """An SMDR record as a call record (incoming calls only: outgoing ones are not 110 calls)."""
    if not detail.incoming:
        return None
    operator = (operators or {}).get(detail.extension or "", detail.extension)
    start = _us(detail.start.replace(tzinfo=tz).timestamp())
    ring_ms = None if detail.ring_seconds is None else round(detail.ring_seconds * 1000)
    rec = CallRecord(linkedid=f"{detail.extension or '-'}-{start // 1000}", caller=detail.caller,
                     offered_us=start, first_event_us=start, timed_by="device", event_count=1)
    if detail.answered:
        rec.operator, rec.outcome = operator, "answered"
        rec.answered_us = start + (ring_ms or 0) * 1000
        rec.ring_ms = rec.wait_ms = ring_ms
        rec.talk_ms = None if detail.duration_seconds is None else round(detail.duration_seconds * 1000)
        rec.ended_us = rec.answered_us + (rec.talk_ms or 0) * 1000
        if ring_ms is not None:
            rec.rings, rec.within_limit = policy.rings(ring_ms), policy.within_limit(ring_ms)
    else:
        rec.outcome, rec.abandoned = "abandoned", True
        rec.ended_us = start + (ring_ms or 0) * 1000
        rec.abandoned_after_ms = ring_ms
    if operator:
        rec.operators_rung = [OperatorRing(operator, None, start, start + (ring_ms or 0) * 1000,
                                           "answered" if detail.answered else "cancelled", f"{source}:{operator}",
                                           rec.rings, rec.within_limit)]
    return rec
