"""The wallboard under load: ring-limit alert latency and the daemon's CPU and memory at 500 AMI events/s.

The real ring30 capture (a call that rings op1001 for 30 s: 219 AMI frames over 42 s) is copied
``--calls`` times.  Copy k gets its own ids (every Uniqueid/Linkedid moved by k x 1000 s) and its
frames' Timestamps moved by k x ``--spacing`` seconds; the copies are merged in time order and the
fake Asterisk (tests/fakeami.py) sends them in real time, paced by those Timestamps, to a real
``callmon run`` process (SQLite store, [web] enabled, speech off).  With the default spacing of
0.438 s that is 500 events/s, and ~30 calls ringing at any moment.

Measured:
* alert latency: for every call, from the moment its ring passes the limit (the time the fake
  server sent its AgentCalled frame + 15 s) to the moment the ``alert`` Server-Sent Event reaches
  a signed-in supervisor's stream (a client in this process, the same clock); p50, p99, max;
* the daemon's CPU (utime + stime from /proc) and resident memory, sampled every 5 s.

Run: .venv/bin/python bench/bench_live.py [--calls 1370] [--spacing 0.438]   (~11 minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from callmon.store import accounts  # noqa: E402
from callmon.store.db import open_store  # noqa: E402
from tests.fakeami import FakeAmiServer, event_frames  # noqa: E402
from tests.test_live_daemon import Daemon  # noqa: E402

CAPTURE = ROOT / "tests" / "fixtures" / "asterisk" / "ami-capture-ring30-noncompliant.raw"
LIMIT_S = 15.0
_TS = re.compile(rb"^Timestamp: ([0-9.]+)\r?$", re.M)
_ID = re.compile(rb"\b(1795\d{6})(\.\d+)")
_LINKEDID = re.compile(rb"^Linkedid: (\S+)\r?$", re.M)


def build(calls: int, spacing: float) -> tuple[bytes, dict[str, int]]:
    """The merged capture (banner + frames) and, per call's Linkedid, the index of its AgentCalled frame."""
    frames = event_frames(CAPTURE.read_bytes())
    timed: list[tuple[float, bytes]] = []
    for k in range(calls):
        for frame in frames:
            found = _TS.search(frame)
            stamp = (float(found.group(1)) if found else 0.0) + k * spacing
            body = _TS.sub(b"Timestamp: @@", frame)
            body = _ID.sub(lambda m, k=k: str(int(m.group(1)) + k * 1000).encode() + m.group(2), body)
            timed.append((stamp, body.replace(b"Timestamp: @@", b"Timestamp: %.6f" % stamp)))
    timed.sort(key=lambda t: t[0])
    called = {}
    for index, (_, frame) in enumerate(timed):
        if b"Event: AgentCalled" in frame:
            linkedid = _LINKEDID.search(frame)
            if linkedid:
                called[linkedid.group(1).decode()] = index
    return b"Asterisk Call Manager/11.0.0\r\n" + b"".join(f for _, f in timed), called


def listen(base: str, cookies: httpx.Cookies, alerts: dict[str, float], stop: threading.Event) -> None:
    with httpx.Client(base_url=base, cookies=cookies, timeout=None) as client, \
            client.stream("GET", "/api/live/stream") as stream:
        kind = ""
        for line in stream.iter_lines():
            if stop.is_set():
                return
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "alert":
                alerts.setdefault(json.loads(line[6:])["linkedid"], time.time())


def sample(pid: int) -> tuple[float, float]:
    """(CPU seconds so far, resident MB) of a process."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))
    return (int(stat[11]) + int(stat[12])) / ticks, rss / 1024


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1370)
    parser.add_argument("--spacing", type=float, default=0.438, help="seconds between the calls' starts")
    args = parser.parse_args()
    stream, called = build(args.calls, args.spacing)
    frames = event_frames(stream)
    rate = len(frames) / (args.calls * args.spacing + 42)
    print(f"{args.calls} calls, {len(frames)} AMI events over ~{args.calls * args.spacing + 42:.0f} s "
          f"(~{rate:.0f} events/s)")
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{tmp}/live.db"
        with Session(open_store(db_url)) as session, session.begin():
            accounts.add_user(session, "sup", "supervisor", "bench-live-pass-1", None)
        server = FakeAmiServer(stream, realtime=True, replay_after_login=False).start()
        daemon = Daemon(server.port, db_url, Path(tmp), CALLMON_WEB_ENABLED="true", CALLMON_SPEECH_ENABLED="false",
                        CALLMON_STORE_FLUSH_SECONDS="0.5")
        base = f"http://127.0.0.1:{daemon.http_port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200 and server.logins:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        login = httpx.post(f"{base}/api/session", json={"username": "sup", "password": "bench-live-pass-1"})
        login.raise_for_status()
        alerts: dict[str, float] = {}
        stop = threading.Event()
        threading.Thread(target=listen, args=(base, login.cookies, alerts, stop), daemon=True).start()
        time.sleep(1.0)
        cpu0, _ = sample(daemon.proc.pid)
        started = time.monotonic()
        server.start_replay()
        samples: list[tuple[float, float, float]] = []
        while server.frames_sent < len(frames) or len(alerts) < len(called):
            time.sleep(5)
            cpu, rss = sample(daemon.proc.pid)
            samples.append((time.monotonic() - started, cpu - cpu0, rss))
            if time.monotonic() - started > args.calls * args.spacing + 120:
                break
        stop.set()
        daemon.stop()
        server.stop()
        latencies = [(alerts[lid] - (server.sent_at[i] + LIMIT_S)) * 1000 for lid, i in called.items() if lid in alerts]
        wall = samples[-1][0]
        steady = [s for s in samples if 60 <= s[0] <= args.calls * args.spacing]
        cpu_share = (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0]) * 100 if len(steady) > 1 else 0
        print(f"alerts: {len(latencies)} of {len(called)} calls; latency ms p50 {pct(latencies, 50):.1f}, "
              f"p99 {pct(latencies, 99):.1f}, max {max(latencies):.1f}, min {min(latencies):.1f}")
        print(f"daemon over {wall:.0f} s: CPU {samples[-1][1]:.1f} s in all, {cpu_share:.1f} % of one core at "
              f"steady load; RSS first {samples[0][2]:.0f} MB, max {max(s[2] for s in samples):.0f} MB, "
              f"last {samples[-1][2]:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
