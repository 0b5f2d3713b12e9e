"""Hypothesis strategies for broken AMI byte streams, built from the real Asterisk captures.

Why structure-aware: random bytes almost never get past the frame splitter, so they never reach
the call builder.  These streams start from real frames (tests/fixtures/asterisk/*.raw) and
break them the way a bad link, a buggy PBX module or a truncated capture would: frames dropped,
duplicated or reordered, header values replaced with huge, negative, non-numeric, unicode or NUL
values, colons lost, lines made overlong, bare LF instead of CRLF, frames and the stream cut
short, binary junk spliced in.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from hypothesis import strategies as st

from tests.conftest import ASTERISK

# Headers the call logic reads (routing, timing, outcome) and Asterisk's own whole-second figures.
KEYS = (b"Timestamp", b"Uniqueid", b"Linkedid", b"RingTime", b"HoldTime", b"TalkTime", b"DestUniqueid",
        b"DestLinkedid", b"Event", b"Queue", b"MemberName", b"Interface", b"DialStatus", b"CallerIDNum",
        b"DestChannel", b"Cause", b"Reason", b"Variable", b"Value", b"Application", b"AppData", b"Result",
        b"LocalOneUniqueid", b"LocalTwoUniqueid", b"Response", b"Position")
EVENTS = (b"Newchannel", b"Hangup", b"QueueCallerJoin", b"AgentCalled", b"AgentConnect", b"AgentComplete",
          b"AgentRingNoAnswer", b"QueueCallerAbandon", b"DialBegin", b"DialEnd", b"LocalBridge", b"BridgeLeave",
          b"BlindTransfer", b"AttendedTransfer", b"VarSet", b"Newexten", b"QueueEntry", b"CoreShowChannel",
          b"CallmonGap", b"CallmonEvicted", b"CallmonStreamEnd", b"CallmonSnapshot")
NASTY = (
    b"", b" ", b"-1", b"-1795357773.903577", b"0", b"0.0", b"00000000000000000000.000001",
    b"99999999999999999999999999999999", b"1" + b"0" * 400, b"1e400", b"nan", b"inf", b"-inf", b"0x1F",
    b"1_000", b"1795357773.", b".5", b"1795357773..5", b"1795357773.9999999999", b"1795357773.-5",
    b"18446744073709551616", b"-9223372036854775809", b"253402300800", b"253402300799.999999", b"4102444800",
    "²".encode(), "1795357773.³".encode(), "١٧٩٥٣٥٧٧٧٣".encode(), "１７９５３５７７７３".encode(), "𝟏𝟐".encode(),
    b"\x00", b"1795357773\x00.5", b"\xff\xfe", b"\xc3(", "\u202e1795357773".encode(), "常州".encode(),
    b"<unknown>", b"ANSWER", b"Transfer", b"MIXMONITOR_FILENAME", b"MixMonitor", b"r()t()", b"x,r(a)t(/b)",
    b"a" * 3000,
)


@dataclass(frozen=True)
class Capture:
    name: str
    banner: bytes  # the greeting line, without its line end
    frames: tuple[tuple[bytes, ...], ...]  # each frame as its lines, without line ends


@lru_cache(maxsize=1)
def captures() -> tuple[Capture, ...]:
    out = []
    for path in sorted(ASTERISK.glob("*.raw")):
        banner, _, rest = path.read_bytes().partition(b"\r\n")
        frames = tuple(tuple(f.split(b"\r\n")) for f in rest.split(b"\r\n\r\n") if f.strip())
        out.append(Capture(path.name, banner, frames))
    return tuple(out)


KINDS = ("drop", "dup", "swap", "move", "value", "drop_header", "dup_header", "no_colon", "overlong", "nul",
         "junk_line", "truncate_frame", "splice", "lf_frame", "blank_line")
WEIGHTED_KEYS = KEYS[:4] * 4 + KEYS  # Timestamp, Uniqueid, Linkedid, RingTime most often
Mutation = tuple[str, int, int, bytes, bytes]


def _value(n: int) -> bytes:
    """A header value from 20 bits: a nasty one, an event name, a signed number or raw bytes."""
    pick, rest = n % 4, n >> 2
    if pick == 0:
        return NASTY[rest % len(NASTY)]
    if pick == 1:
        return (NASTY + EVENTS)[rest % len(NASTY + EVENTS)]
    if pick == 2:
        return str((rest - (1 << 17)) * 10 ** (rest % 25)).encode()  # negative, zero, huge
    return rest.to_bytes(3, "little")[: rest % 4] + bytes([rest % 256 | 0x80])


def mix(n: int) -> int:
    """splitmix64's finalizer: Hypothesis draws mostly small integers, so their high bits would
    otherwise be zero and every bit field below them the same."""
    n = (n + 0x9E3779B97F4A7C15) % 2**64
    n = ((n ^ (n >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
    n = ((n ^ (n >> 27)) * 0x94D049BB133111EB) % 2**64
    return n ^ (n >> 31)


def _mutation(drawn: int) -> Mutation:
    """One drawn 64-bit number decoded into (kind, frame index, line index or length, header key, value).

    One draw instead of five: Hypothesis's per-draw cost would otherwise dominate the run time.
    """
    n = mix(drawn)
    kind = KINDS[n % len(KINDS)]
    key = WEIGHTED_KEYS[(n >> 4) % len(WEIGHTED_KEYS)]
    return kind, (n >> 10) % 10_000, (n >> 24) % 100_000, key, _value(n >> 44)


mutation = st.integers(0, 2**64 - 1).map(_mutation)


def _set(lines: list[bytes], key: bytes, value: bytes) -> None:
    prefix = key + b":"
    for k, line in enumerate(lines):
        if line.startswith(prefix):
            lines[k] = prefix + b" " + value
            return
    lines.insert(min(1, len(lines)), prefix + b" " + value)


def apply(frames: list[list[bytes]], lf: set[int], m: tuple[str, int, int, bytes, bytes]) -> None:
    """One mutation, in place (``lf``: frames whose lines end in bare LF)."""
    kind, index, number, key, value = m
    if not frames:
        frames.append([b"Event: " + value])
        return
    i = index % len(frames)
    lines = frames[i]
    j = number % max(1, len(lines))
    if kind == "drop":
        del frames[i]
    elif kind == "dup":
        frames.insert(i, list(lines))
    elif kind == "swap" and i + 1 < len(frames):
        frames[i], frames[i + 1] = frames[i + 1], frames[i]
    elif kind == "move":
        frames.insert(number % len(frames), frames.pop(i))
    elif kind == "value":
        _set(lines, key, value)
    elif kind == "drop_header":
        frames[i] = [line for line in lines if not line.startswith(key + b":")]
    elif kind == "dup_header":
        lines.insert(min(1, len(lines)), key + b": " + value)
    elif kind == "no_colon" and lines:
        lines[j] = lines[j].replace(b":", b"", 1)
    elif kind == "overlong" and lines:
        lines[j] = lines[j] + (value or b"9") * (1 + number // max(1, len(value or b"9")))
    elif kind == "nul" and lines:
        lines[j] = lines[j][: number % (len(lines[j]) + 1)] + b"\x00" + lines[j][number % (len(lines[j]) + 1):]
    elif kind == "junk_line":
        lines.insert(j, value)
    elif kind == "truncate_frame":
        cut = b"\r\n".join(lines)[: number % (sum(map(len, lines)) + 1)]
        frames[i] = cut.split(b"\r\n")
    elif kind == "splice":
        frames.insert(i, [value])
    elif kind == "lf_frame":
        lf.add(i)
    elif kind == "blank_line" and lines:
        lines.insert(j, b"")  # a blank line inside a frame splits it in two


@dataclass(frozen=True)
class Stream:
    data: bytes
    expect_banner: bool
    chunks: tuple[int, ...]  # chunk sizes, used in a cycle
    source: str

    def pieces(self) -> list[bytes]:
        out, pos, k = [], 0, 0
        while pos < len(self.data):
            size = self.chunks[k % len(self.chunks)]
            out.append(self.data[pos:pos + size])
            pos, k = pos + size, k + 1
        return out


tiny_chunks = st.lists(st.integers(1, 64), min_size=1, max_size=6).map(tuple)
BLANKS = (b"\r\n\r\n", b"\r\n\r\n", b"\n\n", b"\r\n\n")


def banners(capture: Capture) -> tuple[bytes, ...]:
    return (capture.banner, capture.banner, b"", b"Asterisk Call Manager/",
            b"Asterisk Call Manager/\xff\x00" + b"9" * 5000, b"SSH-2.0-OpenSSH_9.2")


def _stream(drawn: int, mutations: list[Mutation]) -> Stream:
    """The stream one drawn 64-bit number describes, field by field (few draws: fast)."""
    shape = mix(drawn)

    def field(size: int) -> int:
        nonlocal shape
        value, shape = shape % size, shape // size
        return value

    capture = captures()[field(len(captures()))]
    start, length = field(len(capture.frames)), 1 + field(80)
    frames = [list(f) for f in capture.frames[start:start + length]]
    lf: set[int] = set()
    for m in mutations:
        apply(frames, lf, m)
    blank = BLANKS[field(len(BLANKS))]
    body = blank.join((b"\n" if k in lf else b"\r\n").join(f) for k, f in enumerate(frames)) + blank
    banner = field(10) - 4  # below 0: no banner expected (a replayed file may start with a frame)
    if banner >= 0:
        body = banners(capture)[banner] + b"\r\n" + body
    if field(2):
        body = body[: len(body) * field(1024) // 1024]
    # mostly socket-sized reads, now and then a tiny one so frame ends are split across reads
    chunks = (512 + field(7680), 512 + field(7680), field(17))
    return Stream(body, banner >= 0, chunks if chunks[2] else chunks[:2], capture.name)


mutated_streams = st.builds(_stream, st.integers(0, 2**64 - 1), st.lists(mutation, max_size=12))


TOKENS = (b"Event: ", b"Response: Success", b"Linkedid: ", b"Uniqueid: ", b"Timestamp: ", b"Hangup", b"Newchannel",
          b"AgentConnect", b"DestUniqueid: ", b"1795357773.0", b"1795357773.903577", b":", b": ", b"\r\n", b"\n",
          b"\r", b"\r\n\r\n", b"\n\n", b"\x00", b"\xff", "１".encode(), b"Asterisk Call Manager/11.0.0\r\n")
token_soup = st.lists(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=8)), max_size=200).map(b"".join)
raw_streams = st.builds(Stream, st.binary(max_size=4096), st.booleans(), tiny_chunks, st.just("random bytes"))
soup_streams = st.builds(Stream, token_soup, st.booleans(), tiny_chunks, st.just("token soup"))
