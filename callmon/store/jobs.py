"""A durable job queue in the database, safe with several worker processes.

A job is claimed with a lease: the worker that claims it owns it until the
lease ends, so a worker killed mid-job loses nothing (the job is claimed
again after the lease).  On PostgreSQL the claim is one ``UPDATE ... WHERE id
= (SELECT ... FOR UPDATE SKIP LOCKED)``; elsewhere (SQLite, one writer at a
time) a compare-and-set ``UPDATE`` that only succeeds if the job is still
claimable.  Completing also checks ownership, so a job whose lease ran out and
was taken over is never stored twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from callmon.store.models import Call, Job, Transcript

TRANSCRIBE = "transcribe"


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass(slots=True, frozen=True)
class Claimed:
    """A job this worker holds until ``lease_until_us``."""

    id: int
    call_id: int
    attempts: int
    lease_until_us: int


class JobQueue:
    """Jobs of one kind (transcription) over the store's engine."""

    def __init__(self, engine: Engine, kind: str = TRANSCRIBE) -> None:
        self.engine = engine
        self.kind = kind
        self.skip_locked = engine.dialect.name == "postgresql"

    def enqueue(self, call_ids: Iterable[int], reset: bool = False) -> int:
        """Add a job per call (once); with ``reset`` put existing ones back to pending."""
        ids = list(dict.fromkeys(call_ids))
        if not ids:
            return 0
        now = now_us()
        added = 0
        with Session(self.engine) as session, session.begin():
            existing = set(session.scalars(select(Job.call_id).where(Job.kind == self.kind, Job.call_id.in_(ids))))
            new = [i for i in ids if i not in existing]
            if new:
                session.execute(insert(Job), [
                    {"kind": self.kind, "call_id": i, "state": "pending", "attempts": 0, "run_after_us": now,
                     "created_us": now, "updated_us": now} for i in new])
                added = len(new)
            if reset and existing:
                session.execute(update(Job).where(Job.kind == self.kind, Job.call_id.in_(existing)).values(
                    state="pending", attempts=0, run_after_us=now, lease_until_us=None, worker=None,
                    last_error=None, updated_us=now, finished_us=None))
        return added + (len(existing) if reset else 0)

    def _claimable(self, now: int):  # type: ignore[no-untyped-def]
        return and_(Job.kind == self.kind, or_(
            and_(Job.state == "pending", Job.run_after_us <= now),
            and_(Job.state == "running", Job.lease_until_us < now),  # its worker died
        ))

    def claim(self, worker: str, lease_seconds: float) -> Claimed | None:
        """Take the oldest claimable job, or None."""
        now = now_us()
        lease = now + int(lease_seconds * 1e6)
        values = {"state": "running", "attempts": Job.attempts + 1, "lease_until_us": lease,
                  "worker": worker, "updated_us": now}
        with Session(self.engine) as session, session.begin():
            if self.skip_locked:
                pick = (select(Job.id).where(self._claimable(now)).order_by(Job.run_after_us, Job.id).limit(1)
                        .with_for_update(skip_locked=True).scalar_subquery())
                row = session.execute(update(Job).where(Job.id == pick).values(**values)
                                      .returning(Job.id, Job.call_id, Job.attempts)).first()
                return Claimed(row[0], row[1], row[2], lease) if row else None
            for job_id in session.scalars(select(Job.id).where(self._claimable(now))
                                          .order_by(Job.run_after_us, Job.id).limit(5)):
                result = session.execute(update(Job).where(Job.id == job_id, self._claimable(now)).values(**values))
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    got = session.execute(select(Job.call_id, Job.attempts).where(Job.id == job_id)).one()
                    return Claimed(job_id, got[0], got[1], lease)
        return None

    def renew(self, job: Claimed, worker: str, lease_seconds: float) -> bool:
        """Extend the lease of a long job; False if it is no longer ours."""
        with Session(self.engine) as session, session.begin():
            result = session.execute(update(Job).where(Job.id == job.id, Job.worker == worker,
                                                       Job.state == "running")
                                     .values(lease_until_us=now_us() + int(lease_seconds * 1e6)))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def complete(self, job: Claimed, worker: str, transcripts: Sequence[dict[str, object]]) -> bool:
        """Store the results and mark the job done, atomically, if we still own it."""
        now = now_us()
        with Session(self.engine) as session, session.begin():
            owned = session.execute(update(Job).where(Job.id == job.id, Job.worker == worker,
                                                      Job.state == "running", Job.attempts == job.attempts)
                                    .values(state="done", finished_us=now, updated_us=now, last_error=None))
            if owned.rowcount != 1:  # type: ignore[attr-defined]
                return False  # taken over after our lease ran out: the other worker's result stands
            for old in session.scalars(select(Transcript).where(Transcript.call_id == job.call_id)):
                session.delete(old)
            session.flush()
            for data in transcripts:
                session.add(Transcript(call_id=job.call_id, created_us=now, **data))
        return True

    def fail(self, job: Claimed, worker: str, error: str, retry_seconds: float | None, max_attempts: int) -> str:
        """Record an error; retry later with backoff or give up.  Returns the new state."""
        now = now_us()
        permanent = retry_seconds is None or job.attempts >= max_attempts
        delay = 0 if retry_seconds is None else int(retry_seconds * 1e6 * 2 ** (job.attempts - 1))
        state = "failed" if permanent else "pending"
        with Session(self.engine) as session, session.begin():
            session.execute(update(Job).where(Job.id == job.id, Job.worker == worker, Job.state == "running")
                            .values(state=state, last_error=error[:4000], run_after_us=now + delay,
                                    lease_until_us=None, updated_us=now,
                                    finished_us=now if permanent else None))
        return state

    def counts(self) -> dict[str, int]:
        with Session(self.engine) as session:
            rows = session.execute(select(Job.state, func.count()).where(Job.kind == self.kind)
                                   .group_by(Job.state)).all()
        return {state: n for state, n in rows}

    def backlog(self) -> int:
        counts = self.counts()
        return counts.get("pending", 0) + counts.get("running", 0)

    def calls_since(self, since_us: int | None) -> list[int]:
        """Calls with recordings (answered) since a time, for ``reprocess``.

        Not those whose audio or transcript retention removed: the job would fail, and its failure would
        replace the verdict with "needs a human", or bring back a transcript past its time."""
        with Session(self.engine) as session:
            query = (select(Call.id).where(Call.outcome == "answered", Call.recordings_purged_us.is_(None),
                                           Call.transcripts_purged_us.is_(None)).order_by(Call.first_event_us))
            if since_us is not None:
                query = query.where(Call.first_event_us >= since_us)
            return [i for i in session.scalars(query)]

    def job(self, call_id: int) -> Job | None:
        with Session(self.engine) as session:
            return session.scalars(select(Job).where(Job.kind == self.kind, Job.call_id == call_id)).first()
