"""Replay: a raw AMI capture file read through the same parser as the socket.

A capture is the byte stream an AMI client received (banner, responses,
events, CRLF kept).  A file that does not start like AMI is refused with the
file name and byte offset; garbage later in the file is logged and skipped;
a capture cut off mid-frame still yields every complete frame.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from callmon.sources.ami_protocol import BANNER_PREFIX, Banner, Garbage, Item, Message, StreamParser

log = logging.getLogger(__name__)
_FRAME_STARTS = (b"Event:", b"Response:", b"Action:")


class NotAmiError(Exception):
    """The file is not an AMI capture."""


def read_capture(path: Path, chunk_size: int = 1 << 16) -> Iterator[Item]:
    """Every banner, message and garbage item of a capture, in file order."""
    with path.open("rb") as handle:
        head = handle.read(chunk_size)
        if not head:
            raise NotAmiError(f"{path}: byte 0: empty file, expected an AMI capture")
        starts_with_banner = head.startswith(BANNER_PREFIX)
        if not starts_with_banner and not head.lstrip(b"\r\n").startswith(_FRAME_STARTS):
            raise NotAmiError(
                f"{path}: byte 0: not an AMI capture: expected 'Asterisk Call Manager/<version>' "
                f"or an 'Event:'/'Response:' frame, found {head[:32]!r}"
            )
        parser = StreamParser(expect_banner=starts_with_banner)
        chunk = head
        seen_message = False
        while chunk:
            for item in parser.feed(chunk):
                if isinstance(item, Message):
                    seen_message = True
                elif isinstance(item, Garbage):
                    if not seen_message:
                        raise NotAmiError(f"{path}: {item.describe()}")
                    log.warning("%s: skipped %s", path, item.describe())
                yield item
            chunk = handle.read(chunk_size)
        tail = parser.close()
        if tail is not None:
            log.warning("%s: %s", path, tail.describe())
            yield tail


def banner_version(items: list[Item]) -> str | None:
    return next((i.version for i in items if isinstance(i, Banner)), None)
