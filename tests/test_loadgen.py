"""The synthetic load generator: fresh ids, the real pipeline's verdict per generated call,
queue_log written and parsed back, the daily profile, and the fake Asterisk's timeline mode."""

from __future__ import annotations

import importlib.util
import itertools
import math
import random
import re
import socket
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callmon.calls.record import CallRecord
from callmon.calls.rings import RingPolicy
from callmon.loadgen.day import Day, generate_day
from callmon.loadgen.profile import arrival_offsets, expected_calls
from callmon.loadgen.queue_log import queue_log_lines
from callmon.loadgen.scenarios import Scenario, fields, load_scenarios, split_frames
from callmon.pipeline import CallPipeline
from callmon.sources.ami_protocol import Message, StreamParser
from callmon.sources.queue_log import QueueLogError, calls_from_queue_log, parse_queue_log
from tests.conftest import ASTERISK, all_ground_truth_calls
from tests.fakeami import FakeAmiServer

SHANGHAI = ZoneInfo("Asia/Shanghai")
MORNING = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
UID = re.compile(r"^\d{10}\.\d+$")


@pytest.fixture(scope="module")
def scenarios() -> list[Scenario]:
    return load_scenarios(ASTERISK)


@pytest.fixture(scope="module")
def busy_day(scenarios: list[Scenario]) -> Day:
    """~170 calls in 90 busy minutes, rare kinds boosted so every kind shows up."""
    return generate_day(scenarios, calls_per_day=3000, seed=11, hours=1.5, start=MORNING,
                        weights={"transfer": 0.08, "ringnoanswer": 0.1, "abandoned": 0.12})


@pytest.fixture(scope="module")
def busy_heads(busy_day: Day) -> list[dict[str, str]]:
    return [fields(f.decode()) for f in busy_day.frames]


def records_of(data: bytes) -> dict[str, CallRecord]:
    """Every call of a byte stream through the real pipeline (no store)."""
    records: dict[str, CallRecord] = {}
    pipeline = CallPipeline(None, RingPolicy(), on_call=lambda r: records.__setitem__(r.linkedid, r))
    parser = StreamParser()
    for i in range(0, len(data), 1 << 20):
        for item in parser.feed(data[i:i + (1 << 20)]):
            if isinstance(item, Message):
                pipeline.feed(item, 0)
    pipeline.end_of_stream("end of generated day")
    pipeline.flush()
    return records


def test_scenarios_are_the_captured_calls_with_their_truth(scenarios: list[Scenario]) -> None:
    truth = {c["ami"]["Linkedid"]: c for _, c in all_ground_truth_calls()}
    assert sorted(s.facts.linkedid for s in scenarios) == sorted(truth)
    for s in scenarios:
        t, f = truth[s.facts.linkedid], s.facts
        assert (f.caller, f.operator, f.source) == (t["caller_number"], t["answered_by"], "scenarios.json")
        assert list(f.operators_rung) == t["operators_rung"]
        assert [{"operator": o, "RingTime": ms} for o, ms in f.ring_no_answer] == t["ring_no_answer"]
        assert f.queue_uniqueid == t["ami"]["queue_caller_Uniqueid"] and f.transferred_to == t["transferred_to"]
    kinds = {s.kind for s in scenarios}
    assert kinds == {"within", "slow", "ringnoanswer", "abandoned", "transfer"}


