"""Serial garbage at wrong baud rates, mixed with real device lines, through every serial protocol.

Why: a ring detector or PBX on the wrong baud rate, a loose cable or a terminal server's banner
sends bytes with high bits set and framing noise.  That must come out as ``Garbage`` warnings
with the bytes escaped (never a crash that stops the source's thread), and the real lines
around it must still make the same calls.  Counted apart from the 10,000 AMI streams:
``EXAMPLES`` below.  A crash here is an exception from the line splitter, a parser,
``SerialRun.line``/``close`` (the call records) or printing a record, or a hang (SIGALRM).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callmon.calls.record import CallRecord
from callmon.calls.rings import RingPolicy
from callmon.sources.serial_lines import BUILT_IN, CallDetail, Garbage, SerialEvent, custom_parser
from callmon.sources.serial_reader import MAX_LINE, LineSplitter
from callmon.sources.serial_run import SerialRun
from callmon.sources.serial_spec import SourceSpec
from tests.faults.watchdog import hang_guard

EXAMPLES = {"noisy": 2_000, "fields": 1_000, "random": 1_000}  # 4,000 serial examples
SERIAL = Path(__file__).resolve().parents[1] / "fixtures" / "serial"
SHANGHAI = ZoneInfo("Asia/Shanghai")
SITE = (r"^(?:(?P<start>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) )?EXT(?P<extension>\d+) FROM (?P<caller>\d+) "
        r"RING (?P<ring_seconds>\S+) TALK (?P<duration_seconds>\S+)", "%Y-%m-%d %H:%M:%S")
SITE_LINES = [b"2026-11-24 20:38:05 EXT1001 FROM 13951000041 RING 9 TALK 60",
              b"2026-11-24 20:40:05 EXT1002 FROM 13951000042 RING 21 TALK 0",
              b"EXT1003 FROM 13951000043 RING 3 TALK 30",  # no start time: garbage even when clean
              b"2026-11-24 20:45:05 EXT1001 FROM 13951000044 RING nan TALK 1e999"]
REAL = {p: [line for line in (SERIAL / f"{p}.txt").read_bytes().splitlines() if line.strip()] for p in BUILT_IN}
REAL["site"] = SITE_LINES
PROTOCOLS = sorted(REAL)
ENDINGS = (b"\r\n", b"\n", b"\r", b"\n\r", b"\r\n\r\n", b"\r\r")


def parser(protocol: str) -> Callable[[bytes], SerialEvent | None]:
    return custom_parser(*SITE) if protocol == "site" else BUILT_IN[protocol]


def settings_for(examples: int) -> settings:
    return settings(max_examples=examples, derandomize=True, database=None, deadline=timedelta(seconds=2),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], print_blob=False)


def _no_line_end(data: bytes) -> bytes:
    return data.replace(b"\r", b"").replace(b"\n", b"")


def _wrong_baud(pair: tuple[bytes, int]) -> bytes:
    """A real line as a receiver at the wrong speed sees it: bits shifted, high bits set, framing noise."""
    line, how = pair
    ops: list[Callable[[int], int]] = [lambda b: b | 0x80, lambda b: (b << 1) & 0xFF | 1,
                                       lambda b: int(f"{b:08b}"[::-1], 2), lambda b: b ^ 0xAA]
    garbled = bytes(ops[how % len(ops)](b) for b in line)
    noisy = garbled[: how % (len(garbled) + 1)] + bytes([0xFF, 0x00][how % 2:]) + garbled[how % (len(garbled) + 1):]
    return _no_line_end(noisy) + b"\xfe"  # always at least one byte that is not ASCII


noise_line = st.one_of(
    st.tuples(st.binary(max_size=60), st.integers(0x80, 0xFF), st.binary(max_size=60))
    .map(lambda t: _no_line_end(t[0] + bytes([t[1]]) + t[2])),
    st.tuples(st.sampled_from([line for lines in REAL.values() for line in lines]), st.integers(0, 2**16))
    .map(_wrong_baud),
)


@dataclass(frozen=True)
class Noisy:
    protocol: str
    lines: tuple[bytes, ...]  # what the splitter must give back, real and noise, in order
    real: tuple[bool, ...]
    stream: bytes
    chunks: tuple[int, ...]


@st.composite
def noisy_streams(draw: st.DrawFn) -> Noisy:
    protocol = draw(st.sampled_from(PROTOCOLS))
    lines: list[bytes] = []
    real: list[bool] = []
    stream = draw(st.sampled_from(ENDINGS))
    for line in REAL[protocol]:
        for junk in draw(st.lists(noise_line, max_size=2)):
            lines.append(junk)
            real.append(False)
            stream += junk + draw(st.sampled_from(ENDINGS))
        lines.append(line)
        real.append(True)
        stream += line + draw(st.sampled_from(ENDINGS))
    chunks = tuple(draw(st.lists(st.integers(1, 64), min_size=1, max_size=4)))
    return Noisy(protocol, tuple(lines), tuple(real), stream, chunks)


def split(stream: bytes, chunks: tuple[int, ...]) -> list[bytes]:
    splitter, out, pos, k = LineSplitter(), [], 0, 0
    while pos < len(stream):
        out += splitter.feed(stream[pos:pos + chunks[k % len(chunks)]])
        pos, k = pos + chunks[k % len(chunks)], k + 1
    return out


def check_event(protocol: str, line: bytes, must_be_garbage: bool) -> None:
    event = parser(protocol)(line)
    if must_be_garbage or isinstance(event, Garbage):
        assert isinstance(event, Garbage), (protocol, line, event)
        assert event.raw == line and repr(line) in str(event) and str(event).isascii(), str(event)


def timed(lines: list[bytes], real: list[bool] | None = None) -> list[tuple[bytes, float]]:
    """Real lines one second apart; a noise line arrives with the real line before it (garbage has no time)."""
    at, out = 1_795_600_000.0, []
    for k, line in enumerate(lines):
        is_real = real is None or real[k]
        at += 1.0 if is_real else 0.0
        out.append((line, at))
    return out


def records(protocol: str, lines: list[tuple[bytes, float]]) -> tuple[list[dict[str, object]], int]:
    """What ``callmon serial --json`` would print for these lines, and the garbage count."""
    spec = SourceSpec("fuzz://device", protocol)
    out: list[CallRecord] = []
    run = SerialRun(spec, RingPolicy(), SHANGHAI, None, lambda r, _: out.append(r),
                    {"site": SITE} if protocol == "site" else None)
    for line, at in lines:
        run.line(line, at)
    run.close((lines[-1][1] if lines else 0.0) + 3600)
    printed = [r.to_json(SHANGHAI) for r in out]
    json.dumps(printed, ensure_ascii=False)
    return printed, run.garbage


@settings_for(EXAMPLES["noisy"])
@given(noisy_streams())
def test_real_lines_in_wrong_baud_garbage_still_make_the_same_calls(case: Noisy) -> None:
    with hang_guard(20, case.protocol):
        got = split(case.stream, case.chunks)
        assert got == list(case.lines), "the splitter lost, merged or cut lines"
        for line, real in zip(case.lines, case.real, strict=True):
            check_event(case.protocol, line, must_be_garbage=not real)
            for other in PROTOCOLS:  # garbage is garbage to every protocol
                if not real:
                    check_event(other, line, must_be_garbage=True)
        real_lines = [line for line, r in zip(case.lines, case.real, strict=True) if r]
        clean, clean_garbage = records(case.protocol, timed(real_lines))
        noisy, noisy_garbage = records(case.protocol, timed(list(case.lines), list(case.real)))
        assert noisy_garbage == clean_garbage + case.real.count(False)
        assert noisy == clean, "the garbage changed the calls made of the real lines"


NASTY_FIELDS = (b"nan", b"inf", b"-inf", b"-1", b"-0", b"0", b"1e999", b"99", b"13", b"45", b"25", b"61", b"",
                b"9" * 30, b"99999999999", b"2026", b"0000", b"9999", b"1.5", b"0x10", b"A", b"<I>", b"\"")


def _corrupt(pair: tuple[bytes, list[tuple[int, int]]]) -> bytes:
    """A real line with some fields (runs of digits or letters) replaced by out-of-range values."""
    line, edits = pair
    for where, what in edits:
        fields = list(re.finditer(rb"[0-9A-Za-z.+-]+", line))
        if fields:
            m = fields[where % len(fields)]
            line = line[:m.start()] + NASTY_FIELDS[what % len(NASTY_FIELDS)] + line[m.end():]
    return line


corrupted = st.tuples(st.sampled_from(PROTOCOLS), st.integers(0, 10_000),
                      st.lists(st.tuples(st.integers(0, 99), st.integers(0, 99)), min_size=1, max_size=3))


@settings_for(EXAMPLES["fields"])
@given(corrupted)
def test_real_records_with_out_of_range_fields(case: tuple[str, int, list[tuple[int, int]]]) -> None:
    """Line noise that keeps the columns (dates like 13/45, rings of nan or 10^30 s) is garbage, not a crash."""
    protocol, pick, edits = case
    lines = REAL[protocol]
    bad = _corrupt((lines[pick % len(lines)], edits))
    with hang_guard(20, f"{protocol}: {bad!r}"):
        for other in PROTOCOLS:
            check_event(other, bad, must_be_garbage=False)
        records(protocol, timed([*lines[: pick % len(lines)], bad, *lines[pick % len(lines) + 1:]]))


@settings_for(EXAMPLES["random"])
@given(st.binary(max_size=2048), st.lists(st.integers(1, 64), min_size=1, max_size=4).map(tuple))
def test_random_bytes_through_every_protocol(data: bytes, chunks: tuple[int, ...]) -> None:
    with hang_guard(20, "random serial bytes"):
        lines = split(data, chunks)
        assert lines == split(data, (len(data) + 1,)), "the lines depend on how the bytes arrived"
        assert all(line and len(line) <= MAX_LINE and b"\r" not in line and b"\n" not in line for line in lines)
        for protocol in PROTOCOLS:
            for line in lines:
                check_event(protocol, line, must_be_garbage=any(b >= 0x80 for b in line))
            records(protocol, timed(lines))


def test_the_clean_fixture_lines_make_calls() -> None:
    """The oracle is not empty: every protocol's real lines make calls, the site pattern's bad lines do not."""
    for protocol in PROTOCOLS:
        printed, garbage = records(protocol, timed(REAL[protocol]))
        assert printed, protocol
        assert garbage == (2 if protocol == "site" else 0), protocol
    assert isinstance(parser("site")(SITE_LINES[0]), CallDetail)
