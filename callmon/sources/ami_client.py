"""A live AMI session over asyncio: log in, read events in order, ping, act.

Measured against what callmon needs (see README, "Why our own AMI reader"),
the ``asterisk-ami`` package drops repeated keys, disconnects idle sessions
after its socket timeout and has no backoff, so callmon reads AMI with this
small asyncio client on top of the pure parser in ``ami_protocol``.

Only two exceptions leave this module: ``AmiAuthError`` (wrong credentials:
stop loudly, never retry) and ``AmiConnectionLost`` (anything else that ends
a session: the caller's reconnect loop catches exactly this one).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from callmon.sources.ami_protocol import Banner, Garbage, Message, StreamParser, encode_action

log = logging.getLogger(__name__)


class AmiAuthError(Exception):
    """Asterisk refused the username or secret."""


class AmiConnectionLost(Exception):
    """The AMI session ended: refused, closed, timed out or not answering pings."""


@dataclass(slots=True)
class ActionResult:
    """A response and, for list actions (CoreShowChannels...), the events it listed."""

    response: Message
    events: list[Message] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.response.name.lower() in ("success", "follows", "goodbye")


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[ActionResult]
    is_list: bool
    response: Message | None = None
    events: list[Message] = field(default_factory=list)


EventHandler = Callable[[Message, int], None]


class AmiSession:
    """One logged-in connection; ``run`` delivers events until it ends."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 ping_interval: float, ping_timeout: float) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = StreamParser(expect_banner=True)
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._buffered: list[Message] = []
        self.version: str | None = None
        self.bytes_read = 0
        self.garbage = 0

    @classmethod
    async def open(cls, host: str, port: int, username: str, secret: str, *, timeout: float = 10.0,
                   ping_interval: float = 20.0, ping_timeout: float = 10.0) -> AmiSession:
        """Connect, read the banner and log in; raise AmiAuthError or AmiConnectionLost."""
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except (OSError, TimeoutError) as exc:
            raise AmiConnectionLost(f"cannot connect to AMI at {host}:{port}: {exc or 'timed out'}") from None
        session = cls(reader, writer, ping_interval=ping_interval, ping_timeout=ping_timeout)
        try:
            await asyncio.wait_for(session._login(username, secret), timeout)
        except TimeoutError:
            session.close()
            raise AmiConnectionLost(f"AMI at {host}:{port} did not answer the login within {timeout:g} s") from None
        except BaseException:
            session.close()
            raise
        return session

    async def _login(self, username: str, secret: str) -> None:
        action_id = f"callmon-login-{next(self._ids)}"
        await self._send("Login", [("ActionID", action_id), ("Username", username), ("Secret", secret),
                                   ("Events", "on")])
        logged_in = False
        while not logged_in:
            for item in await self._read_items():
                if isinstance(item, Banner):
                    self.version = item.version
                elif isinstance(item, Message) and item.kind == "Response" and item.get("ActionID") == action_id:
                    if item.name.lower() != "success":
                        raise AmiAuthError(f"AMI login as {username!r} refused: {item.get('Message', item.name)}")
                    logged_in = True
                elif isinstance(item, Message):
                    self._buffered.append(item)  # events in the same read as the response: keep, in order
                elif isinstance(item, Garbage) and self.version is None:
                    raise AmiConnectionLost(f"not an AMI server: {item.describe()}")

    async def _read_items(self) -> list[Banner | Message | Garbage]:
        try:
            data = await self._reader.read(65536)
        except OSError as exc:  # reset by peer (Asterisk restarting), network down...
            raise AmiConnectionLost(f"AMI connection failed: {exc.strerror or exc}") from None
        if not data:
            raise AmiConnectionLost("AMI closed the connection")
        self.bytes_read += len(data)
        return self._parser.feed(data)

    async def _send(self, name: str, headers: list[tuple[str, str]]) -> None:
        try:
            self._writer.write(encode_action(name, headers))
            await self._writer.drain()
        except (OSError, RuntimeError) as exc:
            raise AmiConnectionLost(f"cannot write to AMI: {exc}") from None

    async def action(self, name: str, headers: list[tuple[str, str]] | None = None, *,
                     is_list: bool = False, timeout: float = 10.0) -> ActionResult:
        """Send an action and wait for its response (and its listed events)."""
        action_id = f"callmon-{next(self._ids)}"
        future: asyncio.Future[ActionResult] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = _Pending(future, is_list)
        try:
            await self._send(name, [("ActionID", action_id), *(headers or [])])
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise AmiConnectionLost(f"no reply to {name} within {timeout:g} s") from None
        finally:
            self._pending.pop(action_id, None)

    def _route(self, message: Message, on_event: EventHandler, received_us: int) -> None:
        action_id = message.get("ActionID")
        pending = self._pending.get(action_id) if action_id else None
        if pending is None:
            if message.kind == "Event":
                on_event(message, received_us)
            return
        if message.kind == "Response":
            pending.response = message
            listing = (message.get("EventList") or "").lower() == "start"
            if not (pending.is_list and listing):
                self._resolve(pending)
        elif message.kind == "Event":
            if (message.get("EventList") or "").lower() == "complete":
                self._resolve(pending)
            else:
                pending.events.append(message)

    @staticmethod
    def _resolve(pending: _Pending) -> None:
        if not pending.future.done() and pending.response is not None:
            pending.future.set_result(ActionResult(pending.response, pending.events))

    async def run(self, on_event: EventHandler) -> None:
        """Deliver every event in arrival order until the session ends.

        Raises AmiConnectionLost when the connection closes or a ping is not
        answered in time; returns only if cancelled.
        """
        for message in self._buffered:
            self._route(message, on_event, time.time_ns() // 1000)
        self._buffered.clear()
        pinger = asyncio.create_task(self._ping_loop())
        reader = asyncio.create_task(self._read_loop(on_event))
        try:
            done, _ = await asyncio.wait({pinger, reader}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in (pinger, reader):
                task.cancel()
            for pending in self._pending.values():
                if not pending.future.done():
                    pending.future.set_exception(AmiConnectionLost("connection closed"))

    async def _read_loop(self, on_event: EventHandler) -> None:
        while True:
            items = await self._read_items()
            received_us = time.time_ns() // 1000
            for item in items:
                if isinstance(item, Message):
                    self._route(item, on_event, received_us)
                elif isinstance(item, Garbage):
                    self.garbage += 1
                    log.warning("AMI stream: skipped %s", item.describe())

    async def _ping_loop(self) -> None:
        while True:
            await asyncio.sleep(self._ping_interval)
            result = await self.action("Ping", timeout=self._ping_timeout)
            if not result.ok:
                raise AmiConnectionLost(f"Ping answered {result.response.name}")

    async def snapshot(self) -> list[Message]:
        """Channels and queue entries in progress now: what a reconnect may have missed."""
        channels = await self.action("CoreShowChannels", is_list=True)
        queues = await self.action("QueueStatus", is_list=True)
        return channels.events + [e for e in queues.events if e.name == "QueueEntry"]

    async def logoff(self) -> None:
        try:
            await asyncio.wait_for(self._send("Logoff", [("ActionID", "callmon-logoff")]), 2)
        except (AmiConnectionLost, TimeoutError):
            pass

    def close(self) -> None:
        self._writer.close()