def test_ids_are_fresh_unique_and_consistent_within_each_call(busy_day: Day, busy_heads: list[dict[str, str]],
                                                             scenarios: list[Scenario]) -> None:
    hs = busy_heads
    truth = {t.linkedid: t for t in busy_day.truth}
    owner: dict[str, str] = {}  # every Uniqueid -> its call
    locals_by_call: dict[str, set[str]] = defaultdict(set)
    first_channel: dict[str, str] = {}
    for h, frame in zip(hs, busy_day.frames, strict=True):
        lid = h.get("Linkedid") or h.get("DestLinkedid") or h.get("LocalOneLinkedid") or h.get("TransfererLinkedid")
        if lid is None:
            continue
        assert lid in truth, h
        for key, value in h.items():
            if key.endswith("Uniqueid") and key != "BridgeUniqueid" and value != "none":
                assert UID.match(value), (key, value)
                assert owner.setdefault(value, lid) == lid, f"{value} shared by two calls"
        if h.get("Event") == "Newchannel":
            first_channel.setdefault(lid, h["Uniqueid"])
        for name in re.findall(r"Local/[^\s;]+-([0-9a-f]{8});[12]", frame.decode()):
            locals_by_call[lid].add(name)
    assert first_channel == {lid: lid for lid in truth}  # Linkedid = the first channel's Uniqueid
    seqs = [u.split(".")[1] for u in owner]
    assert len(seqs) == len(set(seqs))
    all_locals = [n for names in locals_by_call.values() for n in names]
    assert len(all_locals) == len(set(all_locals))
    # nothing captured survives: ids (anywhere, e.g. in recording names), callers, bridges
    captured = "".join(f.decode() for p in ASTERISK.glob("ami-capture-*.raw") for f in split_frames(p.read_bytes()))
    text = b"".join(busy_day.frames).decode()
    for pattern in (r"(?<![\d.])(\d{10}\.\d{1,3})(?![\d.])", r"(?<!\d)(1\d{10})(?!\d)", r"BridgeUniqueid: (\S+)"):
        assert not set(re.findall(pattern, captured)) & set(re.findall(pattern, text)), pattern
    callers = [t.caller for t in busy_day.truth]
    assert all(c and re.fullmatch(r"1[3-9]\d{9}", c) for c in callers) and len(set(callers)) > 0.9 * len(callers)
    stamps = [float(h["Timestamp"]) for h in hs]
    assert stamps == sorted(stamps)
    # intra-call timing is the capture's, to the microsecond
    by_name = {s.name: s for s in scenarios}
    for t in busy_day.truth[:20]:
        own = [round(float(h["Timestamp"]) * 1e6) for h in hs if h.get("Linkedid") == t.linkedid]
        s = by_name[t.scenario]
        offsets = {stamp - own[0] for stamp in own}
        assert offsets <= set(s.offsets_us) and round((t.end - t.start) * 1e6) == s.duration_us


def test_same_seed_same_bytes(scenarios: list[Scenario]) -> None:
    a = generate_day(scenarios, calls_per_day=400, seed=5, hours=2, start=MORNING)
    b = generate_day(scenarios, calls_per_day=400, seed=5, hours=2, start=MORNING)
    c = generate_day(scenarios, calls_per_day=400, seed=6, hours=2, start=MORNING)
    assert a.raw() == b.raw() and a.raw() != c.raw()


