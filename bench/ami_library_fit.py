"""Does asterisk-ami 0.1.7 give callmon what it needs from an AMI client?  Measured, not read.

Why: we chose our own AMI client over the PyPI package ``asterisk-ami`` 0.1.7
(module ``asterisk.ami``).  Each need of callmon is checked by a small real run
of that library against ``tests.fakeami.FakeAmiServer`` on 127.0.0.1 (or, for
buffering, its real ``_next_pack`` generator on a socketpair), and a verdict is
printed with the measured evidence.  Library internals (``_thread``,
``_socket``, ``_next_pack``) are only *read* or driven, never patched, except
that ``client.connect`` is wrapped to count connection attempts.

Usage: ``.venv/bin/python bench/ami_library_fit.py [--json]`` (about 20 s).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from asterisk.ami import AMIClient, AutoReconnect, Event, SimpleAction  # noqa: E402

from callmon.sources.ami_protocol import Message, StreamParser, parse  # noqa: E402
from tests.fakeami import FakeAmiServer, event_frames  # noqa: E402

CAPTURE = REPO / "tests/fixtures/asterisk/ami-capture-mixed-session-autofill-no.raw"
USER, SECRET = "monitor", "monitor110"
BANNER = b"Asterisk Call Manager/11.0.0\r\n"


@dataclass
class Finding:
    """One need of callmon, the verdict for asterisk-ami 0.1.7 and what was measured."""

    need: str
    ok: bool
    library: str  # what asterisk-ami 0.1.7 does, one line
    measured: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def evidence(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.measured.items())


class _Recorder:
    """Collects listener callbacks with their time since ``t0``."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.disconnects: list[tuple[float, str]] = []
        self.reconnects: list[float] = []
        self.auto_disconnects: list[tuple[float, str]] = []
        self.connects: list[float] = []
        self.events: list[Any] = []

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 3)

    def on_disconnect(self, source: Any, error: Any = None) -> None:
        self.disconnects.append((self.now(), repr(error)))

    def on_event(self, event: Any, source: Any) -> None:
        self.events.append(event)

    def auto_on_disconnect(self, client: Any, why: Any) -> None:
        self.auto_disconnects.append((self.now(), repr(why)[:60]))

    def auto_on_reconnect(self, client: Any, response: Any) -> None:
        self.reconnects.append(self.now())


def make_client(port: int, rec: _Recorder) -> AMIClient:
    """A client with default settings (timeout 3 s, 1 KiB reads) and our recorders attached."""
    client = AMIClient(address=FakeAmiServer.host, port=port)
    client.add_listener(on_disconnect=rec.on_disconnect)
    client.add_event_listener(rec.on_event)
    connect = client.connect

    def counting_connect() -> None:  # instance attribute: login() calls self.connect()
        rec.connects.append(rec.now())
        connect()

    client.connect = counting_connect
    return client


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def close(client: AMIClient, *servers: FakeAmiServer, auto: AutoReconnect | None = None) -> None:
    """Stop pinging, stop the server (so the reader sees EOF), then close the client."""
    if auto is not None and auto.finished is not None:
        auto.finished.set()
    for srv in servers:
        srv.stop()
    if client.finished is not None:
        client.finished.set()
    if client._socket is not None:
        client._socket.close()
    if client._thread is not None:
        client._thread.join(1)


class _FixedPortServer(FakeAmiServer):
    """FakeAmiServer listening on a given port, to come back where the client reconnects."""

    def __init__(self, port: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fixed_port = port

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self._fixed_port)
        self.port = self._fixed_port


# ---- the needs ------------------------------------------------------------------------------------------


def idle_connection() -> Finding:
    """No events for 5 s (a quiet night) must not end or wedge the connection."""
    rec = _Recorder()
    srv = FakeAmiServer(capture=None, hold_open_after_capture=True).start()
    client = make_client(srv.port, rec)
    login = client.login(username=USER, secret=SECRET).response
    logged_in = rec.now()
    time.sleep(5.0)
    reader_alive = client._thread.is_alive()
    finished = client.finished.is_set()
    socket_open = client._socket.fileno() != -1
    server_conns = len(srv._conns)
    sent = rec.now()
    ping = client.send_action(SimpleAction("Ping")).response
    ping_wait = round(rec.now() - sent, 2)
    server_got_ping = any(a.get("Action", "").lower() == "ping" for a in srv.actions)
    close(client, srv)
    first = rec.disconnects[0] if rec.disconnects else None
    return Finding(
        "idle connection stays up",
        ok=reader_alive and not rec.disconnects,
        library="socket timeout (3 s) is used as a read timeout: after 3 s without traffic the reader "
        "thread dies, the socket is left open and nothing reconnects",
        measured={
            "login": login.status if login else None,
            "on_disconnect_after_idle_s": round(first[0] - logged_in, 2) if first else None,
            "on_disconnect_error": first[1] if first else None,
            "reader_thread_alive_after_5s": reader_alive,
            "client.finished_set": finished,
            "socket_still_open": socket_open,
            "server_still_connected": server_conns == 1,
            "ping_after_idle_reached_server": server_got_ping,
            "ping_after_idle_response": None if ping is None else ping.status,
            "ping_after_idle_waited_s": ping_wait,
        },
    )


