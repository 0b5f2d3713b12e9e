"""Calls in progress: route events to their call and notice when it ends.

The tracker groups events by Linkedid and hands a call's complete event list
on when its last channel hangs up.  State is evicted at that point, after a
TTL for calls whose end is never seen, and on reconnect for calls whose
channels vanished while callmon was disconnected.  It keeps a finished call's
events for a short grace period so a late event updates the call instead of
starting a phantom one (only its Linkedid is kept: the caller rebuilds such a
call from the stored events, so finished calls cost no memory).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from callmon.calls.events import EVICTED, GAP, SNAPSHOT, STREAM_END, CallEvent, make_event, marker
from callmon.sources.ami_protocol import Message

_LINK_KEYS = (
    "DestLinkedid", "TransfereeLinkedid", "TransfererLinkedid", "OrigTransfererLinkedid",
    "SecondTransfererLinkedid", "LocalOneLinkedid", "LocalTwoLinkedid",
)


def linkedids_of(message: Message) -> list[str]:
    """The call(s) an event belongs to: its Linkedid, else the linked ids it names."""
    own = message.get("Linkedid")
    if own:
        return [own]
    found: list[str] = []
    for key in _LINK_KEYS:
        value = message.get(key)
        if value and value not in found:
            found.append(value)
    return found


@dataclass(slots=True)
class _Call:
    linkedid: str
    events: list[CallEvent] = field(default_factory=list)
    alive: set[str] = field(default_factory=set)
    hungup: set[str] = field(default_factory=set)
    last_seen_us: int = 0


@dataclass(slots=True)
class Finished:
    """A call whose event list is complete (or given up on), ready to build."""

    linkedid: str
    events: list[CallEvent]
    update: bool = False  # a late event for a finished call: ``events`` holds only that event


class CallTracker:
    """Groups events by call and decides when each call is over."""

    def __init__(self, ttl_seconds: float = 6 * 3600, grace_seconds: float = 30.0,
                 max_recent: int = 10_000) -> None:
        self.ttl_us = int(ttl_seconds * 1_000_000)
        self.grace_us = int(grace_seconds * 1_000_000)
        self.max_recent = max_recent
        self._active: dict[str, _Call] = {}
        self._suspect: set[str] = set()  # in progress across a gap: the snapshot decides their fate
        self._recent: OrderedDict[str, int] = OrderedDict()  # finished Linkedid -> when

    @property
    def in_progress(self) -> int:
        return len(self._active)

    def active_linkedids(self) -> list[str]:
        return list(self._active)

    def add(self, event: CallEvent, linkedid: str) -> list[Finished]:
        """Record one event of one call; return the calls it finished."""
        call = self._active.get(linkedid)
        if call is None:
            if linkedid in self._recent:
                return [Finished(linkedid, [event], update=True)]
            call = self._active[linkedid] = _Call(linkedid)
        call.events.append(event)
        call.last_seen_us = max(call.last_seen_us, event.ts_us)
        uid = event.get("Uniqueid")
        if uid:
            if event.name == "Hangup":
                call.alive.discard(uid)
                call.hungup.add(uid)
                if not call.alive:
                    return [self._finish(call)]
            elif uid not in call.hungup:
                call.alive.add(uid)
        return []

    def _finish(self, call: _Call, *markers: CallEvent) -> Finished:
        call.events.extend(markers)
        self._suspect.discard(call.linkedid)
        del self._active[call.linkedid]
        self._recent[call.linkedid] = call.last_seen_us
        while len(self._recent) > self.max_recent:
            self._recent.popitem(last=False)
        return Finished(call.linkedid, list(call.events))

    def sweep(self, now_us: int) -> list[Finished]:
        """Give up on calls silent for longer than the TTL; forget old finished calls."""
        done = []
        for call in list(self._active.values()):
            if now_us - call.last_seen_us > self.ttl_us:
                silent = (now_us - call.last_seen_us) // 1_000_000
                done.append(self._finish(call, marker(EVICTED, call.linkedid, now_us, Detail=f"silent {silent} s")))
        while self._recent:
            finished_us = next(iter(self._recent.values()))
            if now_us - finished_us <= self.grace_us:
                break
            self._recent.popitem(last=False)
        return done

    def mark_gap(self, lost_us: int, detail: str) -> list[CallEvent]:
        """The connection dropped: every call in progress has a hole in its events."""
        added = []
        for call in self._active.values():
            self._suspect.add(call.linkedid)
            gap = marker(GAP, call.linkedid, lost_us, Detail=detail)
            call.events.append(gap)
            added.append(gap)
        return added

    def reconcile(self, snapshot: dict[str, list[CallEvent]],
                  now_us: int) -> tuple[list[Finished], list[tuple[str, CallEvent]]]:
        """After a (re)connect: end gap-crossing calls whose channels are gone, adopt unknown ones.

        Calls first seen in the current session are live by definition and left
        alone: their events arrived before the snapshot's reply.

        ``snapshot`` maps Linkedid to the CoreShowChannel (and similar) events
        for it.  Returns the finished calls and the events added to calls, each with its call's Linkedid
        (a QueueEntry row has none of its own).
        """
        finished = []
        suspects, self._suspect = self._suspect, set()
        for linkedid in suspects:
            call = self._active.get(linkedid)
            if call is not None and linkedid not in snapshot:  # it ended while we could not see it
                finished.append(self._finish(call))
        added: list[tuple[str, CallEvent]] = []
        for linkedid, events in snapshot.items():
            if linkedid in self._recent:  # ended while the snapshot was being taken
                continue
            call = self._active.get(linkedid)
            if call is not None:
                if linkedid in suspects:  # channels that vanished during the gap will send no Hangup
                    call.alive &= {u for u in (e.get("Uniqueid") for e in events) if u}
            else:
                first = marker(SNAPSHOT, linkedid, now_us, Detail="in progress when callmon connected")
                added.append((linkedid, first))
                call = self._active[linkedid] = _Call(linkedid, [first], last_seen_us=now_us)
            for event in events:
                call.events.append(event)
                added.append((linkedid, event))
                uid = event.get("Uniqueid")
                if uid and uid not in call.hungup:
                    call.alive.add(uid)
            if linkedid in suspects and not call.alive:  # its listed channels hung up before the snapshot
                finished.append(self._finish(call))  # was applied, the others vanished in the gap: it is over
        return finished, added

    def end_of_stream(self, now_us: int, detail: str) -> list[Finished]:
        """The source ended: hand on every unfinished call, marked incomplete."""
        return [
            self._finish(call, marker(STREAM_END, call.linkedid, max(now_us, call.last_seen_us), Detail=detail))
            for call in list(self._active.values())
        ]


def snapshot_by_call(messages: list[Message], received_us: int) -> dict[str, list[CallEvent]]:
    """Group snapshot messages by Linkedid (QueueEntry rows joined through Uniqueid)."""
    by_uid: dict[str, str] = {}
    grouped: dict[str, list[CallEvent]] = {}
    for message in messages:
        for linkedid in linkedids_of(message):
            uid = message.get("Uniqueid")
            if uid:
                by_uid[uid] = linkedid
    for message in messages:
        ids = linkedids_of(message) or ([by_uid[u]] if (u := message.get("Uniqueid")) in by_uid else [])
        for linkedid in ids:
            grouped.setdefault(linkedid, []).append(make_event(message, received_us))
    return grouped
