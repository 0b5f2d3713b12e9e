"""Synthetic 110 load: generate a city-sized day from the real captures, and serve it as a fake Asterisk.

    .venv/bin/python scripts/loadgen.py generate --calls-per-day 3000 --seed 1 --out var/loadgen/day1
    .venv/bin/python scripts/loadgen.py serve var/loadgen/day1 --speed 60 --port 5038

``generate`` writes DIR/day.raw (banner + AMI frames, what FakeAmiServer(capture=...) and
``callmon replay`` read), DIR/queue_log (what app_queue would have written, time-sorted) and
DIR/truth.json (one entry per call: ids, caller, operator, outcome, ring seconds...).
``serve`` replays day.raw over TCP at ``--speed`` x real time (tests/fakeami.py in timeline
mode: frames whose time passes while no client is logged in are lost, as with Asterisk),
appends each queue_log line to ``--queue-log`` when its time passes, answers
CoreShowChannels/QueueStatus from the replay state, and prints progress.
Run from the repository root (like bench/bench_live.py).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callmon.loadgen.day import BANNER, DEFAULT_OPERATORS, generate_day, local_time  # noqa: E402
from callmon.loadgen.queue_log import queue_log_lines  # noqa: E402
from callmon.loadgen.scenarios import load_scenarios  # noqa: E402
from tests.fakeami import FakeAmiServer, event_frames  # noqa: E402

CAPTURES = ROOT / "tests" / "fixtures" / "asterisk"


def generate(args: argparse.Namespace) -> int:
    tz = ZoneInfo(args.tz)
    start = datetime.fromisoformat(args.start).replace(tzinfo=tz)
    operators = [f"op{1000 + n}" for n in range(1, args.operators + 1)] if args.operators else None
    began = time.perf_counter()
    scenarios = load_scenarios(Path(args.captures))
    day = generate_day(scenarios, calls_per_day=args.calls_per_day, seed=args.seed, hours=args.hours, start=start,
                       operators=operators, exact=args.exact, lean=args.lean)
    generated = time.perf_counter() - began
    lines = queue_log_lines(day.frames)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "day.raw").open("wb") as raw:
        raw.write(BANNER)
        for i in range(0, len(day.frames), 10_000):
            raw.write(b"".join(day.frames[i:i + 10_000]))
    (out / "queue_log").write_text("".join(line + "\n" for _, line in lines), encoding="utf-8")
    (out / "truth.json").write_text(json.dumps(day.truth_json(), indent=1, ensure_ascii=False), encoding="utf-8")
    size = (out / "day.raw").stat().st_size
    summary = day.truth_json()
    print(f"{len(day.truth)} calls ({summary['outcomes']}), {len(day.frames)} AMI frames, {size / 1e6:.1f} MB, "
          f"{len(lines)} queue_log lines; generated in {generated:.2f} s ({len(day.truth) / max(generated, 1e-9):.0f} "
          f"calls/s); operator conflicts {day.operator_conflicts}")
    print(f"wrote {out}/day.raw, {out}/queue_log, {out}/truth.json")
    return 0


def serve(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    data = (folder / "day.raw").read_bytes()
    frames = event_frames(data)
    lines = queue_log_lines(frames)
    live_log = Path(args.queue_log) if args.queue_log else folder / "queue_log.live"
    live_log.unlink(missing_ok=True)
    server = FakeAmiServer(data, port=args.port, username=args.username, secret=args.secret, realtime=True,
                           speed=args.speed, lose_while_disconnected=not args.keep_while_disconnected,
                           channels_from_replay=True, queue_entries_from_replay=True,
                           queue_log_path=live_log, queue_log_lines=lines)
    server.host = args.host
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    print(f"fake Asterisk on {args.host}:{server.port} (user {args.username}): {len(frames)} frames, "
          f"{len(lines)} queue_log lines -> {live_log}, speed {args.speed}x; the clock starts at the first login",
          flush=True)
    try:
        while not stop.wait(args.progress):
            now = server.clock_now()
            clock = local_time(now, args.tz).strftime("%H:%M:%S") if now is not None else "--:--:--"
            passed = server.position
            print(f"[{clock}] frames {passed}/{len(frames)} (sent {server.frames_sent}, lost {server.frames_lost}), "
                  f"queue_log {len(server.queue_log_written)}/{len(lines)}, connections {server.connections}, "
                  f"waiting {len(server.replay_queue_entries())}, channels {len(server.alive_channels())}", flush=True)
            if passed >= len(frames) and len(server.queue_log_written) >= len(lines):
                print("replay finished", flush=True)
                break
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write DIR/day.raw, DIR/queue_log, DIR/truth.json")
    gen.add_argument("--calls-per-day", type=float, default=3000, help="expected calls in 24 h (default 3000)")
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--hours", type=float, default=24.0, help="length of the generated window (default 24)")
    gen.add_argument("--start", default="2026-11-23T00:00", help="local start of the window (default %(default)s)")
    gen.add_argument("--tz", default="Asia/Shanghai", help="site time zone; its clock drives the daily profile")
    gen.add_argument("--operators", type=int, default=len(DEFAULT_OPERATORS),
                     help="operator pool op1001..; 0 keeps the captured operators (default 12)")
    gen.add_argument("--exact", action="store_true", help="exactly the expected number of calls (not Poisson)")
    gen.add_argument("--lean", action="store_true", help="drop VarSet/Newexten frames the pipeline never reads")
    gen.add_argument("--captures", default=str(CAPTURES), help="directory of ami-capture-*.raw + scenarios.json")
    gen.add_argument("--out", required=True)
    gen.set_defaults(func=generate)
    srv = sub.add_parser("serve", help="replay DIR/day.raw as a fake Asterisk AMI")
    srv.add_argument("dir")
    srv.add_argument("--speed", type=float, default=1.0, help="replay clock rate (default 1 = real time)")
    srv.add_argument("--port", type=int, default=5038)
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--username", default="monitor")
    srv.add_argument("--secret", default="monitor110")
    srv.add_argument("--queue-log", help="where queue_log lines are appended (default DIR/queue_log.live)")
    srv.add_argument("--keep-while-disconnected", action="store_true",
                     help="keep frames while no client is connected (sent late, on reconnect)")
    srv.add_argument("--progress", type=float, default=5.0, help="seconds between progress lines")
    srv.add_argument("--tz", default="Asia/Shanghai")
    srv.set_defaults(func=serve)
    args = parser.parse_args(argv)
    if getattr(args, "speed", 1.0) <= 0:
        parser.error("--speed must be > 0")
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
