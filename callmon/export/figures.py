"""One month's compliance report as data: every figure the XLSX, CSV and PDF show.

The figures come from the same functions as ``callmon stats`` (``calls.stats.operator_stats``)
and ``callmon score`` (``compliance.score_figures``) over the same month in the site's time zone,
so the report and the command line cannot disagree.  The month is read once, in bulk
(``store.period``); per call only what the detail sheets print is kept.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, tzinfo
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from callmon import __version__
from callmon.calls.rings import RingPolicy
from callmon.calls.stats import StatsFold, operator_stats
from callmon.compliance.labels import ITEM_NAMES, STATE_NAMES, reason_zh
from callmon.compliance.score_figures import ScoreFold
from callmon.export.trend import month_trend
from callmon.store.period import ScoredCall, iter_records, iter_scored
from callmon.timeutil import local_clock, month_range, shift_month

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


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else round(ms / 1000, 3)


@dataclass
class _Part:
    """What one scan of a span of the month found (two spans are scanned at once on two cores)."""

    stats: StatsFold = field(default_factory=StatsFold)
    rows: list[CallRow] = field(default_factory=list)
    histogram: list[int] = field(default_factory=lambda: [0] * (HISTOGRAM_MAX_S + 1))
    fold: ScoreFold = field(default_factory=ScoreFold)
    deductions: list[Deduction] = field(default_factory=list)


def _scan(bind: Engine | Connection, start: int, end: int, tz: tzinfo, details: bool) -> _Part:
    part = _Part()
    rows: dict[int, CallRow] = {}
    with Session(bind) as session:
        for call_id, rec in iter_records(session, start, end):
            part.stats.add(rec)
            if rec.outcome == "answered" and rec.ring_ms is not None:
                part.histogram[min(HISTOGRAM_MAX_S, rec.ring_ms // 1000)] += 1
            if details:
                rows[call_id] = CallRow(
                    rec.linkedid, local_clock(rec.first_event_us, tz), rec.caller, rec.operator,
                    OUTCOME_NAMES.get(rec.outcome, rec.outcome), rec.rings, _seconds(rec.ring_ms),
                    _seconds(rec.wait_ms), rec.within_limit, _seconds(rec.talk_ms), rec.incomplete)
        for scored in iter_scored(session, start, end):
            part.fold.add(scored, scored.grammar_hash)
            if details:
                _detail(scored, rows.get(scored.call_id), part.deductions, tz)
    part.rows = list(rows.values())
    return part


_ROW_FIELDS = [f.name for f in fields(CallRow)]
_DEDUCTION_FIELDS = [f.name for f in fields(Deduction)]


def _scan_in_child(bind: Engine, start: int, end: int, tz: tzinfo, details: bool, pipe: Any) -> None:
    bind.dispose(close=False)  # the parent's pooled connections stay the parent's
    part = _scan(bind, start, end, tz, details)
    # plain tuples cross the pipe about ten times faster than dataclass instances
    rows, deductions = attrgetter(*_ROW_FIELDS), attrgetter(*_DEDUCTION_FIELDS)
    pipe.send((part.stats, part.histogram, part.fold, [rows(r) for r in part.rows],
               [deductions(d) for d in part.deductions]))
    pipe.close()


def _scan_month(bind: Engine | Connection, start: int, end: int, tz: tzinfo, details: bool,
                parallel: bool, meanwhile: Callable[[], Any]) -> tuple[_Part, Any]:
    """The month's calls in two halves, the second in a forked process when ``parallel`` (and
    ``bind`` is an engine it can reconnect with), merged in time order; and ``meanwhile()``,
    run here while the other process finishes."""
    mid = start + (end - start) // 2
    if parallel and isinstance(bind, Engine):
        ctx = multiprocessing.get_context("fork")
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_scan_in_child, args=(bind, mid, end, tz, details, send), name="callmon-figures")
        child.start()
        send.close()
        first = _scan(bind, start, mid, tz, details)
        also = meanwhile()
        try:
            stats, histogram, fold, rows, deductions = receive.recv()
        except EOFError:
            child.join()
            raise RuntimeError(f"the second half of the month could not be read (exit {child.exitcode})") from None
        child.join()
        second = _Part(stats, [CallRow(*r) for r in rows], histogram, fold, [Deduction(*d) for d in deductions])
    else:
        first, second = _scan(bind, start, mid, tz, details), _scan(bind, mid, end, tz, details)
        also = meanwhile()
    first.stats.merge(second.stats)
    first.rows += second.rows
    first.histogram = [a + b for a, b in zip(first.histogram, second.histogram, strict=True)]
    first.fold.merge(second.fold)
    first.deductions += second.deductions
    return first, also


def build_report(bind: Engine | Connection, month: str, tz: tzinfo, policy: RingPolicy, site: str,
                 timezone: str, details: bool = True, parallel: bool = False) -> MonthReport:
    """The month's report; ``details=False`` leaves out the per-call and per-deduction lines;
    ``parallel``: read the second half of the month in a forked process."""
    start, end = month_range(month, tz)
    prev = shift_month(month, -1)

    def previous_and_trend() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        p_start, p_end = month_range(prev, tz)
        with Session(bind) as session:
            previous_stats = operator_stats((r for _, r in iter_records(session, p_start, p_end)), policy)
            p_fold = ScoreFold()
            for scored in iter_scored(session, p_start, p_end):
                p_fold.add(scored)
            return previous_stats, p_fold.table(), month_trend(session, month, tz, 12)

    part, (previous_stats, previous_scores, trend) = _scan_month(bind, start, end, tz, details, parallel,
                                                                 previous_and_trend)
    stats = part.stats.result(policy)
    scores = part.fold.table()
    header = {
        "month": month, "site": site, "timezone": timezone,
        "period": f"{local_clock(start, tz)[:10]} 00:00:00 – {local_clock(end - 1, tz)[:10]} 23:59:59 ({timezone})",
        "version": __version__, "grammar_hashes": scores["grammar_hashes"],
        "generated": datetime.now(tz).strftime("%Y-%m-%d %H:%M:%S %z"),
        "ring_policy": policy.describe(), "previous_month": prev,
    }
    return MonthReport(month, header, stats, scores, previous_stats, previous_scores, trend, part.histogram,
                       part.rows, part.deductions)


def _detail(scored: ScoredCall, row: CallRow | None, deductions: list[Deduction], tz: tzinfo) -> None:
    """Fill the call's line with its verdicts and add its deductions."""
    if row is not None:
        row.auto_score, row.reviewed_score = scored.score, scored.reviewed_score
        row.passed, row.flagged = scored.effective_passed, scored.flagged
        row.reasons = "；".join(reason_zh(r) for r in scored.flag_reasons)
        row.review = STATE_NAMES.get(scored.review_state, scored.review_state) + (
            "（改判）" if scored.overridden else "") + ("，有申诉" if scored.disputed else "")
    reviewed = {str(i["id"]): i for i in scored.reviewed_items or []}
    time_ = row.time if row is not None else local_clock(scored.first_event_us, tz)
    for item in scored.items:
        if not item.get("deduction") and not reviewed:
            continue
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
