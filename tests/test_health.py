"""``callmon run``'s /healthz, /readyz and /metrics, and ``callmon status``, against the real daemon
process fed by the fake Asterisk replaying a real capture."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import create_engine

from callmon.config import load_config
from callmon.ops.health import readiness
from tests.conftest import ASTERISK
from tests.fakeami import FakeAmiServer
from tests.test_live_daemon import Daemon, answers, stored, wait_until

TOKEN = "prom-token-4f9a"


def status(daemon: Daemon, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {"CALLMON_HTTP_PORT": str(daemon.http_port), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "callmon", "status", *extra], capture_output=True, text=True,
                          env=env, timeout=30)


def metric(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.M)
    assert match, f"{name}{labels} not in metrics"
    return float(match.group(1))


def test_health_readiness_metrics_and_status(tmp_path: Path, run_daemon: Callable[..., Daemon]) -> None:
    db_url = f"sqlite:///{tmp_path}/h.db"
    server = FakeAmiServer(ASTERISK / "ami-capture-ring30-noncompliant.raw").start()
    try:
        daemon = run_daemon(server.port, db_url, CALLMON_HTTP_METRICS_TOKEN=TOKEN, CALLMON_SPEECH_ENABLED="false")
        base = f"http://127.0.0.1:{daemon.http_port}"
        store = stored(db_url)
        wait_until(lambda: store.count()[0] == 1, what="the call stored")
        wait_until(lambda: answers(f"{base}/readyz"), what="ready")
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{base}/readyz").json() == {"ready": True, "checks": {"ami": True, "database": True,
                                                                                "backlog": True, "spool": True}}
        done = status(daemon)
        assert done.returncode == 0 and done.stdout.startswith("ready"), done.stdout + done.stderr
        assert httpx.get(f"{base}/metrics").status_code == 401
        assert httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        scraped = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
        text = scraped.text
        assert metric(text, "callmon_ami_events_total") == server.frames_sent
        assert metric(text, "callmon_ami_connected") == 1
        assert metric(text, "callmon_calls_finished_total") == 1
        assert metric(text, "callmon_calls_in_progress") == 0
        # ring30: op1001 answers after 30 s, past the limit: one violation, named
        assert metric(text, "callmon_ring_limit_violations_total", '{operator="op1001"}') == 1
        assert 0 <= metric(text, "callmon_last_event_age_seconds") < 60
        for name in ("callmon_transcription_backlog", "callmon_transcription_latency_seconds",
                     "callmon_checks_per_second", "callmon_ami_reconnects_total", "callmon_calls_incomplete_total"):
            metric(text, name)
        assert TOKEN not in text
    finally:
        server.stop()
    # Asterisk gone: alive, but not ready, and `callmon status` says which check fails
    wait_until(lambda: answers(f"{base}/readyz", 503), what="not ready")
    assert httpx.get(f"{base}/readyz").json()["checks"]["ami"] is False
    assert httpx.get(f"{base}/healthz").status_code == 200
    done = status(daemon)
    assert done.returncode == 1 and "NOT READY" in done.stdout and re.search(r"AMI connection\s+FAILING", done.stdout)
    assert daemon.stop() == 0
    assert TOKEN not in daemon.stderr
    done = status(daemon)
    assert done.returncode == 1 and "callmon is not running" in done.stdout


def test_readiness_reports_an_unreachable_database() -> None:
    cfg = load_config(None)
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none", connect_args={"connect_timeout": 2})
    assert readiness(cfg, engine, None) == {"ready": False, "checks": {"ami": True, "database": False,
                                                                      "backlog": False, "spool": True}}


def test_a_taken_http_port_does_not_stop_the_daemon(tmp_path: Path, run_daemon: Callable[..., Daemon]) -> None:
    import socket

    with socket.socket() as taken, FakeAmiServer(ASTERISK / "ami-capture-ring02-compliant.raw") as server:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        db_url = f"sqlite:///{tmp_path}/p.db"
        daemon = run_daemon(server.port, db_url, CALLMON_HTTP_PORT=str(taken.getsockname()[1]))
        store = stored(db_url)
        wait_until(lambda: store.count()[0] == 1, what="the call stored")
        assert daemon.proc.poll() is None
        assert daemon.stop() == 0
    assert "HTTP server could not start" in daemon.stderr


def test_the_config_reference_in_the_docs_is_the_generated_one() -> None:
    """docs/operations.md carries `callmon config --reference` verbatim: a key added, renamed or given
    another default without the document following fails here."""
    from callmon.ops.reference import BEGIN, END, reference

    doc = (Path(__file__).resolve().parents[1] / "docs" / "operations.md").read_text(encoding="utf-8")
    shown = doc[doc.index(BEGIN):doc.index(END) + len(END)]
    assert shown == reference(), "regenerate: callmon config --reference"
    from dataclasses import fields

    from callmon.config import Config

    keys = sum(len(fields(section)) for section in Config().sections().values())
    assert sum(1 for line in shown.splitlines() if line.startswith("| `[")) == keys
    assert "`CALLMON_HTTP_METRICS_TOKEN`" in shown and "`CALLMON_EXPORT_DIR`" in shown
