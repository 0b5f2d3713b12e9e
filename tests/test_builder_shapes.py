"""Call shapes the captures do not show: SIP Dial ring groups, ring-all, Chinese names, gaps.

The events are written the way Asterisk 22 emits them (same event names and
keys as the real captures), with SIP channels instead of Local ones.
"""

from __future__ import annotations

from callmon.calls.builder import build_call
from callmon.calls.events import GAP, marker
from callmon.calls.rings import RingPolicy
from tests.callbuilders import ev

P = RingPolicy()
T0 = 1_800_000_000.0


def caller_channel(t: float, uid: str = "1800000000.1", state: str = "Ring") -> list:  # type: ignore[type-arg]
    return [ev("Newchannel", t, Channel="PJSIP/trunk-00000001", Uniqueid=uid, Linkedid=uid,
               CallerIDNum="13800138000", ChannelStateDesc=state)]


def test_sip_ring_group_dial_without_queue() -> None:
    lid = "1800000000.1"
    events = [*caller_channel(T0),
        ev("Newchannel", T0 + 0.1, Channel="PJSIP/1001-00000002", Uniqueid="1800000000.2", Linkedid=lid),
        ev("Newchannel", T0 + 0.1, Channel="PJSIP/1002-00000003", Uniqueid="1800000000.3", Linkedid=lid),
        ev("DialBegin", T0 + 0.2, Channel="PJSIP/trunk-00000001", Uniqueid=lid, Linkedid=lid,
           CallerIDNum="13800138000", DestChannel="PJSIP/1001-00000002", DestUniqueid="1800000000.2",
           DialString="1001"),
        ev("DialBegin", T0 + 0.2, Channel="PJSIP/trunk-00000001", Uniqueid=lid, Linkedid=lid,
           DestChannel="PJSIP/1002-00000003", DestUniqueid="1800000000.3", DialString="1002"),
        ev("DialEnd", T0 + 9.2, Channel="PJSIP/trunk-00000001", Uniqueid=lid, Linkedid=lid,
           DestChannel="PJSIP/1002-00000003", DestUniqueid="1800000000.3", DialStatus="ANSWER"),
        ev("DialEnd", T0 + 9.201, Channel="PJSIP/trunk-00000001", Uniqueid=lid, Linkedid=lid,
           DestChannel="PJSIP/1001-00000002", DestUniqueid="1800000000.2", DialStatus="CANCEL"),
        ev("Hangup", T0 + 9.21, Channel="PJSIP/1001-00000002", Uniqueid="1800000000.2", Linkedid=lid, Cause="26"),
        ev("BridgeEnter", T0 + 9.22, Channel="PJSIP/1002-00000003", Uniqueid="1800000000.3", Linkedid=lid),
        ev("BridgeLeave", T0 + 40.0, Channel="PJSIP/1002-00000003", Uniqueid="1800000000.3", Linkedid=lid),
        ev("Hangup", T0 + 40.01, Channel="PJSIP/1002-00000003", Uniqueid="1800000000.3", Linkedid=lid, Cause="16"),
        ev("Hangup", T0 + 40.02, Channel="PJSIP/trunk-00000001", Uniqueid=lid, Linkedid=lid, Cause="16",
           Cause_txt="Normal Clearing"),
    ]
    rec = build_call(lid, events, P)
    assert rec.outcome == "answered" and rec.queue is None
    assert rec.operator == "PJSIP/1002"
    assert rec.ring_ms == 9000 and rec.rings == 2 and rec.within_limit is True
    assert rec.wait_ms == 9000
    assert rec.talk_ms == 30800
    assert [(r.operator, r.outcome) for r in rec.operators_rung] == [("PJSIP/1001", "cancelled"),
                                                                      ("PJSIP/1002", "answered")]
    assert rec.hangup_cause == "16 Normal Clearing"
    assert not rec.incomplete, rec.incomplete_reasons


