"""``callmon run`` as a real process against a fake Asterisk on a real TCP socket.

The fake server replays the real captures byte for byte; the daemon stores
into a real database; the tests compare what is stored with the ground truth.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from callmon.store.db import open_store
from callmon.store.repository import Store
from tests.conftest import ASTERISK, all_ground_truth_calls
from tests.fakeami import FakeAmiServer, event_frames

MIXED = ASTERISK / "ami-capture-mixed-session-autofill-no.raw"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    """A ``callmon run`` subprocess with its stderr in a file (its HTTP server on a free port)."""

    def __init__(self, port: int, db_url: str, tmp_path: Path, secret: str = "monitor110", **extra: str) -> None:
        self.log = tmp_path / f"daemon-{port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLMON_")}
        env.update({
            "CALLMON_DATABASE_URL": db_url, "CALLMON_AMI_HOST": "127.0.0.1", "CALLMON_AMI_PORT": str(port),
            "CALLMON_AMI_USERNAME": "monitor", "CALLMON_AMI_SECRET": secret,
            "CALLMON_AMI_RECONNECT_MIN": "0.2", "CALLMON_AMI_RECONNECT_MAX": "1",
            "CALLMON_STORE_FLUSH_SECONDS": "0.1", "CALLMON_HTTP_PORT": str(_free_port()),
            "CALLMON_SPOOL_DIR": str(tmp_path / f"spool-{zlib.crc32(db_url.encode())}"), **extra,
        })
        self.http_port = int(env["CALLMON_HTTP_PORT"])
        self.out = tmp_path / f"daemon-{port}.out"
        self.proc = subprocess.Popen([sys.executable, "-m", "callmon", "run"], env=env,
                                     stdout=self.out.open("wb"), stderr=self.log.open("wb"))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)

    @property
    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def answers(url: str, status: int = 200) -> bool:
    """Whether ``url`` answers ``status`` now (False while nothing listens there yet)."""
    try:
        return httpx.get(url, timeout=2).status_code == status
    except httpx.HTTPError:
        return False


def stored(db_url: str) -> Store:
    return Store(open_store(db_url))


def test_live_replay_stores_every_call_like_the_ground_truth(db_url: str, run_daemon: Callable[..., Daemon]) -> None:
    with FakeAmiServer(MIXED, chunk_size=1000) as server:
        daemon = run_daemon(server.port, db_url)
        server.wait_for(lambda: server.frames_sent == len(server.frames), timeout=30)
        store = stored(db_url)
        wait_until(lambda: store.count()[0] == 10, what="10 calls stored")
        assert daemon.stop() == 0
    truth = {t["ami"]["Linkedid"]: t for f, t in all_ground_truth_calls() if f == MIXED.name}
    for record in store.calls():
        t = truth[record.linkedid]
        assert record.operator == t["answered_by"] and not record.incomplete, record.incomplete_reasons
        ring = t["measured_from_timestamps"]["ring_s (AgentCalled->AgentConnect)"]
        assert (record.ring_ms is None) == (ring is None)
        if ring is not None and record.ring_ms is not None:
            assert abs(record.ring_ms / 1000 - ring) <= 0.05
    assert server.logins == [("monitor", True)]
    actions = [a.get("Action") for a in server.actions]
    assert actions[:3] == ["Login", "CoreShowChannels", "QueueStatus"]
    assert "monitor110" not in daemon.stderr


def _in_progress_at(frames: list[bytes], n: int, lost: int = 0) -> tuple[set[str], set[str]]:
    """Calls touched by a drop after frame n that loses ``lost`` frames, and calls starting after it."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, frame in enumerate(frames):
        lid = re.search(rb"\r\nLinkedid: (\S+)\r\n", frame)
        if lid:
            first.setdefault(lid.group(1).decode(), i)
            last[lid.group(1).decode()] = i
    spanning = {lid for lid in first if first[lid] < n + lost and last[lid] >= n}
    return spanning, {lid for lid in first if first[lid] >= n + lost}


