"""The wallboard's state from real captures (pure: messages in, state out) and the alert rate limit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callmon.calls.rings import RingPolicy
from callmon.config import AlertsConfig
from callmon.live.alerts import AlertSender
from callmon.live.board import Board
from callmon.sources.ami_protocol import Message, parse
from tests.conftest import ASTERISK


def messages(capture: Path) -> list[Message]:
    items, _ = parse(capture.read_bytes(), expect_banner=False)
    return [m for m in items if isinstance(m, Message) and m.get("Event")]


def replay(board: Board, capture: Path, stop_at: str | None = None) -> list[tuple[str, float]]:
    """Feed the capture at its own times; returns (event, time) of each change up to ``stop_at``."""
    changes = []
    for m in messages(capture):
        at = float(m.get("Timestamp") or 0)
        if board.feed(m, at):
            changes.append((m.get("Event") or "", at))
        if stop_at is not None and m.get("Event") == stop_at:
            break
    return changes


def test_a_call_rings_an_operator_then_is_answered_late() -> None:
    board = Board(RingPolicy())
    replay(board, ASTERISK / "ami-capture-ring30-noncompliant.raw", stop_at="AgentCalled")
    (call,) = board.calls.values()
    assert call.caller == "13951000030" and call.queue == "110" and call.operator == "op1001"
    assert call.ring_started is not None and board.operators["op1001"].state == "ringing"
    assert board.limit_seconds == 15.0
    replay(board, ASTERISK / "ami-capture-ring30-noncompliant.raw")
    assert board.calls == {}
    assert (board.today.answered, board.today.within_limit, board.today.abandoned) == (1, 0, 0)
    assert board.operators["op1001"].state in ("idle", "talking")


def test_within_the_limit_counts_and_abandon_counts() -> None:
    board = Board(RingPolicy())
    replay(board, ASTERISK / "ami-capture-ring02-compliant.raw")
    assert (board.today.answered, board.today.within_limit) == (1, 1)
    board = Board(RingPolicy())
    replay(board, ASTERISK / "ami-capture-abandon.raw")
    assert board.today.abandoned == 1 and board.today.answered == 0 and board.calls == {}


def test_every_capture_leaves_no_call_ringing() -> None:
    """After each capture's last hangup nothing is left on the board (no ghost rows)."""
    for capture in sorted(ASTERISK.glob("ami-capture-*.raw")):
        board = Board(RingPolicy())
        replay(board, capture)
        assert board.calls == {}, capture.name


def test_member_pause_and_device_states() -> None:
    board = Board(RingPolicy())
    member = Message([("Event", "QueueMemberStatus"), ("MemberName", "op7"), ("Interface", "PJSIP/1007"),
                      ("StateInterface", "PJSIP/1007"), ("Status", "1"), ("Paused", "0")])
    assert board.feed(member, 1.0) and board.operators["op7"].state == "idle"
    ringing = Message([("Event", "DeviceStateChange"), ("Device", "PJSIP/1007"), ("State", "RINGING")])
    assert board.feed(ringing, 2.0) and board.operators["op7"].state == "ringing"
    paused = Message([("Event", "QueueMemberPause"), ("MemberName", "op7"), ("Paused", "1"), ("Status", "1")])
    board.feed(Message([("Event", "DeviceStateChange"), ("Device", "PJSIP/1007"), ("State", "NOT_INUSE")]), 3.0)
    assert board.feed(paused, 4.0) and board.operators["op7"].state == "paused"
    assert not board.feed(Message([("Event", "VarSet")]), 5.0)


def test_alerts_are_rate_limited() -> None:
    async def go() -> tuple[int, int]:
        sender = AlertSender(AlertsConfig(command="true", max_per_minute=3))
        sent = [sender.send({"linkedid": str(k)}) for k in range(5)]
        await sender.drain()
        return sum(sent), sender.dropped

    assert asyncio.run(go()) == (3, 2)


@pytest.mark.parametrize("cfg", [AlertsConfig(), AlertsConfig(max_per_minute=0, command="true")])
def test_nothing_configured_or_zero_budget_sends_nothing(cfg: AlertsConfig) -> None:
    async def go() -> bool:
        return AlertSender(cfg).send({"linkedid": "x"})

    assert asyncio.run(go()) is False