def test_dial_through_a_local_channel_counts_only_the_phones() -> None:
    lid = "1800000000.1"
    events = [*caller_channel(T0),
        ev("Newchannel", T0 + 0.1, Channel="Local/grp@ring-00000001;1", Uniqueid="a1", Linkedid=lid),
        ev("Newchannel", T0 + 0.1, Channel="Local/grp@ring-00000001;2", Uniqueid="a2", Linkedid=lid),
        ev("LocalBridge", T0 + 0.1, LocalOneUniqueid="a1", LocalTwoUniqueid="a2", LocalOneLinkedid=lid),
        ev("DialBegin", T0 + 0.2, Channel="PJSIP/trunk-00000001", Uniqueid=lid, Linkedid=lid,
           DestChannel="Local/grp@ring-00000001;1", DestUniqueid="a1"),
        ev("Newchannel", T0 + 0.3, Channel="PJSIP/2001-00000004", Uniqueid="p1", Linkedid=lid),
        ev("DialBegin", T0 + 0.3, Channel="Local/grp@ring-00000001;2", Uniqueid="a2", Linkedid=lid,
           DestChannel="PJSIP/2001-00000004", DestUniqueid="p1"),
        ev("DialEnd", T0 + 3.3, Channel="Local/grp@ring-00000001;2", Uniqueid="a2", Linkedid=lid,
           DestChannel="PJSIP/2001-00000004", DestUniqueid="p1", DialStatus="ANSWER"),
        ev("DialEnd", T0 + 3.31, Channel="PJSIP/trunk-00000001", Uniqueid=lid, Linkedid=lid,
           DestChannel="Local/grp@ring-00000001;1", DestUniqueid="a1", DialStatus="ANSWER"),
    ] + [ev("Hangup", T0 + 20 + i, Uniqueid=u, Linkedid=lid) for i, u in enumerate(["p1", "a2", "a1", lid])]
    rec = build_call(lid, events, P)
    assert rec.operator == "PJSIP/2001"
    assert [r.operator for r in rec.operators_rung] == ["PJSIP/2001"]
    assert rec.ring_ms == 3000 and rec.wait_ms == 3100


def test_ringall_queue_with_chinese_member_names() -> None:
    lid = "1800000000.1"
    q = {"Channel": "PJSIP/trunk-00000001", "Uniqueid": lid, "Linkedid": lid, "Queue": "110"}
    events = [*caller_channel(T0, state="Up"),
        ev("Newstate", T0 + 0.05, Channel="PJSIP/trunk-00000001", Uniqueid=lid, Linkedid=lid,
           ChannelStateDesc="Up"),  # Answer() before Queue(): the caller leg goes Up, nobody answered yet
        ev("QueueCallerJoin", T0 + 0.1, CallerIDNum="13800138000", Position="1", **q),
        ev("AgentCalled", T0 + 0.2, DestUniqueid="d1", DestChannel="PJSIP/8001-00000002",
           MemberName="张伟", Interface="PJSIP/8001", **q),
        ev("AgentCalled", T0 + 0.2, DestUniqueid="d2", DestChannel="PJSIP/8002-00000003",
           MemberName="李娜", Interface="PJSIP/8002", **q),
        ev("AgentConnect", T0 + 4.7, DestUniqueid="d2", MemberName="李娜", Interface="PJSIP/8002",
           HoldTime="4", RingTime="4", **q),
        ev("Hangup", T0 + 4.71, Uniqueid="d1", Linkedid=lid, Cause="26"),
        ev("AgentComplete", T0 + 64.7, DestUniqueid="d2", MemberName="李娜", Reason="caller", **q),
        ev("Hangup", T0 + 64.71, Uniqueid="d2", Linkedid=lid),
        ev("Hangup", T0 + 64.72, Uniqueid=lid, Linkedid=lid),
    ]
    rec = build_call(lid, events, P)
    assert rec.operator == "李娜" and rec.operator_interface == "PJSIP/8002"
    assert rec.ring_ms == 4500 and rec.wait_ms == 4600 and rec.talk_ms == 60000
    assert [(r.operator, r.outcome, r.ring_ms) for r in rec.operators_rung] == [
        ("张伟", "cancelled", 4500), ("李娜", "answered", 4500)]


