"""Asterisk's queue_log, parsed without I/O: typed lines, then one summary per queued call.

Why: queue_log is written by app_queue whether or not an AMI client is connected, so it is
the record to backfill calls that callmon missed while disconnected.  Each line is
``epoch|callid|queuename|agent|EVENT|data1|data2|...`` (``ast_queue_log``: integer epoch
seconds; callid is the queue caller channel's Uniqueid, or ``NONE``; agent is the member
name, ``NONE`` when no member is involved).  The data fields, as ``apps/app_queue.c`` writes
them (docs.asterisk.org "Queue Logs")::

    ENTERQUEUE      url|callerid|origposition
    RINGNOANSWER    ringtime_ms
    CONNECT         holdtime|bridged_channel_uniqueid|ringtime        (seconds)
    COMPLETECALLER  holdtime|calltime|origposition                    (seconds)
    COMPLETEAGENT   holdtime|calltime|origposition
    BLINDTRANSFER   exten|context|holdtime|calltime|origposition
    ATTENDEDTRANSFER method|target...|holdtime|calltime|origposition
    ABANDON         position|origposition|waittime
    EXITWITHTIMEOUT position|origposition|waittime   (EXITEMPTY the same; EXITWITHKEY key|pos|opos|wait)

Other events (PAUSE, ADDMEMBER, QUEUESTART...) are kept as generic entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# event -> (minimum data fields, indexes of the data fields that must be integers)
_SHAPES: dict[str, tuple[int, tuple[int, ...]]] = {
    "ENTERQUEUE": (2, ()),
    "RINGNOANSWER": (1, (0,)),
    "CONNECT": (2, (0,)),
    "COMPLETECALLER": (3, (0, 1, 2)),
    "COMPLETEAGENT": (3, (0, 1, 2)),
    "BLINDTRANSFER": (5, (2, 3, 4)),
    "ABANDON": (3, (0, 1, 2)),
    "EXITWITHTIMEOUT": (3, (0, 1, 2)),
    "EXITEMPTY": (3, (0, 1, 2)),
    "EXITWITHKEY": (4, (1, 2, 3)),
}
NO_CALL = ("NONE", "REALTIME", "")
ENDINGS = ("COMPLETECALLER", "COMPLETEAGENT", "BLINDTRANSFER", "ATTENDEDTRANSFER", "ABANDON",
           "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY")


class QueueLogError(ValueError):
    """A line that is not queue_log; ``line_no`` counts from 1."""

    def __init__(self, line_no: int, message: str) -> None:
        super().__init__(f"queue_log line {line_no}: {message}")
        self.line_no = line_no


@dataclass(slots=True, frozen=True)
class QueueLogEntry:
    """One queue_log line."""

    line_no: int
    time: int  # epoch seconds
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...] = ()

    def num(self, index: int) -> int | None:
        """Data field ``index`` as an integer (None when absent or empty)."""
        if index >= len(self.data) or self.data[index] == "":
            return None
        return int(self.data[index])


@dataclass(slots=True)
class AgentRing:
    """A member rung for the call: RINGNOANSWER (ring_ms) or the one who answered (CONNECT)."""

    agent: str
    time: int
    outcome: str  # no_answer | answered
    ring_ms: int | None  # RINGNOANSWER's milliseconds; CONNECT's whole seconds x 1000


@dataclass(slots=True)
class QueueLogCall:
    """Everything queue_log says about one queued call (keyed by the caller channel's Uniqueid)."""

    callid: str
    queue: str | None = None
    entered_at: int | None = None
    caller: str | None = None
    position: int | None = None  # original position at ENTERQUEUE
    rings: list[AgentRing] = field(default_factory=list)
    agent: str | None = None  # who answered (CONNECT)
    connected_at: int | None = None
    hold_seconds: int | None = None  # caller's wait until answer (CONNECT), whole seconds
    ring_seconds: int | None = None  # the answering member's ring, whole seconds (CONNECT)
    bridged_uniqueid: str | None = None
    talk_seconds: int | None = None
    end_reason: str | None = None  # COMPLETECALLER | COMPLETEAGENT | ABANDON | EXITWITHTIMEOUT | ...
    ended_at: int | None = None
    wait_seconds: int | None = None  # ABANDON / EXIT* waittime
    transfer_target: str | None = None  # BLINDTRANSFER exten@context
    lines: list[int] = field(default_factory=list)  # line numbers, the evidence

    @property
    def abandoned(self) -> bool:
        return self.end_reason == "ABANDON"

    @property
    def outcome(self) -> str:
        """answered | abandoned | timeout | in_progress (no ending line yet)."""
        if self.agent is not None:
            return "answered"
        if self.end_reason == "ABANDON":
            return "abandoned"
        if self.end_reason is not None:
            return "timeout"
        return "in_progress"


def _lines(source: str | bytes | Iterable[str]) -> Iterable[str]:
    if isinstance(source, bytes):
        source = source.decode("utf-8", "replace")
    if isinstance(source, str):
        return source.splitlines()
    return source


def parse_line(line: str, line_no: int) -> QueueLogEntry | None:
    """One line (None for a blank one); raises QueueLogError naming the line."""
    text = line.rstrip("\r\n")
    if not text.strip():
        return None
    parts = text.split("|")
    if len(parts) < 5:
        raise QueueLogError(line_no, f"expected time|callid|queue|agent|event[|data...], found {len(parts)} "
                                     f"field(s): {text[:80]!r}")
    stamp, callid, queue, agent, event, *data = parts
    if not stamp.isdigit():
        raise QueueLogError(line_no, f"time {stamp[:30]!r} is not integer epoch seconds")
    if not event or not event.replace("_", "").isalnum() or not event.isupper():
        raise QueueLogError(line_no, f"event {event[:30]!r} is not an upper-case event name")
    need, numeric = _SHAPES.get(event, (0, ()))
    if len(data) < need:
        raise QueueLogError(line_no, f"{event} needs {need} data field(s), found {len(data)}")
    for i in numeric:
        value = data[i]
        if value and not value.lstrip("-").isdigit():
            raise QueueLogError(line_no, f"{event} data field {i + 1} {value[:30]!r} is not an integer")
    return QueueLogEntry(line_no, int(stamp), callid, queue, agent, event, tuple(data))


def parse_queue_log(source: str | bytes | Iterable[str],
                    errors: list[QueueLogError] | None = None) -> list[QueueLogEntry]:
    """Every entry of a queue_log text (or its lines).

    Without ``errors`` the first bad line raises QueueLogError; with a list, bad lines are
    appended to it and skipped (a daemon backfilling from a damaged file keeps the rest).
    """
    out: list[QueueLogEntry] = []
    for line_no, line in enumerate(_lines(source), 1):
        try:
            entry = parse_line(line, line_no)
        except QueueLogError as exc:
            if errors is None:
                raise
            errors.append(exc)
            continue
        if entry is not None:
            out.append(entry)
    return out


def calls_from_queue_log(entries: Iterable[QueueLogEntry]) -> list[QueueLogCall]:
    """Group entries by callid into one summary per call, in order of first appearance."""
    calls: dict[str, QueueLogCall] = {}
    for e in entries:
        if e.callid in NO_CALL:
            continue
        call = calls.get(e.callid)
        if call is None:
            call = calls[e.callid] = QueueLogCall(e.callid)
        call.lines.append(e.line_no)
        call.queue = call.queue or e.queue
        _apply(call, e)
    return list(calls.values())


def _apply(call: QueueLogCall, e: QueueLogEntry) -> None:
    if e.event == "ENTERQUEUE":
        call.entered_at = e.time
        call.caller = e.data[1] or None
        call.position = e.num(2)
    elif e.event == "RINGNOANSWER":
        call.rings.append(AgentRing(e.agent, e.time, "no_answer", e.num(0)))
    elif e.event == "CONNECT":
        call.agent, call.connected_at = e.agent, e.time
        call.hold_seconds, call.bridged_uniqueid = e.num(0), e.data[1] or None
        call.ring_seconds = e.num(2)
        ring_ms = None if call.ring_seconds is None else call.ring_seconds * 1000
        call.rings.append(AgentRing(e.agent, e.time, "answered", ring_ms))
    elif e.event in ENDINGS:
        call.end_reason, call.ended_at = e.event, e.time
        if e.event in ("COMPLETECALLER", "COMPLETEAGENT"):
            call.talk_seconds = e.num(1)
        elif e.event == "BLINDTRANSFER":
            call.talk_seconds = e.num(3)
            call.transfer_target = f"{e.data[0]}@{e.data[1]}"
        elif e.event == "ATTENDEDTRANSFER" and len(e.data) >= 3:
            call.talk_seconds = int(e.data[-2]) if e.data[-2].isdigit() else None
        elif e.event == "EXITWITHKEY":
            call.wait_seconds = e.num(3)
        else:
            call.wait_seconds = e.num(2)
