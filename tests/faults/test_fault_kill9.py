"""The daemon killed with SIGKILL 20 times at random during a load replay, and started again each time.

What was received before a kill is in the spool and the database (and each spool item reaches the
database once: the spool mark is written with the events); what Asterisk sent while callmon was dead
comes back through the start-up snapshot and queue_log.  Target: 0 calls lost, none twice, and one
transcription job for every answered call that names a recording, never two."""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callmon.store.db import open_store
from callmon.store.models import Call, Job
from tests.faults.ground_truth import audit, day, frames_lost_by_call, serve
from tests.test_live_daemon import wait_until

SPEED = 15.0
KILLS = 20


def test_twenty_kill_9_lose_no_call_and_no_job(tmp_path: Path, run_daemon: Callable[..., Any]) -> None:
    d = day(hours=0.75, calls_per_day=4000, seed=20)
    server, queue_log = serve(d, tmp_path, SPEED)
    db_url = f"sqlite:///{tmp_path}/kill9.db"
    env = {"CALLMON_AMI_QUEUE_LOG": str(queue_log), "CALLMON_AMI_RECONNECT_MIN": "0.1",
           "CALLMON_AMI_RECONNECT_MAX": "0.3"}
    replay_s = d.hours * 3600 / SPEED
    rng = random.Random(20)
    moments = sorted(rng.uniform(0.05, 0.9) * replay_s for _ in range(KILLS))
    started = time.monotonic()
    daemon = run_daemon(server.port, db_url, **env)
    kills = 0
    for moment in moments:
        time.sleep(max(0.0, started + moment - time.monotonic()))
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait()
        kills += 1
        daemon = run_daemon(server.port, db_url, **env)
    wait_until(lambda: server.position >= len(d.frames), timeout=replay_s + 120, what="the replay to end")
    lost_frames = frames_lost_by_call(d, server)
    try:
        wait_until(lambda: audit(db_url, d).stored >= len(d.truth), timeout=60, what="every call stored")
    finally:
        assert daemon.stop() == 0
        result = audit(db_url, d, lost_frames)
        print(f"\n[faults] kill -9: {kills} kills, {server.frames_lost} frames lost while callmon was down, "
              f"{len(lost_frames)} calls touched; {result.summary()}")
    assert kills == KILLS and server.frames_lost > 0
    assert result.clean, result.summary()
    engine = open_store(db_url)
    with Session(engine) as session:
        answered = {c.id for c in session.scalars(select(Call).where(Call.outcome == "answered")) if c.recordings}
        jobs = Counter(session.scalars(select(Job.call_id)))
    print(f"[faults] kill -9: {len(answered)} answered calls with recordings, {sum(jobs.values())} jobs")
    assert answered and set(jobs) == answered and max(jobs.values()) == 1
