"""One month's compliance report as data: every figure the XLSX, CSV and PDF show.

The figures come from the same functions as ``callmon stats`` (``calls.stats.operator_stats``)
and ``callmon score`` (``compliance.score_figures``) over the same month in the site's time zone,
so the report and the command line cannot disagree.  The month is read once, in bulk
(``store.period``); per call only what the detail sheets print is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.orm import Session

from callmon import __version__
from callmon.calls.record import CallRecord
from callmon.calls.rings import RingPolicy
from callmon.calls.stats import operator_stats
from callmon.compliance.labels import ITEM_NAMES, STATE_NAMES, reason_zh
from callmon.compliance.score_figures import ScoreFold
from callmon.export.trend import month_trend, shift_month
from callmon.store.period import ScoredCall, iter_records, iter_scored
from callmon.timeutil import month_range

OUTCOME_NAMES = {"answered": "接听", "abandoned": "放弃（振铃中挂机）", "unanswered": "无人接听",
                 "not_offered": "未进入队列", "unknown": "未知"}
HISTOGRAM_MAX_S = 30  # ring seconds shown one bar per second; longer ones in the last bar


@dataclass
class CallRow:
    """One line of 通话明细."""

    linkedid: str
    time: str
    caller: str | None
    operator: str | None
    outcome: str
    rings: int | None
    ring_s: float | None
    wait_s: float | None
    within_limit: bool | None
    talk_s: float | None
    incomplete: bool
    auto_score: int | None = None
    reviewed_score: int | None = None
    passed: bool | None = None
    flagged: bool = False
    reasons: str = ""
    review: str = ""


@dataclass
class Deduction:
    """One line of 扣分明细: an item that cost points, with its evidence and what a person decided."""

    linkedid: str
    time: str
    operator: str | None
    item: str
    item_name: str
    points: int
    reviewed_points: int | None
    evidence: str
    decision: str  # 未复核 / 复核确认 / 复核改判 / 申诉


@dataclass
class MonthReport:
    month: str
    header: dict[str, Any]
    stats: dict[str, Any]  # operator_stats of the month: what `callmon stats --json` prints
    scores: dict[str, Any]  # the score fold of the month: what `callmon score --json` prints
    previous_stats: dict[str, Any]
    previous_scores: dict[str, Any]
    trend: list[dict[str, Any]]
    ring_histogram: list[int]
    calls: list[CallRow] = field(default_factory=list)
    deductions: list[Deduction] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.stats["center"]["calls_offered"] == 0 and not self.calls


def local_time(us: int | None, tz: tzinfo) -> str:
    return "" if us is None else datetime.fromtimestamp(us / 1e6, tz).strftime("%Y-%m-%d %H:%M:%S")


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else round(ms / 1000, 3)


def build_report(session: Session, month: str, tz: tzinfo, policy: RingPolicy, site: str,
                 timezone: str, details: bool = True) -> MonthReport:
    """The month's report; ``details=False`` leaves out the per-call and per-deduction lines."""
    start, end = month_range(month, tz)
    rows: dict[int, CallRow] = {}
    histogram = [0] * (HISTOGRAM_MAX_S + 1)

    def records() -> Iterator[CallRecord]:
        for call_id, rec in iter_records(session, start, end):
            if rec.outcome == "answered" and rec.ring_ms is not None:
                histogram[min(HISTOGRAM_MAX_S, rec.ring_ms // 1000)] += 1
            if details:
                rows[call_id] = CallRow(
                    rec.linkedid, local_time(rec.first_event_us, tz), rec.caller, rec.operator,
                    OUTCOME_NAMES.get(rec.outcome, rec.outcome), rec.rings, _seconds(rec.ring_ms),
                    _seconds(rec.wait_ms), rec.within_limit, _seconds(rec.talk_ms), rec.incomplete)
            yield rec

    stats = operator_stats(records(), policy)
    fold = ScoreFold()
    deductions: list[Deduction] = []
    for scored in iter_scored(session, start, end):
        fold.add(scored, scored.grammar_hash)
        if details:
            _detail(scored, rows.get(scored.call_id), deductions, tz)
    scores = fold.table()
    prev = shift_month(month, -1)
    p_start, p_end = month_range(prev, tz)
    previous_stats = operator_stats((r for _, r in iter_records(session, p_start, p_end)), policy)
    p_fold = ScoreFold()
    for scored in iter_scored(session, p_start, p_end):
        p_fold.add(scored)
    header = {
        "month": month, "site": site, "timezone": timezone,
        "period": f"{local_time(start, tz)[:10]} 00:00:00 – {local_time(end - 1, tz)[:10]} 23:59:59 ({timezone})",
        "version": __version__, "grammar_hashes": scores["grammar_hashes"],
        "generated": datetime.now(tz).strftime("%Y-%m-%d %H:%M:%S %z"),
        "ring_policy": policy.describe(), "previous_month": prev,
    }
    return MonthReport(month, header, stats, scores, previous_stats, p_fold.table(),
                       month_trend(session, month, tz, 12), histogram,
                       list(rows.values()), deductions)


def _detail(scored: ScoredCall, row: CallRow | None, deductions: list[Deduction], tz: tzinfo) -> None:
    """Fill the call's line with its verdicts and add its deductions."""
    if row is not None:
        row.auto_score, row.reviewed_score = scored.score, scored.reviewed_score
        row.passed, row.flagged = scored.effective_passed, scored.flagged
        row.reasons = "；".join(reason_zh(r) for r in scored.flag_reasons)
        row.review = STATE_NAMES.get(scored.review_state, scored.review_state) + (
            "（改判）" if scored.overridden else "") + ("，有申诉" if scored.disputed else "")
    reviewed = {str(i["id"]): i for i in scored.reviewed_items or []}
    time_ = row.time if row is not None else local_time(scored.first_event_us, tz)
    for item in scored.items:
        item_id = str(item["id"])
        mine = reviewed.get(item_id)
        points = int(item.get("deduction") or 0)
        after = None if mine is None else int(mine.get("deduction") or 0)
        if points == 0 and not after:
            continue
        deductions.append(Deduction(scored.linkedid, time_, scored.operator, item_id,
                                    ITEM_NAMES.get(item_id, item_id), points, after, evidence_summary(item),
                                    _decision(scored, item, mine)))


def _decision(scored: ScoredCall, item: dict[str, Any], mine: dict[str, Any] | None) -> str:
    """What a person made of one deduction: confirmed, overridden (this item), or not yet looked at."""
    if scored.reviewed:
        if mine is None:
            return "复核改判（直接改分）" if scored.overridden else "复核确认"
        same = (mine["owed"], mine["found"], mine.get("deduction")) == (item["owed"], item["found"],
                                                                      item.get("deduction"))
        return "复核确认" if same else "复核改判"
    return "申诉中" if scored.disputed else "未复核"


def evidence_summary(item: dict[str, Any]) -> str:
    """What the check found or missed, in one line: the words matched and where, or what was expected."""
    parts = []
    if item.get("matched"):
        where = f"（{item['start']:.1f} 秒）" if isinstance(item.get("start"), int | float) else ""
        label = "说了" if item.get("found") else "最接近的话"
        parts.append(f"{label}：“{item['matched']}”{where}")
    elif item.get("expected") and item.get("kind") != "prohibited":
        parts.append(f"应说：“{item['expected']}”，未找到")
    if item.get("note"):
        parts.append(str(item["note"]))
    return "；".join(parts)
