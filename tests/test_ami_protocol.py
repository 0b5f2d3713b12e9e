"""The pure AMI parser: frames split, merged, repeated keys, garbage."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from callmon.sources.ami_protocol import Banner, Garbage, Message, StreamParser, encode_action, parse

CAPTURE = Path(__file__).parent / "fixtures" / "asterisk" / "ami-capture-ring02-compliant.raw"


def messages(items: list) -> list[Message]:  # type: ignore[type-arg]
    return [i for i in items if isinstance(i, Message)]


def test_parse_returns_complete_frames_and_rest() -> None:
    data = b"Event: A\r\nKey: 1\r\n\r\nEvent: B\r\nKey: 2\r\n\r\nEvent: C\r\nKe"
    items, rest = parse(data)
    assert [m.name for m in messages(items)] == ["A", "B"]
    assert rest == b"Event: C\r\nKe"
    items, rest = parse(rest + b"y: 3\r\n\r\n", base_offset=len(data) - len(rest))
    assert messages(items)[0].get("Key") == "3"
    assert rest == b""


def test_banner_then_frames() -> None:
    items, rest = parse(b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nMessage: ok\r\n\r\n",
                        expect_banner=True)
    assert isinstance(items[0], Banner) and items[0].version == "11.0.0"
    assert isinstance(items[1], Message) and items[1].kind == "Response" and items[1].name == "Success"
    assert rest == b""


def test_repeated_keys_are_kept_in_order() -> None:
    data = (b"Event: Newchannel\r\nChanVariable: A=1\r\nChanVariable: B=2\r\n"
            b"ChanVariable: A=3\r\n\r\n")
    (msg,), _ = parse(data)
    assert isinstance(msg, Message)
    assert msg.getall("ChanVariable") == ["A=1", "B=2", "A=3"]
    assert msg.get("ChanVariable") == "A=1"
    assert [k for k, _ in msg.headers] == ["Event", "ChanVariable", "ChanVariable", "ChanVariable"]


def test_values_keep_colons_and_empty_values() -> None:
    (msg,), _ = parse(b"Event: X\r\nAppData: a:b: c\r\nAccountCode: \r\nEmpty:\r\n\r\n")
    assert isinstance(msg, Message)
    assert msg.get("AppData") == "a:b: c"
    assert msg.get("AccountCode") == ""
    assert msg.get("Empty") == ""


def test_non_utf8_bytes_are_replaced_and_reported_with_offset() -> None:
    data = b"Event: X\r\nMemberName: \xe6\x8e\xa5\xff\r\n\r\n"
    items, _ = parse(data, base_offset=100)
    (msg,) = messages(items)
    assert msg.get("MemberName") == "接\ufffd"
    (problem,) = [i for i in items if isinstance(i, Garbage)]
    assert problem.offset == 110
    assert "not valid UTF-8" in problem.reason


def test_chinese_member_names_survive() -> None:
    (msg,), _ = parse("Event: AgentCalled\r\nMemberName: 张伟\r\n\r\n".encode())
    assert isinstance(msg, Message) and msg.get("MemberName") == "张伟"


def test_garbage_between_frames_is_skipped_and_located() -> None:
    data = b"Event: A\r\n\r\n\x00\x01binary junk\r\n\r\nnot a header\r\nEvent: B\r\nK: v\r\n\r\n"
    items, rest = parse(data)
    assert [m.name for m in messages(items)] == ["A", "B"]
    garbage = [i for i in items if isinstance(i, Garbage)]
    assert garbage[0].offset == 12 and "Key: Value" in garbage[0].reason
    assert any(g.data == b"not a header" for g in garbage)
    assert rest == b""


def test_lf_only_line_endings_are_tolerated() -> None:
    items, rest = parse(b"Event: A\nK: 1\n\nEvent: B\nK: 2\n\n")
    assert [m.get("K") for m in messages(items)] == ["1", "2"]
    assert rest == b""


def test_stream_parser_offsets_and_truncation() -> None:
    parser = StreamParser(expect_banner=True)
    items = parser.feed(b"Asterisk Call Manager/11.0.0\r\nEvent: A\r\n\r\nEvent: B\r\nX: ")
    assert isinstance(items[0], Banner)
    assert messages(items)[0].offset == 30
    tail = parser.close()
    assert tail is not None and tail.offset == 42 and "stream ended inside a frame" in tail.reason


def test_stream_parser_handles_a_big_frame_in_small_pieces() -> None:
    big = b"Event: Big\r\n" + b"".join(b"Line%d: %s\r\n" % (i, b"x" * 50) for i in range(20000)) + b"\r\n"
    parser = StreamParser(expect_banner=False)
    got: list[Message] = []
    for i in range(0, len(big), 1000):
        got += messages(parser.feed(big[i:i + 1000]))
    assert len(got) == 1 and len(got[0].headers) == 20001
    assert parser.pending == b""


def test_encode_action_refuses_header_injection() -> None:
    assert encode_action("Ping", [("ActionID", "1")]) == b"Action: Ping\r\nActionID: 1\r\n\r\n"
    try:
        encode_action("Login", [("Username", "a\r\nAction: Originate")])
    except ValueError as exc:
        assert "line break" in str(exc)
    else:
        raise AssertionError("a header with CRLF must be refused")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=4000), min_size=1, max_size=60))
def test_any_chunking_of_a_real_capture_gives_the_same_messages(cuts: list[int]) -> None:
    data = CAPTURE.read_bytes()
    whole = StreamParser()
    expected = [(m.headers, m.offset) for m in messages(whole.feed(data))]
    parser = StreamParser()
    got: list[tuple[list[tuple[str, str]], int]] = []
    pos = 0
    for cut in cuts:
        got += [(m.headers, m.offset) for m in messages(parser.feed(data[pos:pos + cut]))]
        pos += cut
    got += [(m.headers, m.offset) for m in messages(parser.feed(data[pos:]))]
    assert got == expected
    assert len(expected) == 222  # scenarios.json n_messages: login response, events, Goodbye


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.integers(min_value=1, max_value=64))
def test_random_bytes_never_raise(data: bytes, step: int) -> None:
    parser = StreamParser(expect_banner=False)
    for i in range(0, len(data), step):
        for item in parser.feed(data[i:i + step]):
            assert isinstance(item, Message | Garbage)
    parser.close()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True),
                          st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=30)),
                max_size=12))
def test_round_trip_of_generated_frames(headers: list[tuple[str, str]]) -> None:
    headers = [("Event", "Gen"), *[(k, v.strip()) for k, v in headers]]
    frame = "".join(f"{k}: {v}\r\n" for k, v in headers).encode() + b"\r\n"
    (msg,), rest = parse(frame * 2)[0][:1], parse(frame * 2)[1]
    assert isinstance(msg, Message)
    assert msg.headers == headers
    assert rest == b""


def test_mixed_line_endings_are_split_correctly() -> None:
    (msg,), _ = parse(b"Event: A\r\nK: 1\nL: 2\r\n\r\n")
    assert isinstance(msg, Message) and msg.headers == [("Event", "A"), ("K", "1"), ("L", "2")]
    (msg,), _ = parse(b"Event: A\r\nK: 1\rstray\r\n\r\n")
    assert isinstance(msg, Message) and msg.get("K") == "1\rstray"  # a lone CR is data, not a line end


def test_a_frame_cut_off_after_an_extra_blank_line_is_reported_where_its_bytes_are() -> None:
    """Found by tests/faults: the leading line end was stripped from the preview but not from the offset."""
    data = b"Event: A\r\n\r\n\r\nEvent: B\r\nLinkedid: 1"
    parser = StreamParser(expect_banner=False)
    parser.feed(data)
    tail = parser.close()
    assert tail is not None and tail.data == b"Event: B\r\nLinkedid: 1"
    assert data[tail.offset:].startswith(tail.data) and tail.describe().startswith(f"byte {tail.offset}: ")


def test_a_frame_that_never_ends_is_skipped_at_the_size_limit_and_parsing_goes_on() -> None:
    """A peer that never sends the blank line must not grow the buffer without bound."""
    from callmon.sources.ami_protocol import StreamParser

    parser = StreamParser(expect_banner=True, max_frame=1000)
    items = parser.feed(b"Asterisk Call Manager/11.0.0\r\n")
    items += parser.feed(b"Event: Endless\r\nKey: " + b"a" * 3000)
    assert len(parser.pending) <= 1000
    (skipped,) = [i for i in items if isinstance(i, Garbage)]
    assert skipped.offset == 30 and "longer than 1000 bytes" in skipped.describe()
    items = parser.feed(b"\r\n\r\nEvent: Good\r\nA: b\r\n\r\n")
    assert [i.name for i in items if isinstance(i, Message)] == ["Good"]
    banner_only = StreamParser(expect_banner=True, max_frame=1000)
    assert "without a line end" in banner_only.feed(b"Asterisk Call Manager/" + b"1" * 2000)[0].describe()