@pytest.mark.parametrize("lost", [0, 40])
def test_drop_in_the_middle_of_calls_marks_them_incomplete(tmp_path: Path, run_daemon: Callable[..., Daemon],
                                                           lost: int) -> None:
    db_url = f"sqlite:///{tmp_path}/drop.db"
    frames = event_frames(MIXED.read_bytes())
    drop_at = 1000
    spanning, after = _in_progress_at(frames, drop_at, lost)
    assert len(spanning) >= 3 and len(after) >= 2
    # CoreShowChannels answers with the channels alive at that moment of the replay, as Asterisk would
    with FakeAmiServer(MIXED, drop_after_frames=drop_at, drop_loses_frames=lost, channels_from_replay=True) as server:
        daemon = run_daemon(server.port, db_url)
        server.wait_for(lambda: server.connections == 2 and server.frames_sent >= len(frames) - lost - drop_at,
                        timeout=30)
        store = stored(db_url)
        wait_until(lambda: store.count()[0] == 10, what="10 calls")
        time.sleep(0.5)
        assert daemon.stop() == 0
    records = {r.linkedid: r for r in store.calls()}
    assert len(records) == 10  # every call accounted for, none invented
    truth = {t["ami"]["Linkedid"]: t for f, t in all_ground_truth_calls() if f == MIXED.name}
    gap_words = ("AMI connection lost", "never seen starting")
    for linkedid, record in records.items():
        if record.incomplete:
            # bytes in flight when the connection broke are lost too (TCP reset), so a call that ended
            # just before the drop may be incomplete as well; never without saying why
            assert any(w in r for w in gap_words for r in record.incomplete_reasons), record.incomplete_reasons
        else:
            ring = truth[linkedid]["measured_from_timestamps"]["ring_s (AgentCalled->AgentConnect)"]
            assert record.operator == truth[linkedid]["answered_by"]
            assert (record.ring_ms is None) == (ring is None)
            if ring is not None and record.ring_ms is not None:
                assert abs(record.ring_ms / 1000 - ring) <= 0.05
    assert spanning <= {lid for lid, r in records.items() if r.incomplete}
    assert not [lid for lid in after if records[lid].incomplete]  # calls started after the reconnect are whole
    assert daemon.stderr.count("AMI connection lost") == 1


def test_wrong_password_stops_loudly_without_retrying(tmp_path: Path, run_daemon: Callable[..., Daemon]) -> None:
    with FakeAmiServer(MIXED) as server:
        daemon = run_daemon(server.port, f"sqlite:///{tmp_path}/pw.db", secret="wrong-password")
        assert daemon.proc.wait(timeout=20) == 3
        assert server.logins == [("monitor", False)]
    assert "AMI login as 'monitor' refused: Authentication failed" in daemon.stderr
    assert "wrong-password" not in daemon.stderr


def test_idle_connection_stays_up_and_is_pinged(tmp_path: Path, run_daemon: Callable[..., Daemon]) -> None:
    with FakeAmiServer(ASTERISK / "ami-capture-ring02-compliant.raw") as server:
        daemon = run_daemon(server.port, f"sqlite:///{tmp_path}/idle.db", CALLMON_AMI_PING_INTERVAL="0.5")
        server.wait_for(lambda: server.frames_sent == len(server.frames), timeout=20)
        time.sleep(3.0)  # six ping intervals of silence from Asterisk
        pings = [a for a in server.actions if a.get("Action") == "Ping"]
        assert server.connections == 1
        assert len(pings) >= 4
        assert daemon.stop() == 0
    assert "connection lost" not in daemon.stderr


def test_unanswered_ping_is_noticed_and_the_session_replaced(tmp_path: Path,
                                                             run_daemon: Callable[..., Daemon]) -> None:
    with FakeAmiServer(ASTERISK / "ami-capture-ring02-compliant.raw", answer_pings=False) as server:
        daemon = run_daemon(server.port, f"sqlite:///{tmp_path}/ping.db", CALLMON_AMI_PING_INTERVAL="0.3",
                            CALLMON_AMI_PING_TIMEOUT="0.5")
        server.wait_for(lambda: server.connections >= 2, timeout=20)
        assert daemon.stop() == 0
    assert "no reply to Ping within 0.5 s" in daemon.stderr


