"""Events become a call: a pure function of one call's ordered event list.

``build_call(events, policy)`` reads every event of one Linkedid, in arrival
order, and returns the call record.  It keeps no state between calls and does
no I/O, so any stored call can be rebuilt from its raw events (``callmon
recompute``).  It works for app_queue (any strategy, ring-all included) and
for a plain ``Dial()`` to a ring group, for SIP or Local channels alike: it
reads AMI's own fields (AgentCalled, DialBegin/DialEnd, LocalBridge) and never
the shape of channel names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from callmon.calls.events import EVICTED, GAP, MARKERS, SNAPSHOT, STREAM_END, CallEvent
from callmon.calls.queue_log_calls import build_from_queue_log, is_queue_log_call
from callmon.calls.record import CallRecord, OperatorRing, ms
from callmon.calls.rings import RingPolicy

UNKNOWN_CID = {"", "<unknown>", "unknown", "anonymous"}
DIAL_OUTCOMES = {
    "NOANSWER": "no_answer",
    "CANCEL": "cancelled",
    "BUSY": "busy",
    "CHANUNAVAIL": "unavailable",
    "CONGESTION": "unavailable",
}
_CHANNEL_SUFFIX = re.compile(r"-[0-9a-fA-F]+(;\d+)?$")
_MIXMON_OPT = re.compile(r"\b([rt])\(([^)]*)\)")


def device_of(channel: str) -> str:
    """``PJSIP/1001-0000002a`` -> ``PJSIP/1001``: the device, not the call leg."""
    return _CHANNEL_SUFFIX.sub("", channel)


@dataclass(slots=True)
class _Ring:
    dest: str
    operator: str
    interface: str | None
    start: int
    via: str  # "queue" (AgentCalled) or "dial" (DialBegin)
    end: int | None = None
    outcome: str | None = None
    answered_at: int | None = None


@dataclass(slots=True)
class _Draft:
    linkedid: str
    caller_cid: dict[str, str] = field(default_factory=dict)  # uniqueid -> number
    alive: set[str] = field(default_factory=set)
    first_seen: set[str] = field(default_factory=set)  # uniqueids whose Newchannel was seen
    hungup: dict[str, tuple[int, str]] = field(default_factory=dict)  # uid -> (ts, cause)
    caller_uid: str | None = None
    caller: str | None = None
    queue: str | None = None
    queued_at: int | None = None
    rings: dict[str, _Ring] = field(default_factory=dict)
    dial_sources: set[str] = field(default_factory=set)
    local_pair: dict[str, str] = field(default_factory=dict)
    first_dial: int | None = None
    connect: tuple[str, int] | None = None  # (dest uniqueid, ts) from AgentConnect
    complete_at: int | None = None
    abandon_at: int | None = None
    transfer_target: str | None = None
    transferred: bool = False
    bridge_leave: dict[str, int] = field(default_factory=dict)
    mixmon_file: str | None = None
    mixmon: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)  # (uniqueid, file, {r/t: file})
    reasons: list[str] = field(default_factory=list)
    last_ts: int = 0
    timed_by: set[str] = field(default_factory=set)

    def ring(self, dest: str) -> _Ring | None:
        return self.rings.get(dest)

    def close_open_rings(self, ts: int, outcome: str, except_dest: str | None = None) -> None:
        for ring in self.rings.values():
            if ring.end is None and ring.dest != except_dest:
                ring.end, ring.outcome = ts, outcome


Handler = Callable[[_Draft, CallEvent], None]


def _cid(value: str | None) -> str | None:
    return None if value is None or value.strip().lower() in UNKNOWN_CID else value.strip()


def _on_channel(d: _Draft, e: CallEvent) -> None:
    uid = e.get("Uniqueid")
    if uid and uid not in d.hungup:
        d.alive.add(uid)
    number = _cid(e.get("CallerIDNum"))
    if uid and number:
        d.caller_cid[uid] = number


def _on_newchannel(d: _Draft, e: CallEvent) -> None:
    uid = e.get("Uniqueid")
    if uid:
        d.first_seen.add(uid)
    _on_channel(d, e)


def _on_queue_entry(d: _Draft, e: CallEvent) -> None:
    """Snapshot of a waiting caller: queue and number, never a guessed time."""
    d.queue = d.queue or e.get("Queue")
    d.caller = d.caller or _cid(e.get("CallerIDNum"))


def _on_hangup(d: _Draft, e: CallEvent) -> None:
    uid = e.get("Uniqueid")
    if not uid:
        return
    d.alive.discard(uid)
    cause = e.get("Cause", "") or ""
    text = e.get("Cause-txt")
    d.hungup[uid] = (e.ts_us, f"{cause} {text}".strip() if text else cause)
    ring = d.ring(uid)
    if ring is not None and ring.end is None and ring.answered_at is None:
        ring.end, ring.outcome = e.ts_us, "cancelled"
    _on_channel_number(d, e)


def _on_channel_number(d: _Draft, e: CallEvent) -> None:
    uid, number = e.get("Uniqueid"), _cid(e.get("CallerIDNum"))
    if uid and number:
        d.caller_cid[uid] = number


def _on_queue_join(d: _Draft, e: CallEvent) -> None:
    _on_channel(d, e)
    if d.queued_at is None:
        d.queued_at = e.ts_us
        d.queue = e.get("Queue")
        d.caller_uid = e.get("Uniqueid")
        d.caller = _cid(e.get("CallerIDNum"))


def _on_agent_called(d: _Draft, e: CallEvent) -> None:
    dest = e.get("DestUniqueid") or e.get("DestChannel") or ""
    operator = e.get("MemberName") or e.get("Interface") or device_of(e.get("DestChannel") or "?")
    ring = d.ring(dest)
    if ring is None or ring.via != "queue":
        d.rings[dest] = _Ring(dest, operator, e.get("Interface"), e.ts_us, "queue")
    if d.caller_uid is None:
        d.caller_uid = e.get("Uniqueid")


def _on_ring_no_answer(d: _Draft, e: CallEvent) -> None:
    ring = d.ring(e.get("DestUniqueid") or "")
    if ring is not None and ring.end is None:
        ring.end, ring.outcome = e.ts_us, "no_answer"


def _on_agent_connect(d: _Draft, e: CallEvent) -> None:
    dest = e.get("DestUniqueid") or ""
    if d.connect is not None:
        return
    d.connect = (dest, e.ts_us)
    ring = d.ring(dest)
    if ring is None:  # AgentCalled missed (connected mid-call): known only from here
        operator = e.get("MemberName") or e.get("Interface") or "?"
        ring = d.rings[dest] = _Ring(dest, operator, e.get("Interface"), e.ts_us, "queue")
        d.reasons.append("answering operator's AgentCalled was not seen")
    ring.end, ring.outcome, ring.answered_at = e.ts_us, "answered", e.ts_us
    d.close_open_rings(e.ts_us, "cancelled", except_dest=dest)


def _on_agent_complete(d: _Draft, e: CallEvent) -> None:
    if d.complete_at is None:
        d.complete_at = e.ts_us
    if (e.get("Reason") or "").lower() == "transfer":
        d.transferred = True


def _on_abandon(d: _Draft, e: CallEvent) -> None:
    if d.abandon_at is None:
        d.abandon_at = e.ts_us
    d.close_open_rings(e.ts_us, "cancelled")


def _on_dial_begin(d: _Draft, e: CallEvent) -> None:
    source = e.get("Uniqueid")
    if not source:  # an originate: no calling channel, nobody is being offered a call
        return
    d.dial_sources.add(source)
    dest = e.get("DestUniqueid") or e.get("DestChannel") or ""
    if d.first_dial is None:
        d.first_dial = e.ts_us
    if dest not in d.rings:
        operator = device_of(e.get("DestChannel") or e.get("DialString") or "?")
        d.rings[dest] = _Ring(dest, operator, e.get("DialString"), e.ts_us, "dial")
    if d.caller_uid is None:
        d.caller_uid = source


def _on_dial_end(d: _Draft, e: CallEvent) -> None:
    ring = d.ring(e.get("DestUniqueid") or "")
    if ring is None or ring.end is not None:
        return
    status = (e.get("DialStatus") or "").upper()
    if status == "ANSWER":
        if ring.via == "dial":
            ring.end, ring.outcome, ring.answered_at = e.ts_us, "answered", e.ts_us
        return
    ring.end, ring.outcome = e.ts_us, DIAL_OUTCOMES.get(status, "cancelled")


def _on_local_bridge(d: _Draft, e: CallEvent) -> None:
    one, two = e.get("LocalOneUniqueid"), e.get("LocalTwoUniqueid")
    if one and two:
        d.local_pair[one], d.local_pair[two] = two, one


def _on_bridge_leave(d: _Draft, e: CallEvent) -> None:
    uid = e.get("Uniqueid")
    if uid and uid not in d.bridge_leave:
        d.bridge_leave[uid] = e.ts_us


def _on_blind_transfer(d: _Draft, e: CallEvent) -> None:
    if (e.get("Result") or "Success") == "Success":
        d.transferred = True
        exten, context = e.get("Extension"), e.get("Context")
        d.transfer_target = f"{exten}@{context}" if context else exten


def _on_attended_transfer(d: _Draft, e: CallEvent) -> None:
    if (e.get("Result") or "Success") == "Success":
        d.transferred = True
        d.transfer_target = (
            e.get("SecondTransfererConnectedLineNum")
            or e.get("TransferTargetChannel")
            or e.get("DestApp")
            or "attended"
        )


def _on_var_set(d: _Draft, e: CallEvent) -> None:
    if e.get("Variable") == "MIXMONITOR_FILENAME" and e.get("Value"):
        d.mixmon_file = e.get("Value")


def _on_new_exten(d: _Draft, e: CallEvent) -> None:
    if (e.get("Application") or "").lower() == "mixmonitor":
        data = e.get("AppData") or ""
        main = data.split(",", 1)[0].strip()
        options = data.split(",", 1)[1] if "," in data else ""
        sides = {m.group(1): m.group(2) for m in _MIXMON_OPT.finditer(options) if m.group(2)}
        d.mixmon.append((e.get("Uniqueid") or "", main, sides))


def _on_marker(d: _Draft, e: CallEvent) -> None:
    reason = {
        GAP: "AMI connection lost while the call was in progress",
        EVICTED: "no event within the call TTL; the end of the call was never seen",
        STREAM_END: "the event stream ended before the call did",
        SNAPSHOT: "call first seen in a reconnect snapshot; its start was missed",
    }[e.name]
    detail = e.get("Detail")
    d.reasons.append(f"{reason} ({detail})" if detail else reason)


DISPATCH: dict[str, Handler] = {
    "Newchannel": _on_newchannel,
    "QueueEntry": _on_queue_entry,
    "NewCallerid": _on_channel_number,
    "Newstate": _on_channel,
    "CoreShowChannel": _on_channel,
    "Hangup": _on_hangup,
    "QueueCallerJoin": _on_queue_join,
    "AgentCalled": _on_agent_called,
    "AgentRingNoAnswer": _on_ring_no_answer,
    "AgentConnect": _on_agent_connect,
    "AgentComplete": _on_agent_complete,
    "QueueCallerAbandon": _on_abandon,
    "DialBegin": _on_dial_begin,
    "DialEnd": _on_dial_end,
    "LocalBridge": _on_local_bridge,
    "BridgeLeave": _on_bridge_leave,
    "BlindTransfer": _on_blind_transfer,
    "AttendedTransfer": _on_attended_transfer,
    "VarSet": _on_var_set,
    "Newexten": _on_new_exten,
    **{name: _on_marker for name in MARKERS},
}


def build_call(linkedid: str, events: Sequence[CallEvent], policy: RingPolicy) -> CallRecord:
    """The record of one call from its complete, ordered event list."""
    if is_queue_log_call(events):  # missed on AMI: what Asterisk's queue_log says, marked incomplete
        return build_from_queue_log(linkedid, events, policy)
    d = _Draft(linkedid)
    first_us: int | None = None
    for event in events:
        handler = DISPATCH.get(event.name)
        if handler is not None:
            handler(d, event)
        if event.name not in MARKERS:
            d.timed_by.add(event.timed_by)
            d.last_ts = max(d.last_ts, event.ts_us)
            first_us = event.ts_us if first_us is None else min(first_us, event.ts_us)
    record = CallRecord(linkedid=linkedid, event_count=len(events), first_event_us=first_us)
    _finish(d, record, policy)
    return record


def _operator_rings(d: _Draft) -> list[_Ring]:
    """The rings that reached an operator's phone, not intermediate legs."""
    if any(r.via == "queue" for r in d.rings.values()):
        return [r for r in d.rings.values() if r.via == "queue"]
    leaves = []
    for ring in d.rings.values():
        onward = {ring.dest, d.local_pair.get(ring.dest, "")} & d.dial_sources
        if not onward and ring.dest != d.caller_uid:
            leaves.append(ring)
    return leaves


