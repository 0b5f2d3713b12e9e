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
time; its similarity is 1.0 on the side that matched.  The earliest place any cue of a
list was said is the evidence.  Literal words are found with ``str.find`` on the whole
call's text (utterances joined by newlines), which is what keeps a call's checks cheap.
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
    """A list of cues prepared for one scan each: literal words indexed by their first two
    characters (one character for one-character words), patterns (``A…B``, ``re:``) compiled,
    and the pinyin of words of three characters or more indexed by their first syllable.  A
    call's text is searched only for the words whose head it contains (a set intersection in C),
    which is what keeps a call's checks cheap."""

    cues: tuple[Cue, ...]
    words: dict[str, tuple[tuple[int, str], ...]]
    patterns: tuple[tuple[int, re.Pattern[str]], ...]
    pinyin: dict[str, tuple[tuple[int, str], ...]]
    word_heads: frozenset[str]  # the keys again, as a set: intersecting two sets walks the smaller one
    pinyin_heads: frozenset[str]


def _index(entries: Iterable[tuple[str, int, str]]) -> dict[str, tuple[tuple[int, str], ...]]:
    out: dict[str, list[tuple[int, str]]] = {}
    for head, i, needle in entries:
        out.setdefault(head, []).append((i, needle))
    return {head: tuple(found) for head, found in out.items()}


def _pattern(cue: Cue) -> re.Pattern[str]:
    if cue.pattern is not None:
        return cue.pattern
    return re.compile(f".{{0,{GAP}}}?".join(re.escape(p) for p in cue.parts))  # "." stops at an utterance's end


@lru_cache(maxsize=1024)
def compile_cues(cues: tuple[str, ...]) -> CueSet:
    """Prepare a grammar list of cues once (cached: the same lists are used for every call)."""
    parsed = tuple(parse_cue(c) for c in cues)
    literal = [(i, c.parts[0]) for i, c in enumerate(parsed) if c.pattern is None and len(c.parts) == 1]
    words = _index((word[:2], i, word) for i, word in literal)
    patterns = tuple((i, _pattern(c)) for i, c in enumerate(parsed) if c.pattern is not None or len(c.parts) > 1)
    pinyin = _index((parsed[i].syllables[0][0], i, " ".join(parsed[i].syllables[0]))
                    for i, word in literal if len(word) >= PINYIN_MIN_CHARS)
    return CueSet(parsed, words, patterns, pinyin, frozenset(words), frozenset(pinyin))


def _pinyin_find(haystack: str, needle: str) -> int:
    """First occurrence of whole syllables ``needle`` in the joined pinyin, or -1."""
    at = haystack.find(needle)
    while at >= 0:
        end = at + len(needle)
        if (at == 0 or haystack[at - 1] == " ") and (end == len(haystack) or haystack[end] == " "):
            return at
        at = haystack.find(needle, at + 1)
    return -1


def find_any_cue(transcript: PreparedTranscript, cues: Iterable[str]) -> Match | None:
    """The earliest place in the call where any of the cues was said, as evidence; None if none was."""
    listed = tuple(cues)
    if not listed or not transcript.utterances:
        return None
    compiled = compile_cues(listed)
    text = transcript.joined_chars
    at, length, which = len(text) + 1, 0, -1
    for head in compiled.word_heads & transcript.char_heads:
        for i, word in compiled.words[head]:
            k = text.find(word, 0, at + len(word))
            if 0 <= k < at or (k == at and i < which):  # the earliest; on a tie the first listed
                at, length, which = k, len(word), i
    for i, pattern in compiled.patterns:
        m = pattern.search(text, 0, at + 64)
        if m is not None and m.start() < at:
            at, length, which = m.start(), m.end() - m.start(), i
    found: tuple[int, int, int, UttView, Cue, bool] | None = None
    if which >= 0:
        utt, lo = transcript.locate_chars(at)
        found = (utt.index, lo, lo + length, utt, compiled.cues[which], True)
    pinyin = transcript.joined_pinyin
    for head in compiled.pinyin_heads & transcript.syllable_set:
        for i, syllables in compiled.pinyin[head]:
            k = _pinyin_find(pinyin, syllables)
            if k < 0:
                continue
            utt, lo = transcript.locate_pinyin(k)
            if found is None or (utt.index, lo) < found[:2]:
                cue = compiled.cues[i]
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
