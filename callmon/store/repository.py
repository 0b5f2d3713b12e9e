"""The one place that reads and writes calls and raw events.

``write_batch`` stores raw events first and the call records computed from
them after, in one transaction, so a stored call always has its evidence.
Calls are upserted by (pbx, Linkedid): replaying a capture twice or
recomputing a call replaces its record instead of duplicating it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, case, delete, func, insert, select
from sqlalchemy.orm import Session, selectinload

from callmon.calls.events import MARKERS, CallEvent, event_from_raw
from callmon.calls.record import CallRecord, OperatorRing
from callmon.calls.rings import RingPolicy
from callmon.store.jobs import TRANSCRIBE
from callmon.store.models import Call, Job, OperatorRingRow, RawEvent, SpoolMark, Transcript
from callmon.store.period import iter_records
from callmon.store.witness import link_witnesses


@dataclass(slots=True)
class PendingEvent:
    """A raw event waiting to be written."""

    linkedid: str
    event: CallEvent
    source: str


# CallRecord attributes stored one-to-one in a column of the same name.
_SCALAR_FIELDS = (
    "caller", "queue", "operator", "operator_interface", "offered_us", "answered_us", "ended_us",
    "first_event_us", "ring_ms", "wait_ms", "rings", "within_limit", "outcome", "abandoned",
    "abandoned_after_ms", "transferred", "transfer_target", "talk_ms", "hangup_cause",
    "incomplete", "timed_by", "event_count",
)


def _now_us() -> int:
    return time.time_ns() // 1000


class Store:
    """Calls and raw events of one or more PBXs in one database."""

    def __init__(self, engine: Engine, transcribe: bool = True, witness_seconds: float = 10.0) -> None:
        self.engine = engine
        self.transcribe = transcribe  # answered calls with recordings get a transcription job
        self.witness_us = int(witness_seconds * 1_000_000)  # AMI and serial records this close are one call

    def write_batch(self, pbx: str, events: Sequence[PendingEvent],
                    calls: Sequence[tuple[CallRecord, str | None]], policy: RingPolicy,
                    mark: tuple[str, int, int] | None = None) -> None:
        """Raw events, then call records, and how far the spool ``mark`` reached: atomically."""
        if not events and not calls and mark is None:
            return
        with Session(self.engine) as session, session.begin():
            if events:
                session.execute(insert(RawEvent), [_event_row(pbx, p) for p in events])
            if calls:
                self._upsert_calls(session, pbx, calls, policy)
            if mark is not None:
                name, seq, event_us = mark
                row = session.get(SpoolMark, name)
                if row is None:
                    session.add(SpoolMark(name=name, seq=seq, event_us=event_us or None, updated_us=_now_us()))
                else:
                    row.seq, row.updated_us = max(row.seq, seq), _now_us()
                    row.event_us = max(row.event_us or 0, event_us) or None

    def spool_mark(self, name: str) -> int:
        """The last spool item named ``name`` whose events are stored (0: none)."""
        return self.spool_mark_at(name)[0]

    def spool_mark_at(self, name: str) -> tuple[int, int | None]:
        """(that item, the newest event time stored with it: where a stop's gap began, on Asterisk's clock)."""
        with Session(self.engine) as session:
            row = session.get(SpoolMark, name)
            return (row.seq, row.event_us) if row is not None else (0, None)

    def _upsert_calls(self, session: Session, pbx: str, calls: Sequence[tuple[CallRecord, str | None]],
                      policy: RingPolicy) -> None:
        latest = {record.linkedid: (record, source) for record, source in calls}
        existing = {
            row.linkedid: row
            for row in session.scalars(
                select(Call).where(Call.pbx == pbx, Call.linkedid.in_(list(latest)))
                .options(selectinload(Call.rings_list))
            )
        }
        rows = []
        for linkedid, (record, source) in latest.items():
            row = existing.get(linkedid)
            if row is None:
                row = Call(pbx=pbx, linkedid=linkedid)
                session.add(row)
            _fill(row, record, source, policy)
            rows.append(row)
        if self.witness_us > 0:
            session.flush()
            link_witnesses(session, rows, self.witness_us)
        if self.transcribe:
            session.flush()
            wanted = [r.id for r in rows if r.outcome == "answered" and r.recordings]
            if wanted:
                have = set(session.scalars(select(Job.call_id).where(Job.kind == TRANSCRIBE,
                                                                     Job.call_id.in_(wanted))))
                now = _now_us()
                for call_id in wanted:
                    if call_id not in have:
                        session.add(Job(kind=TRANSCRIBE, call_id=call_id, state="pending", attempts=0,
                                        run_after_us=now, created_us=now, updated_us=now))

    def call_events(self, pbx: str, linkedid: str) -> list[CallEvent]:
        """A call's stored events in arrival order, ready for ``build_call``."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(RawEvent.raw, RawEvent.received_us)
                .where(RawEvent.pbx == pbx, RawEvent.linkedid == linkedid).order_by(RawEvent.id)
            ).all()
        events = []
        for raw, received_us in rows:
            event = event_from_raw(raw, received_us)
            if event is not None:
                events.append(event)
        return events

    def stored_calls(self, since_us: int | None = None) -> list[tuple[str, str]]:
        """(pbx, linkedid) of every call with raw events, optionally since a time."""
        with Session(self.engine) as session:
            query = select(RawEvent.pbx, RawEvent.linkedid).group_by(RawEvent.pbx, RawEvent.linkedid)
            if since_us is not None:
                query = query.having(func.max(RawEvent.ts_us) >= since_us)
            return [(pbx, linkedid) for pbx, linkedid in session.execute(query).all()]

    def unfinished_calls(self, pbx: str) -> list[str]:
        """Linkedids with stored events but no call record: in progress at the last stop."""
        with Session(self.engine) as session:
            done = select(Call.linkedid).where(Call.pbx == pbx)
            query = (select(RawEvent.linkedid).where(RawEvent.pbx == pbx, RawEvent.linkedid != "",
                                                     RawEvent.linkedid.not_in(done))
                     .group_by(RawEvent.linkedid))
            return list(session.scalars(query))

    def calls(self, start_us: int | None = None, end_us: int | None = None,
              operator: str | None = None) -> list[CallRecord]:
        """Stored call records in time order, by the time the call was offered."""
        return list(self.iter_calls(start_us, end_us, operator))

    def iter_calls(self, start_us: int | None = None, end_us: int | None = None,
                   operator: str | None = None) -> Iterator[CallRecord]:
        """The calls offered in [start, end), in time order, read in bulk (``period.iter_records``)."""
        with Session(self.engine) as session:
            for _, rec in iter_records(session, start_us, end_us, operator):
                yield rec

    def today_counts(self, tz: Any) -> tuple[int, int, int]:
        """(answered, within the ring limit, abandoned) of the calls offered since local midnight."""
        midnight = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        start = int(midnight.timestamp() * 1_000_000)
        with Session(self.engine) as session:
            row = session.execute(select(
                func.sum(case((Call.outcome == "answered", 1), else_=0)),
                func.sum(case((and_(Call.outcome == "answered", Call.within_limit.is_(True)), 1), else_=0)),
                func.sum(case((Call.abandoned.is_(True), 1), else_=0))).where(Call.first_event_us >= start)).one()
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)

    def count(self) -> tuple[int, int]:
        """(calls, raw events) stored: a quick health figure."""
        with Session(self.engine) as session:
            calls = session.scalar(select(func.count()).select_from(Call)) or 0
            events = session.scalar(select(func.count()).select_from(RawEvent)) or 0
        return calls, events

    def call_by_id(self, call_id: int) -> CallRecord | None:
        with Session(self.engine) as session:
            row = session.get(Call, call_id, options=[selectinload(Call.rings_list)])
            return None if row is None else to_record(row)

    def call_id(self, linkedid: str, pbx: str | None = None) -> int | None:
        with Session(self.engine) as session:
            query = select(Call.id).where(Call.linkedid == linkedid)
            if pbx:
                query = query.where(Call.pbx == pbx)
            return session.scalars(query).first()

    def earlier_call(self, call_id: int, within_us: int) -> tuple[str, int] | None:
        """The latest other call from the same caller number that began up to ``within_us`` before this one.

        Returns (linkedid, microseconds earlier); None for a call without a number or time.
        """
        with Session(self.engine) as session:
            row = session.get(Call, call_id)
            if row is None or not row.caller or row.first_event_us is None:
                return None
            prior = session.execute(
                select(Call.linkedid, Call.first_event_us)
                .where(Call.caller == row.caller, Call.id != call_id,
                       Call.first_event_us <= row.first_event_us,
                       Call.first_event_us >= row.first_event_us - within_us)
                .order_by(Call.first_event_us.desc()).limit(1)).first()
            return None if prior is None else (prior[0], row.first_event_us - prior[1])

    def transcripts(self, call_id: int) -> list[dict[str, Any]]:
        """The stored transcripts of a call, one per channel."""
        with Session(self.engine) as session:
            rows = session.scalars(select(Transcript).where(Transcript.call_id == call_id)
                                   .order_by(Transcript.channel)).all()
            return [{"channel": t.channel, "file": t.file, "engine": t.engine, "model": t.model,
                     "audio_seconds": t.audio_seconds, "confidence": t.confidence,
                     "low_confidence": t.low_confidence, "no_speech": t.no_speech,
                     "utterances": list(t.utterances)} for t in rows]

    def delete_all(self) -> None:
        with Session(self.engine) as session, session.begin():
            session.execute(delete(Transcript))
            session.execute(delete(Job))
            session.execute(delete(OperatorRingRow))
            session.execute(delete(Call))
            session.execute(delete(RawEvent))


