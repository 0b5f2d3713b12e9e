"""``callmon serial`` as a process reading a real pseudo-terminal: lines written at ring timings (the
cadence scaled down five times through the config, 200 ms on / 800 ms off), the device unplugged
and plugged in again, line noise; and the production reader on pyserial's ``loop://``."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from callmon.calls.record import REPLAY_JSON_KEYS
from callmon.sources.serial_reader import LineSplitter, SerialSource, framing
from callmon.sources.serial_run import pbx_name
from callmon.store.db import open_store
from callmon.store.repository import Store


class Device:
    """A pseudo-terminal standing in for the serial device, reached through a stable symlink (as udev's
    /dev/serial/by-id/... would be): unplugging closes it and removes the link, plugging makes a new one."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master: int | None = None
        self.plug()

    def plug(self) -> None:
        self.master, slave = pty.openpty()
        name = os.ttyname(slave)
        os.close(slave)
        self.link.unlink(missing_ok=True)
        self.link.symlink_to(name)

    def unplug(self) -> None:
        if self.master is not None:
            os.close(self.master)
            self.master = None
        self.link.unlink(missing_ok=True)

    def say(self, line: bytes, end: bytes = b"\r\n") -> None:
        assert self.master is not None
        os.write(self.master, line + end)


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    dev = Device(tmp_path / "ttyCALLERID")
    yield dev
    dev.unplug()


