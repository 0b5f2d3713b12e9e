"""Four real ``callmon worker`` processes on one PostgreSQL queue: every job done exactly once, even
when one of them is killed with SIGKILL in the middle of a job.

Why here and not in tests/test_worker_processes.py: that file kills a lone worker holding the only
job, and tests/test_jobs.py races two processes that call JobQueue directly.  This one is the
deployment shape (several workers, as if on several machines, FOR UPDATE SKIP LOCKED) under
hundreds of jobs, with the real recogniser on real recordings for some calls and on silence for
the rest (the VAD finds nothing, so no decoding: the run stays about a minute).
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callmon.store.jobs import JobQueue, now_us
from callmon.store.models import Call, Job, Transcript
from callmon.store.repository import Store
from tests.faults.queue_calls import SPEECH, lay_out, start_worker, store_calls, worker_env

pytestmark = pytest.mark.postgres

COPIES = 40  # 8 answered calls with recordings per copy: 320 jobs
LEASE = 4.0


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def job_row(store: Store, call_id: int) -> Job:
    with Session(store.engine) as session:
        row = session.scalars(select(Job).where(Job.call_id == call_id)).one()
        session.expunge(row)
        return row


@pytest.fixture(autouse=True, scope="module")
def _model_installed() -> None:
    from callmon.speech.models import installed_path

    if installed_path("whisper-base") is None:
        pytest.fail("whisper-base is not installed (`callmon models install whisper-base`)")


def test_four_workers_share_the_queue_and_a_killed_one_loses_nothing(postgres_url: str, tmp_path: Path) -> None:
    store, calls = store_calls(postgres_url, COPIES, tmp_path)
    assert len(calls) == 8 * COPIES
    # the first job (the victim's) is the longest real call; every 32nd call has real speech too
    speech = {calls[0]: SPEECH[0][0]} | {c: SPEECH[3 + k % 2][0] for k, c in enumerate(calls[16::32])}
    lay_out(store, calls, tmp_path / "recordings", speech)
    env = worker_env(postgres_url, tmp_path / "recordings", CALLMON_SPEECH_LEASE_SECONDS=str(LEASE))
    logs = tmp_path / "logs"
    queue = JobQueue(store.engine)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        procs["victim"] = start_worker("victim", env, logs)
        wait_until(lambda: job_row(store, calls[0]).worker == "victim", 60, "the victim's first claim")
        claimed = time.monotonic()
        for name in ("w1", "w2", "w3"):
            procs[name] = start_worker(name, env, logs)
        wait_until(lambda: queue.counts().get("done", 0) >= 12, 120, "the other three at work")
        # past the lease: only the victim's renewals kept its job from the others
        time.sleep(max(0.0, claimed + 1.5 * LEASE - time.monotonic()))
        before = job_row(store, calls[0])
        assert (before.state, before.worker, before.attempts) == ("running", "victim", 1), \
            f"the victim's long job was no longer its own to be killed in: {before.state} {before.worker}"
        procs["victim"].send_signal(signal.SIGKILL)
        assert procs["victim"].wait(10) == -signal.SIGKILL
        killed_us = now_us()
        wait_until(lambda: queue.counts() == {"done": len(calls)}, 600, "every job done")
        for name in ("w1", "w2", "w3"):
            procs[name].send_signal(signal.SIGTERM)  # finish the current job (none) and stop
            assert procs[name].wait(60) == 0, (logs / f"{name}.err").read_text()
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    with Session(store.engine) as session:
        jobs = {j.call_id: j for j in session.scalars(select(Job))}
        transcripts = session.scalars(select(Transcript)).all()
        linkedids = dict(session.execute(select(Call.id, Call.linkedid)).tuples().all())

    # the killed worker's job was taken over after its lease, by a survivor, and stored once
    rescued = jobs[calls[0]]
    assert rescued.state == "done" and rescued.attempts == 2 and rescued.worker in ("w1", "w2", "w3")
    assert rescued.finished_us is not None and rescued.finished_us > killed_us
    assert all(j.attempts == 1 for c, j in jobs.items() if c != calls[0])  # nobody claimed a held job
    assert set(jobs) == set(calls) and {j.state for j in jobs.values()} == {"done"}

    # no job done by two workers: what each survivor says it did is exactly what the table credits it with
    credited = Counter(j.worker for j in jobs.values())
    said = {}
    for name in ("w1", "w2", "w3"):
        out = (logs / f"{name}.out").read_text()
        match = re.search(rf"worker {name}: (\d+) done, 0 failed", out)
        assert match, out
        said[name] = int(match.group(1))
        err = (logs / f"{name}.err").read_text()
        assert "taken over" not in err and "lease lost" not in err, err
    assert said == dict(credited) and sum(said.values()) == len(calls)
    assert min(said.values()) > 0  # all three really shared the queue

    # one transcript per call and direction, from that call's own files
    keys = Counter((t.call_id, t.channel) for t in transcripts)
    assert keys == Counter({(c, ch): 1 for c in calls for ch in ("operator", "caller")})
    for t in transcripts:
        assert f"-{linkedids[t.call_id]}-{t.channel}.wav" in t.file
        assert t.no_speech == (t.call_id not in speech), (t.call_id, t.channel, t.text)
        if t.call_id == calls[0]:
            assert t.created_us > killed_us  # written by the worker that took it over
    first_operator = next(t for t in transcripts if t.call_id == calls[0] and t.channel == "operator")
    assert "你好" in first_operator.text
