"""The database and the spool's disk failing under a running daemon.

- PostgreSQL stopped for 60 s (``pg_ctlcluster … stop`` / ``start``) during a replay: the daemon keeps
  reading AMI, holds events in its spool, says not-ready, and stores everything once it is back.
- The SQLite file's filesystem remounted read-only for a while: the same.
- The spool's disk full: a clear error, the daemon stays up and keeps storing (the spool is its
  safety net, not its path to the database); writing resumes when there is room.
- The SQLite database's disk full: held and retried; nothing already stored is corrupted.
Each ends with the audit against the replayed truth: 0 calls lost.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.ground_truth import audit, day, serve
from tests.faults.mounts import fill, tmpfs
from tests.test_live_daemon import answers, wait_until


def ready(daemon: Any) -> dict[str, Any]:
    return dict(httpx.get(f"http://127.0.0.1:{daemon.http_port}/readyz", timeout=5).json())


def replay_with_fault(tmp_path: Path, run_daemon: Callable[..., Any], db_url: str, fault: Callable[[Any], None],
                      *, hours: float, speed: float, seed: int, **env: str) -> tuple[Any, Any]:
    """Serve a stretch of a day, run ``fault(daemon)`` once the daemon is ready, wait for every call."""
    d = day(hours=hours, calls_per_day=3000, seed=seed)
    server, queue_log = serve(d, tmp_path, speed)
    daemon = run_daemon(server.port, db_url, CALLMON_AMI_QUEUE_LOG=str(queue_log), CALLMON_SPEECH_ENABLED="false",
                        **env)
    wait_until(lambda: answers(f"http://127.0.0.1:{daemon.http_port}/readyz"), timeout=30, what="ready")
    fault(daemon)
    wait_until(lambda: server.position >= len(d.frames), timeout=d.hours * 3600 / speed + 120, what="replay end")
    try:
        wait_until(lambda: audit(db_url, d).stored >= len(d.truth), timeout=60, what="every call stored")
    finally:
        assert daemon.stop() == 0
    result = audit(db_url, d)
    assert result.incomplete == 0, f"AMI was never interrupted, yet: {result.summary()}"  # an outage spoils no call
    return server, result


def _cluster() -> tuple[str, str]:
    if shutil.which("pg_ctlcluster") is None or shutil.which("pg_lsclusters") is None:
        pytest.skip("pg_ctlcluster not installed (Debian's postgresql-common)")
    for line in subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True).stdout.splitlines():
        version, name, port, status = line.split()[:4]
        if port == "5432" and status == "online":
            return version, name
    pytest.skip("no online PostgreSQL cluster on port 5432")


@pytest.mark.postgres
def test_postgresql_stopped_for_a_minute_loses_nothing(tmp_path: Path, run_daemon: Callable[..., Any],
                                                       postgres_url: str) -> None:
    version, name = _cluster()
    seen: dict[str, Any] = {}

    def outage(daemon: Any) -> None:
        time.sleep(10)
        subprocess.run(["pg_ctlcluster", version, name, "stop", "-m", "fast"], check=True)
        try:
            stopped = time.monotonic()
            wait_until(lambda: not answers(f"http://127.0.0.1:{daemon.http_port}/readyz"), timeout=20,
                       what="not ready")
            seen["during"] = ready(daemon)
            time.sleep(max(0.0, 60 - (time.monotonic() - stopped)))
            seen["spool_bytes"] = sum(p.stat().st_size for p in tmp_path.glob("spool-*/*.seg"))
        finally:
            subprocess.run(["pg_ctlcluster", version, name, "start"], check=True)
        wait_until(lambda: answers(f"http://127.0.0.1:{daemon.http_port}/readyz"), timeout=60, what="ready again")

    server, result = replay_with_fault(tmp_path, run_daemon, postgres_url, outage, hours=2, speed=40, seed=30)
    print(f"\n[faults] PostgreSQL stopped 60 s: {result.summary()}; spool held {seen.get('spool_bytes')} bytes")
    assert seen["during"] == {"ready": False, "checks": {"ami": True, "database": False, "backlog": False,
                                                         "spool": True}}
    assert server.frames_lost == 0 and server.connections == 1  # AMI was read all along
    assert result.clean, result.summary()
    assert seen["spool_bytes"] > 0


def test_sqlite_file_made_read_only_loses_nothing(tmp_path: Path, run_daemon: Callable[..., Any]) -> None:
    """``chattr +i`` on the database and its WAL: even the daemon's open handles are refused (EPERM), as
    root's file modes would not be."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr (e2fsprogs) not installed")
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    db_url = f"sqlite:///{db_dir}/calls.db"
    files = [db_dir / "calls.db", db_dir / "calls.db-wal"]
    seen: dict[str, Any] = {}

    def read_only(daemon: Any) -> None:
        time.sleep(5)
        if subprocess.run(["chattr", "+i", *map(str, files)], capture_output=True).returncode != 0:
            pytest.skip("this filesystem has no immutable flag")
        try:
            wait_until(lambda: not ready(daemon)["checks"]["database"], timeout=30, what="database not ready")
            seen["during"] = ready(daemon)
            time.sleep(20)
        finally:
            subprocess.run(["chattr", "-i", *map(str, files)], check=True)

    server, result = replay_with_fault(tmp_path, run_daemon, db_url, read_only, hours=1, speed=60, seed=31,
                                       CALLMON_SPOOL_DIR=str(tmp_path / "spool"))
    log = (tmp_path / f"daemon-{server.port}.log").read_text(errors="replace")
    print(f"\n[faults] SQLite read-only 20 s: {result.summary()}")
    assert seen["during"]["ready"] is False and seen["during"]["checks"]["ami"] is True
    assert "database unavailable" in log and "database available again" in log
    assert server.frames_lost == 0 and result.clean, result.summary()
    assert sqlite3.connect(files[0]).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_spool_disk_full_keeps_the_daemon_up_and_storing(tmp_path: Path, run_daemon: Callable[..., Any]) -> None:
    with tmpfs(tmp_path / "spool", "4m") as spool:
        seen: dict[str, Any] = {}

        def disk_full(daemon: Any) -> None:
            filler = fill(spool, leave=32 * 1024)
            wait_until(lambda: ready(daemon)["checks"]["spool"] is False, timeout=30, what="spool not ready")
            seen["during"] = ready(daemon)
            seen["healthz"] = httpx.get(f"http://127.0.0.1:{daemon.http_port}/healthz").status_code
            time.sleep(10)
            filler.unlink()
            wait_until(lambda: ready(daemon)["checks"]["spool"] is True, timeout=30, what="spool writable again")

        db_url = f"sqlite:///{tmp_path}/calls.db"
        server, result = replay_with_fault(tmp_path, run_daemon, db_url, disk_full, hours=1, speed=60, seed=32,
                                              CALLMON_SPOOL_DIR=str(spool), CALLMON_SPOOL_SEGMENT_MB="1")
        log = (tmp_path / f"daemon-{server.port}.log").read_text(errors="replace")
        print(f"\n[faults] spool disk full: {result.summary()}")
        assert seen["healthz"] == 200 and seen["during"]["checks"]["database"] is True
        assert f"spool: cannot write to {spool}" in log and "No space left on device" in log
        assert "writing to" in log and "again after" in log and "Traceback" not in log
        assert result.clean, result.summary()


def test_database_disk_full_holds_and_corrupts_nothing(tmp_path: Path, run_daemon: Callable[..., Any]) -> None:
    with tmpfs(tmp_path / "db", "24m") as mount:
        db_url = f"sqlite:///{mount}/calls.db"
        seen: dict[str, Any] = {}

        def disk_full(daemon: Any) -> None:
            time.sleep(5)
            filler = fill(mount, leave=0)
            wait_until(lambda: ready(daemon)["checks"]["database"] is False, timeout=60, what="database refused")
            seen["during"] = ready(daemon)
            time.sleep(10)
            filler.unlink()

        server, result = replay_with_fault(tmp_path, run_daemon, db_url, disk_full, hours=1, speed=60, seed=33,
                                              CALLMON_SPOOL_DIR=str(tmp_path / "spool"))
        log = (tmp_path / f"daemon-{server.port}.log").read_text(errors="replace")
        print(f"\n[faults] database disk full: {result.summary()}")
        assert seen["during"]["ready"] is False and "database unavailable: database or disk is full" in log
        assert result.clean, result.summary()
        assert sqlite3.connect(f"{mount}/calls.db").execute("PRAGMA integrity_check").fetchone() == ("ok",)
