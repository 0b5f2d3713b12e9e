"""Calls that started and ended while callmon could not see AMI, from Asterisk's queue_log.

Why: after a reconnect the snapshot shows the calls still in progress, but a
call that began and ended inside the outage left no channel behind.  app_queue
wrote it to queue_log all the same.  After each snapshot that follows a gap
(and at start after callmon was not running) the lines of that window are read
from the end of the file; every finished queued call that callmon knows
neither by a channel it saw nor as a stored call is stored from its lines,
marked incomplete (``calls.queue_log_calls``).
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, tzinfo
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from callmon.calls.queue_log_calls import queue_log_event
from callmon.pipeline import CallPipeline
from callmon.sources.queue_log import QueueLogError, calls_from_queue_log, parse_queue_log
from callmon.sources.queue_log_table import QueueLogTable, is_table_source
from callmon.store.db import db_reason
from callmon.store.lookups import stored_queue_calls
from callmon.store.repository import Store

log = logging.getLogger(__name__)
MARGIN_S = 120  # queue_log has whole seconds and is written at a call's end: read a little before the gap


def read_since(path: Path, since_epoch: int, block: int = 256 * 1024) -> tuple[list[str], int]:
    """The file's lines from the first one stamped at or after ``since_epoch``, and that line's byte offset.

    Read backwards from the end in blocks: the file grows all day, the window is minutes.
    """
    with path.open("rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        start = end
        data = b""
        while start > 0:
            start = max(0, start - block)
            handle.seek(start)
            data = handle.read(end - start)
            first = data.split(b"\n", 2)[1 if start > 0 else 0] if data.count(b"\n") >= 2 else b""
            stamp = first.split(b"|", 1)[0]
            if stamp.isdigit() and int(stamp) < since_epoch:
                break
    if start > 0:
        cut = data.index(b"\n") + 1  # a partial first line
        data, start = data[cut:], start + cut
    lines = data.decode("utf-8", "replace").splitlines()
    offset = start
    for n, line in enumerate(lines):
        head = line.split("|", 1)[0]
        if head.isdigit() and int(head) >= since_epoch:
            return lines[n:], offset
        offset += len(line.encode("utf-8")) + 1
    return [], offset


class QueueLogBackfill:
    """One daemon's backfill: its queue_log file, pipeline and store."""

    def __init__(self, source: str, pipeline: CallPipeline, store: Store, pbx: str, tz: tzinfo = UTC) -> None:
        self.table = QueueLogTable(source, tz) if is_table_source(source) else None
        self.path = Path(source)
        self.pipeline, self.store, self.pbx = pipeline, store, pbx
        self.calls_backfilled = 0

    def _read(self, since_epoch: int) -> tuple[list[str], str]:
        if self.table is not None:
            return self.table.lines_since(since_epoch), self.table.describe()
        lines, offset = read_since(self.path, since_epoch)
        return lines, f"{self.path} (read from byte {offset})"

    def run(self, since_us: int, until_us: int) -> int:
        """Store the calls of [since, until] that callmon missed; return how many."""
        try:
            lines, where = self._read(since_us // 1_000_000 - MARGIN_S)
        except OSError as exc:
            log.error("queue_log %s cannot be read: %s; calls missed on AMI are not backfilled", self.path,
                      exc.strerror or exc)
            return 0
        except SQLAlchemyError as exc:
            reason = db_reason(exc)
            log.error("queue_log table cannot be read: %s; calls missed on AMI are not backfilled", reason)
            return 0
        errors: list[QueueLogError] = []
        entries = parse_queue_log(lines, errors)
        for error in errors[:5]:
            log.warning("queue_log %s: %s; line skipped", where, error)
        lo, hi = since_us // 1_000_000 - MARGIN_S, until_us // 1_000_000 + 1
        missed = [c for c in calls_from_queue_log(entries)
                  if c.end_reason is not None and c.entered_at is not None and lo <= c.entered_at <= hi
                  and not self.pipeline.seen.knows(c.callid, c.caller, c.entered_at * 1_000_000,
                                                   (c.ended_at or c.entered_at) * 1_000_000)]
        stored = stored_queue_calls(self.store.engine, self.pbx,
                                    [(c.callid, c.caller, c.entered_at * 1_000_000,
                                      (c.ended_at or c.entered_at) * 1_000_000) for c in missed
                                     if c.entered_at is not None])
        added = 0
        by_line = {e.line_no: e for e in entries}
        for call in missed:
            if call.callid in stored:
                continue
            events = [queue_log_event(call.callid, lines[n - 1], by_line[n].time) for n in call.lines]
            self.pipeline.adopt(call.callid, events)
            self.pipeline.seen.channel(call.callid, call.callid)
            added += 1
        if added:
            log.warning("queue_log: %d call(s) missed on AMI were stored from %s, marked incomplete", added,
                        self.table.describe() if self.table is not None else self.path)
        self.calls_backfilled += added
        return added
