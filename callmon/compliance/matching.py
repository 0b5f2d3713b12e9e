"""Tolerant matching of an expected phrase against recognised speech.

Recognition errors in 110 calls are mostly homophones (Whisper writes 长周 for
常州, 您紧 / 明镜 for 民警), so a phrase is aligned against each utterance twice:
on normalised characters and on toneless pinyin.  The similarity of a span is
the larger of the two; both are reported.

Rules that keep false positives out (each measured on the fixture recordings):

* A phrase of at most ``EXACT_MAX_CHARS`` (2) characters must occur exactly
  (same characters after normalisation).  Fuzzy scores on two characters mean
  nothing, and two-syllable homophones are everywhere.
* ``partial_ratio`` slides the phrase over a longer utterance, which is lenient,
  so every aligned span is re-scored with the plain ratio against the phrase
  and must be at least ``MIN_SPAN_RATIO`` (0.7) of the phrase's length: a
  fragment of the phrase, or an utterance shorter than the phrase, does not
  count as the phrase.
* A match never crosses utterances.

Default thresholds (a grammar may set its own per rule): characters 0.80,
pinyin 0.85.  Measured on Whisper base output: 常州110 / 长周110 0.97 on
pinyin, 民警 / 您紧 0.95, 民警 / 明镜 0.99; espeak's 长舟要要连 0.93.  Wrong
phrases against real operator and caller speech reach at most 0.70 on pinyin
and 0.67 on characters, except 为什么会发生 ("why") against 请问什么时间发生的
("when"), 0.83 on pinyin: the margin under 0.85 is small; grammars should not
lower it.  ``pypinyin``'s reading in context is used (长周 is zhang zhou), so a
polyphone read differently costs one letter, not a syllable.

The texts compared (normalised characters and their pinyin) come from ``spoken_text``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from callmon.compliance.spoken_text import SpokenText, normalize_for_match, prepare, to_pinyin
from callmon.speech.types import Utterance

__all__ = ["EXACT_MAX_CHARS", "MIN_SPAN_RATIO", "THRESHOLD_CHARS", "THRESHOLD_PINYIN", "Match", "PreparedTranscript",
           "UttView", "match_any", "match_phrase", "normalize_for_match", "span_match", "to_pinyin"]  # re-exported

EXACT_MAX_CHARS = 2
MIN_SPAN_RATIO = 0.7
THRESHOLD_CHARS = 0.8  # defaults; a grammar may set its own per rule
THRESHOLD_PINYIN = 0.85
PREFILTER_MARGIN = 0.15
EVIDENCE_PAIRS = 3  # near misses: the closest (phrase, utterance) pairs aligned in full

@dataclass(frozen=True, slots=True)
class Match:
    """The best span for a phrase: where it was said, when, and how alike it is (0..1)."""

    phrase: str
    utterance_index: int
    channel: str
    text: str
    char_start: int
    char_end: int
    start: float
    end: float
    similarity: float
    char_similarity: float
    pinyin_similarity: float

    def to_json(self) -> dict[str, Any]:
        return {"phrase": self.phrase, "utterance": self.utterance_index, "channel": self.channel,
                "text": self.text, "char_start": self.char_start, "char_end": self.char_end,
                "start": round(self.start, 3), "end": round(self.end, 3),
                "similarity": round(self.similarity, 3), "char_similarity": round(self.char_similarity, 3),
                "pinyin_similarity": round(self.pinyin_similarity, 3)}


def _char_times(utt: Utterance, text: str) -> list[tuple[float, float]] | None:
    """Audio time of each character of ``text``, from the word timestamps; None without words.

    The words' own normalised texts need not concatenate to ``text`` (要 要 临 → 110 only
    when normalised together), so the two strings are aligned with Levenshtein opcodes.
    """
    pieces = [normalize_for_match(word.text) for word in utt.words]
    spans = [(w.start + k * (w.end - w.start) / len(p), w.start + (k + 1) * (w.end - w.start) / len(p))
             for w, p in zip(utt.words, pieces, strict=True) for k in range(len(p))]  # a word's time shared out
    if not spans or not text:
        return None
    joined = "".join(pieces)
    if joined == text:
        return spans
    times: list[tuple[float, float]] = []
    for op in Levenshtein.opcodes(text, joined):
        for i in range(op.src_start, op.src_end):
            if op.tag in ("equal", "replace") and op.dest_end > op.dest_start:
                j = op.dest_start + (i - op.src_start) * (op.dest_end - op.dest_start) // (op.src_end - op.src_start)
            else:
                j = op.dest_start
            times.append(spans[min(j, len(spans) - 1)])
    return times


@dataclass(frozen=True, slots=True)
class UttView:
    """One prepared utterance: its index in the call, channel, times, text and pinyin."""

    index: int
    channel: str
    start: float
    end: float
    text: SpokenText
    times: list[tuple[float, float]] | None

    @property
    def chars(self) -> str:
        return self.text.chars

    @property
    def syllables(self) -> tuple[str, ...]:
        return self.text.syllables


def _as_utterance(item: Utterance | dict[str, Any]) -> Utterance:
    if isinstance(item, Utterance):
        return item
    data = dict(item)
    data.setdefault("raw_text", data.get("text", ""))
    return Utterance.from_json(data)


class PreparedTranscript:
    """Utterances with normalised text, pinyin and character times computed once per call.

    ``channel`` keeps only that channel's (or those channels') utterances; a match's
    ``utterance_index`` stays the position in the input list, so evidence points into the
    call's transcript as stored, both channels in time order.
    """

    def __init__(self, utterances: Iterable[Utterance | dict[str, Any] | UttView],
                 channel: str | tuple[str, ...] | None = None) -> None:
        wanted = None if channel is None else ((channel,) if isinstance(channel, str) else channel)
        self.utterances: list[UttView] = []
        for index, item in enumerate(utterances):
            if isinstance(item, UttView):  # already prepared (see ``only``)
                if wanted is None or item.channel in wanted:
                    self.utterances.append(item)
                continue
            utt = _as_utterance(item)
            if wanted is not None and utt.channel not in wanted:
                continue
            text = prepare(utt.text)
            if text.chars:
                self.utterances.append(UttView(index, utt.channel, utt.start, utt.end, text,
                                            _char_times(utt, text.chars)))
        # the whole call as one string each, utterances apart, for a first look and for cue patterns
        self._chars = "\n".join(u.text.chars for u in self.utterances)
        self._pinyin = " | ".join(u.text.pinyin for u in self.utterances)
        self._char_starts: list[int] = []
        self._pinyin_starts: list[int] = []
        at_c = at_p = 0
        for u in self.utterances:
            self._char_starts.append(at_c)
            self._pinyin_starts.append(at_p)
            at_c += len(u.text.chars) + 1
            at_p += len(u.text.pinyin) + 3

    def only(self, channel: str | tuple[str, ...], before: int | None = None) -> PreparedTranscript:
        """This call's utterances of one channel (or several), up to utterance index ``before``
        (exclusive), without preparing their text again."""
        return PreparedTranscript([u for u in self.utterances if before is None or u.index < before], channel)

    @cached_property
    def char_heads(self) -> frozenset[str]:
        """Every character and every two adjacent characters said, for finding cue words cheaply."""
        text = self._chars
        return frozenset(text) | frozenset(text[k:k + 2] for k in range(len(text) - 1))

    @cached_property
    def syllable_set(self) -> frozenset[str]:
        """Every syllable said."""
        return frozenset(s for u in self.utterances for s in u.text.syllables)

    @property
    def joined_chars(self) -> str:
        """All utterances' normalised characters, one line each (a pattern's ``.`` never crosses them)."""
        return self._chars

    @property
    def joined_pinyin(self) -> str:
        """All utterances' pinyin, joined by `` | ``."""
        return self._pinyin

    def locate_chars(self, offset: int) -> tuple[UttView, int]:
        """The utterance holding ``offset`` of ``joined_chars``, and the character offset within it."""
        k = bisect_right(self._char_starts, offset) - 1
        return self.utterances[k], offset - self._char_starts[k]

    def locate_pinyin(self, offset: int) -> tuple[UttView, int]:
        """The utterance holding ``offset`` of ``joined_pinyin``, and the index of the syllable starting there."""
        k = bisect_right(self._pinyin_starts, offset) - 1
        utt = self.utterances[k]
        return utt, bisect_right(utt.text.offsets, offset - self._pinyin_starts[k]) - 1

    def best(self, phrase: str, threshold_chars: float = 0.0, threshold_pinyin: float = 0.0) -> Match | None:
        """The most similar span among those reaching either threshold (0, 0: the best at all, as evidence)."""
        target = prepare(phrase)
        if not target.chars or not self.utterances:
            return None
        # Scores below a threshold are not looked at closely: partial_ratio is cut off a margin below
        # it (the final, re-scored span can differ from partial_ratio's window by a few points).
        cut_chars = max(0.0, threshold_chars - PREFILTER_MARGIN) * 100
        cut_pinyin = max(0.0, threshold_pinyin - PREFILTER_MARGIN) * 100
        if (cut_chars > 0 and cut_pinyin > 0 and len(target.chars) > EXACT_MAX_CHARS
                and fuzz.partial_ratio(target.chars, self._chars, score_cutoff=cut_chars) == 0
                and fuzz.partial_ratio(target.pinyin, self._pinyin, score_cutoff=cut_pinyin) == 0):
            return None  # no window anywhere in the call comes close: skip the per-utterance work
        return self._closest(phrase, target, threshold_chars, threshold_pinyin, cut_chars, cut_pinyin)

    def _closest(self, phrase: str, target: SpokenText, threshold_chars: float, threshold_pinyin: float,
                 cut_chars: float, cut_pinyin: float) -> Match | None:
        """The most similar span over the utterances that reaches either threshold (the first on a tie)."""
        found: Match | None = None
        best = -1.0
        for utt in self.utterances:
            span = _align(target, utt, cut_chars, cut_pinyin)
            if span is None:
                continue
            lo, hi, char_sim, pin_sim = span
            if (char_sim < threshold_chars and pin_sim < threshold_pinyin) or max(char_sim, pin_sim) <= best:
                continue
            best = max(char_sim, pin_sim)
            found = span_match(phrase, utt, lo, hi, char_sim, pin_sim)
        return found


    def scan(self, phrases: Sequence[str], threshold_chars: float, threshold_pinyin: float,
             evidence: float | None = None, first: bool = True) -> tuple[list[Match], Match | None]:
        """Many phrases at once: (matches reaching either threshold, best near miss as evidence).

        ``first``: stop at the first phrase (in the given order) that is kept, as for alternative
        wordings of one item; otherwise one match per kept phrase (prohibited phrases).  A phrase
        is aligned utterance by utterance (``_closest``, as in ``best``) only when the whole call
        comes within ``PREFILTER_MARGIN`` of a threshold; with ``evidence`` set and nothing kept, the
        ``EVIDENCE_PAIRS`` phrases closest on pinyin are aligned in the utterance where that first look
        found them, for the near miss (short phrases, which must be said exactly, give none).
        """
        targets, long_ones, long_pinyin = _targets(tuple(phrases))
        if not targets or not self.utterances:
            return [], None
        cut_c, cut_p = (max(0.0, threshold_chars - PREFILTER_MARGIN) * 100,
                        max(0.0, threshold_pinyin - PREFILTER_MARGIN) * 100)
        floor = min(cut_c, cut_p) if evidence is None else min(cut_c, cut_p, evidence * 100)
        # The first look: every phrase of more than EXACT_MAX_CHARS against the whole call's pinyin
        # in one C call.  Pinyin alone decides whether to look closer, at the lower of the two cuts:
        # the same characters have the same syllables, so a span that would pass on characters is at
        # least as close on pinyin.  The scores also rank the near misses.
        scores = {long_ones[k]: score for _, score, k in process.extract(
            self._pinyin, long_pinyin, scorer=fuzz.partial_ratio, score_cutoff=floor, limit=None)}
        kept: list[Match] = []
        for i, (phrase, target) in enumerate(targets):
            if len(target.chars) > EXACT_MAX_CHARS and scores.get(i, -1.0) < min(cut_c, cut_p):
                continue
            match = self._closest(phrase, target, threshold_chars, threshold_pinyin, cut_c, cut_p)
            if match is not None:
                kept.append(match)
                if first:
                    return kept, None
        if kept or evidence is None:
            return kept, None
        for _, i in sorted(((score, -i) for i, score in scores.items()), reverse=True)[:EVIDENCE_PAIRS]:
            phrase, target = targets[-i]
            al = fuzz.partial_ratio_alignment(target.pinyin, self._pinyin)  # where the closest window is
            if al is None:  # only with a score_cutoff
                continue
            utt, _ = self.locate_pinyin((al.dest_start + al.dest_end) // 2)
            span = _align(target, utt, 0.0, 0.0, snap=False)  # a near miss: no snapping
            if span is not None and max(span[2], span[3]) >= evidence:
                return [], span_match(phrase, utt, *span)
        return [], None


@lru_cache(maxsize=1024)
def _targets(phrases: tuple[str, ...]) -> tuple[tuple[tuple[str, SpokenText], ...], tuple[int, ...], tuple[str, ...]]:
    """A grammar list prepared once: (phrase, text) pairs, which of them are longer than
    EXACT_MAX_CHARS, and those ones' pinyin (the same lists are scanned in every call)."""
    targets = tuple((p, t) for p in phrases if (t := prepare(p)).chars)
    long_ones = tuple(i for i, (_, t) in enumerate(targets) if len(t.chars) > EXACT_MAX_CHARS)
    return targets, long_ones, tuple(targets[i][1].pinyin for i in long_ones)


def _align(target: SpokenText, utt: UttView, cut_chars: float, cut_pinyin: float,
           snap: bool = True) -> tuple[int, int, float, float] | None:
    """The best span of one utterance for one phrase: (start, end, char similarity, pinyin similarity)."""
    text = utt.text
    m = len(target.chars)
    min_len = MIN_SPAN_RATIO * m
    if m <= EXACT_MAX_CHARS:
        at = text.chars.find(target.chars)
        return None if at < 0 else (at, at + m, 1.0, 1.0)
    char_sim = 0.0
    char_span = (0, 0)
    al = fuzz.partial_ratio_alignment(target.chars, text.chars, score_cutoff=cut_chars)
    if al is not None and al.dest_end - al.dest_start >= min_len:
        char_span = (al.dest_start, al.dest_end)
        char_sim = fuzz.ratio(target.chars, text.chars[al.dest_start:al.dest_end]) / 100
    pin_sim = 0.0
    pin_span = (0, 0)
    al = fuzz.partial_ratio_alignment(target.pinyin, text.pinyin, score_cutoff=cut_pinyin)
    if al is not None:
        syllables, offsets = text.syllables, text.offsets
        lo = max(0, bisect_right(offsets, al.dest_start) - 1)
        if al.dest_start >= offsets[lo] + len(syllables[lo]) and lo + 1 < len(offsets):
            lo += 1  # the alignment began on the space after a syllable
        hi = max(lo + 1, bisect_right(offsets, max(al.dest_end - 1, 0)))
        if hi - lo >= min_len:
            pin_sim, pin_span = fuzz.ratio(target.pinyin, " ".join(syllables[lo:hi])) / 100, (lo, hi)
        if snap and cut_pinyin / 100 <= pin_sim < 1.0:  # snapping to whole syllables may be one off either end
            n = len(syllables)
            for a in range(max(0, lo - 1), min(n, lo + 2)):
                for b in range(max(a + 1, hi - 1), min(n, hi + 1) + 1):
                    if b - a >= min_len and (a, b) != (lo, hi):
                        sim = fuzz.ratio(target.pinyin, " ".join(syllables[a:b])) / 100
                        if sim > pin_sim:
                            pin_sim, pin_span = sim, (a, b)
    if char_sim == 0.0 and pin_sim == 0.0:
        return None
    lo, hi = char_span if char_sim >= pin_sim else pin_span
    if char_sim == 0.0:  # cut off or too short: report the characters of the pinyin span instead
        char_sim = fuzz.ratio(target.chars, text.chars[lo:hi]) / 100
    elif pin_sim == 0.0:
        pin_sim = fuzz.ratio(target.pinyin, " ".join(text.syllables[lo:hi])) / 100
    return lo, hi, char_sim, pin_sim


def span_match(phrase: str, utt: UttView, lo: int, hi: int, char_sim: float, pin_sim: float) -> Match:
    if utt.times is not None:
        start, end = utt.times[lo][0], utt.times[hi - 1][1]
    else:
        n = len(utt.text.chars)
        start = utt.start + (utt.end - utt.start) * lo / n
        end = utt.start + (utt.end - utt.start) * hi / n
    return Match(phrase, utt.index, utt.channel, utt.text.chars[lo:hi], lo, hi, start, end,
                 max(char_sim, pin_sim), char_sim, pin_sim)


Utterances = PreparedTranscript | Sequence[Utterance | dict[str, Any]]


def _prepared(utterances: Utterances) -> PreparedTranscript:
    return utterances if isinstance(utterances, PreparedTranscript) else PreparedTranscript(utterances)


def match_phrase(phrase: str, utterances: Utterances, threshold_chars: float = THRESHOLD_CHARS,
                 threshold_pinyin: float = THRESHOLD_PINYIN) -> Match | None:
    """The best span for ``phrase`` if its characters or its pinyin are similar enough, else None."""
    return _prepared(utterances).best(phrase, threshold_chars, threshold_pinyin)


def match_any(phrases: Iterable[str], utterances: Utterances, threshold_chars: float = THRESHOLD_CHARS,
              threshold_pinyin: float = THRESHOLD_PINYIN) -> Match | None:
    """The best span over many paraphrases of one item; ``Match.phrase`` says which one matched."""
    transcript = _prepared(utterances)
    found: Match | None = None
    for phrase in phrases:
        match = transcript.best(phrase, threshold_chars, threshold_pinyin)
        if match is not None and (found is None or match.similarity > found.similarity):
            found = match
    return found
