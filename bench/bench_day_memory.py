"""The daemon's memory over a 24-hour day of a city-sized 110 center, replayed at speed.

A generated day (``callmon.loadgen``: ``--calls-per-day`` calls from the real captures, lean frames,
the diurnal 110 profile, from local midnight) is served by the fake Asterisk (tests/fakeami.py) in
timeline mode at ``--speed`` x real time, with the queue_log Asterisk would write, to a real
``callmon run`` process (SQLite in a temp dir, speech off, ``[ami] queue_log`` set, /metrics on).
Every ``--every`` seconds the daemon's RSS, PSS and anonymous memory (/proc/PID/status, smaps_rollup)
are sampled with its /metrics (calls in progress, events received, write backlog) and the replay's hour.

Reported: the three at start (logged in, before the first frame), after the first hour of the day, at the
end of the busiest hour, at the end of the day, and after the day (no call in progress, nothing to
write, ``--idle`` s later); their slopes against replayed hours over the last 12 hours; the
event rate and how far the replay fell behind its schedule; the audit of the stored calls
(tests/faults/ground_truth.audit: every call stored exactly once, none invented).

The day starts at the next local midnight (only the date changes from run to run).  The daemon's
private anonymous memory is reported beside RSS and PSS: PSS moves when other processes map or
unmap the same libraries, anonymous memory is the daemon's own heap.

Run: .venv/bin/python bench/bench_day_memory.py [--calls-per-day 3000] [--speed 200] [--json]   (~9 minutes)
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from callmon.loadgen.day import Day, generate_day  # noqa: E402
from callmon.loadgen.queue_log import queue_log_lines  # noqa: E402
from callmon.loadgen.scenarios import load_scenarios  # noqa: E402
from tests.conftest import ASTERISK  # noqa: E402
from tests.fakeami import FakeAmiServer  # noqa: E402
from tests.faults.ground_truth import audit  # noqa: E402
from tests.test_live_daemon import Daemon  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
TOKEN = "bench-day-memory-token"
_STAMP = re.compile(rb"^Timestamp: ([0-9.]+)\r?$", re.M)
_METRIC = re.compile(r"^(callmon_[a-z_]+) ([0-9.e+-]+)$", re.M)


@dataclass
class Sample:
    wall: float  # seconds since the replay started
    hour: float  # replayed hours since the day's start
    rss: float  # MB
    pss: float  # MB
    anon: float  # MB, anonymous (heap) pages: not moved by other processes mapping the same files
    in_progress: int
    events: int
    backlog: int


def memory(pid: int) -> tuple[float, float, float]:
    """(RSS, PSS, anonymous) of a process in MB."""
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))
    rollup = {line.split(":")[0]: int(line.split()[1]) for line in
              Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]}
    return rss / 1024, rollup["Pss"] / 1024, rollup["Anonymous"] / 1024


def metrics(base: str) -> dict[str, float]:
    try:
        text = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).text
    except httpx.HTTPError:
        return {}
    return {name: float(value) for name, value in _METRIC.findall(text)}


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y against x."""
    n = len(points)
    if n < 2:
        return 0.0
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


def at_hour(samples: list[Sample], hour: float) -> Sample:
    """The first sample at or after a replayed hour (the last one if none)."""
    return next((s for s in samples if s.hour >= hour), samples[-1])


def make_day(calls_per_day: float, seed: int) -> Day:
    now = datetime.now(TZ)
    start = datetime(now.year, now.month, now.day, tzinfo=TZ) + timedelta(days=1)
    return generate_day(load_scenarios(ASTERISK), calls_per_day=calls_per_day, seed=seed, hours=24, start=start,
                        lean=True)


def watch(args: argparse.Namespace, day: Day, server: FakeAmiServer, daemon: Daemon) -> tuple[Sample, list[Sample]]:
    """Wait for the daemon to log in, start the day, sample until the day is over and ``--idle`` s passed."""
    base = f"http://127.0.0.1:{daemon.http_port}"
    deadline = time.monotonic() + 60
    while not (server.logins and metrics(base).get("callmon_ami_connected") == 1):
        if time.monotonic() > deadline or daemon.proc.poll() is not None:
            raise SystemExit(f"the daemon did not start:\n{daemon.stderr[-3000:]}")
        time.sleep(0.2)
    time.sleep(2)  # the login snapshot answered, the loop idle
    start = Sample(0.0, 0.0, *memory(daemon.proc.pid), 0, 0, 0)
    began = time.monotonic()
    server.start_replay()
    server.replay_after_login = True  # a daemon that reconnects is streamed to again at once
    samples: list[Sample] = []
    idle_since: float | None = None
    while time.monotonic() - began < 86400 / args.speed * 3 + 600:
        time.sleep(args.every)
        now = server.clock_now()
        got = metrics(base)
        s = Sample(time.monotonic() - began, 0.0 if now is None else (now - day.start) / 3600,
                   *memory(daemon.proc.pid), int(got.get("callmon_calls_in_progress", -1)),
                   int(got.get("callmon_ami_events_total", 0)), int(got.get("callmon_store_write_backlog", 0)))
        samples.append(s)
        if len(samples) % max(1, round(30 / args.every)) == 0:
            print(f"  {s.wall:5.0f} s  hour {s.hour:5.2f}  RSS {s.rss:6.1f} MB  PSS {s.pss:6.1f} MB  "
                  f"anon {s.anon:6.1f} MB  in progress {s.in_progress:3d}  events {s.events}", flush=True)
        over = server.position >= len(day.frames) and s.events >= server.frames_sent
        idle_since = (idle_since or time.monotonic()) if over and s.in_progress == 0 and s.backlog == 0 else None
        if idle_since is not None and time.monotonic() - idle_since >= args.idle:
            return start, samples
    print("gave up waiting for the day to end")
    return start, samples


