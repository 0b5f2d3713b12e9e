"""Export of a generated month of 150,000 calls: time and memory, all three formats and each alone.

A month is generated into SQLite (``tests/generated_month.py``: 150,000 calls of 2026-10, 2,000 in
each of the 11 months before, 40 operators, ~275,000 deductions) and ``callmon export`` is run as a
separate process, as the timer runs it, first with all three formats (the workbook written by a
forked child while the parent writes CSV and PDF), then with each format alone.  Reported: wall
time of the process, the export's own breakdown (figures = reading and computing the month), and
peak memory: the proportional set size (PSS) of the process tree sampled every 100 ms, so the
pages a forked child shares with its parent count once (the command's own line also gives each
process's peak RSS, which counts them twice).

Target (issue 7): all three formats under 10 s, memory under 1 GB.

Run: .venv/bin/python bench/bench_export.py [--calls N] [--sqlite-file PATH (kept, reused)]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callmon.store.db import open_store  # noqa: E402
from tests.generated_month import generate_month  # noqa: E402

CALLMON = [sys.executable, "-m", "callmon"]


def _tree_pss_kb(pid: int) -> int:
    """Proportional set size of a process and its children (a forked child's shared pages count once)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run(url: str, out: Path, formats: str) -> tuple[float, float, str]:
    """(wall seconds, peak PSS of the process tree in MB sampled every 100 ms, the export's own line)."""
    started = time.perf_counter()
    proc = subprocess.Popen([*CALLMON, "export", "--db", url, "--month", "2026-10", "--out", str(out),
                             "--format", formats], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_pss_kb(proc.pid))
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"callmon export failed: {stderr}")
    return time.perf_counter() - started, peak / 1024, stdout.splitlines()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=150_000)
    parser.add_argument("--sqlite-file", help="keep the generated database here (reused when it exists)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.sqlite_file or os.path.join(tmp, "month.db"))
        url = f"sqlite:///{path}"
        if not path.exists():
            made = generate_month(open_store(url), month="2026-10", calls=args.calls, operators=40)
            print(f"generated {made['calls']} calls in {made['seconds']} s")
        out = Path(tmp) / "out"
        print(f"{'formats':14} {'wall s':>7} {'peak PSS MB':>12}  export's own line")
        for formats in ("xlsx,csv,pdf", "xlsx", "csv", "pdf"):
            seconds, pss, line = run(url, out, formats)
            print(f"{formats:14} {seconds:7.1f} {pss:12.0f}  {re.sub(r'^2026-10: [^;]*; ', '', line)}")
        sizes = {p.name: p.stat().st_size for p in out.iterdir()}
        print("files: " + ", ".join(f"{n} {s / 1e6:.1f} MB" for n, s in sorted(sizes.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
