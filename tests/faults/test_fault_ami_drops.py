"""AMI dropped 100 times at random during a load replay: after each reconnect the daemon snapshots the
channels in progress and backfills from Asterisk's queue_log what began and ended in the gap.
Target: 0 calls lost, every call that lost a frame marked incomplete, nothing invented or doubled."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.faults.ground_truth import audit, day, frames_lost_by_call, serve
from tests.test_live_daemon import wait_until

SPEED = 200.0  # two hours of a 110 center in 36 s: a 0.2 s reconnect hides 40 s of calls


def test_a_hundred_drops_lose_no_call(tmp_path: Path, run_daemon: Callable[..., Any]) -> None:
    d = day(hours=2, calls_per_day=2400, seed=10)
    server, queue_log = serve(d, tmp_path, SPEED)
    server.drop_at_random(100, random.Random(10), start=50, stop=len(d.frames) - 200)
    server.outage_seconds = 0.1  # each drop keeps AMI away for 20 s of PBX time (plus the reconnect backoff)
    db_url = f"sqlite:///{tmp_path}/drops.db"
    daemon = run_daemon(server.port, db_url, CALLMON_AMI_QUEUE_LOG=str(queue_log), CALLMON_SPEECH_ENABLED="false",
                        CALLMON_AMI_RECONNECT_MIN="0.1", CALLMON_AMI_RECONNECT_MAX="0.3")
    wait_until(lambda: server.position >= len(d.frames), timeout=d.hours * 3600 / SPEED + 120,
               what="the replay to end")
    lost_frames = frames_lost_by_call(d, server)
    try:
        wait_until(lambda: audit(db_url, d).stored >= len(d.truth), timeout=30, what="every call stored")
    finally:
        assert daemon.stop() == 0
        result = audit(db_url, d, lost_frames)
        print(f"\n{result.summary()}\n" + daemon.stderr[-3000:])
    print(f"\n[faults] AMI drops: {len(server.drops)} drops, {server.refused} reconnects refused, "
          f"{server.frames_lost} frames lost on the wire, "
          f"{len(lost_frames)} calls touched; {result.summary()}")
    assert len(server.drops) == 100 and server.connections >= 101
    assert server.frames_lost > 0 and result.from_queue_log > 0  # the faults were real, backfill was needed
    assert result.clean, result.summary()
    assert "Traceback" not in daemon.stderr
