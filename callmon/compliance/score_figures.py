"""Compliance figures of a set of scored calls: per operator and for the center.

A pure fold over ``store.period.ScoredCall`` rows, so ``callmon score`` and the monthly export
compute every figure with the same code.  Where a person reviewed a call their verdict counts
(score, pass, items); the automatic one stays in the row for the exports to show beside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from callmon.calls.stats import share_pct
from callmon.store.review import tally_item_dicts

PASS_MARK_NOTE = "pass: the grammar's pass mark with no veto (Changzhou: ≥ 80)"


class Scored(Protocol):
    """What a fold needs of one scored call (``store.period.ScoredCall``)."""

    linkedid: str
    operator: str | None
    within_limit: bool | None
    flagged: bool
    flag_reasons: list[str]
    review_state: str
    disputed: bool

    @property
    def effective_score(self) -> int | None: ...
    @property
    def effective_passed(self) -> bool | None: ...
    @property
    def effective_items(self) -> list[dict[str, Any]]: ...
    @property
    def reviewed(self) -> bool: ...
    @property
    def overridden(self) -> bool: ...


@dataclass
class ScoreTally:
    """Running sums for one operator or the center."""

    calls: int = 0
    score_sum: int = 0
    scored: int = 0
    passed: int = 0
    within: int = 0
    timed: int = 0
    flagged: int = 0
    reviewed: int = 0
    overridden: int = 0
    disputed: int = 0
    owed: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)

    def add(self, call: Scored) -> None:
        self.calls += 1
        score = call.effective_score
        if score is not None:
            self.scored += 1
            self.score_sum += score
            self.passed += bool(call.effective_passed)
        if call.within_limit is not None:
            self.timed += 1
            self.within += call.within_limit
        self.flagged += call.flagged
        self.reviewed += call.reviewed
        self.overridden += call.overridden
        self.disputed += call.disputed
        tally_item_dicts(call.effective_items, self.owed, self.kept)

    def merge(self, other: ScoreTally) -> None:
        for name in ("calls", "score_sum", "scored", "passed", "within", "timed", "flagged", "reviewed",
                     "overridden", "disputed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for key, n in other.owed.items():
            self.owed[key] = self.owed.get(key, 0) + n
        for key, n in other.kept.items():
            self.kept[key] = self.kept.get(key, 0) + n

    def figures(self) -> dict[str, Any]:
        return {
            "calls": self.calls, "scored": self.scored,
            "mean_score": round(self.score_sum / self.scored, 1) if self.scored else None,
            "pass_rate_pct": share_pct(self.passed, self.scored),
            "within_ring_limit_pct": share_pct(self.within, self.timed),
            "flagged": self.flagged, "reviewed": self.reviewed, "overridden": self.overridden,
            "disputed": self.disputed,
            "items_pct": {k: share_pct(self.kept.get(k, 0), self.owed[k]) for k in sorted(self.owed)},
            "items_owed": {k: self.owed[k] for k in sorted(self.owed)},
        }


class ScoreFold:
    """Folds scored calls into per-operator and center figures (``add`` one call at a time, so a
    month's items are never all in memory)."""

    def __init__(self) -> None:
        self.per: dict[str, ScoreTally] = {}
        self.flagged_calls: list[dict[str, Any]] = []
        self.grammar_hashes: dict[str, int] = {}

    def add(self, call: Scored, grammar_hash: str | None = None) -> None:
        self.per.setdefault(call.operator or "?", ScoreTally()).add(call)
        if grammar_hash is not None:
            self.grammar_hashes[grammar_hash] = self.grammar_hashes.get(grammar_hash, 0) + 1
        if call.flagged:
            self.flagged_calls.append({"linkedid": call.linkedid, "operator": call.operator,
                                       "score": call.effective_score, "reasons": list(call.flag_reasons)})

    def merge(self, other: ScoreFold) -> None:
        """Add another span's fold (the later one: its flagged calls go after these)."""
        for name, tally in other.per.items():
            self.per.setdefault(name, ScoreTally()).merge(tally)
        self.flagged_calls += other.flagged_calls
        for digest, n in other.grammar_hashes.items():
            self.grammar_hashes[digest] = self.grammar_hashes.get(digest, 0) + n

    def table(self) -> dict[str, Any]:
        center = ScoreTally()  # the operators' sums: each call counted once, under its operator
        for tally in self.per.values():
            center.merge(tally)
        return {
            "operators": [{"operator": name, **t.figures()} for name, t in sorted(self.per.items())],
            "center": center.figures(),
            "grammar_hashes": dict(sorted(self.grammar_hashes.items())),
            "flagged_calls": self.flagged_calls,
            "pass_rule": PASS_MARK_NOTE,
        }


def fold(calls: Iterable[Any]) -> dict[str, Any]:
    """The whole table from an iterable of ``ScoredCall``."""
    f = ScoreFold()
    for call in calls:
        f.add(call, call.grammar_hash)
    return f.table()