def repeated_keys() -> Finding:
    """``ChanVariable``/``Variable`` and any key may repeat within a frame; all values must be kept."""
    frame = b"Event: Test\r\nChanVariable: A=1\r\nChanVariable: B=2\r\nFoo: 1\r\nFoo: 2\r\n\r\n"
    rec = _Recorder()
    srv = FakeAmiServer(capture=None).start()
    client = make_client(srv.port, rec)
    _ = client.login(username=USER, secret=SECRET).response
    srv.burst([frame])
    wait_until(lambda: bool(rec.events), 3)
    keys: dict[str, Any] = rec.events[0].keys if rec.events else {}
    close(client, srv)
    items, _rest = parse(frame)
    ours = items[0] if items and isinstance(items[0], Message) else None
    return Finding(
        "repeated keys kept",
        ok=keys.get("Foo") == ["1", "2"],
        library="event.keys is a dict: a repeated key keeps only its last value; *ChanVariable keys "
        "become a dict (A=1 -> {'A': '1'})",
        measured={
            "event.keys": keys,
            "Foo_values_kept": keys.get("Foo"),
            "ours_getall_Foo": ours.getall("Foo") if ours else None,
            "ours_getall_ChanVariable": ours.getall("ChanVariable") if ours else None,
        },
    )


def event_order() -> Finding:
    """Events must reach callmon in wire order, with every field."""
    expected: list[tuple[str, int]] = []
    for frame in event_frames(CAPTURE.read_bytes()):
        items, _rest = parse(frame)
        message = next(i for i in items if isinstance(i, Message))
        expected.append((message.name, len(message.headers) - 1))
    rec = _Recorder()
    srv = FakeAmiServer(capture=CAPTURE, hold_open_after_capture=True).start()
    client = make_client(srv.port, rec)
    _ = client.login(username=USER, secret=SECRET).response
    complete = wait_until(lambda: len(rec.events) >= len(expected), 15)
    elapsed = rec.now()
    close(client, srv)
    got_names = [e.name for e in rec.events]
    exp_names = [name for name, _ in expected]
    first_diff = next((i for i, (a, b) in enumerate(zip(got_names, exp_names, strict=False)) if a != b), None)
    fields_lost = sum(max(0, n - len(e.keys)) for (_, n), e in zip(expected, rec.events, strict=False))
    same = got_names == exp_names
    return Finding(
        "event order kept",
        ok=same and fields_lost == 0,
        library="one reader thread delivers events in wire order",
        measured={
            "capture_events": len(expected),
            "received": len(rec.events),
            "all_received": complete,
            "same_order": same,
            "first_difference_at": first_diff,
            "header_fields_lost": fields_lost,
            "seconds": round(elapsed, 2),
        },
    )


def reconnect_backoff() -> Finding:
    """After a drop callmon must reconnect, backing off while Asterisk is down."""
    rec = _Recorder()
    srv = FakeAmiServer(capture=None).start()
    port = srv.port
    client = make_client(port, rec)
    auto = AutoReconnect(client, delay=0.5, on_disconnect=rec.auto_on_disconnect,
                         on_reconnect=rec.auto_on_reconnect)
    auto.daemon = True  # a non-daemon AutoReconnect would keep this script alive after main()
    _ = client.login(username=USER, secret=SECRET).response
    wait_until(lambda: auto.is_alive(), 2)
    time.sleep(0.6)
    stopped = rec.now()
    srv.stop()
    time.sleep(3.0)
    attempts = [t for t in rec.connects if t > stopped]
    intervals = [round(b - a, 3) for a, b in itertools.pairwise(attempts)]
    back = _FixedPortServer(port, capture=None).start()
    restarted = rec.now()
    reconnected = wait_until(lambda: bool(rec.reconnects) and rec.reconnects[-1] > restarted, 4)
    back_after = round(rec.reconnects[-1] - restarted, 2) if reconnected else None
    close(client, back, auto=auto)
    return Finding(
        "reconnect with backoff",
        ok=len(intervals) > 1 and intervals[-1] > 1.5 * intervals[0],
        library="AutoReconnect retries every `delay` seconds forever: fixed interval, no backoff, no jitter",
        measured={
            "attempts_in_3s_down": len(attempts),
            "interval_s_min": min(intervals) if intervals else None,
            "interval_s_max": max(intervals) if intervals else None,
            "intervals_s": intervals,
            "reconnected_after_server_back_s": back_after,
            "server_connections_total": 1 + back.connections,
        },
    )


