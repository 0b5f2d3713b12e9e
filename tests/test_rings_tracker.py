"""Ring policy arithmetic and the call tracker's life cycle."""

from __future__ import annotations

import pytest

from callmon.calls.events import EVICTED, STREAM_END
from callmon.calls.rings import RingPolicy
from callmon.calls.tracker import CallTracker
from tests.callbuilders import ev


@pytest.mark.parametrize(("ring_ms", "rings", "lenient", "strict"), [
    (0, 1, True, True), (4999, 1, True, True), (5000, 2, True, True), (10999, 3, True, True),
    (11000, 3, True, False), (14999, 3, True, False), (15000, 4, False, False), (30032, 7, False, False),
])
def test_cadence_1s_on_4s_off(ring_ms: int, rings: int, lenient: bool, strict: bool) -> None:
    assert RingPolicy().rings(ring_ms) == rings
    assert RingPolicy().within_limit(ring_ms) is lenient
    assert RingPolicy(reading="strict").within_limit(ring_ms) is strict


def test_other_cadences_and_bad_policies() -> None:
    uk = RingPolicy(on_ms=2000, off_ms=4000, limit=4)  # 0.4 s on 0.2 on 2 s off would differ; any cadence works
    assert uk.limit_ms == 24000 and uk.rings(23999) == 4
    with pytest.raises(ValueError):
        RingPolicy(reading="loose")
    with pytest.raises(ValueError):
        RingPolicy(limit=0)


def test_tracker_finishes_on_last_hangup_and_keeps_calls_apart() -> None:
    tracker = CallTracker()
    a = [ev("Newchannel", 1, Uniqueid="a", Linkedid="a"), ev("Newchannel", 2, Uniqueid="a2", Linkedid="a")]
    b = [ev("Newchannel", 1.5, Uniqueid="b", Linkedid="b")]
    for e in a + b:
        assert tracker.add(e, e.linkedid or "") == []
    assert tracker.add(ev("Hangup", 3, Uniqueid="a2", Linkedid="a"), "a") == []
    (done,) = tracker.add(ev("Hangup", 4, Uniqueid="a", Linkedid="a"), "a")
    assert done.linkedid == "a" and len(done.events) == 4 and not done.update
    assert tracker.active_linkedids() == ["b"]
    (late,) = tracker.add(ev("Cdr", 5, Uniqueid="a", Linkedid="a"), "a")
    assert late.update and [e.name for e in late.events] == ["Cdr"]  # rebuilt from the store by the pipeline


def test_tracker_ttl_eviction_and_end_of_stream() -> None:
    tracker = CallTracker(ttl_seconds=60)
    tracker.add(ev("Newchannel", 100, Uniqueid="x", Linkedid="x"), "x")
    tracker.add(ev("Newchannel", 150, Uniqueid="y", Linkedid="y"), "y")
    assert tracker.sweep(int(159e6)) == []
    (evicted,) = tracker.sweep(int(161e6))
    assert evicted.linkedid == "x" and evicted.events[-1].name == EVICTED
    (rest,) = tracker.end_of_stream(int(170e6), "test")
    assert rest.linkedid == "y" and rest.events[-1].name == STREAM_END
    assert tracker.in_progress == 0


def test_a_gap_crossing_call_whose_last_listed_channel_hangs_up_before_the_snapshot_is_applied_ends() -> None:
    """The reconnect race: channel b vanished in the gap (no Hangup will come); a was listed by
    CoreShowChannels but hung up before the snapshot reached the tracker.  Trimming the call to the
    listed channels leaves none alive: the call must end there, not wait for the TTL."""
    tracker = CallTracker()
    tracker.add(ev("Newchannel", 1, Uniqueid="a", Linkedid="a"), "a")
    tracker.add(ev("Newchannel", 2, Uniqueid="b", Linkedid="a"), "a")
    tracker.mark_gap(int(3e6), "AMI closed the connection")
    assert tracker.add(ev("Hangup", 5, Uniqueid="a", Linkedid="a"), "a") == []  # b is still thought alive
    listed = [ev("CoreShowChannel", 4, Uniqueid="a", Linkedid="a")]
    finished, _ = tracker.reconcile({"a": listed}, int(6e6))
    assert [f.linkedid for f in finished] == ["a"] and tracker.in_progress == 0


@pytest.mark.parametrize("value", ["²", "1795357773.³", "１７９５３５７７７３", "٣", "9" * 13, "1" + "0" * 5000,
                                   "253370764800", "-1", "nan"])
def test_a_corrupt_timestamp_falls_back_to_the_receive_time(value: str) -> None:
    """Found by tests/faults: unicode digits (str.isdigit accepts them, int() may not) dropped the event,
    and a Timestamp past the year 9999 made end_of_stream and the JSON output overflow."""
    from zoneinfo import ZoneInfo

    from callmon.calls.events import make_event
    from callmon.pipeline import CallPipeline
    from callmon.sources.ami_protocol import Message

    message = Message([("Event", "Newchannel"), ("Timestamp", value), ("Uniqueid", "a"), ("Linkedid", "a")])
    event = make_event(message, 1_795_357_773_000_000)
    assert (event.ts_us, event.timed_by) == (1_795_357_773_000_000, "received")
    records: list[object] = []
    pipeline = CallPipeline(None, RingPolicy(), on_call=records.append)
    pipeline.feed(message, 1_795_357_773_000_000)
    pipeline.end_of_stream("test")
    assert pipeline.errors == 0 and len(records) == 1
    assert records[0].to_json(ZoneInfo("Asia/Shanghai"))["linkedid"] == "a"  # type: ignore[attr-defined]


def test_markers_carry_the_exact_time() -> None:
    from callmon.calls.events import GAP, marker, timestamp_us

    for us in (0, 1_795_357_773_903_577, 253_370_764_799_999_999):
        stamp = marker(GAP, "a", us).get("Timestamp")
        assert timestamp_us(stamp) == us


def test_the_ttl_sweep_runs_on_the_streams_clock() -> None:
    """A replayed day (or a PBX clock hours off) must not have every call in progress evicted as silent:
    found by the PostgreSQL outage fault test, whose replay of 2026-11-23 was swept on 2026-11-24."""
    import time as _time

    from callmon.pipeline import CallPipeline
    from callmon.sources.ami_protocol import Message

    now = _time.time_ns() // 1000
    day_old = (now - 30 * 3600 * 1_000_000) / 1e6
    pipeline = CallPipeline(None, RingPolicy(), tracker=CallTracker(ttl_seconds=3600))
    headers = [("Event", "Newchannel"), ("Timestamp", f"{day_old:.6f}"), ("Uniqueid", "a"), ("Linkedid", "a")]
    pipeline.feed(Message(headers), now)
    pipeline.sweep()
    assert pipeline.tracker.in_progress == 1
    pipeline.sweep(int(day_old * 1e6) + 3601 * 1_000_000)  # an hour of silence on that clock: evicted
    assert pipeline.tracker.in_progress == 0
