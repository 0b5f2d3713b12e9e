"""The recognition engines behind the one ``Recognizer`` interface (``callmon.speech.types``).

Each engine module imports its heavy library only when a model is loaded, so
``callmon --help`` and the parts of callmon that never transcribe stay light.
Both engines find speech with the Silero VAD that ships with faster-whisper:
Whisper decodes each stretch it finds; Vosk, which has no speech gate of its
own and turns hiss into confident words, keeps only words inside a stretch.
"""

from __future__ import annotations

from pathlib import Path

from callmon.speech.audio import resample
from callmon.speech.types import Recognizer, Samples

ENGINES = ("vosk", "whisper")
VAD_RATE = 16000  # Silero's (and Whisper's) rate
# A second of silence ends a stretch; blips under 250 ms are not speech; Whisper's window is 30 s.
VAD = {"min_silence_duration_ms": 1000, "speech_pad_ms": 0, "min_speech_duration_ms": 250,
       "max_speech_duration_s": 28.0}


def normalize(raw: str) -> str:
    """The utterance ``text``: Simplified, no spaces or punctuation, 110 and digit runs as digits."""
    from callmon.speech.normalize import normalize_text

    return normalize_text(raw)


def speech_stretches(samples: Samples, rate: int) -> tuple[Samples, list[tuple[int, int]]]:
    """The channel at 16 kHz and its stretches of speech as (start, end) sample indices at 16 kHz."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    audio = resample(samples, rate, VAD_RATE)
    found = get_speech_timestamps(audio, VadOptions(**VAD), sampling_rate=VAD_RATE)
    return audio, [(int(s["start"]), int(s["end"])) for s in found]


def load_engine(engine: str, path: Path, name: str, threads: int = 2) -> Recognizer:
    """Load the model at ``path`` with its engine; done once per process by ``transcribe.load_recognizer``."""
    if engine == "vosk":
        from callmon.speech.engines.vosk_engine import VoskRecognizer

        return VoskRecognizer(path, name)
    if engine == "whisper":
        from callmon.speech.engines.whisper_engine import WhisperRecognizer

        return WhisperRecognizer(path, name, threads)
    raise ValueError(f"unknown engine {engine!r} (expected {' or '.join(ENGINES)})")
