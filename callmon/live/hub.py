"""The wallboard's moving parts on the daemon's event loop: the board fed as AMI messages arrive,
a timer per ring for the moment it passes the limit, and the pushes to open pages (Server-Sent
Events) and to the alert channels.

The limit moment is scheduled when the ring starts (``loop.call_at``), not discovered by polling,
so the alert leaves within milliseconds of the limit.  Board changes other than alerts are pushed
at most every 100 ms (coalesced): a busy center sends hundreds of AMI events a second.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from callmon.live.alerts import AlertSender
from callmon.live.board import Board, Today
from callmon.masking import mask_number
from callmon.sources.ami_protocol import Message

PUSH_EVERY = 0.1
QUEUE_SIZE = 256


class LiveHub:
    def __init__(self, board: Board, alerts: AlertSender, tz: ZoneInfo) -> None:
        self.board, self.alerts, self.tz = board, alerts, tz
        self.subscribers: set[asyncio.Queue[tuple[str, Any]]] = set()
        self.alerts_raised = 0
        self._push_pending = False

    # -- fed by the daemon (on its loop)
    def on_message(self, message: Message, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._today(now)
        if not self.board.feed(message, now):
            return
        if message.get("Event") == "AgentCalled":
            call = self.board.calls.get(message.get("Linkedid") or "")
            if call is not None and call.ring_started is not None:
                loop = asyncio.get_running_loop()
                delay = call.ring_started + self.board.limit_seconds - time.time()
                loop.call_at(loop.time() + max(0.0, delay), self._limit, call.linkedid, call.ring_id)
        self._schedule_push()

    def start_today(self, answered: int, within: int, abandoned: int, now: float | None = None) -> None:
        """Today's figures so far, from the store (the daemon may start mid-day)."""
        day = self._day(time.time() if now is None else now)
        self.board.today = Today(day, answered, within, abandoned)

    def _day(self, now: float) -> str:
        return datetime.fromtimestamp(now, self.tz).strftime("%Y-%m-%d")

    def _today(self, now: float) -> None:
        day = self._day(now)
        if self.board.today.day != day:
            self.board.today = Today(day)

    def _limit(self, linkedid: str, ring_id: int) -> None:
        call = self.board.calls.get(linkedid)
        if call is None or call.ring_id != ring_id or call.operator is None or call.over_limit:
            return
        call.over_limit, call.alerted_at = True, time.time()
        self.alerts_raised += 1
        alert = {"linkedid": linkedid, "operator": call.operator, "queue": call.queue,
                 "caller": mask_number(call.caller), "ring_started": call.ring_started,
                 "crossed_at": call.alerted_at, "limit_seconds": self.board.limit_seconds}
        self._publish("alert", alert)
        self._publish("state", self.board.snapshot())
        self.alerts.send(alert)  # a loop timer: always on the running loop

    # -- pushes
    def _schedule_push(self) -> None:
        if self._push_pending or not self.subscribers:
            return
        self._push_pending = True
        asyncio.get_running_loop().call_later(PUSH_EVERY, self._push)

    def _push(self) -> None:
        self._push_pending = False
        self._publish("state", self.board.snapshot())

    def _publish(self, kind: str, data: Any) -> None:
        for queue in list(self.subscribers):
            try:
                queue.put_nowait((kind, data))
            except asyncio.QueueFull:  # a page that stopped reading: it gets a fresh state when it catches up
                pass

    def subscribe(self) -> asyncio.Queue[tuple[str, Any]]:
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        queue.put_nowait(("state", self.board.snapshot()))
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[tuple[str, Any]]) -> None:
        self.subscribers.discard(queue)

    def close(self) -> None:
        """End every open stream (the daemon is stopping: its HTTP server must not wait on them)."""
        for queue in list(self.subscribers):
            try:
                queue.put_nowait(("close", None))
            except asyncio.QueueFull:
                queue.get_nowait()
                queue.put_nowait(("close", None))
