"""The live wallboard's state (实时监控): calls ringing now, operators' states, today's figures.

Fed with the AMI messages as they arrive (dispatch on the event name through a dict), clocked
by the time each message was received: the wallboard is about now, so it does not wait for or
trust a message's own timestamp.  Pure: no I/O, no timers.  ``live.hub`` schedules the moment
each ring passes the limit and pushes the changes to the pages and the alert channels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from callmon.calls.rings import RingPolicy
from callmon.sources.ami_protocol import Message

# QueueMemberStatus Status (Asterisk's device states)
_MEMBER_STATUS = {"1": "idle", "2": "talking", "3": "talking", "4": "unavailable", "5": "unavailable",
                  "6": "ringing", "7": "talking", "8": "talking", "0": "idle"}
_DEVICE_STATE = {"NOT_INUSE": "idle", "INUSE": "talking", "BUSY": "talking", "RINGING": "ringing",
                 "RINGINUSE": "ringing", "ONHOLD": "talking", "UNAVAILABLE": "unavailable", "INVALID": "unavailable"}


@dataclass
class LiveCall:
    linkedid: str
    caller: str | None
    queue: str | None
    joined_at: float  # epoch seconds, when callmon heard the caller join the queue
    operator: str | None = None  # being rung now
    ring_started: float | None = None  # epoch seconds, this operator's ring
    ring_id: int = 0  # changes with every new ring, so a stale limit timer knows it is stale
    over_limit: bool = False  # this call's ring passed the limit (alerted once per call)
    alerted_at: float | None = None


@dataclass
class OperatorState:
    state: str = "idle"  # idle | ringing | talking | paused | unavailable
    paused: bool = False
    since: float = 0.0


@dataclass
class Today:
    day: str = ""
    answered: int = 0
    within_limit: int = 0
    abandoned: int = 0


@dataclass
class Board:
    policy: RingPolicy
    calls: dict[str, LiveCall] = field(default_factory=dict)
    operators: dict[str, OperatorState] = field(default_factory=dict)
    today: Today = field(default_factory=Today)
    devices: dict[str, str] = field(default_factory=dict)  # StateInterface / Interface -> operator
    _rings: int = 0

    def __post_init__(self) -> None:
        self._handlers: dict[str, Callable[[Message, float], bool]] = {
            "QueueCallerJoin": self._join, "AgentCalled": self._called, "AgentRingNoAnswer": self._ring_over,
            "AgentConnect": self._connect, "AgentComplete": self._complete, "QueueCallerAbandon": self._abandon,
            "QueueCallerLeave": self._leave, "Hangup": self._hangup, "QueueMemberStatus": self._member,
            "QueueMemberPause": self._member, "DeviceStateChange": self._device,
        }

    @property
    def limit_seconds(self) -> float:
        return self.policy.limit_ms / 1000

    def feed(self, message: Message, now: float) -> bool:
        """Apply one AMI message received at ``now`` (epoch seconds); True when the board changed."""
        handler = self._handlers.get(message.get("Event") or "")
        return handler(message, now) if handler is not None else False

    def _operator(self, message: Message) -> str | None:
        name = message.get("MemberName") or message.get("DestCallerIDName")
        interface = message.get("Interface") or message.get("StateInterface")
        if name is None and interface is not None:
            name = self.devices.get(interface)
        return name

    def _set(self, operator: str | None, state: str, now: float) -> bool:
        if operator is None:
            return False
        op = self.operators.setdefault(operator, OperatorState(since=now))
        shown = "paused" if op.paused and state == "idle" else state
        if op.state == shown:
            return False
        op.state, op.since = shown, now
        return True

    def _join(self, m: Message, now: float) -> bool:
        linkedid = m.get("Linkedid") or m.get("Uniqueid")
        if not linkedid:
            return False
        self.calls.setdefault(linkedid, LiveCall(linkedid, m.get("CallerIDNum"), m.get("Queue"), now))
        return True

    def _called(self, m: Message, now: float) -> bool:
        linkedid = m.get("Linkedid")
        call = self.calls.get(linkedid or "")
        if call is None:  # rung before we saw the join (callmon started mid-call): show it anyway
            if not linkedid:
                return False
            call = self.calls[linkedid] = LiveCall(linkedid, m.get("CallerIDNum"), m.get("Queue"), now)
        operator = self._operator(m)
        self._rings += 1
        call.operator, call.ring_started, call.ring_id = operator, now, self._rings
        self._set(operator, "ringing", now)
        return True

    def _ring_over(self, m: Message, now: float) -> bool:
        call = self.calls.get(m.get("Linkedid") or "")
        operator = self._operator(m)
        self._set(operator, "idle", now)
        if call is not None and call.operator == operator:
            call.operator, call.ring_started = None, None
        return True

    def _connect(self, m: Message, now: float) -> bool:
        call = self.calls.pop(m.get("Linkedid") or "", None)
        self._set(self._operator(m), "talking", now)
        self.today.answered += 1
        if call is not None and call.ring_started is not None and self.policy.within_limit(
                int((now - call.ring_started) * 1000)):
            self.today.within_limit += 1
        return True

    def _complete(self, m: Message, now: float) -> bool:
        return self._set(self._operator(m), "idle", now)

    def _abandon(self, m: Message, now: float) -> bool:
        self.calls.pop(m.get("Linkedid") or m.get("Uniqueid") or "", None)
        self.today.abandoned += 1
        return True

    def _leave(self, m: Message, now: float) -> bool:
        call = self.calls.get(m.get("Linkedid") or "")
        if call is not None and call.operator is None:  # left without anyone ringing: gone
            self.calls.pop(call.linkedid)
            return True
        return False

    def _hangup(self, m: Message, now: float) -> bool:
        linkedid = m.get("Linkedid") or ""
        if linkedid in self.calls and m.get("Uniqueid") == linkedid:  # the caller's channel ended
            call = self.calls.pop(linkedid)
            if call.operator is not None:
                self._set(call.operator, "idle", now)
            return True
        return False

    def _member(self, m: Message, now: float) -> bool:
        name = m.get("MemberName")
        if not name:
            return False
        for key in ("StateInterface", "Interface"):
            if m.get(key):
                self.devices[m.get(key) or ""] = name
        changed = name not in self.operators  # a member seen for the first time is news to the page
        op = self.operators.setdefault(name, OperatorState(since=now))
        if m.get("Paused") is not None:
            paused = m.get("Paused") == "1"
            changed, op.paused = changed or op.paused != paused, paused
        state = _MEMBER_STATUS.get(m.get("Status") or "", op.state if op.state != "paused" else "idle")
        return self._set(name, state, now) or changed

    def _device(self, m: Message, now: float) -> bool:
        operator = self.devices.get(m.get("Device") or "")
        state = _DEVICE_STATE.get(m.get("State") or "")
        return self._set(operator, state, now) if state else False

    def snapshot(self) -> dict[str, Any]:
        return {"calls": [asdict(c) for c in sorted(self.calls.values(), key=lambda c: c.joined_at)],
                "operators": {name: asdict(s) for name, s in sorted(self.operators.items())},
                "today": asdict(self.today),
                "limit_seconds": self.limit_seconds, "ring_period_ms": self.policy.period_ms,
                "ring_limit": self.policy.limit}