@pytest.mark.parametrize("lean", [False, True], ids=["full", "lean"])
def test_every_generated_call_through_the_pipeline_matches_its_truth(scenarios: list[Scenario], busy_day: Day,
                                                                      lean: bool) -> None:
    day = generate_day(scenarios, calls_per_day=3000, seed=11, hours=1.5, start=MORNING, lean=True,
                       weights={"transfer": 0.08, "ringnoanswer": 0.1, "abandoned": 0.12}) if lean else busy_day
    assert [t.linkedid for t in day.truth] == [t.linkedid for t in busy_day.truth]
    records = records_of(day.raw())
    assert len(day.truth) > 100 and sorted(records) == sorted(t.linkedid for t in day.truth)
    assert {t.kind for t in day.truth} == {"within", "slow", "ringnoanswer", "abandoned", "transfer"}
    for t in day.truth:
        r = records[t.linkedid]
        assert not r.incomplete, r.incomplete_reasons
        assert (r.caller, r.operator, r.abandoned) == (t.caller, t.operator, t.outcome == "abandoned")
        assert (r.answered_us is not None) == (t.outcome == "answered")
        assert [o.operator for o in r.operators_rung] == t.operators_rung
        no_answer = [(o.operator, o.ring_ms) for o in r.operators_rung if o.outcome == "no_answer"]
        assert [o for o, _ in no_answer] == [x["operator"] for x in t.ring_no_answer]
        assert all(abs((ms or 0) - x["ring_ms"]) <= 50 for (_, ms), x in zip(no_answer, t.ring_no_answer, strict=True))
        for got, want in ((r.ring_ms, t.ring_seconds), (r.wait_ms, t.wait_seconds), (r.talk_ms, t.talk_seconds),
                          (r.abandoned_after_ms, t.abandon_wait_seconds)):
            assert (got is None) == (want is None) and (got is None or want is None or abs(got / 1000 - want) <= 0.05)
        assert r.transfer_target == t.transferred_to
        assert r.offered_us is not None and t.offered_at is not None and abs(r.offered_us / 1e6 - t.offered_at) < 1e-3


def test_operators_are_never_busy_with_two_calls_at_once(busy_day: Day, busy_heads: list[dict[str, str]]) -> None:
    assert busy_day.operator_conflicts == 0
    spans: dict[tuple[str, str], list[float]] = {}
    for h, frame in zip(busy_heads, busy_day.frames, strict=True):
        lid = h.get("Linkedid")
        for op in set(re.findall(r"(?<![\w])(op10\d\d)(?![\w])", frame.decode())) if lid else ():
            span = spans.setdefault((op, lid or ""), [float(h["Timestamp"])] * 2)
            span[1] = float(h["Timestamp"])
    by_op: dict[str, list[list[float]]] = defaultdict(list)
    for (op, _), span in spans.items():
        by_op[op].append(span)
    assert len(by_op) == 12
    for op, intervals in by_op.items():
        intervals.sort()
        assert all(b[0] > a[1] for a, b in itertools.pairwise(intervals)), op


def test_queue_log_lines_of_the_real_captures_have_asterisks_field_orders() -> None:
    def lines(name: str) -> list[str]:
        return [line for _, line in queue_log_lines(split_frames((ASTERISK / f"ami-capture-{name}.raw").read_bytes()))]

    assert lines("ring02-compliant") == [
        "1795357773|1795357773.1|110|NONE|ENTERQUEUE||13951000002|1",
        "1795357775|1795357773.1|110|op1001|CONNECT|2|1795357773.2|2",
        "1795357812|1795357773.1|110|op1001|COMPLETEAGENT|2|37|1"]
    assert "1795358051|1795358016.1|110|op1001|RINGNOANSWER|35000" in lines("ringnoanswer")
    assert lines("abandon")[-1] == "1795358008|1795357998.1|110|NONE|ABANDON|1|1|10"
    mixed = lines("mixed-session-autofill-no")
    assert "1795357709|1795357640.27|110|op1001|BLINDTRANSFER|119|transfer|52|17|4" in mixed
    assert "1795357593|1795357572.5|110|op1002|COMPLETECALLER|9|12|2" in mixed


def test_exit_with_timeout_is_inferred_from_a_leave_without_answer() -> None:
    def frame(event: str, t: float, **extra: str) -> bytes:
        pairs = {"Event": event, "Timestamp": f"{t:.6f}", "Uniqueid": "1800000000.7", "Queue": "110", **extra}
        return "".join(f"{k}: {v}\r\n" for k, v in pairs.items()).encode() + b"\r\n"

    got = queue_log_lines([frame("QueueCallerJoin", 1800000000.5, Position="1", CallerIDNum="13900000000"),
                           frame("QueueCallerLeave", 1800000300.9, Position="1"), frame("Hangup", 1800000301.0)])
    assert [line for _, line in got] == ["1800000000|1800000000.7|110|NONE|ENTERQUEUE||13900000000|1",
                                         "1800000300|1800000000.7|110|NONE|EXITWITHTIMEOUT|1|1|300"]
    (call,) = calls_from_queue_log(parse_queue_log("\n".join(line for _, line in got)))
    assert (call.outcome, call.wait_seconds, call.end_reason) == ("timeout", 300, "EXITWITHTIMEOUT")