def _finish(d: _Draft, rec: CallRecord, policy: RingPolicy) -> None:
    rings = sorted(_operator_rings(d), key=lambda r: r.start)
    rec.queue = d.queue
    caller_uid = d.caller_uid or d.linkedid
    rec.caller = d.caller or d.caller_cid.get(caller_uid) or d.caller_cid.get(d.linkedid)
    rec.offered_us = d.queued_at if d.queued_at is not None else d.first_dial
    rec.ended_us = max((ts for ts, _ in d.hungup.values()), default=None)
    if caller_uid in d.hungup:
        rec.hangup_cause = d.hungup[caller_uid][1]
    answered = next((r for r in rings if r.answered_at is not None), None)
    for ring in rings:
        if ring.end is None and not d.alive:
            ring.end, ring.outcome = rec.ended_us or d.last_ts, "cancelled"
        entry = OperatorRing(ring.operator, ring.interface, ring.start, ring.end,
                             ring.outcome or "unknown", ring.dest)
        if entry.ring_ms is not None:
            entry.rings = policy.rings(entry.ring_ms)
            entry.within_limit = policy.within_limit(entry.ring_ms)
        rec.operators_rung.append(entry)
    if answered is not None and answered.answered_at is not None:
        rec.outcome = "answered"
        rec.operator, rec.operator_interface = answered.operator, answered.interface
        rec.answered_us = answered.answered_at
        rec.ring_ms = ms(answered.answered_at - answered.start)
        rec.rings = policy.rings(rec.ring_ms)
        rec.within_limit = policy.within_limit(rec.ring_ms)
        if rec.offered_us is not None:
            rec.wait_ms = ms(answered.answered_at - rec.offered_us)
        talk_end = d.complete_at or _first_after(d, answered.answered_at, caller_uid, answered.dest)
        if talk_end is not None:
            rec.talk_ms = ms(talk_end - answered.answered_at)
    elif rec.offered_us is None:
        rec.outcome = "not_offered"
    elif d.abandon_at is not None or caller_uid in d.hungup:
        rec.outcome, rec.abandoned = "abandoned", True
        end = d.abandon_at if d.abandon_at is not None else d.hungup[caller_uid][0]
        rec.abandoned_after_ms = ms(end - rec.offered_us)
    else:
        rec.outcome = "unanswered"
    rec.transferred, rec.transfer_target = d.transferred, d.transfer_target
    rec.recordings, rec.recording_roles = _recordings(d, answered.dest if answered else None, caller_uid)
    if d.linkedid not in d.first_seen:
        d.reasons.append("the call's first channel (Uniqueid = Linkedid) was never seen starting")
    if d.alive and not any("TTL" in r for r in d.reasons):
        d.reasons.append(f"{len(d.alive)} channel(s) never hung up in the events seen")
    rec.incomplete_reasons = list(dict.fromkeys(d.reasons))
    rec.incomplete = bool(rec.incomplete_reasons)
    rec.timed_by = d.timed_by.pop() if len(d.timed_by) == 1 else ("mixed" if d.timed_by else "event")


