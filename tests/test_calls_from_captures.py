"""Every call of the real Asterisk captures against scenarios.json's ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from callmon.calls.record import REPLAY_JSON_KEYS
from callmon.calls.rings import RingPolicy
from tests.callbuilders import records_from_capture
from tests.conftest import ASTERISK, all_ground_truth_calls

TOLERANCE_S = 0.050
CALLS = all_ground_truth_calls()


@pytest.fixture(scope="module")
def built() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(ASTERISK.glob("ami-capture-*.raw")):
        out[path.name] = {k: v for k, v in records_from_capture(path).items()}
    return out


@pytest.mark.parametrize(("capture", "truth"), CALLS, ids=[c["tag"] for _, c in CALLS])
def test_call_matches_ground_truth(built: dict[str, dict[str, Any]], capture: str, truth: dict[str, Any]) -> None:
    record = built[capture][truth["ami"]["Linkedid"]]
    measured = truth["measured_from_timestamps"]
    assert record.caller == truth["caller_number"]
    assert record.operator == truth["answered_by"]
    assert record.abandoned == truth["abandoned"]
    assert (record.answered_us is not None) == truth["answered"]
    assert [r.operator for r in record.operators_rung] == truth["operators_rung"]
    no_answer = [r.operator for r in record.operators_rung if r.outcome == "no_answer"]
    assert no_answer == [x["operator"] for x in truth["ring_no_answer"]]
    for ring in record.operators_rung:
        if ring.outcome == "no_answer":
            expected_ms = next(x["RingTime"] for x in truth["ring_no_answer"] if x["operator"] == ring.operator)
            assert ring.ring_ms is not None and abs(ring.ring_ms - expected_ms) <= TOLERANCE_S * 1000
    _close(record.ring_ms, measured["ring_s (AgentCalled->AgentConnect)"])
    _close(record.wait_ms, measured["wait_s (QueueCallerJoin->AgentConnect)"])
    _close(record.talk_ms, measured["talk_s (AgentConnect->AgentComplete)"])
    _close(record.abandoned_after_ms, measured["abandon_wait_s (QueueCallerJoin->QueueCallerAbandon)"])
    assert record.offered_us is not None
    assert abs(record.offered_us / 1e6 - measured["queue_join_ts"]) < TOLERANCE_S
    if measured["connect_ts"] is not None:
        assert record.answered_us is not None
        assert abs(record.answered_us / 1e6 - measured["connect_ts"]) < TOLERANCE_S
    assert record.transferred == (truth["transferred_to"] is not None)
    if truth["transferred_to"]:
        assert record.transfer_target == truth["transferred_to"]
    assert record.queue == "110"
    assert not record.incomplete, record.incomplete_reasons
    assert record.timed_by == "event"
    expected_recordings = {Path(p).name for p in truth.get("recordings", []) + truth.get("recordings_not_kept", [])}
    assert {Path(p).name for p in record.recordings} == expected_recordings


def _close(ms: int | None, seconds: float | None) -> None:
    if seconds is None:
        assert ms is None
    else:
        assert ms is not None and abs(ms / 1000 - seconds) <= TOLERANCE_S, (ms, seconds)


def test_each_capture_yields_exactly_its_calls(built: dict[str, dict[str, Any]], scenarios: dict[str, Any]) -> None:
    for cap in scenarios["captures"].values():
        assert sorted(built[cap["file"]]) == sorted(c["ami"]["Linkedid"] for c in cap["calls"])


def test_rings_and_limit_follow_the_cadence(built: dict[str, dict[str, Any]]) -> None:
    by_caller = {r.caller: r for calls in built.values() for r in calls.values()}
    # ring02 -> 1 ring, ring07 -> 2, ring12 -> 3 (still within 3 under the lenient reading), ring30 -> 7
    assert [(by_caller[c].rings, by_caller[c].within_limit) for c in
            ("13951000002", "13951000007", "13951000012", "13951000030")] == [
        (1, True), (2, True), (3, True), (7, False)]
    strict = records_from_capture(ASTERISK / "ami-capture-ring12-partial.raw", RingPolicy(reading="strict"))
    (only,) = strict.values()
    assert only.rings == 3 and only.within_limit is False  # 12.02 s > 11 s: the 3rd ring had ended


def test_operator_who_let_it_ring_carries_the_violation(built: dict[str, dict[str, Any]]) -> None:
    record = built["ami-capture-ringnoanswer.raw"]["1795358016.0"]
    first, second = record.operators_rung
    assert (first.operator, first.outcome, first.within_limit, first.rings) == ("op1001", "no_answer", False, 8)
    assert (second.operator, second.outcome, second.within_limit) == ("op1002", "answered", True)
    assert record.within_limit is True  # the answering operator kept the limit; the caller still waited 44 s
    assert record.wait_ms is not None and record.wait_ms > 44_000


def test_json_has_exactly_the_documented_keys(built: dict[str, dict[str, Any]]) -> None:
    record = built["ami-capture-ring02-compliant.raw"]["1795357773.0"]
    data = record.to_json()
    assert tuple(data) == REPLAY_JSON_KEYS
    assert data["offered_at"] == "2026-11-22T14:29:33.904+00:00"
    assert data["ring_seconds"] == 2.007
    assert list(data["operators_rung"][0]) == ["operator", "rung_at", "ring_seconds", "outcome"]
