"""``callmon worker``, ``callmon reprocess`` and ``callmon transcript``: the stored side of speech."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from typing import Any

from callmon.config import Config
from callmon.speech.types import Recognizer
from callmon.speech.worker import TranscriptionWorker
from callmon.store.db import open_store
from callmon.store.jobs import JobQueue
from callmon.store.repository import Store
from callmon.timeutil import since_us


def recognizer_factory(cfg: Config, args: argparse.Namespace) -> Callable[[], Recognizer]:
    """Load the configured (or best installed) model on first use, saying which on stderr."""

    def load() -> Recognizer:
        from callmon.speech.transcribe import configured_choice, load_choice

        choice = configured_choice(cfg.speech, getattr(args, "engine", None), getattr(args, "model", None))
        recognizer: Recognizer = load_choice(choice, cfg.speech.threads)
        print(f"callmon: transcribing with {recognizer.engine} model {recognizer.model}", file=sys.stderr)
        return recognizer

    return load


def cmd_worker(cfg: Config, args: argparse.Namespace) -> int:
    """Run transcription jobs; SIGTERM finishes the current job and stops."""
    store = Store(open_store(cfg.database.url))
    worker = TranscriptionWorker(cfg, store, recognizer_factory(cfg, args), name=args.name)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop.set())
    worker.run(until_idle=args.until_idle)
    counts = JobQueue(store.engine).counts()
    print(f"worker {worker.name}: {worker.done} done, {worker.failed} failed; queue now {counts}")
    return 0


def cmd_reprocess(cfg: Config, args: argparse.Namespace) -> int:
    """Transcribe again every answered call since a date, with a progress bar."""
    from tqdm import tqdm

    store = Store(open_store(cfg.database.url))
    queue = JobQueue(store.engine)
    calls = queue.calls_since(since_us(args.since, cfg.tz) if args.since else None)
    queue.enqueue(calls, reset=True)
    worker = TranscriptionWorker(cfg, store, recognizer_factory(cfg, args))
    with tqdm(total=len(calls), unit="call", desc="reprocess", file=sys.stderr,
              disable=args.no_progress) as bar:
        worker.run(until_idle=True, on_job=lambda state: bar.update(1) if state in ("done", "failed") else None)
    print(f"reprocessed {len(calls)} call(s): {worker.done} transcribed, {worker.failed} failed; "
          f"queue now {queue.counts()}")
    return 0


def cmd_transcript(cfg: Config, args: argparse.Namespace) -> int:
    """Print a stored call's transcripts (both channels) and its job state."""
    store = Store(open_store(cfg.database.url))
    call_id = store.call_id(args.linkedid)
    if call_id is None:
        print(f"callmon: no call with Linkedid {args.linkedid}", file=sys.stderr)
        return 1
    job = JobQueue(store.engine).job(call_id)
    data: dict[str, Any] = {
        "linkedid": args.linkedid,
        "job": None if job is None else {"state": job.state, "attempts": job.attempts, "error": job.last_error},
        "transcripts": store.transcripts(call_id),
    }
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
        return 0
    print(f"call {args.linkedid}: job {data['job']}")
    lines = [(u["start"], t["channel"], u["text"], u.get("confidence"))
             for t in data["transcripts"] for u in t["utterances"]]
    for start, channel, text, confidence in sorted(lines, key=lambda x: x[0]):
        conf = "" if confidence is None else f"  ({confidence:.2f})"
        print(f"{start:7.2f}s  {channel:8}  {text}{conf}")
    purged = _purged(store, call_id, cfg)
    if purged:
        print(purged)
    for t in data["transcripts"]:
        if t["no_speech"]:
            print(f"{t['channel']}: no speech detected in {t['file']}")
        elif t["low_confidence"]:
            print(f"{t['channel']}: LOW CONFIDENCE ({t['confidence']:.2f}) - send to a person")
    return 0


def _purged(store: Store, call_id: int, cfg: Config) -> str:
    """What ``callmon purge`` removed of this call, and when ("" if nothing): why a transcript is missing."""
    from datetime import datetime

    from sqlalchemy.orm import Session

    from callmon.store.models import Call

    with Session(store.engine) as session:
        call = session.get(Call, call_id)
        marks = [] if call is None else [("recordings", call.recordings_purged_us),
                                         ("transcripts", call.transcripts_purged_us)]
    return "; ".join(f"{what} removed by retention on {datetime.fromtimestamp(us / 1e6, cfg.tz).date()}"
                     for what, us in marks if us)


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("worker", cmd_worker, "run transcription jobs from the queue")
    p.add_argument("--until-idle", action="store_true", help="stop when no job is left")
    p.add_argument("--name", help="worker name in the job table (default host:pid)")
    p.add_argument("--engine", choices=("vosk", "whisper"))
    p.add_argument("--model", metavar="NAME")
    p = add("reprocess", cmd_reprocess, "transcribe answered calls again, with a progress bar")
    p.add_argument("--since", metavar="DATE", help="YYYY-MM-DD in the site time zone (default: all)")
    p.add_argument("--engine", choices=("vosk", "whisper"))
    p.add_argument("--model", metavar="NAME")
    p.add_argument("--no-progress", action="store_true")
    p = add("transcript", cmd_transcript, "show the stored transcript of a call")
    p.add_argument("linkedid")
    p.add_argument("--json", action="store_true")
