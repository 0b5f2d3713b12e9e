"""queue_log backfill: reading the file's tail, records from queue_log lines, and never a call twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from callmon.backfill import QueueLogBackfill, read_since
from callmon.calls.builder import build_call
from callmon.calls.queue_log_calls import REASON, queue_log_event
from callmon.calls.record import CallRecord
from callmon.calls.rings import RingPolicy
from callmon.loadgen.queue_log import queue_log_lines
from callmon.pipeline import CallPipeline
from callmon.sources.ami_protocol import Message, parse
from callmon.store.db import open_store
from callmon.store.repository import Store
from tests.conftest import ASTERISK


def frames(name: str) -> list[Message]:
    items, _ = parse((ASTERISK / name).read_bytes(), expect_banner=True)
    return [m for m in items if isinstance(m, Message) and m.kind == "Event"]


def test_read_since_returns_the_lines_from_that_second_on(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    lines = [f"{1_795_000_000 + n}|17950.{n}|110|NONE|ENTERQUEUE||139{n:08d}|1" for n in range(5000)]
    path.write_text("\n".join(lines) + "\n")
    for since in (1_795_000_000, 1_795_002_345, 1_795_004_999):
        got, offset = read_since(path, since, block=4096)
        assert got == lines[since - 1_795_000_000:]
        assert path.read_bytes()[offset:].decode().splitlines() == got
    assert read_since(path, 1_795_009_999)[0] == []


@pytest.mark.parametrize("capture", ["ami-capture-ring07-noncompliant.raw", "ami-capture-ring30-noncompliant.raw",
                                     "ami-capture-abandon.raw", "ami-capture-ringnoanswer.raw"])
def test_a_call_from_its_queue_log_lines_agrees_with_the_ami_record(capture: str) -> None:
    policy = RingPolicy()
    messages = frames(capture)
    records: list[CallRecord] = []
    pipeline = CallPipeline(None, policy, on_call=records.append)
    for message in messages:
        pipeline.feed(message, 1)
    pipeline.end_of_stream("end")
    (ami,) = [r for r in records if r.queue]
    lines = [line for _, line in queue_log_lines(messages)]
    callid = lines[0].split("|")[1]
    events = [queue_log_event(callid, line, int(line.split("|")[0])) for line in lines if f"|{callid}|" in line]
    record = build_call(callid, events, policy)
    assert record.incomplete and record.incomplete_reasons == [REASON] and record.timed_by == "queue_log"
    assert (record.outcome, record.operator, record.caller) == (ami.outcome, ami.operator, ami.caller)
    if ami.ring_ms is not None:
        assert record.ring_ms == ami.ring_ms // 1000 * 1000  # whole seconds, rounded down by Asterisk
        assert record.within_limit == ami.within_limit
    assert record.abandoned == ami.abandoned


def test_backfill_stores_only_what_was_not_seen_and_only_once(tmp_path: Path) -> None:
    store = Store(open_store(f"sqlite:///{tmp_path}/c.db"), transcribe=False)
    pipeline = CallPipeline(store, RingPolicy())
    seen_call, missed_call = frames("ami-capture-ring07-noncompliant.raw"), frames("ami-capture-ring02-compliant.raw")
    for message in seen_call:
        pipeline.feed(message, 1)
    pipeline.flush()
    path = tmp_path / "queue_log"
    path.write_text("".join(line + "\n" for _, line in sorted(queue_log_lines(seen_call + missed_call))))
    backfill = QueueLogBackfill(str(path), pipeline, store, "asterisk")
    assert backfill.run(1_795_000_000_000_000, 1_795_400_000_000_000) == 1
    pipeline.flush()
    again = QueueLogBackfill(str(path), CallPipeline(store, RingPolicy()), store, "asterisk")  # after a restart
    assert again.run(1_795_000_000_000_000, 1_795_400_000_000_000) == 0
    records = {r.linkedid: r for r in store.calls()}
    assert len(records) == 2 and sum(r.timed_by == "queue_log" for r in records.values()) == 1


def test_backfill_reads_asterisks_realtime_queue_log_table(tmp_path: Path, db_url: str) -> None:
    """The table Asterisk's realtime driver writes (local time, data1..data5), on SQLite and PostgreSQL."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine, insert

    tz = ZoneInfo("Asia/Shanghai")
    asterisk = create_engine(db_url)
    table = Table("queue_log", MetaData(), Column("id", Integer, primary_key=True), Column("time", DateTime),
                  *[Column(c, String(80)) for c in ("callid", "queuename", "agent", "event")],
                  *[Column(f"data{i}", String(80)) for i in range(1, 6)])
    table.create(asterisk)
    seen_call, missed_call = frames("ami-capture-ring07-noncompliant.raw"), frames("ami-capture-ring02-compliant.raw")
    rows = []
    for _, line in sorted(queue_log_lines(seen_call + missed_call)):
        epoch, callid, queue, agent, event, *data = line.split("|")
        rows.append({"time": datetime.fromtimestamp(int(epoch), tz).replace(tzinfo=None), "callid": callid,
                     "queuename": queue, "agent": agent, "event": event,
                     **{f"data{i + 1}": v for i, v in enumerate(data)}})
    with asterisk.begin() as conn:
        conn.execute(insert(table), rows)
    asterisk.dispose()
    store = Store(open_store(f"sqlite:///{tmp_path}/c.db"), transcribe=False)
    pipeline = CallPipeline(store, RingPolicy())
    for message in seen_call:
        pipeline.feed(message, 1)
    backfill = QueueLogBackfill(f"{db_url}#queue_log", pipeline, store, "asterisk", tz)
    assert backfill.run(1_795_000_000_000_000, 1_795_400_000_000_000) == 1
    pipeline.flush()
    (rebuilt,) = [r for r in store.calls() if r.timed_by == "queue_log"]
    (lines,) = [e for e in store.call_events("asterisk", rebuilt.linkedid)][:1]
    assert rebuilt.operator == "op1001" and rebuilt.outcome == "answered" and rebuilt.within_limit is True
    assert (lines.get("Line") or "").endswith("|ENTERQUEUE||13951000002|1")


