"""Whisper recognition through faster-whisper (CTranslate2, int8 on the CPU).

Decoding the whole channel at once lets Whisper run several turns into one
segment, so the times of each utterance are lost.  Instead faster-whisper's
own Silero VAD splits the channel into stretches of speech (a second of
silence ends one), and each stretch is decoded on its own: one utterance per
stretch, timed by the VAD, with Whisper's word times inside it.

Nothing biases the decoder towards what the operator *should* say: no initial
prompt, no hotwords, no prefix, no conditioning on earlier text.  Compliance is
judged on what was heard, so the required script is never shown to the model.

Beam search only, no sampling (``temperature=0``): the same audio always gives
the same transcript, so audits can be re-run.  faster-whisper's own retries at
rising temperatures sample on CTranslate2's worker thread, whose random generator
``set_random_seed`` does not reach, so a retried decode depended on what the
process had decoded before.  Instead a stretch whose decode is a repetition loop
(compression ratio above 2.4: "你好，常州110" heard as 1-0-0-0-0…) is decoded
again by beam search that may not repeat a 3-token sequence (``RETRY``), which is
just as deterministic; if that still loops the loop is kept, scored 0 below and so
marked low-confidence: a person listens.

Confidence comes from Whisper's own scores.  Per segment
``c = exp(avg_logprob) * (1 - no_speech_prob)`` (the mean token probability,
discounted by the chance the stretch holds no speech), and ``c = 0`` for a
segment whose compression ratio is still above Whisper's 2.4 after every
retry (a repetition loop such as 4444…, which scores a high log-probability).
An utterance's confidence is the token-weighted mean of ``c`` over its
segments.  Word confidence is Whisper's word probability.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from callmon.speech.engines import VAD_RATE, normalize, speech_stretches
from callmon.speech.types import Samples, Utterance, Word

MAX_COMPRESSION = 2.4  # faster-whisper's compression_ratio_threshold: above it a decode has failed
PAD_SECONDS = 0.4  # context either side of each stretch, as faster-whisper pads its own VAD chunks
DECODE: dict[str, Any] = {
    "language": "zh", "task": "transcribe", "beam_size": 5, "word_timestamps": True, "temperature": 0.0,
    "vad_filter": True, "vad_parameters": {"min_silence_duration_ms": 1000, "speech_pad_ms": 400},
    "condition_on_previous_text": False, "initial_prompt": None, "hotwords": None, "prefix": None,
}


RETRY: dict[str, Any] = {"no_repeat_ngram_size": 3, "repetition_penalty": 1.2}


def _loops(segments: list[Any]) -> bool:
    return any(s.compression_ratio > MAX_COMPRESSION for s in segments)


class WhisperRecognizer:
    """A loaded faster-whisper model; ``transcribe`` decodes one channel utterance by utterance."""

    engine = "whisper"

    def __init__(self, path: Path, name: str, threads: int = 2) -> None:
        from faster_whisper import WhisperModel

        logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # one INFO line per utterance otherwise
        self._model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads)
        self.model = name

    def transcribe(self, samples: Samples, rate: int, channel: str) -> list[Utterance]:
        audio, stretches = speech_stretches(samples, rate)
        pad = int(PAD_SECONDS * VAD_RATE)
        utterances = []
        for start, end in stretches:
            lo, hi = max(0, start - pad), min(len(audio), end + pad)
            decoded, _ = self._model.transcribe(audio[lo:hi], **DECODE)
            segments = list(decoded)
            if _loops(segments):
                retried, _ = self._model.transcribe(audio[lo:hi], **DECODE, **RETRY)
                again = list(retried)
                if again and not _loops(again):
                    segments = again
            utterance = _utterance(segments, channel, lo / VAD_RATE, start / VAD_RATE, end / VAD_RATE)
            if utterance is not None:
                utterances.append(utterance)
        return utterances


def _utterance(segments: list[Any], channel: str, offset: float, start: float, end: float) -> Utterance | None:
    """The segments of one stretch as one utterance (None when Whisper heard nothing in it)."""
    raw = "".join(s.text for s in segments).strip()
    text = normalize(raw) if raw else ""
    if not text:
        return None
    weights = [max(1, len(s.tokens)) for s in segments]
    scores = [0.0 if s.compression_ratio > MAX_COMPRESSION else math.exp(s.avg_logprob) * (1.0 - s.no_speech_prob)
              for s in segments]
    confidence = sum(w * c for w, c in zip(weights, scores, strict=True)) / sum(weights)
    words = [Word(w.word.strip(), offset + float(w.start), offset + float(w.end), float(w.probability))
             for s in segments for w in (s.words or []) if w.word.strip()]
    return Utterance(channel, start, end, text, raw, confidence, words)
