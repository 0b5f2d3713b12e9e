"""Nothing lost across restarts and outages: the daemon's items through the spool and back.

Why a module of its own: the daemon's loop stays about reading and feeding,
while what it takes to survive a kill -9 or a database outage sits here:
turning queue items into spool records and back, and the start-up order
(calls in progress from the database, then the spool's items the database
has not seen, then a gap for the time callmon was not running).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from callmon.calls.tracker import snapshot_by_call
from callmon.pipeline import CallPipeline, now_us
from callmon.sources.ami_protocol import Message, parse, parse_frame
from callmon.store.repository import Store
from callmon.store.spool import Item, Spool, SpoolError

log = logging.getLogger(__name__)
_END = b"\r\n\r\n"


def spool_dir(configured: str, database_url: str) -> Path:
    """``[spool] dir``, or by default beside the SQLite file, else ``./spool``: one spool per database."""
    if configured:
        return Path(configured).expanduser()
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().with_name(Path(url.database).name + ".spool")
    return Path("spool")


def encode_payload(kind: str, payload: Any) -> bytes:
    """An item's payload as the spool stores it: frames as received, a gap's reason as text."""
    if kind == "event":
        return bytes(payload.raw)
    if kind == "snapshot":
        return b"".join(bytes(m.raw) + _END for m in payload)
    return str(payload).encode("utf-8")


def decode_payload(item: Item) -> Any:
    """The inverse of ``encode_payload``: Message, [Message] or the gap's reason."""
    if item.kind == "event":
        message, _ = parse_frame(item.payload, 0)
        return message
    if item.kind == "snapshot":
        items, _ = parse(item.payload)
        return [m for m in items if isinstance(m, Message)]
    return item.payload.decode("utf-8", "replace")


def spool_item(spool: Spool, kind: str, payload: Any, at_us: int) -> int:
    """Append to the spool; 0 if it cannot be written (the error is logged once per outage by the spool)."""
    try:
        return spool.append(kind, at_us, encode_payload(kind, payload))
    except SpoolError:
        return 0


def restore(pipeline: CallPipeline, store: Store, pbx: str) -> int:
    """Calls with stored events but no record (in progress at the last stop) back into the tracker."""
    unfinished = store.unfinished_calls(pbx)
    for linkedid in unfinished:
        for event in store.call_events(pbx, linkedid):
            pipeline.tracker.add(event, linkedid)
            pipeline.seen.note(event, linkedid)
    return len(unfinished)


def replay_spool(pipeline: CallPipeline, spool: Spool, store: Store) -> int:
    """Feed the spool's items that the database does not have yet, in order; return how many."""
    mark = store.spool_mark(pipeline.spool_name or "")
    count = 0
    for item in spool.recover(mark):
        payload = decode_payload(item)
        if item.kind == "event" and payload is not None:
            pipeline.feed(payload, item.at_us)
        elif item.kind == "gap":
            pipeline.gap(item.at_us, payload)
        elif item.kind == "snapshot":
            pipeline.reconcile(snapshot_by_call(payload, item.at_us), item.at_us)
        pipeline.position = item.seq
        count += 1
    return count


def start(pipeline: CallPipeline, spool: Spool, store: Store, pbx: str) -> tuple[int, int]:
    """The start-up order; returns (calls restored from the database, spool items replayed)."""
    restored = restore(pipeline, store, pbx)
    replayed = replay_spool(pipeline, spool, store)
    if pipeline.tracker.in_progress:
        pipeline.gap(now_us(), "callmon was not running")
    if replayed:
        log.info("spool: %d item(s) received before the last stop were not in the database; stored now",
                 replayed)
    return restored, replayed
