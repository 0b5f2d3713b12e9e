"""Answer-time statistics per operator and for the whole center.

Per operator the ring seconds of the calls they answered (what the three-ring
rule judges); for the center the caller's wait (what NENA and EU 112 report:
shares answered within 10, 15 and 20 s, abandon rate).  Percentiles use
linear interpolation between closest ranks (numpy's default), stated in the
output so figures can be checked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from callmon.calls.record import CallRecord
from callmon.calls.rings import RingPolicy

THRESHOLDS_S = (10, 15, 20)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile ``q`` in [0, 100] of ``values``."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def share_pct(part: int, whole: int) -> float | None:
    """``part`` as a percentage of ``whole`` to one decimal; None when there is nothing to divide."""
    return None if whole == 0 else round(100 * part / whole, 1)


def _seconds(ms_values: list[int]) -> dict[str, float | None]:
    secs = [v / 1000 for v in ms_values]

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 3)

    return {
        "mean": r(sum(secs) / len(secs)) if secs else None,
        "median": r(percentile(secs, 50)),
        "p90": r(percentile(secs, 90)),
    }


@dataclass
class _Tally:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    no_answer: int = 0
    limit_violations: int = 0  # rings let pass the limit, answered late or not at all
    ring_ms: list[int] = field(default_factory=list)
    within: int = 0

    def merge(self, other: _Tally) -> None:
        for name in ("offered", "answered", "abandoned", "no_answer", "limit_violations", "within"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.ring_ms += other.ring_ms


@dataclass
class StatsFold:
    """``operator_stats`` one call at a time; two folds of consecutive spans merge into the fold of both."""

    per: dict[str, _Tally] = field(default_factory=dict)
    center: _Tally = field(default_factory=_Tally)
    center_wait: list[int] = field(default_factory=list)
    center_ring: list[int] = field(default_factory=list)  # the answering operator's ring: the three-ring rule
    incomplete: int = 0
    witnessed: int = 0  # AMI calls a serial line saw too
    ring_disagreements: int = 0  # of them, where the two ring counts differ

    def add(self, rec: CallRecord) -> None:
        if rec.outcome == "not_offered":
            return
        if rec.witness is not None:
            if (rec.pbx or "").startswith("serial:"):
                return  # the same call as an AMI record: counted there
            self.witnessed += 1
            self.ring_disagreements += rec.witness_rings != rec.rings
        per, center = self.per, self.center
        self.incomplete += rec.incomplete
        center.offered += 1
        if rec.outcome == "answered":
            center.answered += 1
            if rec.wait_ms is not None:
                self.center_wait.append(rec.wait_ms)
            if rec.within_limit:
                center.within += 1
        center.abandoned += rec.abandoned
        for ring in {r.operator: r for r in rec.operators_rung}.values():
            tally = per.setdefault(ring.operator, _Tally())
            tally.offered += 1
            tally.abandoned += rec.abandoned
        for ring in rec.operators_rung:
            tally = per[ring.operator]
            tally.no_answer += ring.outcome == "no_answer"
            tally.limit_violations += ring.within_limit is False
        if rec.outcome == "answered" and rec.operator is not None and rec.ring_ms is not None:
            tally = per.setdefault(rec.operator, _Tally(offered=1))
            tally.answered += 1
            tally.ring_ms.append(rec.ring_ms)
            self.center_ring.append(rec.ring_ms)
            tally.within += bool(rec.within_limit)

    def merge(self, later: StatsFold) -> None:
        """Add the fold of the span after this one (lists stay in time order)."""
        for name, tally in later.per.items():
            self.per.setdefault(name, _Tally()).merge(tally)
        self.center.merge(later.center)
        self.center_wait += later.center_wait
        self.center_ring += later.center_ring
        self.incomplete += later.incomplete
        self.witnessed += later.witnessed
        self.ring_disagreements += later.ring_disagreements

    def result(self, policy: RingPolicy) -> dict[str, Any]:
        center, wait = self.center, self.center_wait
        return {
            "ring_policy": policy.describe(),
            "percentile_method": "linear interpolation between closest ranks",
            "operators": [_operator_row(name, self.per[name]) for name in sorted(self.per)],
            "center": {
                "calls_offered": center.offered,
                "answered": center.answered,
                "abandoned": center.abandoned,
                "abandon_rate_pct": share_pct(center.abandoned, center.offered),
                "incomplete": self.incomplete,
                "within_ring_limit_pct": share_pct(center.within, center.answered),
                "serial_witnessed": self.witnessed,
                "serial_ring_disagreements": self.ring_disagreements,
                "serial_ring_disagreement_pct": share_pct(self.ring_disagreements, self.witnessed),
                "ring_seconds": _seconds(self.center_ring),
                "wait_seconds": _seconds(wait),
                **{f"answered_within_{t}s_pct": share_pct(sum(w < t * 1000 for w in wait), center.answered)
                   for t in THRESHOLDS_S},
            },
        }


def operator_stats(records: Iterable[CallRecord], policy: RingPolicy) -> dict[str, Any]:
    """Per-operator and center figures for ``callmon stats``."""
    fold = StatsFold()
    for rec in records:
        fold.add(rec)
    return fold.result(policy)


def _operator_row(name: str, t: _Tally) -> dict[str, Any]:
    return {
        "operator": name,
        "offered": t.offered,
        "answered": t.answered,
        "abandoned": t.abandoned,
        "no_answer": t.no_answer,
        "ring_limit_violations": t.limit_violations,
        "within_ring_limit_pct": share_pct(t.within, t.answered),
        "ring_seconds": _seconds(t.ring_ms),
        **{f"answered_within_{s}s_pct": share_pct(sum(v < s * 1000 for v in t.ring_ms), t.answered)
           for s in THRESHOLDS_S},
    }


def format_table(stats: dict[str, Any]) -> str:
    """A fixed-width table of the per-operator figures and the center row."""
    head = ("operator", "offered", "answered", "abandoned", "no-ans", "within%", "mean s", "median s",
            "p90 s", "<10s%", "<15s%", "<20s%")
    rows = [head]

    def f(x: Any) -> str:
        return "-" if x is None else (f"{x:.6g}" if isinstance(x, float) else str(x))

    for op in stats["operators"]:
        rows.append((op["operator"], f(op["offered"]), f(op["answered"]), f(op["abandoned"]), f(op["no_answer"]),
                     f(op["within_ring_limit_pct"]), f(op["ring_seconds"]["mean"]), f(op["ring_seconds"]["median"]),
                     f(op["ring_seconds"]["p90"]), f(op["answered_within_10s_pct"]),
                     f(op["answered_within_15s_pct"]), f(op["answered_within_20s_pct"])))
    c = stats["center"]
    rows.append(("ALL (caller wait)", f(c["calls_offered"]), f(c["answered"]), f(c["abandoned"]), "",
                 f(c["within_ring_limit_pct"]), f(c["wait_seconds"]["mean"]), f(c["wait_seconds"]["median"]),
                 f(c["wait_seconds"]["p90"]), f(c["answered_within_10s_pct"]), f(c["answered_within_15s_pct"]),
                 f(c["answered_within_20s_pct"])))
    widths = [max(_width(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(_pad(cell, widths[i], i) for i, cell in enumerate(r)) for r in rows]
    policy = stats["ring_policy"]
    lines.insert(1, "-" * len(lines[0]))
    lines.append(f"ring limit: {policy['limit']} rings ({policy['reading']}: answered in "
                 f"< {policy['limit_seconds']:g} s); abandon rate {f(c['abandon_rate_pct'])}%;"
                 f" incomplete calls {c['incomplete']}")
    if c["serial_witnessed"]:
        lines.append(f"seen by a serial line too: {c['serial_witnessed']} call(s); ring counts differ in "
                     f"{c['serial_ring_disagreements']} ({f(c['serial_ring_disagreement_pct'])}%)")
    ring = c["ring_seconds"]
    lines.append(f"ring seconds of the answered calls (answering operator): mean {f(ring['mean'])}, median "
                 f"{f(ring['median'])}, p90 {f(ring['p90'])}; the ALL row's seconds are the caller's wait")
    return "\n".join(lines)


def _width(text: str) -> int:
    """Display width: CJK characters take two columns (Chinese operator names)."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int, index: int) -> str:
    gap = " " * (width - _width(text))
    return text + gap if index == 0 else gap + text
