"""Many real stored calls with their recordings laid out, for the worker-queue fault test and bench.

Why: the queue has to be shown right (and fast) under hundreds of jobs, and each job must be a
real call the worker can find audio for.  The real mixed-session capture is replayed again and
again with its call ids moved on (8 answered calls with recordings per copy), and each call's
MixMonitor files are linked, under the names the events give, to real audio: the fixture
recordings (speech) or the 5-second silence fixture (the VAD finds nothing, so no decoding).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from callmon.store.db import open_store
from callmon.store.jobs import JobQueue
from callmon.store.repository import Store
from tests.conftest import ASTERISK
from tests.test_store import MIXED, replay

ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = ASTERISK / "recordings"
SILENCE = ASTERISK.parent / "audio" / "silence-5s-pcm8k.wav"
# the real calls' recordings, longest first: (linkedid, seconds per channel)
SPEECH = [("1795357773.0", 36.9), ("1795357846.0", 20.2), ("1795358016.0", 20.2), ("1795357820.0", 11.7),
          ("1795357948.0", 11.7)]


def store_calls(db_url: str, copies: int, work: Path) -> tuple[Store, list[int]]:
    """Replay ``copies`` shifted copies of the mixed session; the calls with a transcription job, in queue order."""
    store = Store(open_store(db_url))
    data = MIXED.read_bytes()
    for k in range(copies):
        shift = (k + 1) * 1000  # new Linkedids and Timestamps, later in time, for each copy
        moved = re.sub(rb"\b1795357(\d{3})\.", lambda m, s=shift: b"%d." % (1795357000 + int(m.group(1)) + s), data)
        path = work / f"session-{k}.raw"
        path.write_bytes(moved)
        replay(store, path).end_of_stream("end")
        path.unlink()
    return store, queued_calls(store)


def queued_calls(store: Store) -> list[int]:
    """Call ids of the transcription jobs in the order workers claim them."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from callmon.store.models import Job

    with Session(store.engine) as session:
        return list(session.scalars(select(Job.call_id).order_by(Job.run_after_us, Job.id)))


def speech_files(linkedid: str) -> dict[str, Path]:
    """The operator and caller recordings of one real fixture call."""
    (name,) = {p.name[: -len("-caller.wav")] for p in RECORDINGS.glob(f"*-{linkedid}-caller.wav")}
    return {role: RECORDINGS / f"{name}-{role}.wav" for role in ("operator", "caller")}


def lay_out(store: Store, call_ids: list[int], directory: Path,
            speech: dict[int, str]) -> dict[int, float]:
    """Link each call's per-direction files in ``directory``: speech calls to the fixture call named in
    ``speech`` (call id -> linkedid), the others to silence.  Returns audio seconds per call."""
    directory.mkdir(parents=True, exist_ok=True)
    seconds = dict(SPEECH)
    audio: dict[int, float] = {}
    for call_id in call_ids:
        record = store.call_by_id(call_id)
        assert record is not None
        real = speech_files(speech[call_id]) if call_id in speech else None
        for named in record.recordings:
            role = record.recording_roles.get(named)
            if role not in ("operator", "caller"):
                continue  # the mixed file is not needed when both directions are there
            target = directory / Path(named).name
            target.unlink(missing_ok=True)
            os.symlink(real[role] if real else SILENCE, target)
        audio[call_id] = 2 * (seconds[speech[call_id]] if call_id in speech else 5.0)
    return audio


def worker_env(db_url: str, recordings: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``callmon worker`` on this queue (one recognition thread, fast polling)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLMON_") or k == "CALLMON_MODELS_DIR"}
    env.update({"CALLMON_DATABASE_URL": db_url, "CALLMON_RECORDINGS_DIRS": str(recordings),
                "CALLMON_SPEECH_ENGINE": "whisper", "CALLMON_SPEECH_MODEL": "whisper-base",
                "CALLMON_SPEECH_THREADS": "1", "CALLMON_SPEECH_POLL_SECONDS": "0.2", **extra})
    return env


def start_worker(name: str, env: dict[str, str], logs: Path, *extra_args: str) -> subprocess.Popen[bytes]:
    """``callmon worker --name NAME`` as its own process, stdout and stderr in ``logs``/NAME.out|err."""
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.out").open("wb") as out, (logs / f"{name}.err").open("wb") as err:
        return subprocess.Popen([sys.executable, "-m", "callmon", "worker", "--name", name, *extra_args], env=env,
                                cwd=ROOT, stdout=out, stderr=err)


def reset(store: Store, call_ids: list[int]) -> None:
    """Every job back to pending, as ``callmon reprocess`` does (for another round)."""
    JobQueue(store.engine).enqueue(call_ids, reset=True)
