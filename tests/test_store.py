"""The store on SQLite and PostgreSQL: migrations, raw events first, recompute, idempotence."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from callmon.calls.builder import build_call
from callmon.calls.rings import RingPolicy
from callmon.pipeline import CallPipeline
from callmon.sources.ami_protocol import Message
from callmon.sources.replay import read_capture
from callmon.store.db import alembic_config, open_store
from callmon.store.repository import Store
from tests.conftest import ASTERISK

MIXED = ASTERISK / "ami-capture-mixed-session-autofill-no.raw"


def replay(store: Store, path: Path, policy: RingPolicy | None = None, limit: int | None = None) -> CallPipeline:
    pipeline = CallPipeline(store, policy or RingPolicy(), source=f"replay:{path.name}", batch_events=500)
    for n, item in enumerate(read_capture(path)):
        if limit is not None and n >= limit:
            break
        if isinstance(item, Message):
            pipeline.feed(item, 0)
    return pipeline


def test_migrations_create_the_schema_and_are_idempotent(db_url: str) -> None:
    engine = open_store(db_url)
    open_store(db_url)  # second start: nothing to do, no error
    tables = set(inspect(engine).get_table_names())
    assert {"calls", "operator_rings", "raw_events", "jobs", "transcripts", "scores", "alembic_version", "users",
            "web_sessions", "login_failures", "score_flags", "audit_log", "disputes", "calibration_samples",
            "calibration_verdicts"} <= tables
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == head
    indexes = {i["name"] for i in inspect(engine).get_indexes("calls")}
    assert "ix_calls_caller_first_event" in indexes  # repeat calls from one number (0004)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.execute(text("pragma journal_mode")).scalar() == "wal"


def test_replay_stores_every_call_with_its_raw_events(db_url: str) -> None:
    store = Store(open_store(db_url))
    pipeline = replay(store, MIXED)
    pipeline.end_of_stream("end")
    calls, events = store.count()
    assert calls == 10
    # every event naming a call; DeviceStateChange, QueueMemberStatus, BridgeCreate... name none
    assert pipeline.events_without_call == 182
    assert events == 1944 - 182
    stored = {r.linkedid: r for r in store.calls()}
    m06 = stored["1795357596.16"]
    assert m06.operator == "op1002" and m06.ring_ms == 6008 and m06.wait_ms == 61064
    assert [(r.operator, r.outcome) for r in m06.operators_rung] == [("op1001", "no_answer"), ("op1002", "answered")]


def test_replaying_twice_does_not_duplicate_calls(db_url: str) -> None:
    store = Store(open_store(db_url))
    for _ in range(2):
        replay(store, ASTERISK / "ami-capture-ring07-noncompliant.raw").end_of_stream("end")
    assert store.count()[0] == 1


def test_recompute_from_stored_events_gives_the_same_records(db_url: str) -> None:
    store = Store(open_store(db_url))
    replay(store, MIXED).end_of_stream("end")
    before = {r.linkedid: r.to_json() for r in store.calls()}
    strict = RingPolicy(reading="strict")
    for pbx, linkedid in store.stored_calls():
        events = store.call_events(pbx, linkedid)
        record = build_call(linkedid, events, RingPolicy())
        assert record.to_json() == before[linkedid]
        store.write_batch(pbx, [], [(build_call(linkedid, events, strict), None)], strict)
    after = {r.linkedid: r for r in store.calls()}
    assert after["1795357582.14"].within_limit is False  # 12.013 s: within 3 rings only when lenient
    assert before["1795357582.14"]["within_limit"] is True
    assert store.count()[0] == 10
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from callmon.store.models import Call

    with Session(store.engine) as session:  # a recompute keeps where each call came from
        assert set(session.scalars(select(Call.source))) == {f"replay:{MIXED.name}"}


def test_a_call_cut_off_by_the_end_of_a_capture_is_stored_incomplete(db_url: str) -> None:
    store = Store(open_store(db_url))
    pipeline = replay(store, ASTERISK / "ami-capture-ring02-compliant.raw", limit=120)
    pipeline.flush()
    assert store.count()[0] == 0
    assert store.unfinished_calls("asterisk") == ["1795357773.0"]
    pipeline.end_of_stream("capture truncated")
    (record,) = store.calls()
    assert record.incomplete and any("ended before the call did" in r for r in record.incomplete_reasons)
    assert store.unfinished_calls("asterisk") == []
    events = store.call_events("asterisk", "1795357773.0")
    assert events[-1].name == "CallmonStreamEnd"


def test_month_and_operator_filters(db_url: str) -> None:
    from zoneinfo import ZoneInfo

    from callmon.timeutil import month_range

    store = Store(open_store(db_url))
    replay(store, MIXED).end_of_stream("end")
    nov = month_range("2026-11", ZoneInfo("Asia/Shanghai"))
    assert len(store.calls(*nov)) == 10
    assert store.calls(*month_range("2026-10", ZoneInfo("Asia/Shanghai"))) == []
    op3 = store.calls(operator="op1003")
    assert sorted(r.caller or "" for r in op3) == ["13861000003", "13861000007"]
    op1 = store.calls(operator="op1001")  # answered m01 and m09, let m06 ring out
    assert sorted(r.caller or "" for r in op1) == ["13861000001", "13861000006", "13861000009"]


def test_a_late_event_rebuilds_the_finished_call_from_the_store(db_url: str) -> None:
    from tests.callbuilders import ev

    store = Store(open_store(db_url))
    pipeline = replay(store, ASTERISK / "ami-capture-ring07-noncompliant.raw")
    pipeline.flush()
    (before,) = store.calls()
    late = ev("BlindTransfer", 1795357839.0, Result="Success", TransfererLinkedid="1795357820.0",
              TransfereeLinkedid="1795357820.0", Extension="119", Context="transfer")
    pipeline.feed(late.message, 0)
    pipeline.flush()
    (after,) = store.calls()
    assert after.event_count == before.event_count + 1
    assert after.transferred and after.transfer_target == "119@transfer" and not before.transferred


def test_migrations_match_the_models(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from callmon.store.models import Base

    engine = open_store(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_upgrade_from_the_first_revision_keeps_stored_calls(db_url: str) -> None:
    from alembic import command

    from callmon.store.db import alembic_config, create_db_engine

    engine = create_db_engine(db_url)
    command.upgrade(alembic_config(engine), "0001")
    with engine.begin() as conn:
        conn.execute(text(
            "insert into calls (pbx, linkedid, source, outcome, abandoned, transferred, incomplete, "
            "incomplete_reasons, timed_by, recordings, ring_policy, event_count, computed_us) values "
            "('asterisk', '1.1', 'old', 'answered', false, false, false, '[]', 'event', '[]', '{}', 0, 0)"))
    open_store(db_url)  # the start-up upgrade to head
    (record,) = Store(engine).calls()
    assert record.linkedid == "1.1" and record.recording_roles == {}


def test_a_repeat_call_from_one_number_is_found_and_judged_owed(db_url: str) -> None:
    from sqlalchemy import select, update
    from sqlalchemy.orm import Session

    from callmon.compliance.grammar import load_grammar
    from callmon.compliance.judge import judge_call
    from callmon.store.models import Call, Score, Transcript

    store = Store(open_store(db_url))
    replay(store, MIXED).end_of_stream("end")
    with Session(store.engine) as session:
        rows = session.execute(select(Call.id, Call.linkedid, Call.caller, Call.first_event_us)
                               .where(Call.outcome == "answered").order_by(Call.first_event_us)).all()
    (first_id, first_linkedid, number, first_us), (second_id, _, _, second_us) = rows[0], rows[1]
    gap_us = second_us - first_us
    assert store.earlier_call(second_id, gap_us + 60_000_000) is None  # different numbers so far
    with Session(store.engine) as session, session.begin():
        session.execute(update(Call).where(Call.id == second_id).values(caller=number))
    assert store.earlier_call(second_id, gap_us + 60_000_000) == (first_linkedid, gap_us)
    assert store.earlier_call(second_id, gap_us - 1) is None  # outside the window
    assert store.earlier_call(first_id, 3_600_000_000) is None  # nothing before the first call

    said = [{"channel": "operator", "start": 0.5, "end": 2.0, "text": "您好常州110", "raw_text": "您好常州110",
             "confidence": 0.9, "words": []},
            {"channel": "caller", "start": 3.0, "end": 6.0, "text": "我家门口有人在砸车", "raw_text": "",
             "confidence": 0.9, "words": []}]
    with Session(store.engine) as session, session.begin():
        session.add(Transcript(call_id=second_id, channel="mixed", file="x.wav", engine="test", model="none",
                               audio_seconds=6.0, utterances=said, text="", confidence=0.9, created_us=1))
    grammar = load_grammar(Path(__file__).resolve().parents[1] / "grammars" / "changzhou-110.yaml")
    result = judge_call(store, grammar, second_id)
    assert result is not None
    repeat = next(i for i in result.items if i.id == "situation.repeat_call")
    minutes = gap_us / 60_000_000
    assert repeat.owed and not repeat.found and repeat.deduction > 0
    assert f"the same number called {minutes:.0f} min earlier (call {first_linkedid})" in (repeat.note or "")
    with Session(store.engine) as session:
        stored = session.scalars(select(Score).where(Score.call_id == second_id)).one()
        assert next(i for i in stored.items if i["id"] == "situation.repeat_call")["owed"] is True
