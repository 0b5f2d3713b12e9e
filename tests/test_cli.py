"""The command line as a user runs it: a real subprocess, real files, a real database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from callmon.calls.record import REPLAY_JSON_KEYS
from tests.conftest import ASTERISK, all_ground_truth_calls

CAPTURES = sorted(str(p) for p in ASTERISK.glob("ami-capture-*.raw"))


def callmon(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CALLMON_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "callmon", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=120)


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_replay_json_prints_every_call_with_exactly_the_keys(db_url: str) -> None:
    result = callmon("replay", *CAPTURES, "--db", db_url, "--json")
    assert result.returncode == 0, result.stderr
    calls = {c["linkedid"]: c for c in lines(result.stdout)}
    truth = all_ground_truth_calls()
    assert len(calls) == len(truth) == 16
    for _, t in truth:
        c = calls[t["ami"]["Linkedid"]]
        assert tuple(c) == REPLAY_JSON_KEYS
        assert c["operator"] == t["answered_by"] and c["abandoned"] == t["abandoned"]
        ring = t["measured_from_timestamps"]["ring_s (AgentCalled->AgentConnect)"]
        assert (c["ring_seconds"] is None) == (ring is None)
        if ring is not None:
            assert abs(c["ring_seconds"] - ring) <= 0.05
        assert c["offered_at"].endswith("+08:00")  # the site's time zone, Asia/Shanghai by default
        assert c["incomplete"] is False
    listed = callmon("calls", "--db", db_url, "--json", "--month", "2026-11")
    assert {c["linkedid"]: c for c in lines(listed.stdout)} == calls


def test_stats_json_per_operator(db_url: str) -> None:
    assert callmon("replay", *CAPTURES, "--db", db_url).returncode == 0
    result = callmon("stats", "--db", db_url, "--json", "--month", "2026-11")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    ops = {o["operator"]: o for o in stats["operators"]}
    assert (ops["op1003"]["answered"], ops["op1003"]["within_ring_limit_pct"]) == (2, 0.0)
    assert ops["op1003"]["ring_seconds"] == {"mean": 25.026, "median": 25.026, "p90": 29.031}
    op2 = ops["op1002"]
    assert (op2["offered"], op2["answered"], op2["answered_within_10s_pct"]) == (5, 5, 80.0)
    assert (ops["op1001"]["offered"], ops["op1001"]["no_answer"], ops["op1001"]["abandoned"]) == (9, 2, 1)
    center = stats["center"]
    assert (center["calls_offered"], center["answered"], center["abandoned"]) == (16, 13, 3)
    table = callmon("stats", "--db", db_url)
    assert "op1001" in table.stdout and "ALL (caller wait)" in table.stdout
    empty = json.loads(callmon("stats", "--db", db_url, "--json", "--month", "2025-01").stdout)
    assert empty["operators"] == [] and empty["center"]["calls_offered"] == 0


def test_calls_table_and_operator_filter(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/c.db"
    callmon("replay", str(ASTERISK / "ami-capture-ringnoanswer.raw"), "--db", db)
    out = callmon("calls", "--db", db, "--operator", "op1001").stdout
    assert "13951000035" in out and "1 call(s)" in out
    assert callmon("calls", "--db", db, "--operator", "op1003").stdout.strip().endswith("0 call(s)")


def test_not_ami_file_is_refused_with_file_and_byte(tmp_path: Path) -> None:
    wav = ASTERISK / "scenarios.json"  # JSON, not AMI
    result = callmon("replay", str(wav), "--db", f"sqlite:///{tmp_path}/x.db")
    assert result.returncode == 1
    assert f"{wav}: byte 0: not an AMI capture" in result.stderr
    junk = tmp_path / "junk.raw"
    junk.write_bytes(b"Asterisk Call Manager/11.0.0\r\n\x00\x01\x02garbage\r\n\r\n")
    result = callmon("replay", str(junk), "--db", f"sqlite:///{tmp_path}/x.db")
    assert result.returncode == 1 and "byte 30" in result.stderr and "Key: Value" in result.stderr


def test_truncated_capture_gives_finished_calls_and_reports_the_rest(tmp_path: Path) -> None:
    data = (ASTERISK / "ami-capture-mixed-session-autofill-no.raw").read_bytes()
    cut = tmp_path / "cut.raw"
    cut.write_bytes(data[: int(len(data) * 0.6) + 7])  # mid-frame
    result = callmon("replay", str(cut), "--db", f"sqlite:///{tmp_path}/t.db", "--json")
    assert result.returncode == 0, result.stderr
    calls = lines(result.stdout)
    seen = set(re.findall(rb"\nLinkedid: ([0-9.]+)\r", cut.read_bytes()))
    assert len(calls) == len(seen) == 9  # every call the PBX had started reporting
    done = [c for c in calls if not c["incomplete"]]
    open_calls = [c for c in calls if c["incomplete"]]
    assert done and open_calls
    assert "stream ended inside a frame" in result.stderr and "byte " in result.stderr
    for c in done:
        assert c["ended_at"] is not None


def test_recompute_since(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/r.db"
    callmon("replay", *CAPTURES, "--db", db)
    assert "recomputed 16 call(s)" in callmon("recompute", "--db", db).stdout
    assert "recomputed 0 call(s)" in callmon("recompute", "--db", db, "--since", "2026-12-01").stdout
    bad = callmon("recompute", "--db", db, "--since", "yesterday")
    assert bad.returncode == 2 and "expected YYYY-MM-DD" in bad.stderr


def test_bad_month_is_a_usage_error(tmp_path: Path) -> None:
    result = callmon("calls", "--db", f"sqlite:///{tmp_path}/m.db", "--month", "2026-13")
    assert result.returncode == 2 and "expected YYYY-MM" in result.stderr
