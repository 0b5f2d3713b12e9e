"""Calls checked per second from stored-transcript-shaped input (target: 1,000/s on one core).

Each call is a real Whisper base transcript of a fixture call (both channels)
plus its timing; ``check_call`` runs every item of the Changzhou grammar.

Run: .venv/bin/python bench/bench_checks.py [--calls N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callmon.compliance.checks import check_call  # noqa: E402
from callmon.compliance.grammar import load_grammar  # noqa: E402
from tests.test_checks import RING02, RING07, RING12, utts  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args(argv)
    grammar = load_grammar(ROOT / "grammars" / "changzhou-110.yaml")
    calls = [(utts(RING02), {"ring_seconds": 2.0, "rings": 1, "within_limit": True}),
             (utts(RING07), {"ring_seconds": 7.0, "rings": 2, "within_limit": True}),
             (utts(RING12), {"ring_seconds": 12.0, "rings": 3, "within_limit": True})]
    start = time.perf_counter()
    for n in range(args.calls):
        utterances, timing = calls[n % len(calls)]
        check_call(grammar, utterances, timing)
    seconds = time.perf_counter() - start
    phrases = sum(len(e.asks) + len(e.volunteered) for e in grammar.elements) + sum(
        len(s.triggers) + sum(len(r.phrases) for r in s.responses) for s in grammar.situations) + sum(
        len(g.phrases) for g in grammar.prohibited.groups)
    print(f"{args.calls} calls checked in {seconds:.2f} s: {args.calls / seconds:,.0f} calls/s on one core "
          f"(target 1,000); grammar has {phrases} phrases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