def test_burst_of_thousands_of_events(tmp_path: Path, run_daemon: Callable[..., Daemon]) -> None:
    base = event_frames(MIXED.read_bytes())
    frames: list[bytes] = []
    for k in range(6):  # six copies of the session, each with its own call ids: 11,000+ events
        shift = k * 1000
        frames += [re.sub(rb"\b1795357(\d{3})\.(\d+)", lambda m, s=shift: b"%d.%s" % (1795357000 + int(m.group(1)) + s,
                                                                                         m.group(2)), f) for f in base]
    db_url = f"sqlite:///{tmp_path}/burst.db"
    with FakeAmiServer(None, replay_after_login=False) as server:
        daemon = run_daemon(server.port, db_url)
        server.wait_for(lambda: server.logins == [("monitor", True)], timeout=20)
        server.wait_for(lambda: sum(a.get("Action") == "QueueStatus" for a in server.actions) == 1, timeout=20)
        server.burst(frames)
        store = stored(db_url)
        wait_until(lambda: store.count()[0] == 60, timeout=60, what="60 calls from the burst")
        assert daemon.stop() == 0
    assert len(frames) > 11_000
    assert not [r for r in store.calls() if r.incomplete]


def test_asterisk_down_at_start_then_up(tmp_path: Path, run_daemon: Callable[..., Daemon]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db_url = f"sqlite:///{tmp_path}/down.db"
    daemon = run_daemon(port, db_url)
    time.sleep(3.0)  # several retries while nothing listens
    assert daemon.proc.poll() is None, daemon.stderr
    with FakeAmiServer(ASTERISK / "ami-capture-ring07-noncompliant.raw", port=port) as server:
        store = stored(db_url)
        wait_until(lambda: store.count()[0] == 1, what="the call after Asterisk came up")
        assert daemon.stop() == 0
        assert server.connections == 1
    log = daemon.stderr
    assert log.count("AMI unavailable") == 1  # one line per outage, not one per retry
    assert "AMI connected again after" in log


def test_sigterm_stores_what_was_received(tmp_path: Path, run_daemon: Callable[..., Daemon]) -> None:
    db_url = f"sqlite:///{tmp_path}/term.db"
    with FakeAmiServer(MIXED, frame_delay=0.002) as server:
        daemon = run_daemon(server.port, db_url, CALLMON_STORE_FLUSH_SECONDS="30", CALLMON_STORE_BATCH_EVENTS="100000")
        server.wait_for(lambda: server.frames_sent >= 600, timeout=30)
        assert daemon.stop() == 0
        sent = server.frames_sent
    store = stored(db_url)
    _, events = store.count()
    assert events > 0
    # everything received before SIGTERM is in the store, either as a finished call or as raw events
    # of a call in progress, which the next start resumes
    assert events >= sum(b"\r\nLinkedid: " in f for f in event_frames(MIXED.read_bytes())[: sent - 50])
    unfinished = store.unfinished_calls("asterisk")
    assert unfinished
    with FakeAmiServer(None, replay_after_login=False) as server2:
        server2.set_channels([])
        daemon2 = run_daemon(server2.port, db_url)
        wait_until(lambda: not store.unfinished_calls("asterisk"), what="resumed calls closed by the snapshot")
        assert daemon2.stop() == 0
    for record in store.calls():
        if record.linkedid in unfinished:
            assert record.incomplete
    assert "resumed" in daemon2.stderr


def test_run_serves_the_review_ui_when_enabled(tmp_path: Path, run_daemon: Callable[..., Daemon]) -> None:
    """[web] enabled: ``callmon run`` serves the UI beside AMI; it answers only with a session, and
    SIGTERM still ends the daemon cleanly with every call stored."""
    from tests.webapp import free_port

    db_url = f"sqlite:///{tmp_path}/web.db"
    port = free_port()
    with FakeAmiServer(ASTERISK / "ami-capture-ring07-noncompliant.raw") as server:
        daemon = run_daemon(server.port, db_url, CALLMON_WEB_ENABLED="true", CALLMON_HTTP_PORT=str(port))
        store = stored(db_url)
        wait_until(lambda: store.count()[0] == 1, what="the call stored")
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"), what="the web server")
        assert httpx.get(f"http://127.0.0.1:{port}/api/calls").status_code == 401
        login = httpx.get(f"http://127.0.0.1:{port}/queue", follow_redirects=False)
        assert login.status_code == 303 and login.headers["location"].startswith("/login")
        assert daemon.stop() == 0
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
