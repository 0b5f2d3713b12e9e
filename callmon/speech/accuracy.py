"""Character error rate, the one measure of recognition accuracy used by tests and benchmarks."""

from __future__ import annotations


def cer(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over characters divided by the reference length."""
    previous = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        current = [i] + [0] * len(hypothesis)
        for j, h in enumerate(hypothesis, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1] / max(1, len(reference))
