"""Real-socket tests of the fake AMI server, so client tests can trust what it sends."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

try:  # works whether or not tests/ is a package (python -m pytest vs. the pytest script)
    from tests.fakeami import FakeAmiServer, capture_frames, event_frames
except ImportError:
    from fakeami import FakeAmiServer, capture_frames, event_frames  # type: ignore[no-redef,import-not-found,unused-ignore]

FIXTURES = Path(__file__).parent / "fixtures" / "asterisk"
CAPTURES = sorted(FIXTURES.glob("ami-capture-*.raw"))
RING02 = FIXTURES / "ami-capture-ring02-compliant.raw"
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
LOGIN_OK = b"Response: Success\r\nActionID: l1\r\nMessage: Authentication accepted\r\n\r\n"


class Raw:
    """Minimal blocking AMI client: exact bytes in, exact bytes out."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        self.buf = b""

    def send(self, **headers: str) -> None:
        self.sock.sendall(b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n")

    def login(self, secret: str = "monitor110") -> None:
        self.send(Action="Login", ActionID="l1", Username="monitor", Secret=secret)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def read(self, n: int) -> bytes:
        while len(self.buf) < n:
            assert self._fill(), f"EOF after {len(self.buf)} of {n} bytes"
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def until(self, sep: bytes) -> bytes:
        while sep not in self.buf:
            assert self._fill(), f"EOF before {sep!r}; have {self.buf[-200:]!r}"
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def frame(self) -> bytes:
        return self.until(b"\r\n\r\n")

    def expect_eof(self) -> None:
        while self._fill():
            pass
        assert self.buf == b""

    def expect_idle(self, seconds: float = 0.1) -> None:
        self.sock.settimeout(seconds)
        with pytest.raises(TimeoutError):
            self._fill()
        self.sock.settimeout(2)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raws() -> Iterator[list[Raw]]:
    opened: list[Raw] = []
    yield opened
    for r in opened:
        r.close()


def connect(srv: FakeAmiServer, raws: list[Raw]) -> Raw:
    raws.append(Raw(srv.port))
    assert raws[-1].read(len(BANNER)) == BANNER
    return raws[-1]


def test_capture_split_is_lossless() -> None:
    for path in CAPTURES:
        data = path.read_bytes()
        frames = capture_frames(data)
        assert BANNER + b"".join(frames) == data
        events = event_frames(data)
        assert events == frames[1:-1]
        assert all(f.startswith(b"Event: ") and f.endswith(b"\r\n\r\n") for f in events)


def test_login_ok_records_and_masks_secret(raws: list[Raw]) -> None:
    with FakeAmiServer() as srv:
        c = connect(srv, raws)
        c.login()
        assert c.frame() == LOGIN_OK
        assert srv.logins == [("monitor", True)] and srv.connections == 1
        assert srv.actions == [{"Action": "Login", "ActionID": "l1", "Username": "monitor", "Secret": "***"}]


def test_login_fail_closes(raws: list[Raw]) -> None:
    with FakeAmiServer(RING02) as srv:
        c = connect(srv, raws)
        c.send(action="login", actionid="x", username="monitor", secret="nope")
        assert c.frame() == b"Response: Error\r\nActionID: x\r\nMessage: Authentication failed\r\n\r\n"
        c.expect_eof()
        assert srv.logins == [("monitor", False)] and srv.frames_sent == 0


def test_actions_before_login_are_denied(raws: list[Raw]) -> None:
    with FakeAmiServer() as srv:
        c = connect(srv, raws)
        c.send(Action="Ping", ActionID="p")
        assert c.frame() == b"Response: Error\r\nActionID: p\r\nMessage: Permission denied\r\n\r\n"


def test_ping_reply_unknown_and_logoff(raws: list[Raw]) -> None:
    with FakeAmiServer() as srv:
        c = connect(srv, raws)
        c.login()
        c.frame()
        c.send(Action="Ping", ActionID="p1")
        assert re.fullmatch(
            rb"Response: Success\r\nActionID: p1\r\nPing: Pong\r\nTimestamp: \d+\.\d{6}\r\n\r\n",
            c.frame(),
        )
        c.send(Action="Frobnicate", ActionID="f")
        assert c.frame() == b"Response: Error\r\nActionID: f\r\nMessage: Invalid/unknown command\r\n\r\n"
        c.send(Action="Logoff", ActionID="bye")
        assert c.frame() == (b"Response: Goodbye\r\nActionID: bye\r\nMessage: Thanks for all the fish.\r\n\r\n")
        c.expect_eof()


def test_ping_not_answered(raws: list[Raw]) -> None:
    with FakeAmiServer(answer_pings=False) as srv:
        c = connect(srv, raws)
        c.login()
        c.frame()
        c.send(Action="Ping", ActionID="p1")
        c.send(Action="Nope", ActionID="n")  # answered in order: proves the ping got nothing
        assert c.frame().startswith(b"Response: Error\r\nActionID: n\r\n")
        srv.wait_for(lambda: len(srv.actions) == 3)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.stem)
