"""Fault tests' common ground: a generated stretch of a 110 day served in timeline mode, and the audit
of what callmon stored against the truth of what was replayed.

The audit is the issue's definition of "nothing lost": every call present exactly once (under its
Linkedid, or under its queue_log callid when it was rebuilt from queue_log), complete or marked
incomplete, nothing invented, and every call that lost a frame on the wire marked incomplete.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from callmon.loadgen.day import Day, generate_day
from callmon.loadgen.queue_log import queue_log_lines
from callmon.loadgen.scenarios import Scenario, load_scenarios
from callmon.store.db import open_store
from callmon.store.repository import Store
from tests.conftest import ASTERISK
from tests.fakeami import FakeAmiServer

_LINKEDID = re.compile(rb"^Linkedid: (\S+)\r?$", re.M)


@cache
def scenarios() -> tuple[Scenario, ...]:
    return tuple(load_scenarios(ASTERISK))


def day(hours: float, calls_per_day: float, seed: int, hour: int = 9) -> Day:
    start = datetime(2026, 11, 23, hour, tzinfo=ZoneInfo("Asia/Shanghai"))
    return generate_day(scenarios(), calls_per_day=calls_per_day, seed=seed, hours=hours, start=start, lean=True)


def serve(d: Day, tmp_path: Path, speed: float) -> tuple[FakeAmiServer, Path]:
    """Asterisk's view: one clock that runs whether callmon listens or not, and its queue_log."""
    queue_log = tmp_path / "queue_log"
    queue_log.touch()
    server = FakeAmiServer(d.raw(), realtime=True, speed=speed, lose_while_disconnected=True,
                           channels_from_replay=True, queue_entries_from_replay=True,
                           queue_log_path=queue_log, queue_log_lines=queue_log_lines(d.frames))
    return server.start(), queue_log


@dataclass
class Audit:
    calls: int
    stored: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    invented: list[str] = field(default_factory=list)
    incomplete: int = 0
    from_queue_log: int = 0
    unmarked: list[str] = field(default_factory=list)  # lost a frame yet stored as complete

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.invented or self.unmarked)

    def summary(self) -> str:
        return (f"{self.calls} calls: {self.stored} stored, {len(self.lost)} lost, {len(self.duplicated)} twice, "
                f"{len(self.invented)} invented, {self.incomplete} incomplete ({self.from_queue_log} from queue_log), "
                f"{len(self.unmarked)} with a lost frame not marked; lost {self.lost[:5]} twice "
                f"{self.duplicated[:5]} invented {self.invented[:5]} unmarked {self.unmarked[:5]}")


def frames_lost_by_call(d: Day, server: FakeAmiServer) -> set[str]:
    """Linkedids of calls with a frame that never reached callmon (sent_at NaN in timeline mode)."""
    out: set[str] = set()
    for index, at in enumerate(server.sent_at[: len(d.frames)]):
        if math.isnan(at) and (found := _LINKEDID.search(d.frames[index])):
            out.add(found.group(1).decode())
    return out


def audit(db_url: str, d: Day, lost_frames: set[str] | None = None) -> Audit:
    index: dict[str, int] = {}
    for n, t in enumerate(d.truth):
        index[t.linkedid] = n
        if t.queue_uniqueid:
            index[t.queue_uniqueid] = n
    store = Store(open_store(db_url), transcribe=False)
    seen: dict[int, list[str]] = {}
    result = Audit(len(d.truth))
    for record in store.calls():
        result.stored += 1
        n = index.get(record.linkedid)
        if n is None:
            result.invented.append(record.linkedid)
            continue
        seen.setdefault(n, []).append(record.linkedid)
        result.incomplete += record.incomplete
        result.from_queue_log += record.timed_by == "queue_log"
        if lost_frames and d.truth[n].linkedid in lost_frames and not record.incomplete:
            result.unmarked.append(record.linkedid)
    for n, t in enumerate(d.truth):
        found = seen.get(n, [])
        if not found:
            result.lost.append(t.linkedid)
        elif len(found) > 1:
            result.duplicated.append(t.linkedid)
    store.engine.dispose()
    return result
