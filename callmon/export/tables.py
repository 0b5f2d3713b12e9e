"""The report's four parts as tables (columns with a kind, rows of values), rendered alike by every format.

Kinds: ``text``, ``int``, ``pct`` (a percentage, 95.0 meaning 95 %), ``sec`` (seconds, three
decimals), ``score`` (one decimal), ``bool`` (是/否).  The values are the figures of
``export.figures`` unchanged, so XLSX, CSV and PDF print the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from callmon.compliance.labels import ITEM_NAMES
from callmon.export.figures import MonthReport
from callmon.masking import mask_number, mask_text

SUMMARY, OPERATORS, DEDUCTIONS, CALLS = "汇总", "接警员", "扣分明细", "通话明细"
PART_FILES = {SUMMARY: "summary", OPERATORS: "operators", DEDUCTIONS: "deductions", CALLS: "calls"}


@dataclass
class Column:
    title: str
    kind: str = "text"


@dataclass
class Table:
    name: str
    columns: list[Column]
    rows: Sequence[Sequence[Any]]
    row_kinds: list[str] | None = None  # for ``mixed`` columns: each row's kind (the summary)

    def kind(self, row: int, col: int) -> str:
        kind = self.columns[col].kind
        return self.row_kinds[row] if kind == "mixed" and self.row_kinds is not None else kind


UNITS = {"int": "次", "pct": "%", "sec": "秒", "score": "分"}
# (key in the merged center figures, label, kind); the summary's rows in order
SUMMARY_METRICS = (
    ("calls_offered", "来电总数（进入队列）", "int"),
    ("answered", "接听", "int"),
    ("abandoned", "放弃（振铃中来电人挂机）", "int"),
    ("abandon_rate_pct", "放弃率", "pct"),
    ("incomplete", "记录不完整的通话", "int"),
    ("within_ring_limit_pct", "三声内接听率（占接听）", "pct"),
    ("answered_within_10s_pct", "10 秒内接听率（来电等待）", "pct"),
    ("answered_within_15s_pct", "15 秒内接听率（来电等待）", "pct"),
    ("answered_within_20s_pct", "20 秒内接听率（来电等待）", "pct"),
    ("ring_mean", "振铃时长 平均（秒）", "sec"),
    ("ring_median", "振铃时长 中位数（秒）", "sec"),
    ("ring_p90", "振铃时长 90% 分位（秒）", "sec"),
    ("wait_mean", "来电等待 平均（秒）", "sec"),
    ("wait_median", "来电等待 中位数（秒）", "sec"),
    ("wait_p90", "来电等待 90% 分位（秒）", "sec"),
    ("scored", "已评分通话", "int"),
    ("mean_score", "平均得分", "score"),
    ("pass_rate_pct", "合格率（≥ 80 分且无一票否决）", "pct"),
    ("flagged", "标记待复核", "int"),
    ("reviewed", "已人工复核", "int"),
    ("overridden", "复核改判", "int"),
    ("disputed", "申诉", "int"),
)


def center_figures(stats: dict[str, Any], scores: dict[str, Any]) -> dict[str, Any]:
    """The center's figures of ``callmon stats`` and ``callmon score`` under one set of keys."""
    c, s = stats["center"], scores["center"]
    return {**{k: v for k, v in c.items() if not isinstance(v, dict)},
            **{f"ring_{k}": v for k, v in c["ring_seconds"].items()},
            **{f"wait_{k}": v for k, v in c["wait_seconds"].items()},
            **{k: s[k] for k in ("scored", "mean_score", "pass_rate_pct", "flagged", "reviewed", "overridden",
                                 "disputed")}}


def _change(now: Any, before: Any) -> Any:
    if now is None or before is None:
        return None
    return round(now - before, 3) if isinstance(now, float) or isinstance(before, float) else now - before


def summary_table(report: MonthReport) -> Table:
    now = center_figures(report.stats, report.scores)
    before = center_figures(report.previous_stats, report.previous_scores)
    rows = [(label, UNITS[kind], now[key], before[key], _change(now[key], before[key]))
            for key, label, kind in SUMMARY_METRICS]
    return Table(SUMMARY, [Column("指标"), Column("单位"), Column(f"本月 {report.month}", "mixed"),
                           Column(f"上月 {report.header['previous_month']}", "mixed"), Column("变化", "mixed")],
                 rows, [kind for _, _, kind in SUMMARY_METRICS])


def item_ids(report: MonthReport) -> list[str]:
    """The items owed in the month, in the grammar's order (then any unknown id)."""
    owed = set(report.scores["center"]["items_owed"])
    return [k for k in ITEM_NAMES if k in owed] + sorted(owed - set(ITEM_NAMES))