def test_replay_is_byte_identical(path: Path, raws: list[Raw]) -> None:
    expected = b"".join(event_frames(path.read_bytes()))
    with FakeAmiServer(path) as srv:
        c = connect(srv, raws)
        c.login()
        assert c.frame() == LOGIN_OK
        assert c.read(len(expected)) == expected
        c.expect_idle()  # held open after the capture, no Goodbye
        assert srv.frames_sent == len(srv.frames)


def test_chunked_replay_then_close(raws: list[Raw]) -> None:
    with FakeAmiServer(RING02, chunk_size=7, hold_open_after_capture=False) as srv:
        c = connect(srv, raws)
        c.login()
        c.frame()
        assert c.read(sum(map(len, srv.frames))) == b"".join(srv.frames)
        c.expect_eof()


def test_actions_interleave_at_frame_boundaries(raws: list[Raw]) -> None:
    with FakeAmiServer(RING02, frame_delay=0.001) as srv:
        c = connect(srv, raws)
        c.login()
        c.frame()
        srv.wait_for(lambda: srv.frames_sent >= 3)
        c.send(Action="Ping", ActionID="mid")
        got = [c.frame() for _ in range(len(srv.frames) + 1)]
        pongs = [f for f in got if f.startswith(b"Response: Success\r\nActionID: mid\r\n")]
        assert len(pongs) == 1 and 3 <= got.index(pongs[0]) < len(srv.frames)
        assert [f for f in got if f not in pongs] == srv.frames


def test_drop_then_reconnect_continues(raws: list[Raw]) -> None:
    with FakeAmiServer(RING02, drop_after_frames=5, drop_loses_frames=2) as srv:
        frames = srv.frames
        c = connect(srv, raws)
        c.login()
        c.frame()
        assert [c.frame() for _ in range(5)] == frames[:5]
        c.expect_eof()
        c2 = connect(srv, raws)
        c2.login()
        assert c2.frame() == LOGIN_OK
        rest = b"".join(frames[7:])
        assert c2.read(len(rest)) == rest
        c2.expect_idle()
        assert srv.connections == 2 and srv.frames_sent == len(frames) - 2


def test_core_show_channels_and_queue_status(raws: list[Raw]) -> None:
    with FakeAmiServer() as srv:
        srv.set_channels([{"Channel": "PJSIP/a-1", "Uniqueid": "1.0"}, {"Channel": "PJSIP/b-2"}])
        srv.set_queue_entries([{"Queue": "110", "Position": "1", "CallerIDNum": "139"}])
        c = connect(srv, raws)
        c.login()
        c.frame()
        c.send(Action="CoreShowChannels", ActionID="c")
        assert c.until(b"ListItems: 2\r\n\r\n") == (
            b"Response: Success\r\nActionID: c\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n"
            b"Event: CoreShowChannel\r\nActionID: c\r\nChannel: PJSIP/a-1\r\nUniqueid: 1.0\r\n\r\n"
            b"Event: CoreShowChannel\r\nActionID: c\r\nChannel: PJSIP/b-2\r\n\r\n"
            b"Event: CoreShowChannelsComplete\r\nActionID: c\r\nEventList: Complete\r\nListItems: 2\r\n\r\n"
        )
        c.send(Action="QueueStatus", ActionID="q")
        frames = [c.frame() for _ in range(3)]
        assert frames[1] == b"Event: QueueEntry\r\nActionID: q\r\nQueue: 110\r\nPosition: 1\r\nCallerIDNum: 139\r\n\r\n"
        assert frames[2] == (
            b"Event: QueueStatusComplete\r\nActionID: q\r\nEventList: Complete\r\nListItems: 1\r\n\r\n"
        )


def test_drop_now_send_raw_burst(raws: list[Raw]) -> None:
    with FakeAmiServer(RING02, replay_after_login=False) as srv:
        c = connect(srv, raws)
        c.login()
        c.frame()
        srv.send_raw(b"\x00garbage\r\n")
        srv.burst(srv.frames[:3])
        assert c.read(10) == b"\x00garbage\r\n"
        assert c.read(sum(map(len, srv.frames[:3]))) == b"".join(srv.frames[:3])
        srv.drop_now()
        c.expect_eof()
        assert srv.frames_sent == 0  # burst frames are not capture replay


def test_start_replay_and_rewind(raws: list[Raw]) -> None:
    with FakeAmiServer(RING02, replay_after_login=False) as srv:
        c = connect(srv, raws)
        c.login()
        c.frame()
        c.expect_idle(0.05)
        srv.rewind(len(srv.frames) - 2)
        srv.start_replay()
        assert [c.frame(), c.frame()] == srv.frames[-2:]
        srv.wait_for(lambda: srv.frames_sent == 2)  # counted just after the write returns


def test_asyncio_client() -> None:
    async def client(port: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()
        writer.write(b"Action: Login\r\nActionID: l1\r\nUsername: monitor\r\nSecret: monitor110\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        first = await reader.readuntil(b"\r\n\r\n")
        await srv.wait_for_async(lambda: srv.frames_sent == len(srv.frames))
        writer.close()
        return first

    with FakeAmiServer(RING02) as srv:
        assert asyncio.run(client(srv.port)) == srv.frames[0]
        srv.wait_for(lambda: srv.logins == [("monitor", True)])
