"""1,000 malformed recordings through the path a transcription job takes.

Why: a site's recordings are written by MixMonitor, copied by scripts and cut off by crashes.
A bad one must end its job as "failed: bad audio: <file>: byte N: <what>", at once and without
touching the model: no other exception type, no hang, no allocation a lying header asks for.
Every file goes through ``read_wav`` and ``transcribe_sources`` (what the worker runs); 52 of
them (two of each kind) through a real ``TranscriptionWorker`` claiming from the job queue of a
real SQLite store, with the real call's other channel intact beside the bad one.
"""

from __future__ import annotations

import re
import shutil
import tracemalloc
from pathlib import Path

import pytest

from callmon.config import Config
from callmon.speech.audio import AudioError, parse_wav, read_wav
from callmon.speech.recordings import Source
from callmon.speech.worker import TranscriptionWorker, transcribe_sources
from callmon.store.db import open_store
from callmon.store.jobs import JobQueue
from callmon.store.repository import Store
from tests.conftest import ASTERISK
from tests.faults.bad_audio import COUNT, FAMILIES, RECORDINGS, BadWav, bad_wavs, fmt, real, wav
from tests.faults.watchdog import hang_guard
from tests.test_store import replay

ROOT = Path(__file__).resolve().parents[2]
CALL = "110-20261122-143027-13951000007-op1001-1795357820.0"  # ami-capture-ring07-noncompliant.raw


def no_model() -> None:
    raise AssertionError("the model was touched for a file that cannot be decoded")


def refused(path: Path, bad: BadWav) -> str:
    """read_wav's error for the file, checked: file name, byte offset, the family's reason; small memory."""
    tracemalloc.start()
    try:
        with hang_guard(10, bad.name), pytest.raises(AudioError) as caught:
            read_wav(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert message.startswith(f"{path}: byte "), message
    assert re.match(r"^byte \d+: ", message[len(str(path)) + 2:]), message
    assert re.search(bad.reason, message), f"expected /{bad.reason}/, got: {message}"
    assert peak < 3 * len(bad.data) + 256_000, f"{peak} bytes allocated for a {len(bad.data)}-byte file"
    return message


def test_a_thousand_malformed_recordings_fail_clearly(tmp_path: Path) -> None:
    bads = bad_wavs()
    assert len(bads) == COUNT and len({b.name for b in bads}) == COUNT
    problems: list[str] = []
    for bad in bads:
        path = tmp_path / f"{bad.name}.wav"
        path.write_bytes(bad.data)
        try:
            message = refused(path, bad)
            with pytest.raises(AudioError) as again:  # the worker's path: every file decoded before any model
                transcribe_sources([Source(path, "operator")], no_model, "operator", 0.5)  # type: ignore[arg-type]
            assert str(again.value) == message
        except (AssertionError, pytest.fail.Exception) as exc:
            problems.append(f"{bad.name}: {exc}".splitlines()[0])
        finally:
            path.unlink()
    assert not problems, f"{len(problems)} of {COUNT} files not refused as expected:\n" + "\n".join(problems[:20])


@pytest.mark.parametrize("size", [0xFFFFFFFF, 0x7FFFFFFF])
def test_a_header_claiming_gigabytes_reads_what_is_there_without_allocating_them(tmp_path: Path, size: int) -> None:
    """The one tolerated lie (MixMonitor writes the sizes at close): the audio present is read and noted."""
    src = real(0)
    path = tmp_path / "growing.wav"
    path.write_bytes(wav(src[20:36], src[44:], data_size=size))
    tracemalloc.start()
    try:
        decoded = read_wav(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert decoded.note is not None and decoded.note.startswith(f"{path}: byte 40: header claims {size} bytes")
    assert len(decoded.channels[0]) == (len(src) - 44) // 2
    assert peak < 12 * len(src), f"{peak / 1e6:.1f} MB allocated for a {len(src) / 1e6:.1f} MB file"


def test_bad_audio_fails_the_job_through_the_real_worker_and_queue(tmp_path: Path) -> None:
    store = Store(open_store(f"sqlite:///{tmp_path / 'jobs.db'}"))
    replay(store, ASTERISK / "ami-capture-ring07-noncompliant.raw").end_of_stream("end")
    queue = JobQueue(store.engine)
    (call_id,) = queue.calls_since(None)
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    cfg = Config()
    cfg.recordings.dirs = [str(recordings)]
    cfg.compliance.grammar = str(ROOT / "grammars" / "changzhou-110.yaml")
    worker = TranscriptionWorker(cfg, store, no_model, name="fault-audio")  # type: ignore[arg-type]
    good = {role: next(p for p in RECORDINGS if p.name == f"{CALL}-{role}.wav") for role in ("operator", "caller")}
    per_family = len(FAMILIES)
    sample = [b for k, b in enumerate(bad_wavs()) if k < 2 * per_family]  # two of every kind
    assert len(sample) >= 50
    for k, bad in enumerate(sample):
        bad_role, good_role = ("operator", "caller") if k % 2 == 0 else ("caller", "operator")
        bad_path = recordings / f"{CALL}-{bad_role}.wav"
        bad_path.write_bytes(bad.data)
        shutil.copyfile(good[good_role], recordings / f"{CALL}-{good_role}.wav")
        expected = refused(bad_path, bad)
        assert queue.enqueue([call_id], reset=True) == 1
        states: list[str] = []
        with hang_guard(30, f"worker on {bad.name}"):
            worker.run(until_idle=True, on_job=states.append)
        row = queue.job(call_id)
        assert states == ["failed"], (bad.name, states, row.last_error if row else None)
        assert row is not None and row.state == "failed" and row.attempts == 1, bad.name
        assert row.last_error == f"bad audio: {expected}", (bad.name, row.last_error)
        assert str(bad_path) in row.last_error
    assert worker.failed == len(sample) and worker.done == 0
    assert queue.counts() == {"failed": 1}
    assert store.transcripts(call_id) == []


def test_the_builders_make_readable_files_when_nothing_is_broken() -> None:
    """The generator's own check: the parts every family starts from are a valid file, so each
    family's failure comes from the one thing it breaks."""
    src = real(0)
    for made in (wav(src[20:36], src[44:44 + 1600]), wav(fmt(), src[44:44 + 1600])):
        assert parse_wav(made, "good.wav").seconds == pytest.approx(0.1)
