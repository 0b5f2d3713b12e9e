"""Serial protocols (recorded example lines in tests/fixtures/serial/) and the call records made of them."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callmon.calls.rings import RingPolicy
from callmon.calls.serial_calls import RingCalls, detail_record
from callmon.sources.serial_lines import (
    BUILT_IN,
    Cadence,
    CallDetail,
    CallerId,
    Garbage,
    Hook,
    Ring,
    custom_parser,
)

SERIAL = Path(__file__).parent / "fixtures" / "serial"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def lines(name: str) -> list[bytes]:
    return (SERIAL / name).read_bytes().splitlines()


def parsed(protocol: str) -> list[object]:
    return [e for e in (BUILT_IN[protocol](raw) for raw in lines(f"{protocol}.txt")) if e is not None]


def test_modem_lines() -> None:
    events = parsed("modem")
    assert not [e for e in events if isinstance(e, Garbage)]
    assert events[:3] == [Cadence(1000, None), Cadence(None, 4000), Ring("1")]
    assert CallerId("1", "NMBR", "13951000007") in events and CallerId("1", "NAME", "ZHANG SAN") in events
    assert Hook("1", True) in events and Hook("1", False) in events
    assert sum(isinstance(e, Ring) for e in events) == 5


def test_whozz_lines() -> None:
    events = parsed("whozz")
    assert not [e for e in events if isinstance(e, Garbage)]
    assert events[0] == Ring("01") and events[1] == CallerId("01", "NMBR", "13951000011")
    assert Hook("01", True) in events and Hook("02", False) in events


def test_panasonic_smdr() -> None:
    details = [e for e in parsed("panasonic-smdr") if isinstance(e, CallDetail)]
    assert len(details) == 4
    first = details[0]
    assert first == CallDetail(datetime(2026, 11, 24, 20, 38), "1001", "13951000021", 7.0, 65.0, True, True)
    assert details[2].incoming is False and details[2].ring_seconds is None
    assert details[3].answered is False  # rang 12 s, no duration: not answered


def test_avaya_smdr() -> None:
    details = [e for e in parsed("avaya-smdr") if isinstance(e, CallDetail)]
    assert len(details) == 4
    assert details[0] == CallDetail(datetime(2026, 11, 24, 20, 38, 5), "1001", "13951000031", 7.0, 72.0, True, True)
    assert details[1].ring_seconds == 19.0 and details[2].incoming is False
    assert details[3].answered is False and details[3].extension == "9001"


@pytest.mark.parametrize(("protocol", "raw"), [
    ("modem", b"\x8f\xfe\x11RI\x00NG"),  # a wrong baud rate
    ("modem", b"HELLO"),
    ("whozz", b"01 X 11/24 20:38:01"),
    ("panasonic-smdr", b"11/24/26 08:38PM garbage"),
    ("avaya-smdr", b"2026/11/24,too,few"),
    ("avaya-smdr", b"2026-11-24 20:38:05,00:01:12,7,1395,I,110,110,,0,1,0,E1001,op1001"),
    # found by tests/faults: each of these raised (ValueError, OverflowError) out of the parser or detail_record
    ("panasonic-smdr", b"13/45/26 08:38PM 1001 01 <I>13951000021             0'07 00:01'05"),
    ("panasonic-smdr", b"11/24/26 08:99 1001 01 <I>13951000021             0'07 00:01'05"),
    ("panasonic-smdr", b"11/24/26 08:38PM 1001 01 <I>13951000021             99999999999'07 00:01'05"),
    ("avaya-smdr", b"2026/11/24 20:38:05,00:01:12,nan,13951000031,I,110,110,,0,1000013,0,E1001,op1001,T9001,L,0,0"),
    ("avaya-smdr", b"2026/11/24 20:38:05,00:01:12,inf,13951000031,I,110,110,,0,1000013,0,E1001,op1001,T9001,L,0,0"),
    ("avaya-smdr", b"2026/11/24 20:38:05,9999999999:01:12,7,13951000031,I,110,110,,0,1,0,E1001,op1001,T9001,L,0,0"),
    ("avaya-smdr", b"9999/12/31 23:59:59,00:01:12,7,13951000031,I,110,110,,0,1000013,0,E1001,op1001,T9001,L,0,0"),
])
def test_garbage_is_named_with_its_bytes(protocol: str, raw: bytes) -> None:
    event = BUILT_IN[protocol](raw)
    assert isinstance(event, Garbage) and event.raw == raw
    assert repr(raw) in str(event)


def test_custom_pattern() -> None:
    parse = custom_parser(r"^(?P<start>\S+ \S+) EXT(?P<extension>\d+) FROM (?P<caller>\d+) RING (?P<ring_seconds>\d+)"
                          r" TALK (?P<duration_seconds>\d+)", "%Y-%m-%d %H:%M:%S")
    event = parse(b"2026-11-24 20:38:05 EXT1001 FROM 13951000041 RING 9 TALK 60")
    assert event == CallDetail(datetime(2026, 11, 24, 20, 38, 5), "1001", "13951000041", 9.0, 60.0, True, True)
    assert isinstance(parse(b"something else"), Garbage)


def test_a_custom_pattern_whose_start_did_not_match_gives_garbage() -> None:
    """Found by tests/faults: an optional (?P<start>...) passed the config check, then strptime(None) raised."""
    parse = custom_parser(r"(?:(?P<start>\S+ \S+) )?EXT(?P<extension>\d+)(?: RING (?P<ring_seconds>\S+))?",
                          "%Y-%m-%d %H:%M:%S")
    assert isinstance(parse(b"EXT1001"), Garbage)
    assert isinstance(parse(b"2026-11-24 20:38:05 EXT1001 RING nan"), Garbage)
    assert isinstance(parse(b"2026-11-24 20:38:05 EXT1001 RING 9"), CallDetail)


def test_modem_calls_count_rings_literally() -> None:
    """Rings every 5 s (1 s on, 4 s off): the first call is answered after its 3rd ring (within),
    the second rings twice and stops (abandoned once the gap of two ring periods has passed)."""
    calls = RingCalls(RingPolicy(), "serial:/dev/ttyS0", {"1": "op1001"})
    base, t, done = 1_795_000_000.0, 0.0, []
    rings = iter([0.0, 5.0, 10.0, 30.0, 35.0])
    moments = {"OFFHOOK": 11.4, "ONHOOK": 12.9}
    for raw in lines("modem.txt"):
        text = raw.decode().strip()
        t = next(rings) if text == "RING" else moments.get(text, t + 0.2)
        event = BUILT_IN["modem"](raw)
        if event is not None:
            done += calls.feed(event, base + t)
    assert len(done) == 1  # the second call is still ringing
    assert calls.tick(base + 35 + 9.9) == []  # within two ring periods of its last ring
    done += calls.tick(base + 35 + 10.1)
    first, second = done
    assert (first.outcome, first.rings, first.within_limit, first.caller, first.operator) == \
        ("answered", 3, True, "13951000007", "op1001")
    assert first.ring_ms == 11_400 and first.talk_ms == 1_500
    assert (second.outcome, second.rings, second.abandoned, second.caller) == ("abandoned", 2, True, "13951000008")
    assert first.linkedid == "1-1795000000000"  # line and first ring (ms): unique under its source


def test_whozz_calls_per_line_and_unmapped_operator_is_the_line() -> None:
    calls = RingCalls(RingPolicy(), "serial:whozz")
    done = []
    for raw in lines("whozz.txt"):
        event = BUILT_IN["whozz"](raw)
        stamp = re.search(r"(\d\d/\d\d) (\d\d:\d\d:\d\d)", raw.decode())
        assert stamp is not None
        at = datetime.strptime(f"2026/{stamp.group(1)} {stamp.group(2)}", "%Y/%m/%d %H:%M:%S").timestamp()
        if event is not None:
            done += calls.feed(event, at)
    by_line = {c.operator: c for c in done}
    assert by_line["01"].rings == 2 and by_line["01"].ring_ms == 7_000 and by_line["01"].within_limit
    assert by_line["01"].caller == "13951000011"
    assert by_line["02"].rings == 4 and by_line["02"].within_limit is False  # a 4th ring before the answer


def test_smdr_records_become_calls() -> None:
    policy = RingPolicy()
    details = [e for e in parsed("avaya-smdr") if isinstance(e, CallDetail)]
    records = [detail_record(d, policy, "serial:avaya", SHANGHAI, {"1001": "op1001"}) for d in details]
    first, second, outgoing, unanswered = records
    assert outgoing is None
    assert first is not None and second is not None and unanswered is not None
    assert (first.operator, first.ring_ms, first.rings, first.within_limit, first.talk_ms) == \
        ("op1001", 7000, 2, True, 72_000)
    assert (second.operator, second.within_limit) == ("1002", False)  # no --map: the extension
    assert unanswered.outcome == "abandoned" and unanswered.abandoned_after_ms == 25_000
    assert first.offered_us == int(datetime(2026, 11, 24, 20, 38, 5, tzinfo=SHANGHAI).timestamp() * 1_000_000)


def test_an_ami_call_and_its_serial_witness_are_linked_and_counted_once(tmp_path: Path) -> None:
    """The ring02 capture stored from AMI, then a ring detector's record of the same caller 3 s later
    with one ring more: both rows name each other, stats counts the call once and one disagreement."""
    from callmon.calls.stats import operator_stats
    from callmon.cli import main as callmon_main
    from callmon.store.db import open_store
    from callmon.store.repository import Store

    url = f"sqlite:///{tmp_path}/w.db"
    assert callmon_main(["replay", str(Path(__file__).parent / "fixtures" / "asterisk" /
                                       "ami-capture-ring02-compliant.raw"), "--db", url]) == 0
    store = Store(open_store(url))
    (ami,) = store.calls()
    assert ami.offered_us is not None and ami.rings is not None
    calls = RingCalls(RingPolicy(), "serial:ttyS0", {"1": "op1001"})
    t0 = ami.offered_us / 1e6 + 3
    for k in range(ami.rings + 1):
        calls.feed(Ring("1"), t0 + 5 * k)
    calls.feed(CallerId("1", "NMBR", ami.caller or ""), t0 + 0.5)
    calls.feed(Hook("1", True), t0 + 5 * ami.rings + 1)
    (serial_record,) = calls.feed(Hook("1", False), t0 + 40)
    store.write_batch("serial:ttyS0", [], [(serial_record, "serial:/dev/ttyS0")], RingPolicy())
    by_pbx = {c.pbx: c for c in store.calls()}
    assert by_pbx["serial:ttyS0"].witness == f"{ami.pbx}/{ami.linkedid}"
    assert by_pbx[ami.pbx].witness == f"serial:ttyS0/{serial_record.linkedid}"
    assert by_pbx[ami.pbx].witness_rings == ami.rings + 1
    center = operator_stats(store.calls(), RingPolicy())["center"]
    assert center["calls_offered"] == 1  # one call, seen twice
    assert (center["serial_witnessed"], center["serial_ring_disagreements"]) == (1, 1)
    far = RingCalls(RingPolicy(), "serial:ttyS0")  # the same caller an hour later: another call
    far.feed(Ring("1"), t0 + 3600)
    far.feed(CallerId("1", "NMBR", ami.caller or ""), t0 + 3600.5)
    (later,) = far.tick(t0 + 3700)
    store.write_batch("serial:ttyS0", [], [(later, "serial:/dev/ttyS0")], RingPolicy())
    assert next(c for c in store.calls() if c.linkedid == later.linkedid).witness is None


def test_the_abandon_gap_is_configurable() -> None:
    calls = RingCalls(RingPolicy(), "serial:x", gap_seconds=30.0)
    calls.feed(Ring("1"), 0.0)
    assert calls.tick(20.0) == [] and len(calls.tick(31.0)) == 1
