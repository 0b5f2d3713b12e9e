"""``callmon eval --audio DIR``: the labelled dialogues heard through the real recogniser.

Text mode judges the grammar alone; audio mode judges what a command center gets: the
dialogues rendered as speech (one WAV per direction, ``<id>.operator.wav`` and
``<id>.caller.wav``, as MixMonitor writes them), transcribed by the installed model with
the settings the worker uses, then checked.  ``--transcripts FILE`` keeps what was
recognised, so a grammar change can be re-scored on the same recognition
(``--from-transcripts FILE``) without decoding the audio again.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from callmon.speech.audio import AudioError
from callmon.speech.transcribe import transcribe_file
from callmon.speech.types import Recognizer

__all__ = ["AudioEvalError", "channel_files", "load_transcripts", "transcribe_dialogues"]

SIDES = ("operator", "caller")


class AudioEvalError(ValueError):
    """A dialogue whose audio is missing or unreadable; the message names the file."""


def channel_files(audio_dir: Path, dialogue_id: str) -> dict[str, Path]:
    """The two direction files of one dialogue; a missing one is an error naming it."""
    files = {side: audio_dir / f"{dialogue_id}.{side}.wav" for side in SIDES}
    for side, path in files.items():
        if not path.is_file():
            raise AudioEvalError(f"{path}: missing: the {side} side of dialogue {dialogue_id!r} "
                                 f"(expected {dialogue_id}.operator.wav and {dialogue_id}.caller.wav in {audio_dir})")
    return files


def transcribe_dialogues(audio_dir: Path, dialogues: Sequence[dict[str, Any]], recognizer: Recognizer,
                         progress: bool = True) -> dict[str, list[dict[str, Any]]]:
    """Every dialogue's two channels through ``recognizer``: ``{id: utterances in time order}``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for n, dialogue in enumerate(dialogues, 1):
        did = str(dialogue["id"])
        utterances: list[dict[str, Any]] = []
        for side, path in channel_files(audio_dir, did).items():
            try:
                utterances += transcribe_file(path, recognizer, channel=side)["utterances"]
            except (AudioError, OSError, ValueError) as exc:
                raise AudioEvalError(f"{path}: cannot transcribe: {exc}") from None
        utterances.sort(key=lambda u: float(u["start"]))
        out[did] = utterances
        if progress:
            print(f"callmon: transcribed {n}/{len(dialogues)} {did}", file=sys.stderr)
    return out


def load_transcripts(path: Path, dialogues: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Recognised utterances saved by ``--transcripts``; every labelled dialogue must be there."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AudioEvalError(f"{path}: cannot read: {exc}") from None
    saved = data.get("dialogues") if isinstance(data, dict) else None
    if not isinstance(saved, dict):
        raise AudioEvalError(f"{path}: expected {{\"model\": …, \"dialogues\": {{id: [utterances]}}}}")
    missing = [str(d["id"]) for d in dialogues if str(d["id"]) not in saved]
    if missing:
        raise AudioEvalError(f"{path}: no transcript for {', '.join(missing)}")
    return {str(d["id"]): list(saved[str(d["id"])]) for d in dialogues}
