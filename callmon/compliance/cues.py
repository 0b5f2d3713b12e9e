"""Cues: short key words that decide an item where whole-phrase similarity cannot.

Operators ask for an element in endless ways (在哪儿 / 家住哪 / 具体哪个小区 / 地址说一下),
and callers volunteer facts in the middle of long sentences.  Fuzzy alignment of whole
phrases (``matching.py``) rewards wording close to a listed phrase; a cue instead says
which words are enough on their own.  A grammar lists cues beside its phrases:

* ``哪儿``: the word as written, after normalisation (spaces, punctuation, Traditional to
  Simplified, numbers).  A word of three characters or more also counts when its toneless
  pinyin is said (别鸡动 for 别激动: recognition homophones); one and two characters must
  match as written, since short homophones are everywhere (哪里 / 那里).
* ``投诉…民警``: the parts in order within one utterance, each starting at most
  ``GAP`` (8) characters after the previous part ended ("我要投诉你们民警").
* ``re:[0-9]{7,}``: a regular expression on the normalised text (a spoken phone number
  is normalised to digits).

A cue match is evidence like a phrase match: the utterance, the characters, the audio
time; its similarity is 1.0 on the side that matched.  A list of cues is compiled into one
pattern (characters) and one (pinyin), so a call is scanned once per list, and the
earliest place any cue was said is the evidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from callmon.compliance.matching import Match, PreparedTranscript, UttView, normalize_for_match, span_match, to_pinyin

__all__ = ["GAP", "Cue", "CueError", "CueSet", "compile_cues", "find_any_cue", "find_cue", "parse_cue"]

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
        if pattern.groupindex or re.search(r"\\[1-9]", source):
            raise CueError("named groups and backreferences are not allowed in a cue (cues are combined into "
                           "one pattern, which renumbers groups)")
        return Cue(text, (), (), pattern)
    raw = text
    for mark in ELLIPSIS:
        raw = raw.replace(mark, "\0")
    parts = tuple(normalize_for_match(p) for p in raw.split("\0"))
    if not parts or any(not p for p in parts):
        raise CueError("every part of a cue needs at least one character (after removing punctuation)")
    return Cue(text, parts, tuple(tuple(to_pinyin(p)) for p in parts), None)


@dataclass(frozen=True)
class CueSet:
    """A list of cues compiled into one pattern on characters and one on pinyin (one scan each per call)."""

    cues: tuple[Cue, ...]
    chars: re.Pattern[str]
    pinyin: re.Pattern[str] | None


def _char_source(cue: Cue) -> str:
    if cue.pattern is not None:
        return cue.pattern.pattern
    return f".{{0,{GAP}}}?".join(re.escape(p) for p in cue.parts)  # "." stops at the end of an utterance


@lru_cache(maxsize=1024)
def compile_cues(cues: tuple[str, ...]) -> CueSet:
    """Compile cues once per grammar list; group ``c<i>`` / ``p<i>`` names the cue that matched."""
    parsed = tuple(parse_cue(c) for c in cues)
    chars = re.compile("|".join(f"(?P<c{i}>{_char_source(c)})" for i, c in enumerate(parsed)))
    words = [f"(?P<p{i}>(?<![a-z0-9]){' '.join(re.escape(s) for s in c.syllables[0])}(?![a-z0-9]))"
             for i, c in enumerate(parsed)
             if c.pattern is None and len(c.parts) == 1 and len(c.parts[0]) >= PINYIN_MIN_CHARS]
    return CueSet(parsed, chars, re.compile("|".join(words)) if words else None)


def find_any_cue(transcript: PreparedTranscript, cues: Iterable[str]) -> Match | None:
    """The earliest place in the call where any of the cues was said, as evidence; None if none was."""
    listed = tuple(cues)
    if not listed or not transcript.views():
        return None
    compiled = compile_cues(listed)
    found: tuple[int, int, int, UttView, Cue, bool] | None = None  # utterance order, start, end, ...
    m = compiled.chars.search(transcript.joined_chars)
    if m is not None and m.lastgroup is not None:
        utt, lo = transcript.locate_chars(m.start())
        found = (utt.index, lo, lo + m.end() - m.start(), utt, compiled.cues[int(m.lastgroup[1:])], True)
    if compiled.pinyin is not None:
        p = compiled.pinyin.search(transcript.joined_pinyin)
        if p is not None and p.lastgroup is not None:
            utt, lo = transcript.locate_pinyin(p.start())
            cue = compiled.cues[int(p.lastgroup[1:])]
            if found is None or (utt.index, lo) < found[:2]:
                found = (utt.index, lo, lo + len(cue.syllables[0]), utt, cue, False)
    if found is None:
        return None
    _, lo, hi, utt, cue, as_written = found
    said = utt.chars[lo:hi]
    char_sim = 1.0 if as_written else fuzz.ratio("".join(cue.parts), said) / 100
    return span_match(cue.text, utt, lo, hi, char_sim, 1.0)


def find_cue(transcript: PreparedTranscript, cue: str) -> Match | None:
    """Where one cue was first said, or None."""
    return find_any_cue(transcript, (cue,))
