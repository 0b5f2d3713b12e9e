"""Choosing and loading a recogniser, and transcribing one recording file.

A model is loaded once per process (loading Whisper or a large Vosk graph
takes seconds; a call takes less) and shared by every later call for the same
model.  ``transcribe_file`` gives the JSON object printed by
``callmon transcribe --json``: exactly ``file, engine, model, utterances``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callmon.speech.audio import Audio, read_wav
from callmon.speech.engines import ENGINES, load_engine
from callmon.speech.models import ModelError, ModelSpec, default_model, model_path, spec
from callmon.speech.models import models_dir as resolve_models_dir
from callmon.speech.types import CHANNELS, Recognizer, Samples, Utterance

if TYPE_CHECKING:
    from callmon.config import SpeechConfig

DEFAULT_THREADS = 2
_LOADED: dict[tuple[str, int], Recognizer] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Choice:
    """The model to use, where it is installed, and why it was picked (for the person running callmon)."""

    spec: ModelSpec
    path: Path
    reason: str


def choose_model(engine: str | None, model: str | None,
                 models_dir: str | os.PathLike[str] | None = None) -> Choice:
    """The named model, or the best installed Mandarin model (of ``engine`` if given)."""
    if engine and engine not in ENGINES:
        raise ModelError(f"unknown engine {engine!r} (expected {' or '.join(ENGINES)})")
    root = resolve_models_dir(models_dir)
    if model:
        chosen = spec(model)
        if engine and chosen.engine != engine:
            raise ModelError(f"model {model} is a {chosen.engine} model, not {engine}")
        return Choice(chosen, model_path(model, root), "chosen")
    best = default_model(root, engine or None)
    kind = f"{engine} " if engine else ""
    if best is None:
        suggestion = "vosk-small-cn" if engine == "vosk" else "whisper-base"
        raise ModelError(f"no Mandarin {kind}model is installed in {root}; install one with "
                         f"`callmon models install {suggestion}` (`callmon models list` shows them all)")
    return Choice(best, root / best.name, f"default: best Mandarin {kind}model installed")


def configured_choice(speech: SpeechConfig, engine: str | None = None, model: str | None = None,
                      models_dir: str | os.PathLike[str] | None = None) -> Choice:
    """The model the flags name, else the ``[speech]`` settings, else the best installed.

    ``--model`` names its own engine, so the configured engine applies only with the configured
    model ("" in the config: the best installed).
    """
    return choose_model(engine or (None if model else speech.engine or None), model or speech.model or None,
                        models_dir or speech.models_dir or None)


def load_choice(choice: Choice, threads: int | None = None) -> Recognizer:
    """Load a chosen model, or return the one this process already loaded."""
    key = (str(choice.path.resolve()), threads or DEFAULT_THREADS)
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = load_engine(choice.spec.engine, choice.path, choice.spec.name, key[1])
        return _LOADED[key]


def load_recognizer(engine: str | None = None, model: str | None = None,
                    models_dir: str | os.PathLike[str] | None = None, threads: int | None = None) -> Recognizer:
    """The recogniser for these settings ("" or None = the best installed Mandarin model)."""
    return load_choice(choose_model(engine or None, model or None, models_dir), threads)


def channel_parts(audio: Audio, mono_channel: str, stereo_left: str) -> list[tuple[str, Samples]]:
    """Whose voice each side holds: a stereo file's left side is ``stereo_left``, a mono file is one channel."""
    if len(audio.channels) == 2:
        right = next(c for c in CHANNELS if c != stereo_left)
        return [(stereo_left, audio.channels[0]), (right, audio.channels[1])]
    return [(mono_channel, audio.channels[0])]


def transcribe_file(path: str | os.PathLike[str], recognizer: Recognizer, channel: str | None = None,
                    stereo_left: str = "operator") -> dict[str, Any]:
    """One recording as ``{file, engine, model, utterances}``, utterances of both sides sorted by start.

    A stereo file holds one direction per side (the left is ``stereo_left``);
    a mono file is one channel, ``channel`` (default operator).  Unreadable
    audio raises ``AudioError``.
    """
    for value in (channel, stereo_left):
        if value is not None and value not in CHANNELS:
            raise ValueError(f"channel {value!r}: expected {' or '.join(CHANNELS)}")
    audio = read_wav(Path(path))
    parts = channel_parts(audio, channel or "operator", stereo_left)
    utterances: list[Utterance] = []
    for name, samples in parts:
        utterances.extend(recognizer.transcribe(samples, audio.rate, name))
    utterances.sort(key=lambda u: (u.start, u.channel))
    return {"file": str(path), "engine": recognizer.engine, "model": recognizer.model,
            "utterances": [u.to_json() for u in utterances]}
