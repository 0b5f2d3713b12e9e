"""``callmon run``: live AMI events into the store, around the clock.

One task reads AMI (reconnecting with backoff, one log line per outage), one
feeds the pipeline and flushes it to the database off the event loop.  After
every login the channels in progress are snapshotted so calls that started or
ended while disconnected are marked incomplete instead of guessed.  Calls in
progress when callmon last stopped are restored from their stored events.
SIGTERM stops reading, writes everything received, and exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from callmon import recovery
from callmon.backfill import QueueLogBackfill
from callmon.calls.tracker import CallTracker, snapshot_by_call
from callmon.config import Config
from callmon.live.alerts import AlertSender
from callmon.live.board import Board
from callmon.live.hub import LiveHub
from callmon.ops.systemd import Notifier
from callmon.pipeline import CallPipeline
from callmon.recovery import spool_item
from callmon.sources.ami_loop import AmiConnection
from callmon.sources.ami_protocol import Message
from callmon.sources.serial_run import SerialRun
from callmon.sources.serial_spec import parse_patterns, parse_spec
from callmon.store.db import db_reason
from callmon.store.repository import Store
from callmon.store.spool import Spool
from callmon.web.embedded import http_server

log = logging.getLogger(__name__)


class Daemon:
    """The live listener: AMI session loop plus the pipeline consumer."""

    def __init__(self, cfg: Config, store: Store) -> None:
        self.cfg = cfg
        self.store = store
        ami = cfg.ami
        self.pipeline = CallPipeline(
            store, cfg.rings.policy(), pbx=ami.pbx, source=f"ami:{ami.host}:{ami.port}",
            tracker=CallTracker(cfg.calls.ttl_seconds, cfg.calls.grace_seconds),
            batch_events=cfg.store.batch_events)
        self.pipeline.spool_name = f"ami:{ami.pbx}"
        self.pipeline.hold_on_store_error = True  # a database outage is waited out, not fatal
        self.spool = Spool(recovery.spool_dir(cfg.spool.dir, cfg.database.url),
                           segment_bytes=cfg.spool.segment_mb * 1024 * 1024, fsync_seconds=cfg.spool.fsync_seconds)
        self.backfill = QueueLogBackfill(cfg.ami.queue_log, self.pipeline, store, ami.pbx, cfg.tz) \
            if cfg.ami.queue_log else None
        self._gap_since: int | None = None  # when AMI was last seen before the current gap (Asterisk's clock)
        self._backfill_window: tuple[int, int] | None = None
        # In arrival order, each on disk (its spool number, 0 if the spool could not take it) before it is
        # queued: ("event", Message), ("gap", detail) or ("snapshot", [Message]).
        self.queue: asyncio.Queue[tuple[str, Any, int, int]] = asyncio.Queue()
        self.stop = asyncio.Event()
        self.ami = AmiConnection(ami, self.stop, self._on_event, self._put)
        self.notifier = Notifier()
        self.live = LiveHub(Board(cfg.rings.policy()), AlertSender(cfg.alerts), cfg.tz)
        self.events_received = 0
        self.last_event_at: float | None = None
        self.beat = time.monotonic()  # the consumer's last turn: the loop is alive while it moves
        self._handlers: dict[str, Callable[[Any, int], None]] = {
            "event": self.pipeline.feed, "gap": self._gap, "snapshot": self._snapshot}

    def _on_event(self, message: Message, received_us: int) -> None:
        self.events_received += 1
        self.last_event_at = time.monotonic()
        self._put("event", message, received_us)
        try:
            self.live.on_message(message)  # the wallboard hears it now, not after the store
        except Exception:
            log.exception("wallboard: could not apply %s", message.get("Event"))

    def _put(self, kind: str, payload: Any, at_us: int) -> None:
        """Spool, then queue: what was received survives a kill -9 or a database outage."""
        self.queue.put_nowait((kind, payload, at_us, spool_item(self.spool, kind, payload, at_us)))

    # what /readyz and /metrics read (ops.health.DaemonState)
    @property
    def store_ok(self) -> bool:
        return self.pipeline.store_ok

    @property
    def spool_ok(self) -> bool:
        return self.spool.ok

    @property
    def ami_connected(self) -> bool:
        return self.ami.connected

    @property
    def reconnects(self) -> int:
        return max(0, self.ami.sessions - 1)

    @property
    def calls_in_progress(self) -> int:
        return self.pipeline.tracker.in_progress

    @property
    def calls_finished(self) -> int:
        return self.pipeline.calls_done

    @property
    def calls_incomplete(self) -> int:
        return self.pipeline.calls_incomplete

    @property
    def ring_limit_violations(self) -> dict[str, int]:
        return dict(self.pipeline.ring_limit_violations)

    @property
    def last_event_age(self) -> float | None:
        return None if self.last_event_at is None else time.monotonic() - self.last_event_at

    @property
    def write_backlog(self) -> int:
        return self.pipeline.backlog

    def _apply(self, kind: str, payload: Any, at_us: int, seq: int) -> None:
        self._handlers[kind](payload, at_us)
        if seq:
            self.pipeline.position = seq

    def _gap(self, detail: str, at_us: int) -> None:
        self.pipeline.gap(at_us, detail)
        if self._gap_since is None:
            self._gap_since = min(self.pipeline.last_event_us or at_us, at_us)

    def _snapshot(self, messages: list[Message], at_us: int) -> None:
        self.pipeline.reconcile(snapshot_by_call(messages, at_us), at_us)
        if self._gap_since is not None:  # what began and ended in the gap is only in queue_log
            self._backfill_window, self._gap_since = (self._gap_since, at_us), None

    def _run_backfill(self) -> None:
        window, self._backfill_window = self._backfill_window, None
        if self.backfill is not None and window is not None:
            try:
                self.backfill.run(*window)
            except SQLAlchemyError:
                self._backfill_window = window  # the database went away meanwhile: again when it is back

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT (returns 0) or a login is refused (raises AmiAuthError)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        recovered = await self._recover()
        if recovered is None:  # asked to stop while waiting for the database
            return 0
        restored, replayed = recovered
        # read before the AMI session starts: an await here, while the first session logs in and
        # snapshots, made a drop in those first milliseconds leave a call open (test_drop_in_the_middle...)
        self.live.start_today(*await asyncio.to_thread(self.store.today_counts, self.cfg.tz))
        if restored or replayed:
            log.info("resumed %d call(s) in progress from the store", self.pipeline.tracker.in_progress)
        consumer = asyncio.create_task(self._consume())
        reader = asyncio.create_task(self.ami.run())
        stopper = asyncio.create_task(self.stop.wait())
        serial_stop, serial_threads = self._start_serial()
        web = http_server(self.cfg, self.store.engine, self, self.live)  # health, metrics; the review UI when enabled
        web_task = asyncio.create_task(self._serve_http(web))
        # the store is open and the AMI loop (login or its retries) has started: ready
        self.notifier.ready(self.status_line())
        keeper = asyncio.create_task(self._keep_alive())
        try:
            done, _ = await asyncio.wait({reader, stopper, consumer}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise AmiAuthError or a store failure
        finally:
            self.notifier.stopping()
            keeper.cancel()
            await self.live.alerts.drain()
            reader.cancel()
            stopper.cancel()
            self.live.close()  # open wallboards end their streams, so the server can stop
            web.should_exit = True
            await asyncio.gather(web_task, return_exceptions=True)
            await asyncio.gather(reader, return_exceptions=True)
            serial_stop.set()  # each serial source stores its complete calls, then its open ones as incomplete
            for thread in serial_threads:
                await asyncio.to_thread(thread.join, 10)
            self.stop.set()
            self.queue.put_nowait(("stop", None, 0, 0))  # after every event already received
            await asyncio.gather(consumer, return_exceptions=True)
            self._drain()
            self.pipeline._retry_at = 0.0  # one last attempt now, whatever the backoff said
            if await asyncio.to_thread(self.pipeline.flush):
                self.spool.release(self.pipeline.stored_position)
            else:
                log.error("stopping with the database unavailable: %d event(s) stay in the spool %s and are "
                          "stored at the next start", self.pipeline.backlog, self.spool.dir)
            self.spool.close()
            log.info("stopped: %d events, %d calls stored this run", self.pipeline.events_seen,
                     self.pipeline.calls_done)
        return 0

    def _start_serial(self) -> tuple[threading.Event, list[threading.Thread]]:
        """One thread per ``[serial] sources`` device: its own reader, parser and store writes."""
        stop, threads = threading.Event(), []
        patterns = parse_patterns(self.cfg.serial.patterns)
        for text in self.cfg.serial.sources:
            run = SerialRun(parse_spec(text, tuple(patterns)), self.cfg.rings.policy(), self.cfg.tz, self.store,
                            patterns=patterns, gap_seconds=self.cfg.serial.gap_seconds)
            thread = threading.Thread(target=run.serve, args=(stop,), name=f"serial {run.spec.port}", daemon=True)
            thread.start()
            threads.append(thread)
            log.info("serial source %s (%s) started", run.spec.port, run.spec.protocol)
        return stop, threads

    async def _serve_http(self, server: Any) -> None:
        """The HTTP server; if it cannot start (the port is taken) the daemon goes on without it."""
        try:
            await server.serve()
        except SystemExit:  # uvicorn's way of saying it could not bind
            log.error("HTTP server could not start on %s:%d: /healthz, /readyz and /metrics are unavailable",
                      self.cfg.http.host, self.cfg.http.port)

    def status_line(self) -> str:
        ami = self.cfg.ami
        state = f"AMI connected to {ami.host}:{ami.port}" if self.ami.connected else "AMI not connected"
        return (f"{state}; {self.pipeline.tracker.in_progress} call(s) in progress; "
                f"{self.pipeline.calls_done} stored this run; write backlog {self.pipeline.backlog} event(s)")

    async def _keep_alive(self) -> None:
        """WATCHDOG=1 at half the watchdog interval, only while the consumer keeps turning (it wakes at
        least every flush interval), and the STATUS line when it changed."""
        interval = min(5.0, self.notifier.watchdog_seconds / 2) if self.notifier.watchdog_seconds else 5.0
        stale_after = max(3 * self.cfg.store.flush_seconds, interval * 2, 1.0)
        while True:
            await asyncio.sleep(interval)
            if time.monotonic() - self.beat <= stale_after:
                if self.notifier.watchdog_seconds:
                    self.notifier.watchdog()
            else:
                log.warning("event consumer stalled for %.0f s: not telling systemd we are alive",
                            time.monotonic() - self.beat)
            self.notifier.status(self.status_line())

    async def _recover(self) -> tuple[int, int] | None:
        """Calls in progress at the last stop (database), then the spool's items the database lacks.

        Waits, not ready, while the database cannot be reached: nothing can be judged without it.
        """
        delay = 1.0
        while True:
            try:
                done = await asyncio.to_thread(recovery.start, self.pipeline, self.spool, self.store,
                                               self.cfg.ami.pbx)
                _, stored_at = await asyncio.to_thread(self.store.spool_mark_at, self.pipeline.spool_name or "")
                if stored_at is not None:  # not the first start: what happened while stopped is in queue_log
                    self._gap_since = max(stored_at, self.pipeline.last_event_us)
                self.pipeline.store_error = None
                return done
            except SQLAlchemyError as exc:
                reason = db_reason(exc)
                log.error("database unavailable at start: %s; retrying in %.0f s", reason, delay)
                self.pipeline.store_error = reason
                if await self._sleep(delay):
                    return None
                delay = min(delay * 2, 30.0)

    def _drain(self) -> None:
        while not self.queue.empty():
            kind, payload, at_us, seq = self.queue.get_nowait()
            if kind != "stop":
                self._apply(kind, payload, at_us, seq)

    async def _consume(self) -> None:
        flush_every = self.cfg.store.flush_seconds
        last_flush = last_sweep = time.monotonic()
        while True:
            self.beat = time.monotonic()
            try:
                kind, payload, at_us, seq = await asyncio.wait_for(self.queue.get(), timeout=flush_every)
                if kind == "stop":
                    return
                self._apply(kind, payload, at_us, seq)
                if self._backfill_window is not None and self.pipeline.store_ok:
                    await asyncio.to_thread(self._run_backfill)
            except TimeoutError:
                pass
            now = time.monotonic()
            if now - last_sweep >= 60:
                self.pipeline.sweep()
                last_sweep = now
            if self.pipeline.backlog and (now - last_flush >= flush_every or self.queue.empty()):
                if await asyncio.to_thread(self.pipeline.flush):
                    self.spool.release(self.pipeline.stored_position)
                last_flush = now

    async def _sleep(self, seconds: float) -> bool:
        return await self.ami.sleep(seconds)
