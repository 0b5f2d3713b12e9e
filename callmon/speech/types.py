"""What a recogniser returns: timed utterances per channel, in one JSON shape.

The same shape is printed by ``callmon transcribe --json``, stored for each
call and read by the compliance checks.  Times are seconds from the start of
the recording, which starts at answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

CHANNELS = ("operator", "caller")
Samples = npt.NDArray[np.float32]


@dataclass(slots=True)
class Word:
    text: str
    start: float
    end: float
    confidence: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "start": round(self.start, 3), "end": round(self.end, 3),
                "confidence": None if self.confidence is None else round(self.confidence, 3)}


@dataclass(slots=True)
class Utterance:
    """One stretch of speech on one channel: normalised text and what the engine said."""

    channel: str
    start: float
    end: float
    text: str
    raw_text: str
    confidence: float | None = None
    words: list[Word] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel, "start": round(self.start, 3), "end": round(self.end, 3),
            "text": self.text, "raw_text": self.raw_text,
            "confidence": None if self.confidence is None else round(self.confidence, 3),
            "words": [w.to_json() for w in self.words],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Utterance:
        return cls(data["channel"], data["start"], data["end"], data["text"], data["raw_text"],
                   data.get("confidence"), [Word(**w) for w in data.get("words", [])])


class Recognizer(Protocol):
    """One loaded model; ``transcribe`` may be called many times, from one thread."""

    engine: str
    model: str

    def transcribe(self, samples: Samples, rate: int, channel: str) -> list[Utterance]:
        """Utterances of one channel.  ``samples`` are mono float32 in [-1, 1] at ``rate`` Hz."""
        ...