def start(device: Device, tmp_path: Path, protocol: str = "modem", *extra: str) -> subprocess.Popen[str]:
    config: list[str] = []
    if "--config-file" in extra:  # a global option: before the command
        k = extra.index("--config-file")
        config, extra = ["--config", extra[k + 1]], extra[:k] + extra[k + 2:]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLMON_")}
    env.update({"CALLMON_DATABASE_URL": f"sqlite:///{tmp_path}/serial.db", "CALLMON_RINGS_ON_MS": "200",
                "CALLMON_RINGS_OFF_MS": "800"})
    return subprocess.Popen([sys.executable, "-m", "callmon", *config, "serial", "--port", str(device.link),
                             "--protocol", protocol, "--json", *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def ring_call(device: Device, number: str, rings: int, answer: bool) -> None:
    """Rings a second apart (the scaled cadence), caller ID after the first, off-hook after the last."""
    for k in range(rings):
        device.say(b"RING")
        if k == 0:
            time.sleep(0.3)
            device.say(b"DATE = 1124")
            device.say(b"TIME = 2038")
            device.say(b"NMBR = " + number.encode())
        time.sleep(0.7 if k == 0 else 1.0)
    if answer:
        device.say(b"OFFHOOK")
        time.sleep(0.5)
        device.say(b"ONHOOK")


def finish(proc: subprocess.Popen[str]) -> tuple[list[dict[str, object]], str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return [json.loads(line) for line in out.splitlines() if line.strip()], err


def wait_open(proc: subprocess.Popen[str], device: Device) -> None:
    time.sleep(1.5)  # the reader opens the port (and would log a failure to stderr)
    assert proc.poll() is None


def test_rings_on_a_real_tty_become_calls(device: Device, tmp_path: Path) -> None:
    proc = start(device, tmp_path, "modem", "--map", "1=op1001")  # the abandon gap: 2 ring periods = 2 s
    wait_open(proc, device)
    ring_call(device, "13951000007", rings=3, answer=True)  # answered after the 3rd ring: within
    ring_call(device, "13951000008", rings=2, answer=False)  # the rings stop: abandoned after 2 periods
    time.sleep(2.5)
    calls, err = finish(proc)
    assert len(calls) == 2, (calls, err)
    first, second = calls
    assert set(first) == {*REPLAY_JSON_KEYS, "source"}  # the replay keys, plus source
    assert first["caller"] == "13951000007" and first["operator"] == "op1001" and first["rings"] == 3
    assert first["within_limit"] is True and first["abandoned"] is False
    assert 2.6 <= float(first["ring_seconds"]) <= 3.6  # three rings a second apart, then off-hook
    assert second["abandoned"] is True and second["rings"] == 2 and second["caller"] == "13951000008"
    assert first["source"] == f"serial:{device.link}"
    store = Store(open_store(f"sqlite:///{tmp_path}/serial.db"))
    stored = store.calls()
    assert [c.caller for c in stored] == ["13951000007", "13951000008"]
    events = store.call_events(pbx_name(str(device.link)), stored[0].linkedid)
    assert [e.message.get("Line") for e in events][:2] == ["RING", "NMBR = 13951000007"]


def test_unplug_and_replug_loses_nothing_and_logs_once(device: Device, tmp_path: Path) -> None:
    proc = start(device, tmp_path, "whozz")
    wait_open(proc, device)
    device.say(b"01 R 11/24 20:38:01")
    time.sleep(1.0)
    device.say(b"01 F 11/24 20:38:02")
    device.say(b"01 N 11/24 20:39:02")
    time.sleep(0.5)
    device.unplug()
    time.sleep(3.0)  # several reconnect attempts while it is away
    device.plug()
    time.sleep(3.0)  # backoff: the reader comes back within a few seconds
    device.say(b"02 R 11/24 20:45:01")
    time.sleep(1.0)
    device.say(b"02 F 11/24 20:45:02")
    device.say(b"02 N 11/24 20:46:02")
    time.sleep(0.8)
    calls, err = finish(proc)
    assert [c["operator"] for c in calls] == ["01", "02"], err  # no --map: the line number
    assert err.count("lost") + err.count("unavailable") == 1, err  # one line per outage
    assert "back after" in err


def test_line_noise_and_partial_lines_are_warnings_not_crashes(device: Device, tmp_path: Path) -> None:
    proc = start(device, tmp_path, "modem")
    wait_open(proc, device)
    device.say(b"\xff\xfe\x8fR\x00I\x93NG\xa5")  # what a wrong baud rate looks like
    device.say(b"RI", end=b"")  # a line arriving in pieces, CR-only line ends
    time.sleep(0.2)
    device.say(b"NG", end=b"\r")
    time.sleep(1.0)
    device.say(b"RING", end=b"\n")
    time.sleep(1.0)
    device.say(b"OFFHOOK", end=b"\r")
    device.say(b"ONHOOK", end=b"\n\r")
    time.sleep(0.8)
    calls, err = finish(proc)
    assert len(calls) == 1 and calls[0]["rings"] == 2, (calls, err)
    assert "not ASCII" in err and "\\xff\\xfe\\x8f" in err  # the raw bytes, escaped


def test_bad_arguments(tmp_path: Path) -> None:
    env = {**os.environ, "CALLMON_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    for extra, message in ((["--framing", "9X1"], "expected data bits"), (["--map", "op1001"], "EXTENSION=OPERATOR")):
        done = subprocess.run([sys.executable, "-m", "callmon", "serial", "--port", "loop://", "--protocol",
                               "modem", *extra], env=env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and message in done.stderr


def test_the_reader_on_pyserial_loop() -> None:
    """The production reader against pyserial's loopback: what is written comes back as lines."""
    port = serial.serial_for_url("loop://", timeout=0.2)
    got: list[bytes] = []
    stop = threading.Event()
    source = SerialSource("loop://", sink=lambda raw, at: got.append(raw), stop=stop)
    reader = threading.Thread(target=source._read, args=(port,), daemon=True)
    reader.start()
    port.write(b"RING\r\nDATE = 1124\rNMBR = 139510\x0000\n\n")
    deadline = time.monotonic() + 5
    while len(got) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    reader.join(timeout=2)
    assert got == [b"RING", b"DATE = 1124", b"NMBR = 139510\x0000"]


def test_splitter_and_framing() -> None:
    s = LineSplitter()
    assert s.feed(b"RI") == [] and s.feed(b"NG\r\n\r\nNMBR") == [b"RING"] and s.feed(b"\n") == [b"NMBR"]
    assert framing("8N1") == (8, serial.PARITY_NONE, 1.0) and framing("7e2") == (7, serial.PARITY_EVEN, 2.0)
    with pytest.raises(ValueError, match="8N1"):
        framing("8Q1")


def test_callmon_run_reads_a_serial_source_beside_ami(device: Device, tmp_path: Path) -> None:
    """[serial] sources: the daemon stores the serial device's calls next to the AMI ones, each marked with
    its source; SIGTERM stores what the device said."""
    from tests.conftest import ASTERISK
    from tests.fakeami import FakeAmiServer
    from tests.test_live_daemon import Daemon, stored, wait_until

    db_url = f"sqlite:///{tmp_path}/both.db"
    spec = f"port={device.link} protocol=modem map=1:op1001"
    with FakeAmiServer(ASTERISK / "ami-capture-ring02-compliant.raw") as server:
        daemon = Daemon(server.port, db_url, tmp_path, CALLMON_SERIAL_SOURCES=json.dumps([spec]),
                        CALLMON_RINGS_ON_MS="200", CALLMON_RINGS_OFF_MS="800", CALLMON_SPEECH_ENABLED="false")
        store = stored(db_url)
        wait_until(lambda: store.count()[0] == 1, what="the AMI call stored")
        time.sleep(1.0)
        ring_call(device, "13951000009", rings=2, answer=True)
        wait_until(lambda: store.count()[0] == 2, what="the serial call stored")
        assert daemon.stop() == 0
    calls = {c.caller: c for c in store.calls()}
    serial_call = calls["13951000009"]
    assert serial_call.operator == "op1001" and serial_call.rings == 2 and serial_call.within_limit
    assert "serial source" in daemon.stderr


PATTERN = ('{"name": "nec", "regex": "^(?P<start>\\\\S+ \\\\S+) EXT(?P<extension>\\\\d+) FROM (?P<caller>\\\\d+) '
           'RING (?P<ring_seconds>\\\\d+) TALK (?P<duration_seconds>\\\\d+)", "date_format": "%Y-%m-%d %H:%M:%S"}')


def test_a_site_pattern_from_the_config_file(device: Device, tmp_path: Path) -> None:
    config = tmp_path / "callmon.toml"
    config.write_text(f"[serial]\npatterns = ['{PATTERN}']\n", encoding="utf-8")
    proc = start(device, tmp_path, "nec", "--map", "1001=op1001", "--config-file", str(config))
    wait_open(proc, device)
    device.say(b"2026-11-24 20:38:05 EXT1001 FROM 13951000041 RING 9 TALK 60")
    device.say(b"2026-11-24 20:39:05 something this PBX also prints")
    time.sleep(1.0)
    calls, err = finish(proc)
    assert len(calls) == 1 and calls[0]["operator"] == "op1001" and calls[0]["ring_seconds"] == 9.0, (calls, err)
    assert calls[0]["within_limit"] is False  # 9 s of ringing against this test's 1 s cadence: 10 rings
    assert "does not match the configured pattern" in err


def test_a_bad_site_pattern_is_named_with_its_line(tmp_path: Path) -> None:
    config = tmp_path / "callmon.toml"
    config.write_text('[site]\nname = "x"\n\n[serial]\npatterns = [\'{"name": "nec", "regex": "(", '
                      '"date_format": "%Y"}\']\n', encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "callmon", "--config", str(config), "config"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert f"{config}:5" in done.stderr and "invalid regular expression" in done.stderr


def test_a_terminal_server_dropping_loses_no_record(tmp_path: Path) -> None:
    """``socket://``: the terminal server closes the connection between two calls; the reader
    reconnects and both calls are recorded."""
    import socket as sockets

    server = sockets.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLMON_")}
    env["CALLMON_DATABASE_URL"] = f"sqlite:///{tmp_path}/ts.db"
    proc = subprocess.Popen([sys.executable, "-m", "callmon", "serial", "--port", f"socket://127.0.0.1:{port}",
                             "--protocol", "avaya-smdr", "--json"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    server.settimeout(20)
    first, _ = server.accept()
    # pyserial's socket:// open() empties the input buffer after it connects: a record sent in that
    # instant is dropped before callmon sees it (a known gap, in the closing note); send after it
    time.sleep(1.0)
    first.sendall(b"2026/11/24 20:38:05,00:01:12,7,13951000031,I,110,110,,0,1000013,0,E1001,op1001,T9001,x,0,0\r\n")
    time.sleep(0.5)
    first.close()  # the terminal server drops
    second, _ = server.accept()  # the reader comes back
    time.sleep(1.0)
    second.sendall(b"2026/11/24 20:40:00,00:02:01,19,13951000032,I,110,110,,0,1000014,0,E1002,op1002,T9001,x,0,0\n")
    time.sleep(0.8)
    calls, err = finish(proc)
    second.close()
    server.close()
    assert [c["caller"] for c in calls] == ["13951000031", "13951000032"], err
    assert err.count("lost") == 1 and "back after" in err
