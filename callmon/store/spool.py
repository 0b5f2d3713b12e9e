"""The local durable spool: what AMI sent is on disk before it is processed.

Why: the database can be away (PostgreSQL restarting, the SQLite file made
read-only) and the daemon can be killed -9 at any instant, yet every event
Asterisk sent must reach the store exactly once.  Each item the daemon
receives (an event, a gap, a snapshot) is appended here first, numbered.  The
database keeps, in ``spool_marks`` and in the same transaction as the events,
the number of the last item whose events it holds; on start the items after
it are replayed, so none is lost and none is stored twice.  Segments wholly
below the mark are deleted.

Record layout (little-endian): ``b"CS"``, kind u8, seq u64, at_us i64,
length u32, payload, CRC-32 u32 of everything before it.  A torn record at the
end of a segment (power loss, disk full) is reported with its file and byte
offset and cut off; nothing after it in that segment can be trusted.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

EVENT, GAP, SNAPSHOT = 1, 2, 3
KINDS = {"event": EVENT, "gap": GAP, "snapshot": SNAPSHOT}
NAMES = {v: k for k, v in KINDS.items()}
_HEAD = struct.Struct("<2sBQqI")
_CRC = struct.Struct("<I")
_MAGIC = b"CS"
_MAX_PAYLOAD = 64 * 1024 * 1024  # a length above this is corruption, not a frame


class SpoolError(Exception):
    """The spool cannot be written (disk full, read-only, gone); the message says where."""


@dataclass(slots=True, frozen=True)
class Item:
    """One spooled item, as it was received."""

    seq: int
    kind: str
    at_us: int
    payload: bytes


def _segment_name(first_seq: int) -> str:
    """``spool-0000012-345678.seg``: sorts by number, and no digit run a log's phone masking would hide."""
    return f"spool-{first_seq // 1_000_000:010d}-{first_seq % 1_000_000:06d}.seg".replace("-0000", "-", 1)


def _first_seq(path: Path) -> int:
    high, low = path.stem.split("-")[1:3]
    return int(high) * 1_000_000 + int(low)


def encode(seq: int, kind: int, at_us: int, payload: bytes) -> bytes:
    head = _HEAD.pack(_MAGIC, kind, seq, at_us, len(payload))
    return head + payload + _CRC.pack(zlib.crc32(payload, zlib.crc32(head)))


def read_segment(path: Path) -> tuple[list[Item], int, str | None]:
    """(items, bytes that are whole records, what is wrong after them or None)."""
    data = path.read_bytes()
    items: list[Item] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < _HEAD.size:
            return items, pos, f"{path}: byte {pos}: a record header cut short ({len(data) - pos} bytes)"
        magic, kind, seq, at_us, length = _HEAD.unpack_from(data, pos)
        if magic != _MAGIC or kind not in NAMES or length > _MAX_PAYLOAD:
            return items, pos, f"{path}: byte {pos}: not a spool record (expected the b'CS' header)"
        end = pos + _HEAD.size + length
        if end + _CRC.size > len(data):
            return items, pos, f"{path}: byte {pos}: record {seq} cut short (power loss or disk full)"
        (crc,) = _CRC.unpack_from(data, end)
        if crc != zlib.crc32(data[pos:end]):
            return items, pos, f"{path}: byte {pos}: record {seq} fails its checksum"
        items.append(Item(seq, NAMES[kind], at_us, data[pos + _HEAD.size:end]))
        pos = end + _CRC.size
    return items, pos, None


class Spool:
    """Append-only numbered items in segment files under ``directory``."""

    def __init__(self, directory: str | os.PathLike[str], *, segment_bytes: int = 32 * 1024 * 1024,
                 fsync_seconds: float = 1.0) -> None:
        self.dir = Path(directory)
        self.segment_bytes = segment_bytes
        self.fsync_seconds = fsync_seconds
        self.next_seq = 1
        self.ok = True  # False while appends fail (disk full...): /readyz says so
        self.failures = 0
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._synced_at = time.monotonic()

    def segments(self) -> list[Path]:
        return sorted(self.dir.glob("spool-*.seg"))

    def recover(self, after_seq: int) -> Iterator[Item]:
        """Items after ``after_seq`` in order; torn tails are reported and cut off.  Call once, first."""
        self.dir.mkdir(parents=True, exist_ok=True)
        last = after_seq
        for path in self.segments():
            items, good, problem = read_segment(path)
            if problem is not None:
                log.error("spool: %s; the %d byte(s) from there on are dropped", problem, path.stat().st_size - good)
                with path.open("r+b") as handle:
                    handle.truncate(good)
            for item in items:
                last = max(last, item.seq)
                if item.seq > after_seq:
                    yield item
        self.next_seq = last + 1

    def append(self, kind: str, at_us: int, payload: bytes) -> int:
        """Write one item (to the OS: a kill -9 cannot lose it) and return its number."""
        seq = self.next_seq
        record = encode(seq, KINDS[kind], at_us, payload)
        try:
            if self._fd is None or self._size >= self.segment_bytes:
                self._open_segment(seq)
            assert self._fd is not None
            written = os.write(self._fd, record)
            if written != len(record):  # a regular file takes less than asked only when the disk is full
                raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} ({written} of {len(record)} bytes written)")
        except OSError as exc:
            self._undo(exc)
        self._size += len(record)
        self.next_seq = seq + 1
        if not self.ok:
            log.warning("spool: writing to %s again after %d failed item(s)", self.dir, self.failures)
            self.ok, self.failures = True, 0
        if self.fsync_seconds >= 0 and time.monotonic() - self._synced_at >= self.fsync_seconds:
            self.sync()
        return seq

    def _undo(self, exc: OSError) -> None:
        """Cut a partial record off again so the segment stays readable, then raise SpoolError."""
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, self._size)
                os.lseek(self._fd, self._size, os.SEEK_SET)
            except OSError:
                self._close()
        self.failures += 1
        if self.ok:
            self.ok = False
            log.error("spool: cannot write to %s: %s; events are processed but not durable until it can",
                      self._path or self.dir, exc.strerror or exc)
        raise SpoolError(f"{self._path or self.dir}: {exc.strerror or exc}") from None

    def _open_segment(self, first_seq: int) -> None:
        self._close()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._path = self.dir / _segment_name(first_seq)
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size

    def sync(self) -> None:
        """fsync the open segment: the items survive a power loss too."""
        self._synced_at = time.monotonic()
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                log.warning("spool: fsync of %s failed: %s", self._path, exc.strerror or exc)

    def release(self, upto_seq: int) -> int:
        """Delete segments whose items are all at or below ``upto_seq`` (in the database); return how many."""
        paths = self.segments()
        removed = 0
        for path, following in itertools.pairwise(paths):
            if path == self._path:
                break
            next_first = _first_seq(following)
            if next_first - 1 > upto_seq:
                break
            try:
                path.unlink()
                removed += 1
            except OSError as exc:
                log.warning("spool: cannot remove %s: %s", path, exc.strerror or exc)
                break
        if self._path is not None and self._size >= self.segment_bytes and upto_seq >= self.next_seq - 1:
            self._close()  # everything is stored: the next item starts a fresh segment, this one can go
        return removed

    def _close(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)
        self._fd, self._path, self._size = None, None, 0

    def close(self) -> None:
        self._close()

    def pending_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.segments() if p.exists())
