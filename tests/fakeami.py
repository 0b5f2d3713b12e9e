"""Fake Asterisk AMI server on a real TCP socket, replaying real AMI captures.

Why: the monitor must be tested against the byte stream Asterisk really sends
(partial reads, drops, hung pings, list actions) without running Asterisk.
The server runs its own asyncio loop in a background thread, so sync tests and
async tests (any loop) can drive a real client against it.

Pytest factory usage::

    @pytest.fixture
    def fake_ami() -> Iterator[Callable[..., FakeAmiServer]]:
        servers: list[FakeAmiServer] = []

        def make(**kwargs: Any) -> FakeAmiServer:
            servers.append(FakeAmiServer(**kwargs).start())
            return servers[-1]

        yield make
        for srv in servers:
            srv.stop()

    def test_x(fake_ami):
        srv = fake_ami(capture=FIXTURES / "ami-capture-ring02-compliant.raw")
        run_client("127.0.0.1", srv.port, "monitor", "monitor110")
        srv.wait_for(lambda: srv.frames_sent == len(srv.frames))

The replay cursor is shared by all connections (the capture is a timeline):
a client reconnecting after a drop gets the rest, not the start again.
One client at a time is assumed; `drop_now`/`send_raw`/`burst` act on the newest.

Timeline mode (``lose_while_disconnected=True``) is Asterisk's view of a client: one
replay clock, started by the first replay, runs whether or not anyone is connected;
frames are paced by their Timestamps at ``speed`` x real time, and a frame whose moment
comes while no logged-in client is streaming is lost (Asterisk does not resend), counted
in ``frames_lost`` (``sent_at`` gets NaN for it, so it stays indexed by frame).  Drops can
be scheduled at frame indexes or times (``schedule_drops``, ``drop_at_random``).
``queue_log_lines`` ((time, line) pairs) are appended, flushed, to ``queue_log_path`` when
the replay clock passes their time, connected or not (outside timeline mode: when the
replay cursor passes them).  The PBX state the list actions report (``alive_channels``,
``replay_queue_entries``) is kept incrementally over every frame passed, lost ones included.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from pathlib import Path
from typing import Any

TERM = b"\r\n\r\n"
_STAMP = re.compile(rb"^Timestamp: ([0-9.]+)\r?$", re.M)
_TRACKED = (b"Newchannel", b"Hangup", b"QueueCaller")
_ENTRY_KEYS = ("Queue", "Position", "Channel", "Uniqueid", "CallerIDNum", "CallerIDName", "ConnectedLineNum",
               "ConnectedLineName")
# list actions: action -> (attribute holding the items, item event, complete event, message)
_LISTS = {
    "coreshowchannels": ("channels", "CoreShowChannel", "CoreShowChannelsComplete", "Channels will follow"),
    "queuestatus": ("queue_entries", "QueueEntry", "QueueStatusComplete", "Queue status will follow"),
}


def capture_frames(data: bytes) -> list[bytes]:
    """Split a capture into frames, each ending in CRLF CRLF; a leading banner line is dropped.

    Why: lets tests compare what a client received with the capture frame by frame.
    A trailing unterminated remainder is kept as the last frame.
    """
    first, sep, rest = data.partition(b"\r\n")
    if sep and first and b":" not in first:  # banner "Asterisk Call Manager/x.y.z"
        data = rest
    frames: list[bytes] = []
    start = 0
    while (end := data.find(TERM, start)) != -1:
        frames.append(data[start : end + 4])
        start = end + 4
    if start < len(data):
        frames.append(data[start:])
    return frames


def event_frames(data: bytes) -> list[bytes]:
    """Frames a logged-in client would see: no banner, login Response or final Goodbye."""
    frames = capture_frames(data)
    if frames and frames[0].startswith(b"Response:") and not _is_goodbye(frames[0]):
        frames = frames[1:]
    if frames and _is_goodbye(frames[-1]):
        frames = frames[:-1]
    return frames


def _is_goodbye(frame: bytes) -> bool:
    return frame.startswith(b"Response: Goodbye")


def _frame(*pairs: tuple[str, str | None]) -> bytes:
    """Build one AMI frame; headers whose value is None (e.g. no ActionID) are omitted."""
    return "".join(f"{k}: {v}\r\n" for k, v in pairs if v is not None).encode() + b"\r\n"


class _Conn:
    """One client connection: a write lock keeps frames whole when actions interleave."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.lock = asyncio.Lock()
        self.authed = False
        self.task: asyncio.Task[Any] | None = asyncio.current_task()
        self.replay: asyncio.Task[None] | None = None
        self.streaming = False  # timeline mode: receives the replay

    async def send(self, data: bytes, chunk: int | None = None) -> None:
        async with self.lock:
            step = chunk or len(data) or 1
            for i in range(0, len(data), step):
                self.writer.write(data[i : i + step])
                await self.writer.drain()