def test_seen_calls_forget_what_is_hours_old_on_the_streams_clock() -> None:
    """A day of calls must not grow the index: found by bench/bench_day_memory.py (1.6 KB a call)."""
    from callmon.calls.seen import SeenCalls
    from tests.callbuilders import ev

    seen = SeenCalls(keep_hours=1)
    for n in range(100):  # one call a minute for 100 minutes
        t = 1_795_000_000 + 60 * n
        seen.note(ev("Newchannel", t, Uniqueid=f"{t}.1", Linkedid=f"{t}.0", CallerIDNum=f"1390000{n:04d}"), f"{t}.0")
    assert len(seen._spans) == 61 and len(seen.channels) == 61
    last = 1_795_000_000_000_000 + 99 * 60_000_000
    assert seen.knows("x", "13900000099", last, last)
    assert not seen.knows("1795000000.1", "13900000000", 1_795_000_000_000_000, 1_795_000_000_000_000)


def test_callmons_own_markers_do_not_move_the_seen_index_clock() -> None:
    """A gap marker stamped with the wall clock (a day after a replayed day) must not expire every call:
    found by the kill -9 fault test, where restored calls were then backfilled a second time."""
    from callmon.calls.events import GAP, marker
    from callmon.calls.seen import SeenCalls
    from tests.callbuilders import ev

    seen = SeenCalls(keep_hours=6)
    t = 1_795_000_000
    seen.note(ev("NewCallerid", t, Uniqueid=f"{t}.1", Linkedid=f"{t}.0", CallerIDNum="13900000001"), f"{t}.0")
    seen.note(marker(GAP, f"{t}.0", (t + 30 * 3600) * 1_000_000), f"{t}.0")
    assert seen.knows("other", "13900000001", t * 1_000_000, (t + 40) * 1_000_000)
