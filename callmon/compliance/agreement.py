"""How far two judges agree on yes/no verdicts: percent agreement and Cohen's kappa.

Used by calibration (校准): a supervisor's blind verdicts against the automatic ones, and two
supervisors against each other, per item.  Kappa corrects the agreement for what two judges
with those base rates would reach by chance; it is undefined (None) when chance agreement is
total (both judges gave one answer throughout), where percent agreement still says something.
"""

from __future__ import annotations

from collections.abc import Sequence


def percent_agreement(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    if len(a) != len(b):
        raise ValueError("the two judges must rate the same cases")
    return None if not a else 100.0 * sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def cohens_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa for two raters of the same cases (binary), or None where it is undefined."""
    if len(a) != len(b):
        raise ValueError("the two judges must rate the same cases")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1 - expected)
