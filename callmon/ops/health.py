"""What operations staff and Prometheus ask a running callmon: alive, ready, and its numbers.

``/healthz`` says the process answers; ``/readyz`` says whether it can do its job (AMI connected,
database reachable, transcription backlog under ``[http] ready_max_backlog``), 200 or 503, with
nothing but those three yes/no answers; ``/metrics`` is the Prometheus text format (the
maintained client library, a collector that reads the daemon's state at scrape time) behind a
Bearer token.  ``callmon status`` asks ``/readyz`` and prints the same.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select, text

from callmon.config import Config
from callmon.store.jobs import now_us
from callmon.store.models import Job, Score

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class DaemonState(Protocol):
    """What ``callmon run`` knows about itself (``daemon.Daemon``)."""

    @property
    def ami_connected(self) -> bool: ...
    @property
    def reconnects(self) -> int: ...
    @property
    def events_received(self) -> int: ...
    @property
    def calls_in_progress(self) -> int: ...
    @property
    def calls_finished(self) -> int: ...
    @property
    def calls_incomplete(self) -> int: ...
    @property
    def ring_limit_violations(self) -> dict[str, int]: ...
    @property
    def last_event_age(self) -> float | None: ...
    @property
    def write_backlog(self) -> int: ...
    @property
    def store_ok(self) -> bool: ...
    @property
    def spool_ok(self) -> bool: ...


def _database(engine: Engine) -> tuple[bool, int | None]:
    """(reachable, transcription jobs waiting or running)."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            waiting = conn.scalar(select(func.count()).select_from(Job)
                                  .where(Job.state.in_(("pending", "running"))))
        return True, int(waiting or 0)
    except Exception:  # noqa: BLE001  any failure to reach the database is "not ready", said plainly
        return False, None


def readiness(cfg: Config, engine: Engine, state: DaemonState | None) -> dict[str, Any]:
    """{"ready": bool, "checks": {"ami", "database", "backlog", "spool"}}: yes/no only, nothing more.

    "database" is no while it cannot be reached or while it refuses the daemon's writes (PostgreSQL
    stopped, the SQLite file read-only); "spool" is no while the local spool cannot be written.
    """
    reachable, waiting = _database(engine)
    checks = {
        "ami": True if state is None else state.ami_connected,  # `callmon web` alone has no AMI to judge
        "database": reachable and (state is None or state.store_ok),
        "backlog": waiting is not None and waiting <= cfg.http.ready_max_backlog,
        "spool": True if state is None else state.spool_ok,
    }
    return {"ready": all(checks.values()), "checks": checks}


class _Collector(Collector):
    def __init__(self, engine: Engine, state: DaemonState | None) -> None:
        self.engine, self.state = engine, state

    def collect(self) -> Iterator[Any]:
        s = self.state
        if s is not None:
            yield CounterMetricFamily("callmon_ami_events", "AMI events received this run", s.events_received)
            yield CounterMetricFamily("callmon_ami_reconnects", "AMI sessions re-established this run", s.reconnects)
            yield GaugeMetricFamily("callmon_ami_connected", "1 while the AMI session is up", int(s.ami_connected))
            yield GaugeMetricFamily("callmon_calls_in_progress", "calls being tracked now", s.calls_in_progress)
            yield CounterMetricFamily("callmon_calls_finished", "call records stored this run", s.calls_finished)
            yield CounterMetricFamily("callmon_calls_incomplete", "of them marked incomplete", s.calls_incomplete)
            violations = CounterMetricFamily("callmon_ring_limit_violations",
                                             "rings let pass the ring limit this run", labels=["operator"])
            for operator, n in sorted(s.ring_limit_violations.items()):
                violations.add_metric([operator], n)
            yield violations
            age = s.last_event_age
            yield GaugeMetricFamily("callmon_last_event_age_seconds", "seconds since the last AMI event",
                                    -1 if age is None else age)
            yield GaugeMetricFamily("callmon_store_write_backlog", "events and calls not yet written", s.write_backlog)
            yield GaugeMetricFamily("callmon_store_ok", "0 while the database refuses writes", int(s.store_ok))
            yield GaugeMetricFamily("callmon_spool_ok", "0 while the local spool cannot be written", int(s.spool_ok))
        yield from self._queue()

    def _queue(self) -> Iterator[Any]:
        now = now_us()
        try:
            with self.engine.connect() as conn:
                waiting = conn.scalar(select(func.count()).select_from(Job).where(Job.state == "pending")) or 0
                latency = conn.scalar(select(func.avg(Job.finished_us - Job.created_us))
                                      .where(Job.state == "done", Job.finished_us >= now - 3_600_000_000))
                checks = conn.scalar(select(func.count()).select_from(Score)
                                     .where(Score.computed_us >= now - 60_000_000)) or 0
        except Exception:  # noqa: BLE001  the scrape still shows the daemon's own numbers
            return
        yield GaugeMetricFamily("callmon_transcription_backlog", "transcription jobs waiting", int(waiting))
        yield GaugeMetricFamily("callmon_transcription_latency_seconds",
                                "mean seconds from a call's job created to done, last hour",
                                0.0 if latency is None else float(latency) / 1e6)
        yield GaugeMetricFamily("callmon_checks_per_second", "calls judged per second, last minute", checks / 60)


def ops_router(cfg: Config, engine: Engine, state: DaemonState | None = None) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(engine, state))
    started = time.monotonic()

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    def readyz() -> JSONResponse:
        result = readiness(cfg, engine, state)
        return JSONResponse(result, status_code=200 if result["ready"] else 503)

    @router.get("/metrics")
    def metrics(request: Request) -> Response:
        token = cfg.http.metrics_token.reveal()
        sent = request.headers.get("authorization", "")
        if not token:
            return Response("metrics are off: set [http] metrics_token\n", status_code=404, media_type="text/plain")
        if not secrets.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return Response("Bearer token required\n", status_code=401, media_type="text/plain",
                            headers={"WWW-Authenticate": "Bearer"})
        body = generate_latest(registry) + (
            f"# HELP callmon_uptime_seconds seconds since this server started\n# TYPE callmon_uptime_seconds gauge\n"
            f"callmon_uptime_seconds {time.monotonic() - started:.3f}\n").encode()
        return Response(body, media_type=CONTENT_TYPE)

    return router
