"""The local durable spool: numbered items survive, torn tails are named and cut, stored segments go."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callmon.calls.rings import RingPolicy
from callmon.calls.tracker import linkedids_of
from callmon.pipeline import CallPipeline
from callmon.recovery import decode_payload, encode_payload, spool_dir, start
from callmon.sources.ami_protocol import Message, parse
from callmon.store.db import create_db_engine, open_store
from callmon.store.models import RawEvent
from callmon.store.repository import Store
from callmon.store.spool import Item, Spool, _first_seq, read_segment
from tests.conftest import ASTERISK

CAPTURE = ASTERISK / "ami-capture-ring07-noncompliant.raw"


def messages() -> list[Message]:
    items, _ = parse(CAPTURE.read_bytes(), expect_banner=True)
    return [m for m in items if isinstance(m, Message) and m.kind == "Event"]


def of_calls(frames: list[Message]) -> int:
    """How many of the frames belong to a call (the others are not stored as call evidence)."""
    return sum(1 for m in frames if linkedids_of(m))


def test_items_come_back_in_order_after_the_mark(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    assert list(spool.recover(0)) == []
    seqs = [spool.append("event", 1000 + i, f"payload {i}".encode()) for i in range(10)]
    assert seqs == list(range(1, 11))
    spool.close()
    again = Spool(tmp_path)
    items = list(again.recover(4))
    assert [i.seq for i in items] == list(range(5, 11))
    assert items[0] == Item(5, "event", 1004, b"payload 4")
    assert again.append("gap", 1, b"x") == 11  # numbering goes on after the last item on disk


def test_numbering_stays_above_the_database_mark_when_the_spool_was_wiped(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    assert list(spool.recover(500)) == []
    assert spool.append("event", 0, b"a") == 501


def test_a_torn_tail_is_named_with_file_and_byte_and_cut_off(tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path)
    list(spool.recover(0))
    for i in range(3):
        spool.append("event", i, b"frame %d" % i)
    spool.close()
    (segment,) = spool.segments()
    whole = segment.stat().st_size
    with segment.open("r+b") as handle:
        handle.truncate(whole - 3)  # the last record cut short, as a power loss would
    record = whole // 3
    again = Spool(tmp_path)
    with caplog.at_level(logging.ERROR):
        assert [i.seq for i in again.recover(0)] == [1, 2]
    assert f"{segment}: byte {2 * record}: record 3 cut short" in caplog.text
    assert segment.stat().st_size == 2 * record
    assert again.append("event", 9, b"after") == 3
    again.close()
    items, _, problem = read_segment(again.segments()[-1])  # a fresh segment: the torn one is never appended to
    assert problem is None and [i.payload for i in items] == [b"after"]


def test_a_corrupted_record_fails_its_checksum(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path)
    list(spool.recover(0))
    for i in range(3):
        spool.append("event", i, b"frame %d" % i)
    spool.close()
    (segment,) = spool.segments()
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF
    segment.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR):
        survivors = [i.seq for i in Spool(tmp_path).recover(0)]
    assert survivors == [1] and "record 2 fails its checksum" in caplog.text


def test_segments_the_database_has_are_deleted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=200)
    list(spool.recover(0))
    for i in range(40):
        spool.append("event", i, b"x" * 50)
    assert len(spool.segments()) > 5
    spool.release(20)
    left = [_first_seq(p) for p in spool.segments()]
    assert left[0] <= 21 and all(s > 10 for s in left)
    assert [i.seq for i in Spool(tmp_path).recover(20)] == list(range(21, 41))


def test_payloads_round_trip_as_received() -> None:
    frames = messages()
    event = decode_payload(Item(1, "event", 0, encode_payload("event", frames[3])))
    assert event.headers == frames[3].headers
    snapshot = decode_payload(Item(2, "snapshot", 0, encode_payload("snapshot", frames[:5])))
    assert [m.headers for m in snapshot] == [m.headers for m in frames[:5]]
    assert decode_payload(Item(3, "gap", 0, encode_payload("gap", "AMI closed the connection"))) == \
        "AMI closed the connection"


def test_the_default_spool_sits_beside_the_sqlite_file(tmp_path: Path) -> None:
    assert spool_dir("", f"sqlite:///{tmp_path}/c.db") == tmp_path / "c.db.spool"
    assert spool_dir("", "postgresql+psycopg://u@h/db") == Path("spool")
    assert spool_dir(str(tmp_path / "s"), "sqlite:///x.db") == tmp_path / "s"


def test_a_database_outage_holds_everything_and_writes_it_once_back(tmp_path: Path) -> None:
    """A refused connection (nothing listens on port 9) is a real outage; then the database returns."""
    good = open_store(f"sqlite:///{tmp_path}/calls.db")
    store = Store(create_db_engine("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2"),
                  transcribe=False)
    pipeline = CallPipeline(store, RingPolicy())
    pipeline.spool_name, pipeline.hold_on_store_error = "ami:test", True
    frames = messages()
    for n, message in enumerate(frames, 1):
        pipeline.feed(message, 1)
        pipeline.position = n
    assert pipeline.flush() is False and not pipeline.store_ok
    held = pipeline.backlog
    assert held == of_calls(frames) + 1  # every call event and the finished call
    store.engine = good
    pipeline._retry_at = 0.0
    assert pipeline.flush() is True and pipeline.store_ok and pipeline.backlog == 0
    assert store.spool_mark("ami:test") == len(frames)
    with Session(good) as session:
        assert session.scalar(select(func.count()).select_from(RawEvent)) == of_calls(frames)
    assert [c.linkedid for c in store.calls()] == ["1795357820.0"]


def test_start_replays_what_the_database_lacks_and_nothing_twice(tmp_path: Path) -> None:
    """Half the items reached the database before a kill -9; start-up stores the rest, once."""
    engine = open_store(f"sqlite:///{tmp_path}/calls.db")
    store = Store(engine, transcribe=False)
    frames = messages()
    spool = Spool(tmp_path / "spool")
    list(spool.recover(0))
    first = CallPipeline(store, RingPolicy())
    first.spool_name = "ami:asterisk"
    half = len(frames) // 2
    for message in frames:
        seq = spool.append("event", 7, encode_payload("event", message))
        if seq <= half:
            first.feed(message, 7)
            first.position = seq
    first.flush()  # then the process dies: the second half is only in the spool
    spool.close()
    second = CallPipeline(store, RingPolicy())
    second.spool_name = "ami:asterisk"
    restored, replayed = start(second, Spool(tmp_path / "spool"), store, "asterisk")
    assert (restored, replayed) == (1, len(frames) - half)
    second.flush()
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(RawEvent).where(RawEvent.synthetic.is_(False))) \
            == of_calls(frames)
    (call,) = store.calls()
    assert call.outcome == "answered" and not call.incomplete
