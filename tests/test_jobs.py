"""The durable job queue on SQLite and PostgreSQL: claims, leases, retries, racing workers."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callmon.config import Config
from callmon.speech.worker import TranscriptionWorker
from callmon.store.db import open_store
from callmon.store.jobs import JobQueue
from callmon.store.models import Job
from callmon.store.repository import Store
from tests.conftest import ASTERISK
from tests.test_store import MIXED, replay


def stored_store(db_url: str) -> Store:
    store = Store(open_store(db_url))
    replay(store, MIXED).end_of_stream("end")
    return store


def test_answered_calls_with_recordings_get_one_job_each(db_url: str) -> None:
    store = stored_store(db_url)
    queue = JobQueue(store.engine)
    assert queue.counts() == {"pending": 8}  # 10 calls, 2 abandoned without recordings
    replay(store, MIXED).end_of_stream("again")  # replaying again adds no job
    assert queue.counts() == {"pending": 8}
    ids = queue.calls_since(None)
    assert len(ids) == 8
    assert queue.enqueue(ids) == 0 and queue.enqueue(ids, reset=True) == 8


def test_claims_are_exclusive_and_leases_expire(db_url: str) -> None:
    store = stored_store(db_url)
    queue = JobQueue(store.engine)
    claimed = [queue.claim(f"w{i}", lease_seconds=60) for i in range(8)]
    assert all(c is not None for c in claimed)
    assert len({c.id for c in claimed if c}) == 8
    assert queue.claim("w9", 60) is None
    first = claimed[0]
    assert first is not None
    # a worker that dies: its lease runs out and the job is claimed again
    queue2 = JobQueue(store.engine)
    with Session(store.engine) as session, session.begin():
        session.get(Job, first.id).lease_until_us = 0  # type: ignore[union-attr]
    again = queue2.claim("w-new", 60)
    assert again is not None and again.id == first.id and again.attempts == 2
    transcript = {"channel": "operator", "file": "x.wav", "engine": "e", "model": "m", "audio_seconds": 1.0,
                  "utterances": [], "text": "", "confidence": None, "low_confidence": False, "no_speech": True}
    assert queue.complete(first, "w0", [transcript]) is False  # the dead worker's late result is refused
    assert queue2.complete(again, "w-new", [transcript]) is True
    assert len(store.transcripts(first.call_id)) == 1


def test_retry_with_backoff_then_give_up(db_url: str) -> None:
    store = stored_store(db_url)
    queue = JobQueue(store.engine)
    job = queue.claim("w", 60)
    assert job is not None
    assert queue.fail(job, "w", "temporary", retry_seconds=30, max_attempts=3) == "pending"
    with Session(store.engine) as session:
        row = session.get(Job, job.id)
        assert row is not None and row.run_after_us > time.time() * 1e6 + 25e6 and row.last_error == "temporary"
    others = [queue.claim("w", 60) for _ in range(7)]
    assert job.id not in {o.id for o in others if o}  # not before its backoff
    with Session(store.engine) as session, session.begin():
        session.get(Job, job.id).run_after_us = 0  # type: ignore[union-attr]
    for attempt in (2, 3):
        again = queue.claim("w", 60)
        assert again is not None and again.id == job.id and again.attempts == attempt
        state = queue.fail(again, "w", f"error {attempt}", retry_seconds=0.0, max_attempts=3)
    assert state == "failed"
    assert JobQueue(store.engine).job(job.call_id).last_error == "error 3"  # type: ignore[union-attr]


RACER = """
import sys, time
from callmon.store.db import open_store
from callmon.store.jobs import JobQueue
queue = JobQueue(open_store(sys.argv[1]))
name = sys.argv[2]
while True:
    job = queue.claim(name, 60)
    if job is None:
        break
    time.sleep(0.01)
    assert queue.complete(job, name, [{"channel": "operator", "file": name, "engine": "e", "model": "m",
        "audio_seconds": 0.0, "utterances": [], "text": "", "confidence": None, "low_confidence": False,
        "no_speech": True}])