def _event_row(pbx: str, pending: PendingEvent) -> dict[str, object]:
    event = pending.event
    return {
        "pbx": pbx,
        "linkedid": pending.linkedid,
        "event": event.name[:64],
        "ts_us": event.ts_us,
        "timed_by": event.timed_by,
        "received_us": event.received_us,
        "source": pending.source[:255],
        "synthetic": event.name in MARKERS,
        "raw": event.message.raw.decode("utf-8", errors="replace"),
    }


def _fill(row: Call, rec: CallRecord, source: str | None, policy: RingPolicy) -> None:
    if source or not row.source:  # a recompute keeps where the call came from
        row.source = (source or "recompute")[:255]
    for name in _SCALAR_FIELDS:
        setattr(row, name, getattr(rec, name))
    row.incomplete_reasons = list(rec.incomplete_reasons)
    row.recordings = list(rec.recordings)
    row.recording_roles = dict(rec.recording_roles)
    row.ring_policy = policy.describe()
    row.computed_us = _now_us()
    row.rings_list = [
        OperatorRingRow(operator=r.operator, interface=r.interface, dest_uniqueid=r.dest_uniqueid,
                        rung_us=r.rung_us, ended_us=r.ended_us, ring_ms=r.ring_ms, outcome=r.outcome,
                        rings=r.rings, within_limit=r.within_limit)
        for r in rec.operators_rung
    ]


def to_record(row: Call) -> CallRecord:
    """A stored call as the same record the builder produced."""
    rec = CallRecord(linkedid=row.linkedid)
    for name in _SCALAR_FIELDS:
        setattr(rec, name, getattr(row, name))
    rec.incomplete_reasons = list(row.incomplete_reasons or [])
    rec.recordings = list(row.recordings or [])
    rec.recording_roles = dict(row.recording_roles or {})
    rec.pbx, rec.witness, rec.witness_rings = row.pbx, row.witness, row.witness_rings
    rec.operators_rung = [
        OperatorRing(r.operator, r.interface, r.rung_us, r.ended_us, r.outcome, r.dest_uniqueid,
                     r.rings, r.within_limit)
        for r in row.rings_list
    ]
    return rec


def chunks(items: Iterable[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    batch: list[tuple[str, str]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
