"""Worker scaling on PostgreSQL: 1, 2, 3, 4 ``callmon worker`` processes on one job queue.

Two measurements, each on real stored calls in a fresh PostgreSQL schema:

* **Recognition**: every job is a real fixture call (both directions, 8 kHz) and each worker is
  a real ``callmon worker --until-idle`` process with the default model (Whisper base, one
  thread each, as one worker per core is deployed).  Wall time runs from starting the
  processes to the last job done, so it includes their start-up and model load.
* **Queue alone**: processes that only claim a job and complete it with an empty transcript
  (``JobQueue``: ``FOR UPDATE SKIP LOCKED``, the ownership check, the transcript write), to
  show what the queue itself costs and that it is not what limits scaling.

Recognition is CPU-bound: past one worker per core, added workers only share the same cores.

Run: .venv/bin/python bench/bench_workers.py [--workers 1,2,3,4] [--copies 3] [--queue-copies 160]
     [--queue-repeats 3] [--only recognition|queue] [--json]
(PostgreSQL from $CALLMON_TEST_POSTGRES_URL, default postgres@127.0.0.1:5432/test)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from callmon.store.jobs import JobQueue  # noqa: E402
from callmon.store.repository import Store  # noqa: E402
from tests.conftest import PG_DEFAULT  # noqa: E402
from tests.faults.queue_calls import SPEECH, lay_out, reset, start_worker, store_calls, worker_env  # noqa: E402

EMPTY = {"channel": "operator", "file": "-", "engine": "none", "model": "none", "audio_seconds": 0.0,
         "utterances": [], "text": "", "confidence": None, "low_confidence": False, "no_speech": True}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values[:8]) - idle, sum(values[:8])


def wait_for_quiet(limit_s: float = 120.0) -> None:
    """Wait (up to ``limit_s``) until other processes use under 0.3 cores for 5 s: this machine is shared."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = machine_busy()
        time.sleep(5.0)
        if others_busy(before, machine_busy(), 0.0, 5.0) < 0.3:
            return
    print("warning: the machine never went quiet; see the other-processes column", file=sys.stderr)


def others_busy(before: tuple[int, int], after: tuple[int, int], ours: float, wall: float) -> float:
    """Cores that processes other than the benchmark's kept busy meanwhile (another job on the machine)."""
    busy, total = after[0] - before[0], after[1] - before[1]
    machine = busy / total * (os.cpu_count() or 1) if total else 0.0
    return round(max(0.0, machine - ours / wall), 2)


def run_workers(store: Store, url: str, calls: list[int], audio_s: float, recordings: Path, logs: Path,
                count: int) -> dict[str, Any]:
    """``count`` real workers on the reset queue until it is empty."""
    reset(store, calls)
    queue = JobQueue(store.engine)
    env = worker_env(url, recordings)
    wait_for_quiet()
    cpu0, machine0, t0 = children_cpu(), machine_busy(), time.perf_counter()
    procs = [start_worker(f"bench{count}-{k}", env, logs, "--until-idle") for k in range(count)]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - t0
    cpu = children_cpu() - cpu0
    others = others_busy(machine0, machine_busy(), cpu, wall)
    if codes != [0] * count or queue.counts() != {"done": len(calls)}:
        raise SystemExit(f"workers failed: exit {codes}, queue {queue.counts()}; logs in {logs}")
    return {"workers": count, "jobs": len(calls), "audio_s": round(audio_s, 1), "wall_s": round(wall, 2),
            "jobs_per_s": round(len(calls) / wall, 3), "audio_s_per_wall_s": round(audio_s / wall, 2),
            "cores_busy": round(cpu / wall, 2), "others_busy": others}


def _queue_loop(url: str, name: str, go: Any, done: Any) -> None:
    """One process that only claims and completes (child of ``run_queue``)."""
    from callmon.store.db import open_store

    queue = JobQueue(open_store(url))
    queue.counts()  # connected before the start
    go.wait()
    n = 0
    while (job := queue.claim(name, 60)) is not None:
        if not queue.complete(job, name, [EMPTY]):
            raise SystemExit(f"{name}: lost job {job.id}")
        n += 1
    done.put(n)