def run(args: argparse.Namespace) -> dict[str, object]:
    made = time.monotonic()
    day = make_day(args.calls_per_day, args.seed)
    stamps = [float(m.group(1)) if (m := _STAMP.search(f)) else day.start for f in day.frames]
    per_hour = Counter(int((t.start - day.start) // 3600) for t in day.truth)
    peak_hour = max(range(24), key=lambda h: per_hour[h])
    print(f"{len(day.truth)} calls, {len(day.frames)} AMI frames ({sum(map(len, day.frames)) / 1e6:.0f} MB) in 24 h, "
          f"generated in {time.monotonic() - made:.0f} s; replay at {args.speed:g}x: "
          f"~{86400 / args.speed / 60:.1f} min; busiest hour {peak_hour:02d}:00 ({per_hour[peak_hour]} calls)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        queue_log = tmp / "queue_log"
        queue_log.touch()
        server = FakeAmiServer(day.raw(), realtime=True, speed=args.speed, lose_while_disconnected=True,
                               replay_after_login=False, channels_from_replay=True, queue_entries_from_replay=True,
                               queue_log_path=queue_log, queue_log_lines=queue_log_lines(day.frames)).start()
        db_url = f"sqlite:///{tmp}/day.db"
        env = {"CALLMON_SPEECH_ENABLED": "false", "CALLMON_AMI_QUEUE_LOG": str(queue_log),
               "CALLMON_HTTP_METRICS_TOKEN": TOKEN, "CALLMON_STORE_FLUSH_SECONDS": "0.5"}
        if args.malloc_arena_max:
            env["MALLOC_ARENA_MAX"] = str(args.malloc_arena_max)
        daemon = Daemon(server.port, db_url, tmp, **env)
        try:
            start, samples = watch(args, day, server, daemon)
        finally:
            code = daemon.stop()
            server.stop()
        replay_wall = server.sent_at[-1] - server.sent_at[0] if server.sent_at else 0.0
        assert server.clock_start is not None
        clock_t0, clock_wall = server.clock_start
        lags = sorted(at - (clock_wall + (t - clock_t0) / args.speed)
                      for at, t in zip(server.sent_at, stamps, strict=False) if not math.isnan(at))
        result = audit(db_url, day)
        if code != 0 or "Traceback" in daemon.stderr:
            print(daemon.stderr[-3000:])
    busy = [s for s in samples if peak_hour <= s.hour < peak_hour + 1]
    end = next((s for s in samples if s.hour >= 24 or s.events >= len(day.frames)), samples[-1])
    peak_start = peak_hour * 3600 + day.start
    peak_events = sum(1 for t in stamps if peak_start <= t < peak_start + 3600)
    moments = {"start": start, "warm_up_hour_1": at_hour(samples, 1), "peak_hour_end": at_hour(samples, peak_hour + 1),
               "end_of_day": end, "after": samples[-1]}
    out: dict[str, object] = {
        "calls": len(day.truth), "frames": len(day.frames), "speed": args.speed, "exit_code": code,
        "replay_wall_s": round(replay_wall, 1), "events_per_s": round(len(day.frames) / replay_wall, 1),
        "peak_hour": peak_hour, "peak_hour_events_per_s": round(peak_events * args.speed / 3600, 1),
        "lag_s": {"p50": round(lags[len(lags) // 2], 3), "p99": round(lags[int(len(lags) * 0.99)], 3),
                  "max": round(lags[-1], 3)},
        "frames_lost": server.frames_lost, "max_write_backlog": max(s.backlog for s in samples),
        "in_progress": {**{k: s.in_progress for k, s in moments.items()},
                        "peak_hour_max": max((s.in_progress for s in busy), default=0)},
    }
    for kind in ("rss", "pss", "anon"):
        out[f"{kind}_mb"] = {**{k: round(getattr(s, kind), 1) for k, s in moments.items()},
                             "max": round(max(getattr(s, kind) for s in samples), 1)}
        out[f"{kind}_slope_mb_per_hour_12_24"] = round(
            slope([(s.hour, getattr(s, kind)) for s in samples if 12 <= s.hour <= 24 and s.wall <= end.wall]), 3)
    out["audit"] = {"clean": result.clean, "summary": result.summary()}
    out["hourly"] = [{"hour": h, "rss_mb": round(s.rss, 1), "anon_mb": round(s.anon, 1), "in_progress": s.in_progress}
                     for h, s in ((h, at_hour(samples, h)) for h in range(25))]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls-per-day", type=float, default=3000)
    parser.add_argument("--speed", type=float, default=200, help="replay clock rate (x real time)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between samples")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds to wait after the day, all calls done")
    parser.add_argument("--malloc-arena-max", type=int, default=0, help="MALLOC_ARENA_MAX for the daemon")
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    args = parser.parse_args()
    out = run(args)
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print(json.dumps({k: v for k, v in out.items() if k != "hourly"}, indent=1))
    audit_result = out["audit"]
    return 0 if isinstance(audit_result, dict) and audit_result["clean"] and out["exit_code"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