def test_queue_log_written_and_parsed_back_equals_the_truth(busy_day: Day) -> None:
    text = "".join(line + "\n" for _, line in queue_log_lines(busy_day.frames))
    calls = {c.callid: c for c in calls_from_queue_log(parse_queue_log(text))}
    assert len(calls) == len(busy_day.truth)
    for t in busy_day.truth:
        assert t.queue_uniqueid is not None
        c = calls[t.queue_uniqueid]
        assert (c.agent, c.outcome, c.caller, c.queue) == (t.operator, t.outcome, t.caller, "110")
        assert c.ring_seconds == (None if t.ring_seconds is None else int(t.ring_seconds))  # whole seconds
        assert c.hold_seconds == (None if t.wait_seconds is None else int(t.wait_seconds))
        assert [(r.agent, r.ring_ms) for r in c.rings if r.outcome == "no_answer"] == [
            (x["operator"], x["ring_ms"]) for x in t.ring_no_answer]
        assert c.wait_seconds == (None if t.abandon_wait_seconds is None else int(t.abandon_wait_seconds))
        assert c.transfer_target == t.transferred_to
        assert c.entered_at == int(t.offered_at or 0)


def test_parser_rejects_bad_lines_naming_them() -> None:
    good = "1795357773|1795357773.1|110|NONE|ENTERQUEUE||13951000002|1"
    cases = {
        "1795357773|1795357773.1|110": "expected time|callid|queue|agent|event",
        "17953x7773|1795357773.1|110|op1001|CONNECT|2|1.2|2": "not integer epoch seconds",
        "1795357773|1795357773.1|110|op1001|connect|2|1.2|2": "not an upper-case event name",
        "1795357773|1795357773.1|110|op1001|CONNECT|two|1.2|2": "CONNECT data field 1 'two' is not an integer",
        "1795357773|1795357773.1|110|op1001|RINGNOANSWER": "RINGNOANSWER needs 1 data field",
        "1795357773|1795357773.1|110|NONE|ABANDON|1|1": "ABANDON needs 3 data field(s), found 2",
    }
    for bad, message in cases.items():
        with pytest.raises(QueueLogError, match=r"^queue_log line 3: .*" + re.escape(message)) as info:
            parse_queue_log(f"{good}\n\n{bad}\n{good}\n")
        assert info.value.line_no == 3
    errors: list[QueueLogError] = []
    entries = parse_queue_log([good, *cases, "1795357780|NONE|NONE|op1001|PAUSE|lunch"], errors=errors)
    assert [e.line_no for e in errors] == [2, 3, 4, 5, 6, 7] and [e.line_no for e in entries] == [1, 8]
    assert entries[1].event == "PAUSE" and calls_from_queue_log(entries)[0].callid == "1795357773.1"


