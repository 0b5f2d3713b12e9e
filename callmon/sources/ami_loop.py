"""The AMI connection kept up around the clock: log in, snapshot, read, reconnect with backoff.

Why apart from the daemon: the reconnect policy (one log line per outage, doubling backoff with
jitter, an interruptible wait, only ``AmiConnectionLost`` retried; ``AmiAuthError`` ends it
loudly) is the source's business; the daemon only hears events, gaps and snapshots in order.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from callmon.config import AmiConfig
from callmon.sources.ami_client import AmiConnectionLost, AmiSession
from callmon.sources.ami_protocol import Message

log = logging.getLogger(__name__)


def now_us() -> int:
    return time.time_ns() // 1000


class AmiConnection:
    """Sessions one after another until ``stop`` is set; ``put("gap" | "snapshot", payload, at_us)``."""

    def __init__(self, ami: AmiConfig, stop: asyncio.Event, on_event: Callable[[Message, int], None],
                 put: Callable[[str, Any, int], None]) -> None:
        self.ami, self.stop, self.on_event, self.put = ami, stop, on_event, put
        self.connected = False
        self.sessions = 0

    async def run(self) -> None:
        ami = self.ami
        delay = ami.reconnect_min
        outage_since: float | None = None
        attempts = 0
        while not self.stop.is_set():
            try:
                session = await AmiSession.open(
                    ami.host, ami.port, ami.username, ami.secret.reveal(), timeout=ami.connect_timeout,
                    ping_interval=ami.ping_interval, ping_timeout=ami.ping_timeout)
            except AmiConnectionLost as exc:
                attempts += 1
                if outage_since is None:
                    outage_since = time.monotonic()
                    log.warning("AMI unavailable: %s; retrying with backoff up to %g s", exc, ami.reconnect_max)
                await self.sleep(delay)
                delay = min(delay * 2, ami.reconnect_max) * random.uniform(0.9, 1.1)
                continue
            if outage_since is not None:
                log.info("AMI connected again after %.0f s (%d attempts)", time.monotonic() - outage_since, attempts)
            else:
                log.info("AMI connected to %s:%d (Asterisk Call Manager/%s)", ami.host, ami.port, session.version)
            outage_since, attempts, delay = None, 0, ami.reconnect_min
            self.connected = True
            self.sessions += 1
            try:
                await self._session(session)
            except AmiConnectionLost as exc:
                outage_since = time.monotonic()
                log.warning("AMI connection lost: %s; reconnecting", exc)
                self.put("gap", str(exc), now_us())
            finally:
                self.connected = False
                session.close()

    async def _session(self, session: AmiSession) -> None:
        runner = asyncio.create_task(session.run(self.on_event))
        try:
            snapshot = await session.snapshot()
            self.put("snapshot", snapshot, now_us())
            await runner
        except asyncio.CancelledError:
            await session.logoff()
            raise
        finally:
            runner.cancel()

    async def sleep(self, seconds: float) -> bool:
        """Wait, or less if asked to stop; True when asked to stop."""
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True
