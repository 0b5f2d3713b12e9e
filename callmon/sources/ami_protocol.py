"""The AMI wire format, parsed without a socket.

Asterisk's Manager Interface sends one banner line, then frames of
``Key: Value`` lines ended by a blank line.  Keys may repeat within a frame
(``ChanVariable``), so a frame is kept as its ordered list of pairs, never a
dict.  ``parse`` is pure (bytes in, messages and the unconsumed rest out) so it
is tested without a network; ``StreamParser`` adds the incremental state a
socket reader needs without rescanning its buffer (no quadratic buffering).

Bad input never raises: garbage lines and frames are reported as ``Garbage``
items with their byte offset and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

BANNER_PREFIX = b"Asterisk Call Manager/"
_FRAME_END = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")
# A header key: printable, no colon, no spaces (Asterisk keys are CamelCase words).
_KEY_OK = re.compile(r"[A-Za-z0-9_\-()./]+")


@dataclass(slots=True)
class Message:
    """One AMI frame: an event, a response or an action, keys in wire order."""

    headers: list[tuple[str, str]]
    offset: int = 0
    raw: bytes = b""
    _first: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self._first:
            self._first = dict(reversed(self.headers))  # the first of a repeated key wins

    @property
    def kind(self) -> str:
        """``Event``, ``Response`` or ``Action``: the key of the first header."""
        return self.headers[0][0] if self.headers else ""

    @property
    def name(self) -> str:
        """The event name, response status or action name."""
        return self.headers[0][1] if self.headers else ""

    def get(self, key: str, default: str | None = None) -> str | None:
        """First value of ``key`` (AMI keys are case-sensitive on the wire)."""
        return self._first.get(key, default)

    def getall(self, key: str) -> list[str]:
        """Every value of a key that may repeat, in wire order."""
        return [v for k, v in self.headers if k == key]

    def __contains__(self, key: str) -> bool:
        return key in self._first


@dataclass(slots=True, frozen=True)
class Banner:
    """The ``Asterisk Call Manager/x.y.z`` greeting line."""

    version: str
    offset: int = 0


@dataclass(slots=True, frozen=True)
class Garbage:
    """Bytes that are not AMI, with where they were and what was expected."""

    offset: int
    data: bytes
    reason: str

    def describe(self) -> str:
        preview = self.data[:40]
        return f"byte {self.offset}: {self.reason}, found {preview!r}"


Item = Message | Banner | Garbage


def decode(data: bytes) -> tuple[str, bool]:
    """UTF-8 text of a line; invalid bytes become U+FFFD and are reported."""
    try:
        return data.decode("utf-8"), True
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), False


_FRAME_KEYS = ("Event", "Response", "Action")
_key_cache: dict[str, bool] = {}


def _key_ok(key: str) -> bool:
    """Is this a plausible AMI key?  Cached: a live stream uses a few hundred keys."""
    ok = _key_cache.get(key)
    if ok is None:
        ok = bool(_KEY_OK.fullmatch(key))
        if len(_key_cache) < 50_000:  # garbage must not grow the cache without bound
            _key_cache[key] = ok
    return ok


def parse_frame(frame: bytes, offset: int) -> tuple[Message | None, list[Garbage]]:
    """Turn the bytes of one frame (without its blank line) into a message."""
    try:
        text = frame.decode("utf-8")
    except UnicodeDecodeError:
        return _parse_lines(frame, offset)
    lines = text.split("\r\n") if "\r" in text else text.split("\n")
    if len(lines) - 1 != text.count("\n") or ("\r" in text and text.count("\r") != len(lines) - 1):
        return _parse_lines(frame, offset)  # mixed or stray line endings: go line by line
    headers: list[tuple[str, str]] = []
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and _key_ok(key):
            headers.append((key, value[1:] if value[:1] == " " else value))
        elif line:
            return _parse_lines(frame, offset)  # rare: locate every problem precisely
    return _message(headers, frame, offset, [])


def _parse_lines(frame: bytes, offset: int) -> tuple[Message | None, list[Garbage]]:
    """Line by line, reporting each bad line or byte with its stream offset."""
    headers: list[tuple[str, str]] = []
    problems: list[Garbage] = []
    starts = [0] + [m.end() for m in _LINE_END.finditer(frame)]
    ends = [m.start() for m in _LINE_END.finditer(frame)] + [len(frame)]
    for start, end in zip(starts, ends, strict=True):
        line, line_offset = frame[start:end], offset + start
        if not line:
            continue
        key_b, sep, value_b = line.partition(b":")
        key, key_ok = decode(key_b)
        if not sep or not key_ok or not _key_ok(key):
            problems.append(Garbage(line_offset, line, "expected a 'Key: Value' line"))
            continue
        value, value_ok = decode(value_b[1:] if value_b[:1] == b" " else value_b)
        if not value_ok:
            problems.append(
                Garbage(line_offset, line, f"value of {key!r} is not valid UTF-8 (kept with U+FFFD)")
            )
        headers.append((key, value))
    return _message(headers, frame, offset, problems)


def _message(headers: list[tuple[str, str]], frame: bytes, offset: int,
             problems: list[Garbage]) -> tuple[Message | None, list[Garbage]]:
    if not headers:
        return None, problems
    if headers[0][0] not in _FRAME_KEYS:
        # Garbage glued in front of a real frame: skip to the first frame key.
        for index, (key, _) in enumerate(headers):
            if key in _FRAME_KEYS:
                problems.append(
                    Garbage(offset, frame[:80], f"{index} header(s) before the Event/Response line")
                )
                headers = headers[index:]
                break
        else:
            problems.append(Garbage(offset, frame, "expected a frame starting with Event:, Response: or Action:"))
            return None, problems
    return Message(headers, offset, frame), problems


def _parse_banner(buffer: bytes, base: int) -> tuple[Banner | Garbage | None, int]:
    """The banner line at the start of a stream, or None if more bytes are needed."""
    match = _LINE_END.search(buffer)
    if match is None:
        if len(buffer) >= len(BANNER_PREFIX) and not buffer.startswith(BANNER_PREFIX):
            return Garbage(base, buffer[:80], "expected the 'Asterisk Call Manager/<version>' banner"), 0
        return None, 0
    line = buffer[: match.start()]
    if line.startswith(BANNER_PREFIX):
        return Banner(line[len(BANNER_PREFIX) :].decode("ascii", "replace").strip(), base), match.end()
    return Garbage(base, line[:80], "expected the 'Asterisk Call Manager/<version>' banner"), 0


def iter_frames(buffer: bytes, start: int = 0) -> Iterator[tuple[int, int, int]]:
    """(frame start, frame end, next start) for every complete frame in buffer."""
    pos = start
    for match in _FRAME_END.finditer(buffer, start):
        yield pos, match.start(), match.end()
        pos = match.end()


def parse(buffer: bytes, base_offset: int = 0, expect_banner: bool = False) -> tuple[list[Item], bytes]:
    """Parse every complete frame in ``buffer``; return the items and the rest.

    ``base_offset`` is the stream offset of ``buffer[0]``, so reported offsets
    are positions in the whole stream.  With ``expect_banner`` the buffer is
    the start of a connection and must begin with the banner line.
    """
    items: list[Item] = []
    start = 0
    if expect_banner:
        banner, start = _parse_banner(buffer, base_offset)
        if banner is None:
            return items, buffer
        items.append(banner)
    end_of_last = start
    for frame_start, frame_end, nxt in iter_frames(buffer, start):
        message, problems = parse_frame(buffer[frame_start:frame_end], base_offset + frame_start)
        items.extend(problems)
        if message is not None:
            items.append(message)
        end_of_last = nxt
    return items, buffer[end_of_last:]


MAX_FRAME = 16 * 1024 * 1024  # Asterisk's frames are kilobytes; a Command reply can reach a megabyte


class StreamParser:
    """Incremental AMI parser for a socket or file: feed bytes, get items.

    Keeps a bytearray and the position up to which no frame end was found, so
    a large frame arriving in many small reads is scanned once (linear time).
    """

    def __init__(self, expect_banner: bool = True, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._base = 0  # stream offset of self._buf[0]
        self._scanned = 0  # no frame end starts before this index
        self._expect_banner = expect_banner

    @property
    def offset(self) -> int:
        """Stream offset of the first byte not yet consumed."""
        return self._base

    @property
    def pending(self) -> bytes:
        """Bytes received but not yet part of a complete frame."""
        return bytes(self._buf)

    def feed(self, data: bytes) -> list[Item]:
        """Add bytes; return every item completed by them."""
        self._buf += data
        items: list[Item] = []
        if self._expect_banner:
            banner, used = _parse_banner(bytes(self._buf[:self.max_frame + 1]), self._base)
            if banner is None and len(self._buf) > self.max_frame:  # a banner line that never ends
                banner = Garbage(self._base, bytes(self._buf[:80]), "expected the 'Asterisk Call Manager/<version>' "
                                 f"banner line, found {self.max_frame} bytes without a line end")
            if banner is None:
                return items
            self._expect_banner = False
            items.append(banner)
            self._consume(used)
        consumed = 0
        search_from = max(0, self._scanned - 3)
        buf = self._buf
        while True:
            match = _FRAME_END.search(buf, search_from)
            if match is None:
                break
            message, problems = parse_frame(bytes(buf[consumed : match.start()]), self._base + consumed)
            items.extend(problems)
            if message is not None:
                items.append(message)
            consumed = match.end()
            search_from = consumed
        self._consume(consumed)
        self._scanned = len(self._buf)
        if len(self._buf) > self.max_frame:  # a peer that never ends its frame: drop it, say where, go on
            items.append(Garbage(self._base, bytes(self._buf[:80]),
                                 f"a frame longer than {self.max_frame} bytes without a blank line; skipped"))
            cut = self._buf.rfind(b"\n") + 1
            self._consume(cut if len(self._buf) - cut <= self.max_frame // 2 else len(self._buf))
        return items

    def _consume(self, count: int) -> None:
        if count:
            del self._buf[:count]
            self._base += count
            self._scanned = 0

    def close(self) -> Garbage | None:
        """End of stream: report a truncated last frame, if any."""
        buffered = bytes(self._buf)
        rest = buffered.lstrip(b"\r\n")
        start = self._base + len(buffered) - len(rest)  # where the unfinished frame's bytes begin
        rest = rest.rstrip(b"\r\n")
        if not rest:
            return None
        return Garbage(start, rest[:80], f"stream ended inside a frame ({len(rest)} bytes, no blank line)")


def encode_action(name: str, headers: list[tuple[str, str]] | None = None) -> bytes:
    """Bytes of an AMI action, ready to write to the socket."""
    lines = [f"Action: {name}"]
    for key, value in headers or []:
        if "\r" in value or "\n" in value:
            raise ValueError(f"AMI header {key!r} must not contain a line break")
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