def missed_ping() -> Finding:
    """A connection that stops answering (Asterisk hung) must be noticed and replaced."""
    rec = _Recorder()
    # Events keep flowing (one per 0.2 s) so only the unanswered ping is under test,
    # not the 3 s read timeout of the idle test.
    srv = FakeAmiServer(capture=CAPTURE, answer_pings=False, frame_delay=0.2).start()
    client = make_client(srv.port, rec)
    auto = AutoReconnect(client, delay=0.5, on_disconnect=rec.auto_on_disconnect,
                         on_reconnect=rec.auto_on_reconnect)
    auto.daemon = True
    _ = client.login(username=USER, secret=SECRET).response
    logged_in = rec.now()
    wait_until(lambda: bool(rec.reconnects), 6)
    time.sleep(0.3)
    pings = sum(1 for a in srv.actions if a.get("Action", "").lower() == "ping")
    logins = len(srv.logins)
    connections = srv.connections
    close(client, srv, auto=auto)
    noticed = rec.auto_disconnects[0] if rec.auto_disconnects else None
    return Finding(
        "a missing ping reply is noticed",
        ok=noticed is not None and connections > 1,
        library="AutoReconnect pings every `delay` s and waits the client timeout (3 s) for Pong; its "
        "'reconnect' then re-sends Login on the SAME socket, so a hung connection is never replaced",
        measured={
            "noticed_after_login_s": round(noticed[0] - logged_in, 2) if noticed else None,
            "noticed_as": noticed[1] if noticed else None,
            "on_reconnect_after_login_s": round(rec.reconnects[0] - logged_in, 2) if rec.reconnects else None,
            "pings_sent": pings,
            "logins_on_server": logins,
            "tcp_connections": connections,
            "new_connect_calls": len(rec.connects) - 1,
        },
    )


def _big_frame(size: int) -> bytes:
    """One event of ``size`` bytes of distinct headers (a huge Getvar/Command-like frame)."""
    lines = [b"Event: Big\r\n"]
    total = index = 0
    while total < size:
        line = b"Var%07d: %s\r\n" % (index, b"x" * 48)
        lines.append(line)
        total += len(line)
        index += 1
    return b"".join(lines) + b"\r\n"


def _socketpair_feed(data: bytes) -> tuple[socket.socket, threading.Thread]:
    reader, writer = socket.socketpair()

    def write() -> None:
        writer.sendall(data)
        writer.close()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return reader, thread


def _theirs_big(frame: bytes) -> tuple[float, int]:
    """asterisk-ami's real generator (1 KiB recv, ``data += recv``, regex over the whole buffer)."""
    client = AMIClient()
    reader, thread = _socketpair_feed(BANNER + frame)
    reader.settimeout(client._timeout)
    client._socket = reader
    client.finished = threading.Event()
    start = time.perf_counter()
    packs = client._next_pack()
    next(packs)
    keys = 0
    for pack in packs:
        keys = len(Event.read(pack).keys)
    seconds = time.perf_counter() - start
    thread.join(5)
    return seconds, keys


def _ours_big(frame: bytes) -> tuple[float, int]:
    """Our StreamParser fed the same socketpair with the same 1 KiB reads."""
    reader, thread = _socketpair_feed(BANNER + frame)
    parser = StreamParser(expect_banner=True)
    start = time.perf_counter()
    keys = 0
    while data := reader.recv(1024):
        for item in parser.feed(data):
            if isinstance(item, Message):
                keys = len(item.headers) - 1
    seconds = time.perf_counter() - start
    thread.join(5)
    reader.close()
    return seconds, keys


def quadratic_buffering() -> Finding:
    """A huge frame arriving in 1 KiB reads must cost linear, not quadratic, time."""
    sizes = [1 << 20, 4 << 20]
    theirs = [_theirs_big(_big_frame(s)) for s in sizes]
    ours = [_ours_big(_big_frame(s)) for s in sizes]
    growth_theirs = theirs[1][0] / theirs[0][0]
    growth_ours = ours[1][0] / ours[0][0]
    return Finding(
        "no quadratic buffering",
        ok=growth_theirs < 8,
        library="_next_pack does `data += recv` (1 KiB) and re-runs the frame-end regex over the whole "
        "buffer per read: O(n^2) in frame size",
        measured={
            "theirs_1MiB_s": round(theirs[0][0], 3),
            "theirs_4MiB_s": round(theirs[1][0], 3),
            "theirs_growth_for_4x_data": round(growth_theirs, 1),
            "ours_1MiB_s": round(ours[0][0], 3),
            "ours_4MiB_s": round(ours[1][0], 3),
            "ours_growth_for_4x_data": round(growth_ours, 1),
            "theirs_over_ours_at_4MiB": round(theirs[1][0] / ours[1][0], 1),
            "keys_parsed_4MiB_theirs_ours": (theirs[1][1], ours[1][1]),
        },
    )