class FakeAmiServer:
    """AMI server on 127.0.0.1:<ephemeral> speaking the Asterisk 22 dialect (see module doc)."""

    host = "127.0.0.1"

    def __init__(
        self,
        capture: bytes | str | os.PathLike[str] | None = None,
        *,
        username: str = "monitor",
        secret: str = "monitor110",
        banner: bytes = b"Asterisk Call Manager/11.0.0\r\n",
        chunk_size: int | None = None,
        frame_delay: float = 0.0,
        drop_after_frames: int | None = None,
        drop_loses_frames: int = 0,
        answer_pings: bool = True,
        hold_open_after_capture: bool = True,
        replay_after_login: bool = True,
        port: int = 0,
        channels_from_replay: bool = False,
        realtime: bool = False,
        speed: float = 1.0,
        lose_while_disconnected: bool = False,
        queue_log_path: str | os.PathLike[str] | None = None,
        queue_log_lines: Sequence[tuple[float, str]] | None = None,
        queue_entries_from_replay: bool = False,
        drop_at_frames: Iterable[int] = (),
    ) -> None:
        if capture is not None and not isinstance(capture, bytes):
            capture = Path(capture).read_bytes()
        self.frames: list[bytes] = event_frames(capture) if capture else []
        self.username, self.secret, self.banner = username, secret, banner
        self.chunk_size, self.frame_delay = chunk_size, frame_delay
        self.drop_after_frames, self.drop_loses_frames = drop_after_frames, drop_loses_frames
        self.answer_pings = answer_pings
        self.hold_open_after_capture = hold_open_after_capture
        self.replay_after_login = replay_after_login
        self.port = port  # 0: an ephemeral port, known after start()
        self.channels_from_replay = channels_from_replay  # CoreShowChannels as Asterisk would answer now
        self.logins: list[tuple[str, bool]] = []
        self.actions: list[dict[str, str]] = []
        self.connections = 0
        self.frames_sent = 0
        self.realtime = realtime  # pace frames by their Timestamp headers, as Asterisk sent them
        self.sent_at: list[float] = []  # wall-clock time each frame went out, by capture index
        self.channels: list[dict[str, str]] = []
        self.queue_entries: list[dict[str, str]] = []
        self._clock: tuple[float, float] | None = None  # (first Timestamp, loop time it was sent)
        self._pos = 0  # next capture frame to replay, shared across connections
        self._dropped = False
        self._conns: list[_Conn] = []
        self.speed = speed  # replay clock rate for realtime / timeline pacing
        self.lose_while_disconnected = lose_while_disconnected  # timeline mode (module doc)
        self.queue_entries_from_replay = queue_entries_from_replay  # QueueStatus as Asterisk would answer now
        self.queue_log_path = Path(queue_log_path) if queue_log_path is not None else None
        self.queue_log_lines = sorted(queue_log_lines or [], key=lambda item: item[0])
        self.queue_log_written: list[tuple[float, float]] = []  # (line time, wall time written)
        self.frames_lost = 0
        self.clock_start: tuple[float, float] | None = None  # (capture time, wall time) the replay clock began
        self.drops: list[int] = []  # frame indexes at which scheduled drops happened
        self._drop_at: set[int] = set(drop_at_frames)
        self.outage_seconds = 0.0  # timeline mode: after a scheduled drop, connections are refused this long
        self.refused = 0
        self._refuse_until = 0.0
        self._ql_next = 0
        self._ql_file: Any = None
        self._stamps: list[float] | None = None
        self._timeline_task: asyncio.Task[None] | None = None
        self._state_lock = threading.Lock()
        self._state_pos = 0
        self._alive: dict[str, dict[str, str]] = {}
        self._waiting: dict[str, dict[str, str]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    # ---- lifecycle (test thread) -------------------------------------------------
    def start(self) -> FakeAmiServer:
        """Start the loop thread and return once the socket listens."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fakeami", daemon=True)
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        """Abort all connections, close the listener and join the loop thread."""
        if self._loop is None or self._thread is None:
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
        self._loop = self._thread = None
        if self._ql_file is not None:
            self._ql_file.close()
            self._ql_file = None

    def __enter__(self) -> FakeAmiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- test-thread controls --------------------------------------------------------
    def set_channels(self, channels: list[dict[str, str]]) -> None:
        """Channels listed (in order) by the next CoreShowChannels."""
        self.channels = [dict(c) for c in channels]

    def alive_channels(self) -> list[dict[str, str]]:
        """Channels created and not yet hung up in the frames replayed so far (lost ones included)."""
        with self._state_lock:
            self._sync()
            return [dict(c) for c in self._alive.values()]

    def replay_queue_entries(self) -> list[dict[str, str]]:
        """QueueEntry items for callers who joined and have not left yet (lost frames included).

        Fields of Asterisk 22's QueueEntry (no Linkedid); Position is the rank among the
        waiting callers of that queue, Wait whole seconds on the replay clock.
        """
        with self._state_lock:
            self._sync()
            waiting = [dict(e) for e in self._waiting.values()]
        now, out = self.clock_now(), []
        ranks: dict[str, int] = {}
        for entry in waiting:
            ranks[entry["Queue"]] = ranks.get(entry["Queue"], 0) + 1
            joined = float(entry.pop("_joined", "nan"))
            wait = int(now - joined) if now is not None and not math.isnan(joined) and now > joined else 0
            out.append({**entry, "Position": str(ranks[entry["Queue"]]), "Wait": str(wait), "Priority": "0"})
        return out

    def clock_now(self) -> float | None:
        """The replay's current moment in capture time (None before anything was replayed)."""
        if self._clock is not None and self._loop is not None:
            return self._clock[0] + (self._loop.time() - self._clock[1]) * self.speed
        pos = min(self._pos, len(self.frames))
        found = _STAMP.search(self.frames[pos - 1]) if pos else None
        return float(found.group(1)) if found else None

    @property
    def position(self) -> int:
        """The replay cursor: frames passed so far (sent or lost)."""
        return self._pos

    def schedule_drops(self, indexes: Iterable[int] = (), times: Iterable[float] = ()) -> list[int]:
        """Drop the connection just before these frame indexes (or the first frames at/after these times)."""
        picked = set(indexes)
        stamps = self._frame_stamps()
        for t in times:
            picked.add(next((i for i, s in enumerate(stamps) if s >= t), len(stamps)))
        self._drop_at |= picked
        return sorted(picked)

    def drop_at_random(self, n: int, rng: random.Random, start: int = 1, stop: int | None = None) -> list[int]:
        """Schedule ``n`` drops at distinct random frame indexes in [start, stop); returns them sorted."""
        stop = len(self.frames) if stop is None else stop
        return self.schedule_drops(rng.sample(range(start, stop), n))

    def _sync(self) -> None:
        """Advance the PBX state over the frames passed since the last call (caller holds the lock)."""
        pos = min(self._pos, len(self.frames))
        if pos < self._state_pos:  # rewound: rebuild
            self._state_pos, self._alive, self._waiting = 0, {}, {}
        for frame in self.frames[self._state_pos: pos]:
            if any(word in frame for word in _TRACKED):
                self._track(frame)
        self._state_pos = pos

    def _track(self, frame: bytes) -> None:
        fields = dict(line.split(": ", 1) for line in frame.decode("utf-8", "replace").split("\r\n")
                      if ": " in line)
        uid, event = fields.get("Uniqueid"), fields.get("Event")
        if not uid:
            return
        if event == "Newchannel":
            self._alive[uid] = {k: fields[k] for k in ("Channel", "Uniqueid", "Linkedid", "CallerIDNum") if k in fields}
        elif event == "Hangup":
            self._alive.pop(uid, None)
            self._waiting.pop(uid, None)
        elif event == "QueueCallerJoin":
            self._waiting[uid] = {k: fields.get(k, "") for k in _ENTRY_KEYS}
            self._waiting[uid]["_joined"] = fields.get("Timestamp", "nan")
        elif event in ("QueueCallerLeave", "QueueCallerAbandon"):
            self._waiting.pop(uid, None)

    def _frame_stamps(self) -> list[float]:
        """Each frame's Timestamp (a frame without one takes the previous frame's)."""
        if self._stamps is None:
            found = [_STAMP.search(f) for f in self.frames]
            first = next((float(m.group(1)) for m in found if m), 0.0)
            stamps, last = [], first
            for m in found:
                last = float(m.group(1)) if m else last
                stamps.append(last)
            self._stamps = stamps
        return self._stamps

    def _write_queue_log_until(self, moment: float) -> None:
        """Append (and flush) the queue_log lines whose time has come."""
        lines = self.queue_log_lines
        while self._ql_next < len(lines) and lines[self._ql_next][0] <= moment:
            if self.queue_log_path is not None:
                if self._ql_file is None:
                    self._ql_file = self.queue_log_path.open("a", encoding="utf-8")
                self._ql_file.write(lines[self._ql_next][1] + "\n")
                self._ql_file.flush()
            self.queue_log_written.append((lines[self._ql_next][0], time.time()))
            self._ql_next += 1

    def set_queue_entries(self, entries: list[dict[str, str]]) -> None:
        """Callers listed as QueueEntry events by the next QueueStatus."""
        self.queue_entries = [dict(e) for e in entries]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 3.0) -> None:
        """Poll predicate from the test thread; raise TimeoutError if it never holds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            time.sleep(0.005)

    async def wait_for_async(self, predicate: Callable[[], bool], timeout: float = 3.0) -> None:
        """Like wait_for, but yields to the caller's event loop (for async tests)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            await asyncio.sleep(0.005)

    def drop_now(self, lose_frames: int = 0) -> None:
        """Abruptly close the current connection (no Goodbye); skip lose_frames events."""
        self._call(self._abort(self._current(), lose_frames))

    def send_raw(self, data: bytes) -> None:
        """Inject arbitrary bytes (e.g. garbage) between frames to the current client."""
        self._call(self._current().send(data))

    def burst(self, frames: Iterable[bytes]) -> None:
        """Send many frames to the current client in a single write."""
        self._call(self._current().send(b"".join(frames)))

    def start_replay(self) -> None:
        """Start replaying on the current connection (for replay_after_login=False)."""
        self._call(self._start_replay(self._current()))

    def rewind(self, position: int = 0) -> None:
        """Move the shared replay cursor (e.g. to replay the capture again)."""
        self._pos = position

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if self._loop is None:
            coro.close()
            raise RuntimeError("FakeAmiServer not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(5)

    def _current(self) -> _Conn:
        if not self._conns:
            raise RuntimeError("no client connected")
        return self._conns[-1]

    # ---- loop thread ------------------------------------------------------------------
    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        tasks = [t for c in self._conns for t in (c.task, c.replay) if t is not None]
        if self._timeline_task is not None:
            tasks.append(self._timeline_task)
        for conn in list(self._conns):
            conn.writer.transport.abort()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _abort(self, conn: _Conn, lose_frames: int = 0) -> None:
        """Close without Goodbye (already-drained bytes still arrive); skip lost events."""
        self.frames_lost += max(0, min(lose_frames, len(self.frames) - self._pos))
        self._pos += lose_frames
        conn.streaming = False
        if conn.replay is not None and conn.replay is not asyncio.current_task():
            conn.replay.cancel()
        async with conn.lock:
            conn.writer.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if asyncio.get_running_loop().time() < self._refuse_until:  # "Asterisk restarting": closed at once
            self.refused += 1
            writer.transport.abort()
            return
        conn = _Conn(writer)
        self._conns.append(conn)
        self.connections += 1
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # make chunks real writes
        writer.transport.set_write_buffer_limits(0)  # drain() == handed to kernel, so a
        # drop after N frames never loses buffered frames when the transport is aborted
        try:
            await conn.send(self.banner)
            while (action := await self._read_action(reader)) is not None:
                if not await self._dispatch(conn, action):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            if conn.replay is not None:
                conn.replay.cancel()
            writer.close()
            self._conns.remove(conn)

    async def _read_action(self, reader: asyncio.StreamReader) -> dict[str, str] | None:
        """Read header lines up to a blank line (CRLF or bare LF, as Asterisk accepts)."""
        headers: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if not line:
                return None
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if not text:
                if headers:
                    return headers
                continue
            key, _, value = text.partition(":")
            headers[key.strip()] = value.strip()

    async def _dispatch(self, conn: _Conn, action: dict[str, str]) -> bool:
        """Answer one action like Asterisk; False means close the connection."""
        low = {k.lower(): v for k, v in action.items()}
        self.actions.append({k: "***" if k.lower() == "secret" else v for k, v in action.items()})
        name, aid = low.get("action", "").lower(), low.get("actionid")

        def reply(resp: str, *rest: tuple[str, str | None]) -> bytes:
            return _frame(("Response", resp), ("ActionID", aid), *rest)

        if not name:
            await conn.send(reply("Error", ("Message", "Missing action in request")))
        elif name == "login":
            user = low.get("username", "")
            ok = user.lower() == self.username.lower() and low.get("secret") == self.secret
            self.logins.append((user, ok))
            if not ok:
                await conn.send(reply("Error", ("Message", "Authentication failed")))
                return False
            conn.authed = True
            await conn.send(reply("Success", ("Message", "Authentication accepted")))
            if self.replay_after_login:
                await self._start_replay(conn)
        elif name == "logoff":
            await conn.send(reply("Goodbye", ("Message", "Thanks for all the fish.")))
            return False
        elif not conn.authed and name != "challenge":
            await conn.send(reply("Error", ("Message", "Permission denied")))
        elif name == "ping":
            if self.answer_pings:
                await conn.send(reply("Success", ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")))
        elif name in _LISTS:
            attr, event, done, msg = _LISTS[name]
            items: list[dict[str, str]] = getattr(self, attr)
            if attr == "channels" and self.channels_from_replay:
                items = self.alive_channels()
            elif attr == "queue_entries" and self.queue_entries_from_replay:
                items = self.replay_queue_entries()
            out = [reply("Success", ("EventList", "start"), ("Message", msg))]
            out += [_frame(("Event", event), ("ActionID", aid), *it.items()) for it in items]
            out.append(
                _frame(("Event", done), ("ActionID", aid), ("EventList", "Complete"), ("ListItems", str(len(items))))
            )
            for frame in out:  # separate frames: replay events may interleave between them
                await conn.send(frame)
        else:
            await conn.send(reply("Error", ("Message", "Invalid/unknown command")))
        return True

    async def _start_replay(self, conn: _Conn) -> None:
        if self.lose_while_disconnected:
            conn.streaming = True
            if self._timeline_task is None and (self.frames or self.queue_log_lines):
                self._timeline_task = asyncio.get_running_loop().create_task(self._timeline())
        elif conn.replay is None and self.frames:
            conn.replay = asyncio.get_running_loop().create_task(self._replay(conn))

    async def _pace(self, frame: bytes) -> None:
        """Wait until this frame's moment: its Timestamp's distance from the first frame's."""
        found = re.search(rb"^Timestamp: ([0-9.]+)\r?$", frame, re.M)
        if found is None:
            return
        stamp, loop = float(found.group(1)), asyncio.get_running_loop()
        if self._clock is None:
            self._clock = (stamp, loop.time())
            self.clock_start = (stamp, time.time())
            return
        wait = self._clock[1] + (stamp - self._clock[0]) / self.speed - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _replay(self, conn: _Conn) -> None:
        """Stream capture frames from the shared cursor, one whole frame per lock hold."""
        sent = 0
        try:
            while True:
                if self.drop_after_frames is not None and not self._dropped and sent >= self.drop_after_frames:
                    self._dropped = True
                    await self._abort(conn, self.drop_loses_frames)
                    return
                if self._pos >= len(self.frames):
                    break
                if self._pos in self._drop_at:  # scheduled drop: the client gets this frame on reconnect
                    self._drop_at.discard(self._pos)
                    self.drops.append(self._pos)
                    await self._abort(conn)
                    return
                if sent and self.frame_delay:
                    await asyncio.sleep(self.frame_delay)
                if self.realtime:
                    await self._pace(self.frames[self._pos])
                await conn.send(self.frames[self._pos], self.chunk_size)
                self.sent_at.append(time.time())
                self._pos += 1
                self.frames_sent += 1
                sent += 1
                if self.queue_log_lines:
                    self._write_queue_log_until(self._frame_stamps()[self._pos - 1])
                await asyncio.sleep(0)  # let pending actions get their answer between frames
            if not self.hold_open_after_capture:
                async with conn.lock:
                    conn.writer.close()
        except ConnectionError:
            pass

    # ---- timeline mode (loop thread) -----------------------------------------------------
    def _receiver(self) -> _Conn | None:
        """The newest logged-in connection the replay streams to, if any."""
        return next((c for c in reversed(self._conns)
                     if c.streaming and c.authed and not c.writer.is_closing()), None)

    async def _timeline(self) -> None:
        """One replay clock for the whole session: frames and queue_log lines at their moments."""
        loop = asyncio.get_running_loop()
        stamps = self._frame_stamps()
        lines = self.queue_log_lines
        base = stamps[0] if stamps else lines[0][0]
        self._clock = (base, loop.time())
        self.clock_start = (base, time.time())
        while self._pos < len(self.frames) or self._ql_next < len(lines):
            frame_t = stamps[self._pos] if self._pos < len(self.frames) else math.inf
            line_t = lines[self._ql_next][0] if self._ql_next < len(lines) else math.inf
            wait = self._clock[1] + (min(frame_t, line_t) - base) / self.speed - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if line_t <= frame_t:
                self._write_queue_log_until(line_t)
                continue
            index = self._pos
            if index in self._drop_at:
                self._drop_at.discard(index)
                if (current := self._receiver()) is not None:
                    self.drops.append(index)
                    self._refuse_until = loop.time() + self.outage_seconds
                    await self._abort(current)
                else:  # nobody to drop right now: the drop waits for the next frame a client gets
                    later = index + 1
                    while later in self._drop_at:
                        later += 1
                    self._drop_at.add(later)
            conn = self._receiver()
            try:
                if conn is None:
                    raise ConnectionError("no client")
                await conn.send(self.frames[index], self.chunk_size)
            except ConnectionError:
                if conn is not None:
                    conn.streaming = False
                self.frames_lost += 1
                self.sent_at.append(math.nan)
            else:
                self.sent_at.append(time.time())
                self.frames_sent += 1
            self._pos = max(self._pos, index + 1)
            await asyncio.sleep(0)  # let pending actions get their answer between frames
        if not self.hold_open_after_capture and (conn := self._receiver()) is not None:
            async with conn.lock:
                conn.writer.close()