def run_queue(store: Store, url: str, calls: list[int], count: int, repeats: int) -> dict[str, Any]:
    """The median of ``repeats`` runs of ``count`` processes emptying the queue (each run a few seconds)."""
    runs = sorted((queue_once(store, url, calls, count) for _ in range(repeats)), key=lambda r: r["jobs_per_s"])
    middle = runs[len(runs) // 2]
    middle["runs_jobs_per_s"] = [r["jobs_per_s"] for r in runs]
    return middle


def queue_once(store: Store, url: str, calls: list[int], count: int) -> dict[str, Any]:
    """``count`` processes emptying the reset queue with no work per job."""
    reset(store, calls)
    ctx = mp.get_context("spawn")
    go, done = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_queue_loop, args=(url, f"q{count}-{k}", go, done)) for k in range(count)]
    for p in procs:
        p.start()
    time.sleep(3.0)  # every process imported and connected
    wait_for_quiet()
    machine0, t0 = machine_busy(), time.perf_counter()
    go.set()
    per_process = [done.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - t0
    machine1 = machine_busy()
    for p in procs:
        p.join()
    counts = JobQueue(store.engine).counts()
    if sum(per_process) != len(calls) or counts != {"done": len(calls)}:
        raise SystemExit(f"queue run lost jobs: {per_process}, {counts}")
    return {"processes": count, "jobs": len(calls), "wall_s": round(wall, 3),
            "jobs_per_s": round(len(calls) / wall, 1), "per_process": per_process,
            "machine_busy": round((machine1[0] - machine0[0]) / max(1, machine1[1] - machine0[1])
                                  * (os.cpu_count() or 1), 2)}


def with_gains(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Speed-up against one process and what the last added process gave."""
    for k, row in enumerate(rows):  # (rows[0] is the 1-process run when --workers starts at 1)
        row["speedup"] = round(row[key] / rows[0][key], 2)
        row["added"] = None if k == 0 else round(row[key] / rows[k - 1][key], 2)
    return rows


def print_tables(speech: list[dict[str, Any]], queue: list[dict[str, Any]], cpus: int | None) -> None:
    print(f"CPU count: {cpus}; each worker: Whisper base, 1 thread; PostgreSQL on this machine")
    print("\nrecognition (real fixture calls, both directions)")
    print("| workers | jobs | audio s | wall s | jobs/s | audio s per wall s | speed-up | from the added worker | "
          "cores busy (workers) | cores busy (other processes) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in speech:
        added = "-" if r["added"] is None else f"×{r['added']}"
        print(f"| {r['workers']} | {r['jobs']} | {r['audio_s']} | {r['wall_s']} | {r['jobs_per_s']} | "
              f"{r['audio_s_per_wall_s']} | ×{r['speedup']} | {added} | {r['cores_busy']} | {r['others_busy']} |")
    print("\nqueue alone (claim + complete, no recognition)")
    print("| processes | jobs | wall s | jobs/s (median) | each run | speed-up | from the added process | "
          "cores busy (machine) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in queue:
        added = "-" if r["added"] is None else f"×{r['added']}"
        runs = ", ".join(str(v) for v in r["runs_jobs_per_s"])
        print(f"| {r['processes']} | {r['jobs']} | {r['wall_s']} | {r['jobs_per_s']} | {runs} | ×{r['speedup']} | "
              f"{added} | {r['machine_busy']} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=os.environ.get("CALLMON_TEST_POSTGRES_URL", PG_DEFAULT))
    parser.add_argument("--workers", default="1,2,3,4")
    parser.add_argument("--copies", type=int, default=3, help="copies of the 8-call session for recognition")
    parser.add_argument("--queue-copies", type=int, default=160, help="copies for the queue-alone run")
    parser.add_argument("--queue-repeats", type=int, default=3, help="queue-alone runs per count (median shown)")
    parser.add_argument("--only", choices=("recognition", "queue"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(args.db)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{args.db}{'&' if '?' in args.db else '?'}options=-csearch_path%3D{schema}"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
            work = Path(tmp)
            store, calls = store_calls(url, args.copies, work)
            # longest recordings first, so the last jobs are short and no worker idles long at the end
            speech = {c: SPEECH[k * len(SPEECH) // len(calls)][0] for k, c in enumerate(calls)}
            audio = lay_out(store, calls, work / "recordings", speech)
            speech_rows = [] if args.only == "queue" else [
                run_workers(store, url, calls, sum(audio.values()), work / "recordings", work / "logs", n)
                for n in counts]
            _, more = store_calls(url, args.queue_copies, work)  # the earlier calls come along too
            queue_rows = [] if args.only == "recognition" else [
                run_queue(store, url, more, n, args.queue_repeats) for n in counts]
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    result = {"cpus": os.cpu_count(), "recognition": with_gains(speech_rows, "audio_s_per_wall_s"),
              "queue": with_gains(queue_rows, "jobs_per_s")}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_tables(result["recognition"], result["queue"], result["cpus"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
