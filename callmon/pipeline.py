"""The chain from AMI messages to stored call records.

source → ``CallEvent`` → ``CallTracker`` (which call, is it over?) →
``build_call`` (the record) → ``Store`` (raw events first, then records) →
``on_call`` (printing, later stages).  Each stage is usable alone; this class
only wires them and batches the writes.  One bad event is logged and skipped,
never fatal.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from callmon.calls.builder import build_call
from callmon.calls.events import CallEvent, make_event
from callmon.calls.record import CallRecord
from callmon.calls.rings import RingPolicy
from callmon.calls.seen import SeenCalls
from callmon.calls.tracker import CallTracker, Finished, linkedids_of
from callmon.sources.ami_protocol import Message
from callmon.store.db import db_reason
from callmon.store.repository import PendingEvent, Store

log = logging.getLogger(__name__)


def tune_gc() -> None:
    """Run the cyclic garbage collector less often while streaming events.

    Each event allocates dozens of small objects that reference counting frees
    at once; with CPython's default gen-0 threshold (700) the cycle collector
    runs thousands of times a second and finds nothing.  bench/bench_pipeline.py
    measures the difference.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def now_us() -> int:
    return time.time_ns() // 1000


class CallPipeline:
    """Feeds messages through tracker and builder into the store."""

    def __init__(self, store: Store | None, policy: RingPolicy, *, pbx: str = "asterisk",
                 source: str = "ami", tracker: CallTracker | None = None,
                 on_call: Callable[[CallRecord], None] | None = None, batch_events: int = 2000) -> None:
        self.store = store
        self.policy = policy
        self.pbx = pbx
        self.source = source
        self.tracker = tracker or CallTracker()
        self.on_call = on_call
        self.batch_events = batch_events
        self._events: list[PendingEvent] = []
        self._calls: dict[str, CallRecord] = {}
        self.events_seen = 0
        self.events_without_call = 0
        self.errors = 0
        self.calls_done = 0
        self.calls_incomplete = 0
        self.ring_limit_violations: dict[str, int] = {}
        self.last_event_us = 0
        self._clock_skew_us = 0  # receive time minus the stream's own time, at the newest event
        # the spool item every pending event came from, up to this one (written with them: see store.spool)
        self.spool_name: str | None = None
        self.position = 0
        self._stored_position = 0
        self.store_error: str | None = None  # the database's last refusal, while it lasts
        self._retry_at = 0.0
        self._retry_delay = 0.5
        self._rebuild: set[str] = set()  # late events that arrived while the database was away
        self.seen = SeenCalls()  # recent calls by channel and caller number: the queue_log backfill asks
        self.hold_on_store_error = False  # the daemon holds and retries; one-shot commands fail at once

    @property
    def backlog(self) -> int:
        return len(self._events) + len(self._calls)

    def feed(self, message: Message, received_us: int | None = None) -> None:
        """One message from a source; non-events (responses) are ignored here."""
        if message.kind != "Event":
            return
        self.events_seen += 1
        try:
            event = make_event(message, now_us() if received_us is None else received_us)
            if event.timed_by == "event":  # the stream's own clock; receive times may be replay time
                if event.ts_us >= self.last_event_us:
                    self._clock_skew_us = event.received_us - event.ts_us
                self.last_event_us = max(self.last_event_us, event.ts_us)
            linkedids = linkedids_of(message)
            if not linkedids:
                self.events_without_call += 1
                return
            self.seen.note(event, linkedids[0])
            for linkedid in linkedids:
                self._events.append(PendingEvent(linkedid, event, self.source))
                self._finished(self.tracker.add(event, linkedid))
        except Exception:
            self.errors += 1
            log.exception("skipped event %s at byte %d", message.name, message.offset)
        if len(self._events) >= self.batch_events:
            self.flush()

    def add_markers(self, events: list[CallEvent]) -> None:
        """Synthetic events (gaps, snapshots) are stored like any other."""
        for event in events:
            linkedid = event.linkedid or ""
            self._events.append(PendingEvent(linkedid, event, self.source))

    def adopt(self, linkedid: str, events: list[CallEvent]) -> None:
        """A whole call from elsewhere (queue_log): its events stored, its record built, both at the next flush."""
        self._events.extend(PendingEvent(linkedid, event, self.source) for event in events)
        self._build(linkedid, events)

    def gap(self, lost_us: int, detail: str) -> None:
        self.add_markers(self.tracker.mark_gap(lost_us, detail))

    def reconcile(self, snapshot: dict[str, list[CallEvent]], at_us: int) -> None:
        finished, added = self.tracker.reconcile(snapshot, at_us)
        for linkedid, events in snapshot.items():
            for event in events:
                self.seen.note(event, linkedid)
        self._events.extend(PendingEvent(linkedid, event, self.source) for linkedid, event in added)
        self._finished(finished)

    def sweep(self, at_us: int | None = None) -> None:
        """TTL eviction at ``at_us``, by default now on the stream's clock (a replay of an old day, or a PBX
        whose clock is off, must not have every call in progress evicted as hours silent)."""
        self._finished(self.tracker.sweep(now_us() - self._clock_skew_us if at_us is None else at_us))

    def end_of_stream(self, detail: str, at_us: int | None = None) -> None:
        finished = self.tracker.end_of_stream(at_us if at_us is not None else self.last_event_us, detail)
        for item in finished:
            self.add_markers([item.events[-1]])
        self._finished(finished)
        self.flush()

    def _finished(self, finished: list[Finished]) -> None:
        for item in finished:
            events = item.events
            if item.update:  # a late event: rebuild the call from everything stored for it
                if self.store is None:
                    continue
                if not self.flush():
                    self._rebuild.add(item.linkedid)
                    continue
                try:
                    events = self.store.call_events(self.pbx, item.linkedid)
                except SQLAlchemyError as exc:
                    self._store_failed(exc)
                    self._rebuild.add(item.linkedid)
                    continue
            self._build(item.linkedid, events)

    def _build(self, linkedid: str, events: list[CallEvent]) -> None:
        try:
            record = build_call(linkedid, events, self.policy)
        except Exception as exc:
            self.errors += 1
            log.exception("could not compute call %s", linkedid)
            record = CallRecord(linkedid=linkedid, incomplete=True, outcome="unknown",
                                incomplete_reasons=[f"could not compute the call: {exc}"],
                                event_count=len(events))
        self._calls[linkedid] = record

    @property
    def store_ok(self) -> bool:
        return self.store_error is None

    def flush(self) -> bool:
        """Write what is pending (events, then calls, and the spool mark); then hand the calls on.

        False when the database refused: everything stays pending (and in the spool) and the next
        flush after a short backoff tries again, so an outage loses nothing and is logged once.
        """
        mark_due = self.spool_name is not None and self.position - self._stored_position >= 1000
        if not self._events and not self._calls and not mark_due:
            return True
        calls = list(self._calls.values())
        if self.store is not None:
            if self.store_error is not None and time.monotonic() < self._retry_at:
                return False
            mark = (self.spool_name, self.position, self.last_event_us) if self.spool_name is not None else None
            try:
                self.store.write_batch(self.pbx, self._events, [(c, self.source) for c in calls], self.policy,
                                       mark=mark)
            except SQLAlchemyError as exc:
                self._store_failed(exc)
                return False
            self._store_back()
        self._stored_position = self.position
        self._events = []
        self._calls = {}
        self.calls_done += len(calls)
        for record in calls:  # what /metrics reports for this run
            self.calls_incomplete += record.incomplete
            for ring in record.operators_rung:
                if ring.within_limit is False:
                    self.ring_limit_violations[ring.operator] = self.ring_limit_violations.get(ring.operator, 0) + 1
        if self.on_call is not None:
            for record in calls:
                self.on_call(record)
        if self._rebuild:
            self._rebuild_late()
        return True

    @property
    def stored_position(self) -> int:
        """The last spool item whose events the database holds."""
        return self._stored_position

    def _store_failed(self, exc: SQLAlchemyError) -> None:
        if not self.hold_on_store_error:
            raise exc
        reason = db_reason(exc)
        if self.store_error is None:
            log.error("database unavailable: %s; holding %d event(s) and %d call(s) in memory and the spool, "
                      "retrying", reason, len(self._events), len(self._calls))
            self._retry_delay = 0.5
        else:
            self._retry_delay = min(self._retry_delay * 2, 5.0)
        self.store_error = reason
        self._retry_at = time.monotonic() + self._retry_delay

    def _store_back(self) -> None:
        if self.store_error is not None:
            log.warning("database available again: writing what was held")
            self.store_error = None

    def _rebuild_late(self) -> None:
        assert self.store is not None
        pending, self._rebuild = self._rebuild, set()
        for linkedid in pending:
            try:
                events = self.store.call_events(self.pbx, linkedid)
            except SQLAlchemyError as exc:
                self._store_failed(exc)
                self._rebuild |= pending
                return
            self._build(linkedid, events)
