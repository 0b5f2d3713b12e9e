"""Lines from serial devices -> typed events, one protocol per device (pure: no port, no clock).

* ``modem``: a caller-ID modem or ring detector: ``RING`` per ring burst; caller ID as
  ``DATE = 1015``, ``TIME = 2038``, ``NMBR = 8475550001``, ``NAME = ...``; cadence reports
  ``DRON=10`` / ``DROF=40`` (100 ms units); ``OFFHOOK``/``OFF HOOK`` and ``ONHOOK`` where the
  device reports the line's hook state.
* ``whozz``: Whozz Calling? multi-line units: ``01 R 11/07 07:43:52`` (ring on line 01), ``F``
  off-hook, ``N`` on-hook, ``H`` hook flash; ``I`` inbound caller-ID lines carry the number.
* ``panasonic-smdr``: KX-TDA/NS "Pattern A" fixed columns; incoming ``<I>`` records carry the
  caller ID, the ring time ``m'ss`` and the duration ``hh:mm'ss``.
* ``avaya-smdr``: IP Office SMDR CSV (Call Start, Connected Time, Ring Time in seconds, Caller,
  Direction, …, Party1Device, Party1Name, …).
* a named custom pattern: a regex with named groups (``start``, ``ring_seconds``, ``caller``,
  ``extension``, ``duration_seconds``, ``direction``) and a ``strptime`` date format.

Anything else on a line is ``Garbage`` with the raw bytes shown escaped: a warning, never a crash.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from datetime import datetime

PROTOCOLS = ("modem", "whozz", "panasonic-smdr", "avaya-smdr")


@dataclass(frozen=True)
class Ring:
    line: str  # the device's line number ("1" for a one-line modem)


@dataclass(frozen=True)
class CallerId:
    line: str
    field: str  # DATE | TIME | NMBR | NAME
    value: str


@dataclass(frozen=True)
class Cadence:
    on_ms: int | None
    off_ms: int | None


@dataclass(frozen=True)
class Hook:
    line: str
    off: bool  # True: off-hook (answered); False: on-hook
    flash: bool = False


@dataclass(frozen=True)
class CallDetail:
    """One finished call as a PBX reports it (SMDR): what a call record needs, already measured."""

    start: datetime
    extension: str | None
    caller: str | None
    ring_seconds: float | None
    duration_seconds: float | None
    incoming: bool
    answered: bool


@dataclass(frozen=True)
class Garbage:
    raw: bytes
    why: str

    def __str__(self) -> str:
        return f"{self.why}: {self.raw!r}"


SerialEvent = Ring | CallerId | Cadence | Hook | CallDetail | Garbage

_MODEM_FIELD = re.compile(r"^(DATE|TIME|NMBR|NAME|DDN_NMBR|MESG)\s*=\s*(.*)$")
_MODEM_CADENCE = re.compile(r"^(DRON|DROF)\s*=\s*(\d+)$")
_WHOZZ = re.compile(r"^(\d{2}) ([RFNH]) (\d{2}/\d{2}) (\d{2}:\d{2}:\d{2})\b")
_WHOZZ_INBOUND = re.compile(
    r"^(\d{2}) I [SE] \d+ [GB] \S+ (\d{2}/\d{2}) (\d{2}:\d{2}:\d{2} ?[AP]?M?) +(\S+)(?: +(.*))?$")
_PANASONIC = re.compile(
    r"^(?P<date>\d{2}/\d{2}/\d{2}) +(?P<time>\d{1,2}:\d{2}(?:[AP]M)?) +(?P<ext>\d+) +(?P<co>\d+) +"
    r"(?P<dial><I>\S*|\S+) +(?:(?P<ring>\d+'\d{2}) +)?(?P<dur>\d{2}:\d{2}'\d{2})")


MAX_CALL_SECONDS = 7 * 24 * 3600  # a ring time or duration beyond a week is a corrupt field, not a call


def _detail(raw: bytes, what: str, start: datetime, extension: str | None, caller: str | None,
            ring: float | None, duration: float | None, incoming: bool, answered: bool) -> CallDetail | Garbage:
    """A PBX record, or Garbage when a field is out of range (line noise can still fit the columns):
    the call record's times must be real seconds on a real calendar."""
    if not 1900 <= start.year <= 9998:
        return Garbage(raw, f"{what}: start {start:%Y-%m-%d} is not a plausible date")
    for name, value in (("ring time", ring), ("duration", duration)):
        if value is not None and not (math.isfinite(value) and 0 <= value <= MAX_CALL_SECONDS):
            return Garbage(raw, f"{what}: {name} {value!r} s is not within 0 to {MAX_CALL_SECONDS} s")
    return CallDetail(start, extension, caller, ring, duration, incoming, answered)


def _text(raw: bytes) -> str | Garbage:
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return Garbage(raw, "not ASCII (line noise or a wrong baud rate?)")
    if any(ord(c) < 32 for c in text):
        return Garbage(raw, "control characters in the line (line noise or a wrong baud rate?)")
    return text


