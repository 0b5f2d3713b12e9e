"""Ring-limit alerts beyond the page: a webhook (HTTP POST of JSON) and/or a command (JSON on stdin).

Rate-limited (``[alerts] max_per_minute``, a sliding minute): a storm of late answers must not
flood a pager.  Delivery runs in the background; a failure is logged, never raised into the daemon.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import time
import urllib.request
from collections import deque
from typing import Any

from callmon.config import AlertsConfig

log = logging.getLogger(__name__)


class AlertSender:
    def __init__(self, cfg: AlertsConfig) -> None:
        self.cfg = cfg
        self.sent: deque[float] = deque()
        self.dropped = 0
        self.delivered = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._warned_at = 0.0

    @property
    def enabled(self) -> bool:
        return bool(self.cfg.webhook_url or self.cfg.command)

    def send(self, alert: dict[str, Any]) -> bool:
        """Queue one alert; False when rate-limited or nothing is configured."""
        if not self.enabled:
            return False
        now = time.monotonic()
        while self.sent and now - self.sent[0] > 60:
            self.sent.popleft()
        if len(self.sent) >= self.cfg.max_per_minute:
            self.dropped += 1
            if now - self._warned_at > 60:
                self._warned_at = now
                log.warning("ring-limit alerts rate-limited: more than %d a minute; %d dropped so far",
                            self.cfg.max_per_minute, self.dropped)
            return False
        self.sent.append(now)
        task = asyncio.get_running_loop().create_task(self._deliver(json.dumps(alert, ensure_ascii=False)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _deliver(self, body: str) -> None:
        if self.cfg.webhook_url:
            try:
                await asyncio.to_thread(self._post, body)
                self.delivered += 1
            except Exception as exc:  # noqa: BLE001  one failed delivery is logged, the daemon goes on
                log.warning("alert webhook failed: %s", exc)
        if self.cfg.command:
            try:
                proc = await asyncio.create_subprocess_exec(*shlex.split(self.cfg.command),
                                                            stdin=asyncio.subprocess.PIPE)
                await asyncio.wait_for(proc.communicate(body.encode()), self.cfg.timeout_seconds)
            except (OSError, TimeoutError) as exc:
                log.warning("alert command failed: %s", exc)

    def _post(self, body: str) -> None:
        request = urllib.request.Request(self.cfg.webhook_url, data=body.encode(), method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        with urllib.request.urlopen(request, timeout=self.cfg.timeout_seconds) as answer:
            answer.read()

    async def drain(self) -> None:
        """Wait for deliveries in flight (at shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.cfg.timeout_seconds + 1)