def _first_after(d: _Draft, answered_at: int, *uids: str) -> int | None:
    """When talk ended without AgentComplete: the first leg to leave or hang up."""
    times = [d.bridge_leave[u] for u in uids if u in d.bridge_leave]
    times += [d.hungup[u][0] for u in uids if u in d.hungup]
    after = [t for t in times if t >= answered_at]
    return min(after) if after else None


def _recordings(d: _Draft, operator_uid: str | None, caller_uid: str) -> tuple[list[str], dict[str, str]]:
    """Recording paths named in the events, resolved like MixMonitor does, and whose voice each holds.

    MixMonitor's ``r()`` file is what the channel running it receives and ``t()``
    what it sends: on the operator's leg r() is the caller and t() the operator;
    on the caller's leg the other way round.
    """
    directory = d.mixmon_file.rsplit("/", 1)[0] + "/" if d.mixmon_file and "/" in d.mixmon_file else ""

    def resolve(name: str) -> str:
        return name if name.startswith("/") or not directory else directory + name

    paths: list[str] = [d.mixmon_file] if d.mixmon_file else []
    roles: dict[str, str] = {}
    operator_side = {u for u in (operator_uid, d.local_pair.get(operator_uid or "")) if u}
    caller_side = {caller_uid, d.local_pair.get(caller_uid, "")}
    for uid, main, sides in d.mixmon:
        received, sent = (("caller", "operator") if uid in operator_side
                          else ("operator", "caller") if uid in caller_side else ("", ""))
        for name, role in ((main, "mixed"), (sides.get("r"), received), (sides.get("t"), sent)):
            if not name:
                continue
            path = resolve(name)
            if path not in paths:
                paths.append(path)
            if role:
                roles[path] = role
    return paths, roles