def test_the_daily_profile_has_a_night_trough_and_two_peaks() -> None:
    offsets = arrival_offsets(20_000, random.Random(3))
    per_hour = [0] * 24
    for seconds in offsets:
        per_hour[int(seconds // 3600)] += 1
    assert abs(len(offsets) - 20_000) < 5 * math.sqrt(20_000)
    assert per_hour[10] > 3 * per_hour[4] and per_hour[20] > 3 * per_hour[4]
    assert per_hour[20] > per_hour[13] and per_hour[10] > per_hour[13] > per_hour[4]
    assert expected_calls(3000, 24) == pytest.approx(3000)
    assert len(arrival_offsets(3000, random.Random(1), hours=6, exact=True)) == round(expected_calls(3000, 6))


def test_a_generated_day_follows_the_profile(scenarios: list[Scenario]) -> None:
    day = generate_day(scenarios, calls_per_day=1000, seed=2, lean=True)
    hours = [datetime.fromtimestamp(t.start, SHANGHAI).hour for t in day.truth]
    assert hours.count(10) > 2 * hours.count(4) and hours.count(20) > 2 * hours.count(4)


class Client(threading.Thread):
    """Logs in and reads until EOF; reconnects at once after each drop unless held, until stopped."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.sessions: list[bytes] = []
        self.connected = threading.Event()
        self.stop, self.hold = threading.Event(), threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            if self.hold.is_set():
                time.sleep(0.002)
                continue
            with socket.create_connection(("127.0.0.1", self.port)) as sock:
                sock.settimeout(0.05)
                sock.sendall(b"Action: Login\r\nActionID: l\r\nUsername: monitor\r\nSecret: monitor110\r\n\r\n")
                buf = b""
                self.connected.set()
                while not self.stop.is_set():
                    try:
                        data = sock.recv(1 << 16)
                    except TimeoutError:
                        continue
                    if not data:
                        break
                    buf += data
                frames = buf.split(b"\r\n\r\n")
                self.sessions.append(b"".join(f + b"\r\n\r\n" for f in frames[:-1] if f.startswith(b"Event:")))
                self.connected.clear()

    def finish(self, server: FakeAmiServer) -> None:
        """Drop the last connection server-side (everything sent arrives), then stop."""
        self.hold.set()
        server.wait_for(lambda: self.connected.is_set() and len(server.logins) == server.connections
                        == len(self.sessions) + 1, timeout=5)  # the server has logged this connection in
        try:
            server.drop_now()
        except RuntimeError:  # a scheduled drop closed it just before: the client is reading its EOF
            pass
        server.wait_for(lambda: not self.connected.is_set(), timeout=5)
        self.stop.set()
        self.join(5)


def test_timeline_mode_loses_frames_while_disconnected_and_writes_queue_log_on_time(
        scenarios: list[Scenario], tmp_path: Path) -> None:
    day = generate_day(scenarios, calls_per_day=3000, seed=4, hours=0.05,
                       start=datetime(2026, 11, 23, 20, 0, tzinfo=SHANGHAI))
    lines = queue_log_lines(day.frames)
    speed, log = 120.0, tmp_path / "queue_log"
    with FakeAmiServer(day.raw(), lose_while_disconnected=True, speed=speed, queue_log_path=log,
                       queue_log_lines=lines, queue_entries_from_replay=True) as server:
        client = Client(server.port)
        client.start()
        server.wait_for(lambda: server.frames_sent > len(day.frames) // 4, timeout=10)
        client.hold.set()  # the monitor goes away for 0.4 s = 48 s of the day
        server.drop_now()
        server.wait_for(lambda: not client.connected.is_set())
        gone = time.time()
        time.sleep(0.4)
        back = time.time()
        client.hold.clear()
        server.wait_for(lambda: server.position == len(day.frames), timeout=15)
        server.wait_for(lambda: len(server.queue_log_written) == len(lines))
        client.finish(server)
        assert server.replay_queue_entries() == [] and server.alive_channels() == []
    received = b"".join(client.sessions)
    sent = [f for f, at in zip(server.frames, server.sent_at, strict=True) if not math.isnan(at)]
    assert server.frames_lost > 0 and server.frames_sent + server.frames_lost == len(day.frames)
    assert received == b"".join(sent)
    lost = [i for i, at in enumerate(server.sent_at) if math.isnan(at)]
    assert lost == list(range(lost[0], lost[-1] + 1))  # one contiguous hole: the outage
    assert log.read_text() == "".join(line + "\n" for _, line in lines)
    assert server.clock_start is not None
    base, wall0 = server.clock_start
    for stamp, wall in server.queue_log_written:
        assert -0.02 < wall - (wall0 + (stamp - base) / speed) < 0.3, stamp
    assert any(gone < wall < back for _, wall in server.queue_log_written)  # written with nobody connected


@pytest.mark.parametrize("timeline", [True, False], ids=["timeline", "cursor"])
def test_a_hundred_scheduled_drops(scenarios: list[Scenario], timeline: bool) -> None:
    day = generate_day(scenarios, calls_per_day=3000, seed=9, hours=0.1, start=MORNING)
    with FakeAmiServer(day.raw(), lose_while_disconnected=timeline, speed=150.0,
                       channels_from_replay=True) as server:
        drops = server.drop_at_random(100, random.Random(1))
        client = Client(server.port)
        client.start()
        server.wait_for(lambda: server.position == len(day.frames), timeout=20)
        client.finish(server)
        assert server.alive_channels() == []
    if timeline:  # a drop due while the client is still reconnecting waits for its next frame
        assert len(server.drops) >= 90 and server.connections >= 90
        assert all(done >= due for done, due in zip(server.drops, drops, strict=False))
    else:
        assert server.drops == drops and server.connections == 101
    received = b"".join(client.sessions)
    if timeline:
        sent = [f for f, at in zip(server.frames, server.sent_at, strict=True) if not math.isnan(at)]
        assert received == b"".join(sent) and server.frames_sent + server.frames_lost == len(day.frames)
    else:  # the cursor waits for the client: nothing lost, every frame exactly once
        assert received == b"".join(server.frames) and server.frames_lost == 0


def test_replay_state_answers_queue_status_and_channels_like_asterisk() -> None:
    server = FakeAmiServer(ASTERISK / "ami-capture-ring02-compliant.raw", queue_entries_from_replay=True)
    names = [fields(f.decode())["Event"] for f in server.frames]
    server.rewind(names.index("QueueCallerJoin") + 1)
    (entry,) = server.replay_queue_entries()
    assert list(entry) == ["Queue", "Position", "Channel", "Uniqueid", "CallerIDNum", "CallerIDName",
                           "ConnectedLineNum", "ConnectedLineName", "Wait", "Priority"]
    assert (entry["Uniqueid"], entry["Channel"], entry["CallerIDNum"], entry["Position"]) == (
        "1795357773.1", "Local/110@incoming-00000000;2", "13951000002", "1")
    assert {c["Uniqueid"] for c in server.alive_channels()} == {"1795357773.0", "1795357773.1"}
    server.rewind(names.index("QueueCallerLeave") + 1)  # answered: out of the queue, 4 channels up
    assert server.replay_queue_entries() == []
    assert {c["Uniqueid"] for c in server.alive_channels()} == {f"1795357773.{n}" for n in range(4)}
    server.rewind(names.index("Newchannel") + 2)  # backwards: the state is rebuilt
    assert len(server.alive_channels()) == 2 and server.replay_queue_entries() == []


def test_cli_generate_writes_a_loadable_day(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("loadgen_cli", Path(__file__).parents[1] / "scripts" / "loadgen.py")
    assert spec is not None and spec.loader is not None
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    out = tmp_path / "day"
    assert cli.main(["generate", "--calls-per-day", "3000", "--hours", "0.1", "--seed", "3", "--out", str(out)]) == 0
    import json

    truth = json.loads((out / "truth.json").read_text())
    server = FakeAmiServer(out / "day.raw")
    assert len(server.frames) == truth["frames"] and truth["calls"] == len(truth["truth"]) > 0
    calls = calls_from_queue_log(parse_queue_log((out / "queue_log").read_text()))
    assert sorted(c.callid for c in calls) == sorted(t["queue_uniqueid"] for t in truth["truth"])
    assert {r.linkedid for r in records_of((out / "day.raw").read_bytes()).values()} == {
        t["linkedid"] for t in truth["truth"]}
