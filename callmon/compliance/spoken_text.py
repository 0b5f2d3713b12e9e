"""The texts a phrase is compared on: normalised characters and toneless pinyin.

Digits read as pinyin: 0-9 are ling yi er san si wu liu qi ba jiu, except that
1 is ``yao`` inside a run of three or more digits, the way phone, hotline and
room numbers are spoken (110 = yao yao ling, 138… = yao san ba …).  Everything
here is cached: a grammar's phrases and a center's vocabulary recur in every call.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from callmon.speech.normalize import normalize_text

__all__ = ["SpokenText", "normalize_for_match", "prepare", "to_pinyin"]

_DIGIT_SYLLABLES = ("ling", "yi", "er", "san", "si", "wu", "liu", "qi", "ba", "jiu")


# pypinyin accepts a list from ``errors`` (one item per character), but its stubs say str only.
_KEEP_CHARS: Any = list


@lru_cache(maxsize=1)
def _pypinyin() -> tuple[Any, Any, Any]:
    """(lazy_pinyin, Style, segment), imported on first use: pypinyin loads its phrase dictionary
    (~0.15 s) on import, which commands that never match text need not pay."""
    from pypinyin import Style, lazy_pinyin
    from pypinyin.seg.simpleseg import seg

    return lazy_pinyin, Style, seg


@lru_cache(maxsize=65536)
def normalize_for_match(text: str) -> str:
    """``normalize_text`` (the one definition of comparable text) with ASCII letters lower-cased."""
    return "".join(ch.lower() if ch.isascii() else ch for ch in normalize_text(text))


@lru_cache(maxsize=65536)
def _word_syllables(word: str) -> tuple[str, ...]:
    """pypinyin's reading of one segment (cached: a center's calls reuse a few thousand words)."""
    lazy_pinyin, style, _ = _pypinyin()
    return tuple(lazy_pinyin(word, style=style.NORMAL, errors=_KEEP_CHARS))


@lru_cache(maxsize=65536)
def _syllables(text: str) -> tuple[str, ...]:
    """Exactly one syllable per character of ``text`` (cached: phrases and utterances repeat).

    pypinyin reads a text segment by segment (its own word segmentation, so 长周 stays zhang
    zhou); segmenting here and caching each segment's reading gives the same syllables about
    five times faster, since words recur across calls while whole utterances rarely do.
    """
    lazy_pinyin, style, segment = _pypinyin()
    out = [syllable for word in segment(text) for syllable in _word_syllables(word)]
    if len(out) != len(text):  # a character pypinyin split or merged: fall back to one at a time
        out = [lazy_pinyin(ch, style=style.NORMAL, errors=_KEEP_CHARS)[0] for ch in text]
    result = list(out)
    i = 0
    while i < len(text):
        if not text[i].isdigit() or not text[i].isascii():
            i += 1
            continue
        j = i
        while j < len(text) and text[j].isascii() and text[j].isdigit():
            j += 1
        for k in range(i, j):
            result[k] = "yao" if text[k] == "1" and j - i >= 3 else _DIGIT_SYLLABLES[int(text[k])]
        i = j
    return tuple(result)


def to_pinyin(text: str) -> list[str]:
    """Toneless pinyin, one syllable per character; non-Chinese characters are kept as they are."""
    return list(_syllables(text))


@dataclass(frozen=True, slots=True)
class SpokenText:
    """Normalised text and its pinyin string, with where each syllable starts in that string."""

    chars: str
    syllables: tuple[str, ...]
    pinyin: str
    offsets: tuple[int, ...]


@lru_cache(maxsize=65536)
def prepare(text: str) -> SpokenText:
    chars = normalize_for_match(text)
    syllables = _syllables(chars)
    offsets: list[int] = []
    pos = 0
    for syllable in syllables:
        offsets.append(pos)
        pos += len(syllable) + 1
    return SpokenText(chars, syllables, " ".join(syllables), tuple(offsets))