def wrong_password() -> Finding:
    """A wrong secret must be reported clearly (and not retried in a tight loop)."""
    rec = _Recorder()
    srv = FakeAmiServer(capture=None).start()
    client = make_client(srv.port, rec)
    auto = AutoReconnect(client, delay=0.5, on_disconnect=rec.auto_on_disconnect,
                         on_reconnect=rec.auto_on_reconnect)
    auto.daemon = True
    raised: str | None = None
    response = None
    start = rec.now()
    try:
        response = client.login(username=USER, secret="wrong").response
    except Exception as exc:  # noqa: BLE001 - recording whatever the library raises is the point
        raised = repr(exc)
    answered = round(rec.now() - start, 3)
    wait_until(lambda: bool(rec.disconnects), 2)
    time.sleep(1.0)
    finding = Finding(
        "wrong password reported",
        ok=response is not None and response.is_error() and raised is None,
        library="login() returns a FutureResponse whose .response is 'Error' / 'Authentication failed'; "
        "no exception; on_disconnect(error=StopIteration()) follows; AutoReconnect never starts (no retry)",
        measured={
            "exception": raised,
            "response_status": response.status if response else None,
            "response_message": response.keys.get("Message") if response else None,
            "answered_after_s": answered,
            "on_disconnect": rec.disconnects[0] if rec.disconnects else None,
            "client.finished_set": client.finished.is_set(),
            "autoreconnect_running": auto.is_alive(),
            "login_attempts_in_1s": len(srv.logins),
        },
    )
    close(client, srv)
    return finding


def failing_handler() -> Finding:
    """(extra) One handler that raises on one event must not stop the reader."""
    rec = _Recorder()
    srv = FakeAmiServer(capture=None).start()
    client = make_client(srv.port, rec)
    seen: list[str] = []

    def fragile(event: Any, source: Any) -> None:
        seen.append(event.name)
        if event.name == "Bad":
            raise ValueError("handler bug")

    client.add_event_listener(fragile)
    _ = client.login(username=USER, secret=SECRET).response
    srv.burst([b"Event: Bad\r\n\r\n", b"Event: Good\r\n\r\n"])
    time.sleep(0.5)
    srv.burst([b"Event: Later\r\n\r\n"])
    time.sleep(0.5)
    reader_alive = client._thread.is_alive()
    close(client, srv)
    return Finding(
        "(extra) a failing event handler does not stop the reader",
        ok=reader_alive and "Later" in seen,
        library="a handler exception ends the reader thread (on_disconnect(error=...)); the socket stays "
        "open and later events are never read",
        measured={
            "events_seen_by_handler": seen,
            "reader_thread_alive": reader_alive,
            "on_disconnect": rec.disconnects[0] if rec.disconnects else None,
        },
    )


NEEDS: list[Callable[[], Finding]] = [
    idle_connection, repeated_keys, event_order, reconnect_backoff, missed_ping, quadratic_buffering,
    wrong_password, failing_handler,
]


def markdown(findings: list[Finding], total: float) -> str:
    lines = ["| need | asterisk-ami 0.1.7 | measured |", "|---|---|---|"]
    for f in findings:
        verdict = "meets" if f.ok else "**fails**"
        lines.append(f"| {f.need} | {verdict}: {f.library} | {f.evidence().replace('|', '/')} |")
    lines.append("")
    lines.append(f"asterisk-ami 0.1.7 meets {sum(f.ok for f in findings)} of {len(findings)} needs "
                 f"({total:.1f} s, Python {sys.version.split()[0]}, FakeAmiServer on 127.0.0.1)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    args = parser.parse_args(argv)
    # FakeAmiServer.stop() cancels connection handlers mid-read; on Python 3.11 asyncio logs each
    # as "Exception in callback StreamReaderProtocol...CancelledError".  Harmless here, and noise.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    start = time.monotonic()
    findings = []
    for need in NEEDS:
        t0 = time.monotonic()
        finding = need()
        finding.seconds = round(time.monotonic() - t0, 2)
        findings.append(finding)
        if not args.json:
            print(f"[{'MEETS' if finding.ok else 'FAILS'}] {finding.need}: {finding.evidence()}", flush=True)
    total = time.monotonic() - start
    if args.json:
        print(json.dumps({"library": "asterisk-ami 0.1.7", "seconds": round(total, 1),
                          "findings": [asdict(f) for f in findings]}, indent=2, default=repr))
    else:
        print()
        print(markdown(findings, total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
