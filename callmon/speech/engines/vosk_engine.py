"""Vosk (Kaldi) recognition: one model per process, one recogniser per channel.

The recogniser is created at the recording's true sample rate (Vosk resamples
to the model's rate itself, so 8 kHz telephone audio is never up-sampled by
us first).  Each Vosk result is one utterance; its words carry Vosk's own
times and confidences, and the utterance confidence is their mean.  Vosk's
Chinese output puts spaces between words: ``raw_text`` keeps them, ``text``
is normalised.

Vosk has no speech gate: on line hiss it emits words with confidence 1.0.
Words whose middle lies outside every stretch of speech found by the Silero
VAD (``engines.speech_stretches``, padded by ``GATE_PAD``) are therefore
dropped, and ``raw_text`` is then the kept words as Vosk spaced them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from callmon.speech.engines import VAD_RATE, normalize, speech_stretches
from callmon.speech.types import Samples, Utterance, Word

CHUNK_SECONDS = 0.5  # audio fed per AcceptWaveform call
GATE_PAD = 0.3  # seconds either side of a VAD stretch where Vosk's words still count


class VoskRecognizer:
    """A loaded Vosk model; ``transcribe`` makes a fresh KaldiRecognizer for each channel."""

    engine = "vosk"

    def __init__(self, path: Path, name: str) -> None:
        import vosk

        vosk.SetLogLevel(-1)
        try:
            self._model = vosk.Model(str(path))
        except Exception as exc:  # noqa: BLE001 - vosk raises a bare Exception for any bad model
            raise RuntimeError(f"vosk could not load the model in {path}: {exc}") from None
        self.model = name

    def transcribe(self, samples: Samples, rate: int, channel: str) -> list[Utterance]:
        import vosk

        _, found = speech_stretches(samples, rate)
        if not found:
            return []
        speech = [(s / VAD_RATE - GATE_PAD, e / VAD_RATE + GATE_PAD) for s, e in found]
        recognizer = vosk.KaldiRecognizer(self._model, float(rate))
        recognizer.SetWords(True)
        pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        step = 2 * max(1, int(rate * CHUNK_SECONDS))
        results: list[str] = []
        for start in range(0, len(pcm), step):
            if recognizer.AcceptWaveform(pcm[start:start + step]):
                results.append(recognizer.Result())
        results.append(recognizer.FinalResult())
        utterances = [_utterance(json.loads(r), channel, speech) for r in results]
        return [u for u in utterances if u is not None]


def _utterance(result: dict[str, Any], channel: str, speech: list[tuple[float, float]]) -> Utterance | None:
    """One Vosk result as an utterance, words outside speech dropped (None when none are left)."""
    heard = [Word(str(w["word"]), float(w["start"]), float(w["end"]), float(w["conf"]))
             for w in result.get("result", [])]
    words = [w for w in heard if any(lo <= (w.start + w.end) / 2 <= hi for lo, hi in speech)]
    if not words:
        return None
    raw = str(result.get("text", "")).strip() if len(words) == len(heard) else " ".join(w.text for w in words)
    confidence = sum(w.confidence or 0.0 for w in words) / len(words)
    return Utterance(channel, words[0].start, words[-1].end, normalize(raw), raw, confidence, words)