"""


def test_two_worker_processes_racing_do_every_job_once(db_url: str) -> None:
    store = Store(open_store(db_url))
    for k in range(5):  # 40 answered calls
        shift = (k + 1) * 1000  # ids and timestamps of a new set of calls, later in time
        data = re.sub(rb"\b1795357(\d{3})\.", lambda m, s=shift: b"%d." % (1795357000 + int(m.group(1)) + s),
                      MIXED.read_bytes())
        path = Path(f"/tmp/callmon-race-{k}.raw")
        path.write_bytes(data)
        replay(store, path).end_of_stream("end")
    queue = JobQueue(store.engine)
    total = queue.counts()["pending"]
    assert total >= 35
    procs = [subprocess.Popen([sys.executable, "-c", RACER, db_url, f"racer{i}"]) for i in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert queue.counts() == {"done": total}
    with Session(store.engine) as session:
        jobs = session.scalars(select(Job)).all()
        assert all(j.attempts == 1 for j in jobs)  # nobody claimed a job another worker held
        assert {j.worker for j in jobs} == {"racer0", "racer1"}  # both really worked


def test_missing_recording_is_retried_and_bad_audio_fails_for_good(db_url: str, tmp_path: Path) -> None:
    store = Store(open_store(db_url))
    replay(store, ASTERISK / "ami-capture-ring07-noncompliant.raw").end_of_stream("end")
    cfg = Config()
    cfg.recordings.dirs = [str(tmp_path)]

    def no_model() -> None:
        raise AssertionError("no recognition should be attempted")

    worker = TranscriptionWorker(cfg, store, no_model, name="w")  # type: ignore[arg-type]
    job = worker.queue.claim("w", 60)
    assert job is not None and worker.process(job) == "pending"
    row = worker.queue.job(job.call_id)
    error = row.last_error if row else ""
    assert error and "no recording found" in error and str(tmp_path) in error
    base = "110-20261122-143027-13951000007-op1001-1795357820.0"
    (tmp_path / f"{base}-operator.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    (tmp_path / f"{base}-caller.wav").write_bytes(b"")
    with Session(store.engine) as session, session.begin():
        session.get(Job, job.id).run_after_us = 0  # type: ignore[union-attr]
    job = worker.queue.claim("w", 60)
    assert job is not None and worker.process(job) == "failed"
    row = worker.queue.job(job.call_id)
    assert row is not None and row.state == "failed"
    assert (row.last_error or "").startswith("bad audio: ") and "byte" in (row.last_error or "")


@pytest.fixture(autouse=True)
def _no_stray_race_files() -> None:
    for k in range(5):
        Path(f"/tmp/callmon-race-{k}.raw").unlink(missing_ok=True)


def test_speech_disabled_creates_no_jobs(tmp_path: Path) -> None:
    from tests.test_cli import callmon

    db = f"sqlite:///{tmp_path}/off.db"
    assert callmon("replay", str(MIXED), "--db", db, env={"CALLMON_SPEECH_ENABLED": "false"}).returncode == 0
    assert JobQueue(open_store(db)).counts() == {}


def test_a_running_worker_keeps_its_lease_past_its_length(db_url: str) -> None:
    """The worker renews its lease while it recognises, so nobody else claims a job that outlasts the lease."""
    store = Store(open_store(db_url))
    replay(store, ASTERISK / "ami-capture-ring07-noncompliant.raw").end_of_stream("end")
    cfg = Config()
    cfg.recordings.dirs = [str(ASTERISK / "recordings")]
    cfg.speech.lease_seconds = 0.3
    other: list[object] = []

    class Slow:
        engine, model = "test", "slow"

        def transcribe(self, samples: object, rate: int, channel: str) -> list[object]:
            time.sleep(0.5)  # each channel outlasts the lease; meanwhile another worker tries
            other.append(JobQueue(store.engine).claim("other", 60))
            return []

    worker = TranscriptionWorker(cfg, store, Slow, name="slow")  # type: ignore[arg-type]
    job = worker.queue.claim("slow", cfg.speech.lease_seconds)
    assert job is not None
    assert worker.process(job) == "done"
    assert other == [None, None]
    row = worker.queue.job(job.call_id)
    assert row is not None and (row.state, row.attempts, row.worker) == ("done", 1, "slow")
