"""10,000 fuzzed AMI byte streams through the parser and the call pipeline.

Why: the daemon reads a socket it does not control; one bad frame must cost that frame, never
the process, the other calls, or a call record.  8,000 streams are real captures broken on
purpose (tests/faults/ami_streams.py), 1,000 are random bytes and 1,000 a soup of AMI tokens
and junk.  Derandomized: CI runs the same 10,000 every time.

What counts as a crash here:

* an exception escaping ``StreamParser.feed``/``close`` or ``CallPipeline.feed``/``end_of_stream``;
* a hang: an example still running after ``HANG_SECONDS`` (SIGALRM), or slower than the deadline;
* an exception the pipeline had to swallow (``pipeline.errors > 0``): its catch-all keeps the
  daemon alive, but each one is an event dropped or a call that could not be computed, so bad
  input must be handled by the code's own logic, never by that safety net;
* a finished call whose record cannot be printed (``CallRecord.to_json``, as ``replay --json``).

Beyond not crashing: the parser gives the same items however the bytes are split into reads;
every ``Garbage`` names the stream offset where its bytes are (and ``describe()`` says so); every
call the pipeline saw is handed on exactly once (``end_of_stream`` flushes the rest), so nothing
is silently dropped.
"""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callmon.calls.record import CallRecord
from callmon.calls.rings import RingPolicy
from callmon.calls.tracker import linkedids_of
from callmon.pipeline import CallPipeline
from callmon.sources.ami_protocol import Banner, Garbage, Item, Message, StreamParser
from tests.faults.ami_streams import Stream, mutated_streams, raw_streams, soup_streams
from tests.faults.watchdog import hang_guard

EXAMPLES = {"mutated": 8_000, "random": 1_000, "soup": 1_000}  # 10,000 in all
HANG_SECONDS = 20.0
SHANGHAI = ZoneInfo("Asia/Shanghai")
RECEIVED_BASE_US = 1_795_357_000_000_000


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples, derandomize=True, database=None, deadline=timedelta(seconds=2),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], print_blob=False)


def parse_chunked(stream: Stream) -> list[Item]:
    parser = StreamParser(expect_banner=stream.expect_banner)
    items: list[Item] = []
    for piece in stream.pieces():
        items += parser.feed(piece)
    tail = parser.close()
    return items + ([tail] if tail is not None else [])


def parse_whole(stream: Stream) -> list[Item]:
    parser = StreamParser(expect_banner=stream.expect_banner)
    items = parser.feed(stream.data)
    tail = parser.close()
    return items + ([tail] if tail is not None else [])


def comparable(item: Item) -> tuple[object, ...]:
    """What must not depend on how the bytes were split into reads.

    A banner garbage's preview is what had arrived when it was reported; its offset and reason do not vary.
    """
    if isinstance(item, Garbage):
        return ("garbage", item.offset, item.reason)
    if isinstance(item, Banner):
        return ("banner", item.offset, item.version)
    return ("message", item.offset, item.raw, tuple(item.headers))


def check_items(stream: Stream, items: list[Item]) -> None:
    data = stream.data
    for item in items:
        if isinstance(item, Garbage):
            assert 0 <= item.offset <= len(data), item
            assert data[item.offset:item.offset + len(item.data)] == item.data, (
                f"{item.describe()}: the bytes at that offset are {data[item.offset:item.offset + 40]!r}")
            assert item.describe().startswith(f"byte {item.offset}: "), item.describe()
        elif isinstance(item, Message):
            assert item.headers and item.kind in ("Event", "Response", "Action"), item
            assert data[item.offset:item.offset + len(item.raw)] == item.raw, item


def check_pipeline(messages: list[Message]) -> None:
    handed: list[CallRecord] = []
    pipeline = CallPipeline(None, RingPolicy(), source="fuzz", on_call=handed.append, batch_events=50)
    seen: set[str] = set()
    events = 0
    for message in messages:
        pipeline.feed(message, RECEIVED_BASE_US + message.offset)
        if message.kind == "Event":
            events += 1
            seen.update(linkedids_of(message))
    pipeline.end_of_stream("fuzz stream ended")
    assert pipeline.errors == 0, "the pipeline swallowed an exception (see the log): an event or a call was lost"
    assert pipeline.events_seen == events
    assert pipeline.backlog == 0 and pipeline.tracker.in_progress == 0
    ids = [r.linkedid for r in handed]
    assert len(ids) == len(set(ids)), f"calls handed on twice: {sorted(i for i in set(ids) if ids.count(i) > 1)}"
    assert set(ids) == seen, f"calls seen but never handed on: {sorted(seen - set(ids))[:5]}"
    for record in handed:
        assert record.event_count >= 1
        json.dumps(record.to_json(SHANGHAI), ensure_ascii=False)


def check(stream: Stream) -> None:
    with hang_guard(HANG_SECONDS, f"{stream.source}, {len(stream.data)} bytes"):
        items = parse_chunked(stream)
        assert [comparable(i) for i in items] == [comparable(i) for i in parse_whole(stream)], \
            "the items depend on how the stream was split into reads"
        check_items(stream, items)
        check_pipeline([i for i in items if isinstance(i, Message)])


def run(strategy: st.SearchStrategy[Stream], examples: int) -> int:
    count = 0

    @fuzz_settings(examples)
    @given(strategy)
    def one(stream: Stream) -> None:
        nonlocal count
        count += 1
        check(stream)

    one()
    return count


def test_mutated_real_captures() -> None:
    assert run(mutated_streams, EXAMPLES["mutated"]) == EXAMPLES["mutated"]


def test_random_bytes() -> None:
    assert run(raw_streams, EXAMPLES["random"]) == EXAMPLES["random"]


def test_ami_token_soup() -> None:
    assert run(soup_streams, EXAMPLES["soup"]) == EXAMPLES["soup"]


def test_the_real_captures_pass_the_same_checks() -> None:
    """The oracle itself: unbroken captures, split into awkward reads, pass every check above."""
    from tests.faults.ami_streams import captures

    for capture in captures():
        body = b"\r\n\r\n".join(b"\r\n".join(f) for f in capture.frames) + b"\r\n\r\n"
        stream = Stream(capture.banner + b"\r\n" + body, True, (1, 7, 4096), capture.name)
        items = parse_chunked(stream)
        assert not [i for i in items if isinstance(i, Garbage)]
        check(stream)



def test_the_budget_is_ten_thousand_streams() -> None:
    assert sum(EXAMPLES.values()) == 10_000
