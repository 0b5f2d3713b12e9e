"""Calls checked per second from stored-transcript-shaped input (target: 1,000/s on one core).

The calls are the 79 labelled dialogues (tests/fixtures/labelled: the development and the
held-out set) plus three real Whisper base transcripts of fixture calls, each with its
timing; ``check_call`` runs every item of the Changzhou grammar.  The text caches
(normalisation, an utterance's pinyin) are emptied before every pass over the set, so each
call pays for preparing its own utterances, as a fresh stored transcript does; what a
running daemon keeps is kept: the grammar's prepared lists and pypinyin's reading of each
word already seen (the first pass, with no word seen yet, is reported on its own).
``--warm`` keeps the utterances' text too, which shows the matching alone.

Run: .venv/bin/python bench/bench_checks.py [--passes N] [--warm]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callmon.compliance import spoken_text  # noqa: E402
from callmon.compliance.checks import check_call  # noqa: E402
from callmon.compliance.evaluate import load_labelled, utterances_from_turns  # noqa: E402
from callmon.compliance.grammar import Grammar, load_grammar  # noqa: E402
from tests.test_checks import RING02, RING07, RING12, utts  # noqa: E402

LABELLED = ROOT / "tests" / "fixtures" / "labelled"


def clear_text_caches(grammar_phrases: list[str]) -> None:
    """Forget every prepared text, then prepare the grammar's phrases again (a daemon keeps those)."""
    for cached in (spoken_text.normalize_for_match, spoken_text._syllables, spoken_text.prepare):
        cached.cache_clear()
    for phrase in grammar_phrases:
        spoken_text.prepare(phrase)


def grammar_phrases(grammar: Grammar) -> list[str]:
    out = [*grammar.greeting_texts()]
    for e in grammar.elements:
        out += [*e.asks, *e.volunteered]
    for s in grammar.situations:
        out += [*s.triggers, *s.not_triggers, *(p for r in s.responses for p in r.phrases)]
    return out + [p for g in grammar.prohibited.groups for p in g.phrases]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--passes", type=int, default=10)
    parser.add_argument("--warm", action="store_true", help="keep the text caches between passes")
    args = parser.parse_args(argv)
    grammar = load_grammar(ROOT / "grammars" / "changzhou-110.yaml")
    phrases = grammar_phrases(grammar)
    calls = [(utterances_from_turns(d["turns"]), d["timing"])
             for name in ("dialogues.json", "heldout.json") for d in load_labelled(LABELLED / name)]
    calls += [(utts(RING02), {"ring_seconds": 2.0, "rings": 1, "within_limit": True}),
              (utts(RING07), {"ring_seconds": 7.0, "rings": 2, "within_limit": True}),
              (utts(RING12), {"ring_seconds": 12.0, "rings": 3, "within_limit": True})]
    utterances = sum(len(u) for u, _ in calls)
    passes = []
    for _ in range(args.passes + 1):
        if not args.warm:
            clear_text_caches(phrases)
        start = time.perf_counter()
        for call, timing in calls:
            check_call(grammar, call, timing)
        passes.append(time.perf_counter() - start)
    seconds = sum(passes[1:])
    n = args.passes * len(calls)
    print(f"first pass (nothing seen yet): {len(calls) / passes[0]:,.0f} calls/s")
    print(f"then {n} calls ({len(calls)} distinct, {utterances / len(calls):.1f} utterances each) checked in "
          f"{seconds:.2f} s: {n / seconds:,.0f} calls/s on one core (target 1,000), text caches "
          f"{'warm' if args.warm else 'emptied every pass'}; grammar has {len(phrases)} fuzzy phrases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
