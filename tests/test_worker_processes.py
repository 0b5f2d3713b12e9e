"""Transcription workers as real processes with the real Whisper model on the fixture recordings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callmon.store.db import open_store
from callmon.store.jobs import JobQueue
from callmon.store.models import Job
from callmon.store.repository import Store
from tests.conftest import ASTERISK

RECORDINGS = ASTERISK / "recordings"
CAPTURES_WITH_AUDIO = ["ami-capture-ring02-compliant.raw", "ami-capture-ring07-noncompliant.raw"]


def env(db_url: str, **extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("CALLMON_") or k == "CALLMON_MODELS_DIR"}
    out.update({"CALLMON_DATABASE_URL": db_url, "CALLMON_RECORDINGS_DIRS": str(RECORDINGS),
                "CALLMON_SPEECH_ENGINE": "whisper", "CALLMON_SPEECH_MODEL": "whisper-base", **extra})
    return out


def callmon(db_url: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callmon", *args], capture_output=True, text=True,
                          env=env(db_url, **extra), timeout=600)


def test_replay_then_worker_stores_both_channels(db_url: str) -> None:
    for name in CAPTURES_WITH_AUDIO:
        assert callmon(db_url, "replay", str(ASTERISK / name)).returncode == 0
    result = callmon(db_url, "worker", "--until-idle")
    assert result.returncode == 0, result.stderr
    assert "transcribing with whisper model whisper-base" in result.stderr
    shown = callmon(db_url, "transcript", "1795357773.0", "--json")
    data = json.loads(shown.stdout)
    assert data["job"]["state"] == "done"
    channels = {t["channel"]: t for t in data["transcripts"]}
    assert set(channels) == {"operator", "caller"}
    operator = channels["operator"]
    assert "你好" in "".join(u["text"] for u in operator["utterances"])
    assert operator["utterances"][0]["start"] < 2.0  # the greeting comes right after answer
    assert operator["file"].endswith("-operator.wav") and not operator["no_speech"]
    again = callmon(db_url, "reprocess", "--since", "2026-11-22", "--no-progress")
    assert again.returncode == 0 and "reprocessed 2 call(s): 2 transcribed, 0 failed" in again.stdout


def test_silent_recordings_give_an_empty_transcript_marked_as_such(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path}/silent.db"
    base = "110-20261122-143027-13951000007-op1001-1795357820.0"
    silence = (ASTERISK.parent / "audio" / "silence-5s-pcm8k.wav").read_bytes()
    for side in ("operator", "caller"):
        (tmp_path / f"{base}-{side}.wav").write_bytes(silence)
    assert callmon(db_url, "replay", str(ASTERISK / CAPTURES_WITH_AUDIO[1])).returncode == 0
    result = callmon(db_url, "worker", "--until-idle", CALLMON_RECORDINGS_DIRS=str(tmp_path))
    assert "1 done" in result.stdout, result.stderr
    data = json.loads(callmon(db_url, "transcript", "1795357820.0", "--json").stdout)
    assert [(t["channel"], t["no_speech"], t["utterances"]) for t in data["transcripts"]] == [
        ("caller", True, []), ("operator", True, [])]
    shown = callmon(db_url, "transcript", "1795357820.0").stdout
    assert "operator: no speech detected" in shown


def test_a_worker_killed_mid_job_loses_nothing(tmp_path: Path, db_url: str) -> None:
    assert callmon(db_url, "replay", str(ASTERISK / CAPTURES_WITH_AUDIO[0])).returncode == 0
    store = Store(open_store(db_url))
    victim = subprocess.Popen([sys.executable, "-m", "callmon", "worker", "--name", "victim"],
                              env=env(db_url, CALLMON_SPEECH_LEASE_SECONDS="4"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and JobQueue(store.engine).counts().get("running", 0) == 0:
        time.sleep(0.05)
    time.sleep(0.5)  # inside the recognition
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert JobQueue(store.engine).counts() == {"running": 1}
    assert callmon(db_url, "worker", "--until-idle", "--name", "early").stdout.count("0 done") == 1  # lease held
    time.sleep(4.5)
    rescued = callmon(db_url, "worker", "--until-idle", "--name", "rescuer")
    assert rescued.returncode == 0 and "1 done" in rescued.stdout
    with Session(store.engine) as session:
        (job,) = session.scalars(select(Job)).all()
        assert (job.state, job.attempts, job.worker) == ("done", 2, "rescuer")
    assert len(store.transcripts(job.call_id)) == 2


@pytest.fixture(autouse=True, scope="module")
def _model_installed() -> None:
    from callmon.speech.models import installed_path

    if installed_path("whisper-base") is None:
        pytest.fail("whisper-base is not installed (`callmon models install whisper-base`)")


@pytest.mark.parametrize(("sample", "channels"), [
    ("call-stereo-pcm8k.wav", ["caller", "operator"]),  # one direction per side, left = operator
    ("call-operator-ulaw8k.wav", ["mixed"]),  # one mono file: both voices, whoever spoke
])
def test_stereo_and_mixed_mono_layouts(tmp_path: Path, sample: str, channels: list[str]) -> None:
    db_url = f"sqlite:///{tmp_path}/layout.db"
    base = "110-20261122-142935-13951000002-op1001-1795357773.0"
    (tmp_path / f"{base}.wav").write_bytes((ASTERISK.parent / "audio" / sample).read_bytes())
    assert callmon(db_url, "replay", str(ASTERISK / CAPTURES_WITH_AUDIO[0])).returncode == 0
    result = callmon(db_url, "worker", "--until-idle", CALLMON_RECORDINGS_DIRS=str(tmp_path))
    assert "1 done" in result.stdout, result.stderr
    data = json.loads(callmon(db_url, "transcript", "1795357773.0", "--json").stdout)
    assert [t["channel"] for t in data["transcripts"]] == channels
    spoken = {t["channel"]: "".join(u["text"] for u in t["utterances"]) for t in data["transcripts"]}
    assert "你好" in spoken.get("operator", spoken.get("mixed", ""))


def test_robotic_espeak_audio_is_marked_low_confidence(tmp_path: Path) -> None:
    """The engine's own scores send hard audio to a person; the natural voices pass."""
    marks = {}
    for name, directory in (("natural", RECORDINGS), ("espeak", ASTERISK / "recordings-espeak")):
        db_url = f"sqlite:///{tmp_path}/{name}.db"
        assert callmon(db_url, "replay", str(ASTERISK / CAPTURES_WITH_AUDIO[0])).returncode == 0
        assert "1 done" in callmon(db_url, "worker", "--until-idle", CALLMON_RECORDINGS_DIRS=str(directory)).stdout
        data = json.loads(callmon(db_url, "transcript", "1795357773.0", "--json").stdout)
        operator = next(t for t in data["transcripts"] if t["channel"] == "operator")
        marks[name] = (operator["low_confidence"], operator["confidence"])
    assert marks["natural"][0] is False and marks["espeak"][0] is True, marks
    assert marks["espeak"][1] < marks["natural"][1] - 0.15


def test_calls_are_judged_when_transcribed_and_the_demo_runs(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path}/judged.db"
    for name in CAPTURES_WITH_AUDIO:
        assert callmon(db_url, "replay", str(ASTERISK / name)).returncode == 0
    assert "2 done" in callmon(db_url, "worker", "--until-idle").stdout
    table = json.loads(callmon(db_url, "score", "--json").stdout)
    (op,) = table["operators"]
    assert op["operator"] == "op1001" and op["calls"] == 2 and op["within_ring_limit_pct"] == 100.0
    flagged = {c["linkedid"]: c for c in table["flagged_calls"]}
    assert "prohibited phrase" in flagged["1795357820.0"]["reasons"]  # 知道了，等着吧
    assert "1795357773.0" not in flagged  # the compliant call passes
    demo = callmon(f"sqlite:///{tmp_path}/demo.db", "demo")
    assert demo.returncode == 0, demo.stderr
    assert "transcribed and checked 5 call(s); 8 without usable recordings" in demo.stdout
    assert "flagged calls:" in demo.stdout and "needs a human: no transcript (no recording found)" in demo.stdout