OPERATOR_STATS = (
    ("offered", "振铃来电", "int"), ("answered", "接听", "int"), ("abandoned", "振铃中放弃", "int"),
    ("no_answer", "响铃未接", "int"), ("ring_limit_violations", "超过三声（含未接）", "int"),
    ("within_ring_limit_pct", "三声内接听率", "pct"),
    ("ring_mean", "振铃平均（秒）", "sec"), ("ring_median", "振铃中位数（秒）", "sec"),
    ("ring_p90", "振铃 90% 分位（秒）", "sec"), ("answered_within_10s_pct", "10 秒内接听率", "pct"),
    ("answered_within_15s_pct", "15 秒内接听率", "pct"), ("answered_within_20s_pct", "20 秒内接听率", "pct"),
)
OPERATOR_SCORES = (
    ("calls", "评分通话", "int"), ("mean_score", "平均得分", "score"), ("pass_rate_pct", "合格率", "pct"),
    ("flagged", "标记待复核", "int"), ("reviewed", "已复核", "int"), ("overridden", "复核改判", "int"),
    ("disputed", "申诉", "int"),
)


def operator_rows(report: MonthReport) -> list[dict[str, Any]]:
    """Per operator: their ``callmon stats`` row and ``callmon score`` row under one set of keys."""
    stats = {o["operator"]: o for o in report.stats["operators"]}
    scores = {o["operator"]: o for o in report.scores["operators"]}
    out = []
    for name in sorted(set(stats) | set(scores)):
        st, sc = stats.get(name, {}), scores.get(name, {})
        row: dict[str, Any] = {"operator": name, **{k: v for k, v in st.items() if not isinstance(v, dict)}}
        row.update({f"ring_{k}": v for k, v in st.get("ring_seconds", {}).items()})
        row.update({k: sc.get(k) for k, _, _ in OPERATOR_SCORES})
        row["items_pct"] = sc.get("items_pct", {})
        out.append(row)
    return out


def operators_table(report: MonthReport) -> Table:
    items = item_ids(report)
    columns = [Column("接警员")] + [Column(label, kind) for _, label, kind in OPERATOR_STATS + OPERATOR_SCORES]
    columns += [Column(f"{ITEM_NAMES.get(i, i)}" + ("（未使用）" if i == "prohibited" else ""), "pct")
                for i in items]
    rows = [[r["operator"], *(r.get(k) for k, _, _ in OPERATOR_STATS + OPERATOR_SCORES),
             *(r["items_pct"].get(i) for i in items)] for r in operator_rows(report)]
    return Table(OPERATORS, columns, rows)


def deductions_table(report: MonthReport, mask: bool = False) -> Table:
    columns = [Column("通话编号"), Column("时间"), Column("接警员"), Column("评分项编号"), Column("评分项"),
               Column("自动扣分", "int"), Column("复核后扣分", "int"), Column("证据"), Column("人工复核")]
    rows = [(d.linkedid, d.time, d.operator, d.item, d.item_name, d.points, d.reviewed_points,
             mask_text(d.evidence) if mask and d.evidence else d.evidence, d.decision) for d in report.deductions]
    return Table(DEDUCTIONS, columns, rows)


def calls_table(report: MonthReport, mask: bool = False) -> Table:
    columns = [Column("通话编号"), Column("时间"), Column("来电号码"), Column("接警员"), Column("结果"),
               Column("响铃次数", "int"), Column("振铃（秒）", "sec"), Column("来电等待（秒）", "sec"),
               Column("三声内", "bool"), Column("通话（秒）", "sec"), Column("记录不完整", "bool"),
               Column("自动得分", "int"), Column("复核得分", "int"), Column("合格", "bool"), Column("标记", "bool"),
               Column("标记原因"), Column("复核")]
    rows = [(c.linkedid, c.time, mask_number(c.caller) if mask else c.caller, c.operator, c.outcome, c.rings,
             c.ring_s, c.wait_s, c.within_limit, c.talk_s, c.incomplete, c.auto_score, c.reviewed_score, c.passed,
             c.flagged, mask_text(c.reasons) if mask and c.reasons else c.reasons, c.review) for c in report.calls]
    return Table(CALLS, columns, rows)


def all_tables(report: MonthReport, mask: bool = False) -> list[Table]:
    return [summary_table(report), operators_table(report), deductions_table(report, mask), calls_table(report, mask)]


def meta_lines(report: MonthReport) -> list[tuple[str, str]]:
    """The report's header: what period, where, which time zone, which callmon and grammar, when made."""
    h = report.header
    policy = h["ring_policy"]
    hashes = "；".join(f"{k}（{n} 通）" for k, n in h["grammar_hashes"].items()) or "本月没有评分"
    lines = [
        ("报表", f"110 接警服务质量月报 {report.month}"),
        ("统计周期", h["period"]),
        ("单位", h["site"]),
        ("时区", h["timezone"]),
        ("响铃标准", f"{policy['limit']} 声内接听（振铃 {policy['on_ms'] / 1000:g} 秒、"
                 f"间隔 {policy['off_ms'] / 1000:g} 秒，{policy['reading']} 判读："
                 f"{policy['limit_seconds']:g} 秒内接听为合格）"),
        ("评分规则文件（SHA-256）", hashes),
        ("生成程序", f"callmon {h['version']}"),
        ("生成时间", h["generated"]),
        ("说明", "经人工复核的通话按复核结果计入，自动结果并列显示；百分比保留一位小数。"),
    ]
    if report.empty:
        lines.insert(1, ("本月情况", "本月没有通话记录"))
    return lines
