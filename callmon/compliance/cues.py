"""Cues: short key words that decide an item where whole-phrase similarity cannot.

Operators ask for an element in endless ways (在哪儿 / 家住哪 / 具体哪个小区 / 地址说一下),
and callers volunteer facts in the middle of long sentences.  Fuzzy alignment of whole
phrases (``matching.py``) rewards wording close to a listed phrase; a cue instead says
which words are enough on their own.  A grammar lists cues beside its phrases:

* ``哪儿``: the word as written, after normalisation (spaces, punctuation, Traditional to
  Simplified, numbers).  From three characters on, the same toneless pinyin also counts,
  so recognition homophones still match (三个工作日 / 三个工作室 do not, 长周 / 常州 do);
  one and two characters must match as written, since short homophones are everywhere
  (哪里 / 那里).
* ``投诉…民警``: the parts in order within one utterance, each starting at most
  ``GAP`` (8) characters after the previous part ended ("我要投诉你们民警").
* ``re:[0-9]{7,}``: a regular expression on the normalised text (a spoken phone number
  is normalised to digits).

A cue match is evidence like a phrase match: the utterance, the characters, the audio
time; its similarity is 1.0 on the side that matched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from callmon.compliance.matching import Match, PreparedTranscript, UttView, normalize_for_match, span_match, to_pinyin

__all__ = ["GAP", "Cue", "CueError", "find_any_cue", "find_cue", "parse_cue"]

GAP = 8
ELLIPSIS = ("…", "...")
PINYIN_MIN_CHARS = 3


class CueError(ValueError):
    """A cue that cannot be used (empty part, bad regular expression)."""


@dataclass(frozen=True)
class Cue:
    """One cue as written, with its normalised parts (and their pinyin) or its compiled pattern."""

    text: str
    parts: tuple[str, ...]
    syllables: tuple[tuple[str, ...], ...]
    pattern: re.Pattern[str] | None


@lru_cache(maxsize=4096)
def parse_cue(text: str) -> Cue:
    """Validate and prepare one cue; ``CueError`` says what is wrong with it."""
    text = text.strip()
    if text.startswith("re:"):
        source = text[3:]
        if not source:
            raise CueError("an empty regular expression")
        try:
            pattern = re.compile(source)
        except re.error as exc:
            raise CueError(f"not a valid regular expression: {exc}") from None
        if pattern.search("") is not None:
            raise CueError("the regular expression matches empty text")
        return Cue(text, (), (), pattern)
    raw = text
    for mark in ELLIPSIS:
        raw = raw.replace(mark, "\0")
    parts = tuple(normalize_for_match(p) for p in raw.split("\0"))
    if not parts or any(not p for p in parts):
        raise CueError("every part of a cue needs at least one character (after removing punctuation)")
    return Cue(text, parts, tuple(tuple(to_pinyin(p)) for p in parts), None)


def _find_part(utt: UttView, part: str, syllables: tuple[str, ...], start: int, limit: int) -> tuple[int, int] | None:
    """First occurrence of one part starting within [start, limit]: as written, else (3+ chars) as pinyin."""
    chars = utt.chars
    at = chars.find(part, start, min(len(chars), limit + len(part)))
    if at >= 0:
        return at, at + len(part)
    if len(part) < PINYIN_MIN_CHARS:
        return None
    n = len(syllables)
    for i in range(start, min(len(chars) - n, limit) + 1):
        if utt.syllables[i:i + n] == syllables:
            return i, i + n
    return None


def _find_in(utt: UttView, cue: Cue) -> tuple[int, int] | None:
    if cue.pattern is not None:
        m = cue.pattern.search(utt.chars)
        return (m.start(), m.end()) if m else None
    first = _find_part(utt, cue.parts[0], cue.syllables[0], 0, len(utt.chars))
    while first is not None:
        lo, end = first
        for part, syllables in zip(cue.parts[1:], cue.syllables[1:], strict=True):
            nxt = _find_part(utt, part, syllables, end, end + GAP)
            if nxt is None:
                break
            end = nxt[1]
        else:
            return lo, end
        first = _find_part(utt, cue.parts[0], cue.syllables[0], lo + 1, len(utt.chars))
    return None


def find_cue(transcript: PreparedTranscript, cue: Cue | str) -> Match | None:
    """The first utterance span that fits the cue, as evidence; None when no utterance does."""
    cue = parse_cue(cue) if isinstance(cue, str) else cue
    for utt in transcript.views():
        span = _find_in(utt, cue)
        if span is None:
            continue
        lo, hi = span
        said = utt.chars[lo:hi]
        char_sim = 1.0 if cue.pattern is not None or said == "".join(cue.parts) else \
            fuzz.ratio("".join(cue.parts), said) / 100
        return span_match(cue.text, utt, lo, hi, char_sim, 1.0)
    return None


def find_any_cue(transcript: PreparedTranscript, cues: Iterable[Cue | str]) -> Match | None:
    """The first cue (in the grammar's order) found anywhere in the transcript."""
    for cue in cues:
        match = find_cue(transcript, cue)
        if match is not None:
            return match
    return None
