"""``callmon run`` under a systemd-like supervisor: NOTIFY_SOCKET is a datagram socket of the test's
own, as systemd's would be; the daemon must say READY, keep the watchdog fed while its loop runs,
keep a STATUS line, and say STOPPING on SIGTERM.  Asterisk is the fake AMI server replaying a
real capture."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from callmon.ops.systemd import Notifier
from tests.conftest import ASTERISK
from tests.fakeami import FakeAmiServer
from tests.test_live_daemon import Daemon


class Supervisor:
    """The receiving end of NOTIFY_SOCKET, collecting every message with its arrival time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, dict[str, str]]] = []

    def collect(self, until: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.messages.append((time.monotonic(), fields))

    def saw(self, key: str, value: str | None = None) -> bool:
        return any(key in m and (value is None or m[key] == value) for _, m in self.messages)

    def statuses(self) -> list[str]:
        return [m["STATUS"] for _, m in self.messages if "STATUS" in m]


def test_ready_watchdog_status_and_stopping(tmp_path: Path, run_daemon: Callable[..., Daemon]) -> None:
    supervisor = Supervisor(tmp_path / "notify.sock")
    with FakeAmiServer(ASTERISK / "ami-capture-ring02-compliant.raw") as server:
        daemon = run_daemon(server.port, f"sqlite:///{tmp_path}/n.db", NOTIFY_SOCKET=str(supervisor.path),
                            WATCHDOG_USEC="1000000")
        supervisor.collect(lambda: supervisor.saw("READY", "1"))
        assert supervisor.saw("READY", "1"), daemon.stderr
        ready = next(m for _, m in supervisor.messages if "READY" in m)
        assert int(ready["MAINPID"]) == daemon.proc.pid
        server.wait_for(lambda: server.frames_sent == len(server.frames), timeout=20)
        start = time.monotonic()
        supervisor.collect(lambda: time.monotonic() - start > 3.0, timeout=5)
        pings = [t for t, m in supervisor.messages if m.get("WATCHDOG") == "1" and t >= start]
        assert len(pings) >= 4, supervisor.messages  # every half second with WatchdogSec=1s
        assert max(b - a for a, b in itertools.pairwise(pings)) < 1.0
        statuses = supervisor.statuses()
        assert any(s.startswith(f"AMI connected to 127.0.0.1:{server.port}") for s in statuses), statuses
        assert any("stored this run" in s and "call(s) in progress" in s for s in statuses)
        assert daemon.stop() == 0
        supervisor.collect(lambda: supervisor.saw("STOPPING", "1"), timeout=5)
        assert supervisor.saw("STOPPING", "1")


def test_not_connected_is_still_ready_and_says_so(tmp_path: Path, run_daemon: Callable[..., Daemon]) -> None:
    """No Asterisk yet: the retry loop has started, so the daemon is READY, with a status that says so."""
    supervisor = Supervisor(tmp_path / "notify.sock")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    daemon = run_daemon(port, f"sqlite:///{tmp_path}/n.db", NOTIFY_SOCKET=str(supervisor.path))
    supervisor.collect(lambda: supervisor.saw("READY", "1"))
    assert supervisor.saw("READY", "1")
    assert supervisor.statuses()[0].startswith("AMI not connected")
    assert daemon.stop() == 0


@pytest.mark.parametrize(("env", "address", "watchdog"), [
    ({}, "", None),
    ({"NOTIFY_SOCKET": "/run/systemd/notify"}, "/run/systemd/notify", None),
    ({"NOTIFY_SOCKET": "@abstract/name", "WATCHDOG_USEC": "30000000"}, "\0abstract/name", 30.0),
    ({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, "/x", None),  # another pid's
])
def test_notifier_reads_the_environment(env: dict[str, str], address: str, watchdog: float | None) -> None:
    n = Notifier(env)
    assert n.address == address and n.watchdog_seconds == watchdog
    assert n.enabled == bool(address)
    if not address:
        assert n.send("READY=1") is False


def test_notifier_survives_a_socket_that_is_gone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "missing.sock")})
    assert n.send("READY=1") is False and n.send("STATUS=x") is False
    assert len([r for r in caplog.records if "cannot notify systemd" in r.message]) == 1