def parse_modem(raw: bytes) -> SerialEvent | None:
    text = _text(raw)
    if isinstance(text, Garbage) or not text:
        return text or None
    upper = text.upper()
    if upper == "RING":
        return Ring("1")
    if upper in ("OFFHOOK", "OFF HOOK", "OFF-HOOK"):
        return Hook("1", True)
    if upper in ("ONHOOK", "ON HOOK", "ON-HOOK"):
        return Hook("1", False)
    if upper in ("OK", "NO CARRIER") or upper.startswith("AT"):
        return None  # the modem answering our set-up commands
    cadence = _MODEM_CADENCE.match(upper)
    if cadence:
        value = int(cadence.group(2)) * 100
        return Cadence(value, None) if cadence.group(1) == "DRON" else Cadence(None, value)
    field = _MODEM_FIELD.match(text)
    if field:
        return CallerId("1", field.group(1), field.group(2).strip())
    return Garbage(raw, "not a modem line (RING, DATE/TIME/NMBR/NAME =, DRON=/DROF=)")


def parse_whozz(raw: bytes) -> SerialEvent | None:
    text = _text(raw)
    if isinstance(text, Garbage) or not text:
        return text or None
    event = _WHOZZ.match(text)
    if event:
        line, kind = event.group(1), event.group(2)
        if kind == "R":
            return Ring(line)
        return Hook(line, off=kind == "F", flash=kind == "H") if kind in "FH" else Hook(line, off=False)
    inbound = _WHOZZ_INBOUND.match(text)
    if inbound:
        return CallerId(inbound.group(1), "NMBR", inbound.group(4))
    return Garbage(raw, "not a Whozz Calling? line (LL R|F|N|H mm/dd hh:mm:ss)")


def _minutes_seconds(text: str) -> float:
    minutes, secs = text.split("'")
    return int(minutes) * 60 + int(secs)


def parse_panasonic(raw: bytes) -> SerialEvent | None:
    text = _text(raw)
    if isinstance(text, Garbage) or not text:
        return text or None
    m = _PANASONIC.match(text)
    if m is None:
        if text.startswith(("Date", "-", "=")):
            return None  # the report's header and rules
        return Garbage(raw, "not a Panasonic SMDR Pattern A record (date time ext CO dial [ring] duration)")
    clock = m.group("time")
    try:
        start = datetime.strptime(f"{m.group('date')} {clock}", "%m/%d/%y %I:%M%p" if clock[-1] == "M" else
                                  "%m/%d/%y %H:%M")
    except ValueError as exc:  # 13/45/26, 25:61: the columns fit, the values do not
        return Garbage(raw, f"Panasonic SMDR: {exc}")
    hours, rest = m.group("dur").split(":")
    duration = int(hours) * 3600 + _minutes_seconds(rest)
    dial = m.group("dial")
    incoming = dial.startswith("<I>")
    return _detail(raw, "Panasonic SMDR", start, m.group("ext"), dial[3:] or None if incoming else None,
                   _minutes_seconds(m.group("ring")) if m.group("ring") else None, float(duration), incoming,
                   duration > 0)


def parse_avaya(raw: bytes) -> SerialEvent | None:
    text = _text(raw)
    if isinstance(text, Garbage) or not text:
        return text or None
    fields = next(csv.reader([text]))
    if fields and fields[0] == "Call Start":
        return None  # the header line
    if len(fields) < 13:
        return Garbage(raw, f"an Avaya SMDR record has at least 13 fields, this has {len(fields)}")
    try:
        start = datetime.strptime(fields[0], "%Y/%m/%d %H:%M:%S")
        h, mi, s = (int(x) for x in fields[1].split(":"))
        connected, ring = h * 3600 + mi * 60 + s, float(fields[2])
    except ValueError as exc:
        return Garbage(raw, f"Avaya SMDR: {exc}")
    device = fields[11]  # Party1Device: E4324 for the extension that took an incoming call
    extension = device[1:] if device[:1] in ("E", "T", "V") else device or None
    return _detail(raw, "Avaya SMDR", start, extension, fields[3] or None, ring, float(connected), fields[4] == "I",
                   connected > 0)


def custom_parser(pattern: str, date_format: str) -> PatternParser:
    return PatternParser(re.compile(pattern), date_format)


@dataclass(frozen=True)
class PatternParser:
    """A PBX without a built-in protocol: a named-group regex and a date format from the config."""

    regex: re.Pattern[str]
    date_format: str

    def __call__(self, raw: bytes) -> SerialEvent | None:
        text = _text(raw)
        if isinstance(text, Garbage) or not text:
            return text or None
        m = self.regex.search(text)
        if m is None:
            return Garbage(raw, f"does not match the configured pattern {self.regex.pattern!r}")
        groups = m.groupdict()
        if not groups.get("start"):  # an optional (?P<start>...) that did not take part in the match
            return Garbage(raw, f"configured pattern {self.regex.pattern!r}: no start time in the line")
        try:
            start = datetime.strptime(groups["start"], self.date_format)
            ring = float(groups["ring_seconds"]) if groups.get("ring_seconds") else None
            duration = float(groups["duration_seconds"]) if groups.get("duration_seconds") else None
        except (KeyError, ValueError) as exc:
            return Garbage(raw, f"configured pattern: {exc}")
        direction = (groups.get("direction") or "I").upper()
        return _detail(raw, "configured pattern", start, groups.get("extension"), groups.get("caller"), ring, duration,
                       direction.startswith("I"), bool(duration))


BUILT_IN = {"modem": parse_modem, "whozz": parse_whozz, "panasonic-smdr": parse_panasonic,
            "avaya-smdr": parse_avaya}