def test_abandoned_while_ringing_past_the_limit() -> None:
    lid = "1800000000.1"
    q = {"Uniqueid": lid, "Linkedid": lid, "Queue": "110"}
    events = [*caller_channel(T0),
        ev("QueueCallerJoin", T0 + 0.1, CallerIDNum="13800138000", **q),
        ev("AgentCalled", T0 + 0.2, DestUniqueid="d1", MemberName="op9", **q),
        ev("QueueCallerAbandon", T0 + 20.1, HoldTime="20", **q),
        ev("Hangup", T0 + 20.11, Uniqueid="d1", Linkedid=lid),
        ev("Hangup", T0 + 20.12, Uniqueid=lid, Linkedid=lid, Cause="16"),
    ]
    rec = build_call(lid, events, P)
    assert rec.outcome == "abandoned" and rec.abandoned and rec.abandoned_after_ms == 20000
    assert rec.operator is None and rec.ring_ms is None and rec.wait_ms is None and rec.within_limit is None
    (ring,) = rec.operators_rung
    assert (ring.operator, ring.outcome, ring.ring_ms, ring.within_limit) == ("op9", "cancelled", 19900, False)


def test_without_timestamps_the_receive_time_is_used_and_said() -> None:
    lid = "1800000000.1"
    q = {"Uniqueid": lid, "Linkedid": lid, "Queue": "110"}
    events = [
        ev("Newchannel", None, received=T0, Uniqueid=lid, Linkedid=lid, CallerIDNum="110110"),
        ev("QueueCallerJoin", None, received=T0 + 1, **q),
        ev("AgentCalled", None, received=T0 + 1, DestUniqueid="d1", MemberName="op1", **q),
        ev("AgentConnect", None, received=T0 + 3.25, DestUniqueid="d1", MemberName="op1", **q),
        ev("Hangup", None, received=T0 + 9, Uniqueid="d1", Linkedid=lid),
        ev("Hangup", None, received=T0 + 9, Uniqueid=lid, Linkedid=lid),
    ]
    rec = build_call(lid, events, P)
    assert rec.timed_by == "received"
    assert rec.ring_ms == 2250


def test_gap_and_missing_start_make_the_call_incomplete() -> None:
    lid = "1800000000.1"
    q = {"Uniqueid": lid, "Linkedid": lid, "Queue": "110"}
    late_start = [
        ev("AgentCalled", T0 + 0.2, DestUniqueid="d1", MemberName="op1", **q),
        ev("AgentConnect", T0 + 2.2, DestUniqueid="d1", MemberName="op1", **q),
        ev("Hangup", T0 + 9, Uniqueid="d1", Linkedid=lid),
        ev("Hangup", T0 + 9, Uniqueid=lid, Linkedid=lid),
    ]
    rec = build_call(lid, late_start, P)
    assert rec.incomplete and any("never seen starting" in r for r in rec.incomplete_reasons)
    with_gap = [*caller_channel(T0), late_start[0], marker(GAP, lid, int((T0 + 1) * 1e6), Detail="drop"),
                *late_start[1:]]
    rec = build_call(lid, with_gap, P)
    assert rec.incomplete and rec.incomplete_reasons == ["AMI connection lost while the call was in progress (drop)"]
    assert rec.operator == "op1"  # what was seen is kept, flagged rather than guessed


def test_call_still_ringing_when_events_stop_is_incomplete() -> None:
    lid = "1800000000.1"
    q = {"Uniqueid": lid, "Linkedid": lid, "Queue": "110"}
    events = [*caller_channel(T0),ev("QueueCallerJoin", T0 + 0.1, **q),
                                   ev("AgentCalled", T0 + 0.2, DestUniqueid="d1", MemberName="op1", **q)]
    rec = build_call(lid, events, P)
    assert rec.incomplete and rec.outcome == "unanswered"
    assert rec.operators_rung[0].outcome == "unknown" and rec.operators_rung[0].ring_ms is None
