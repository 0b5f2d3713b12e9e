"""The PDF's charts, drawn by matplotlib (Agg, no display) as PNG at print resolution.

The same three as the workbook's native charts: pass rate and within-limit rate per operator,
ring seconds with the limit marked, and the last 12 months.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib import font_manager
from matplotlib.figure import Figure

from callmon.export.figures import HISTOGRAM_MAX_S, MonthReport
from callmon.export.tables import operator_rows

DPI = 160
logging.getLogger("matplotlib").setLevel(logging.ERROR)  # font-weight guesses and category notes are noise


def _font(font: Path) -> str:
    font_manager.fontManager.addfont(str(font))
    return font_manager.FontProperties(fname=str(font)).get_name()


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)  # Agg; no pyplot, no display, no global figure state
    return buf.getvalue()


def summary_charts(report: MonthReport, font: Path) -> list[tuple[str, bytes, float]]:
    """(caption, PNG, height in mm at 178 mm wide) for each chart."""
    family = _font(font)
    limit = report.header["ring_policy"]
    with matplotlib.rc_context({"font.family": family, "font.size": 8, "axes.unicode_minus": False}):
        return [("各接警员合格率与三声内接听率", _per_operator(report), 70.0),
                (f"振铃时长分布（虚线：{limit['limit']} 声 = {limit['limit_seconds']:g} 秒，红色为超过）",
                 _histogram(report), 62.0),
                ("近 12 个月趋势：三声内接听率、合格率、放弃率", _trend(report), 62.0)]


def _per_operator(report: MonthReport) -> bytes:
    rows = operator_rows(report)
    fig = Figure(figsize=(7.0, 2.75))
    ax = fig.subplots()
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r.get("pass_rate_pct") or 0 for r in rows], 0.4, label="合格率", color="#4F81BD")
    ax.bar([x + 0.2 for x in xs], [r.get("within_ring_limit_pct") or 0 for r in rows], 0.4, label="三声内接听率",
           color="#9BBB59")
    ax.set_xticks(list(xs), [r["operator"] for r in rows], rotation=90 if len(rows) > 12 else 0, fontsize=6.5)
    ax.set_ylim(0, 100)
    ax.set_ylabel("%")
    ax.set_title("各接警员合格率与三声内接听率")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _histogram(report: MonthReport) -> bytes:
    policy: dict[str, Any] = report.header["ring_policy"]
    limit_s = float(policy["limit_seconds"])
    fig = Figure(figsize=(7.0, 2.45))
    ax = fig.subplots()
    counts = report.ring_histogram
    ax.bar(range(len(counts)), counts, 0.85, align="edge",
           color=["#C0504D" if s >= limit_s else "#4F81BD" for s in range(len(counts))])
    ax.axvline(limit_s, color="#C0504D", linestyle="--", linewidth=1.2)
    ax.text(limit_s + 0.3, max(counts or [1]) * 0.9, f"{policy['limit']} 声 = {limit_s:g} 秒", color="#C0504D")
    ax.set_xlim(0, HISTOGRAM_MAX_S + 1)
    ax.set_xlabel(f"振铃时长（秒，≥ {HISTOGRAM_MAX_S} 秒计入最后一栏）")
    ax.set_ylabel("通话数")
    ax.set_title("振铃时长分布（已接听通话）")
    fig.tight_layout()
    return _png(fig)


def _trend(report: MonthReport) -> bytes:
    months = [m["month"] for m in report.trend]
    fig = Figure(figsize=(7.0, 2.45))
    ax = fig.subplots()
    for key, label in (("within_ring_limit_pct", "三声内接听率"), ("pass_rate_pct", "合格率"),
                       ("abandon_rate_pct", "放弃率")):
        values = [float("nan") if m[key] is None else m[key] for m in report.trend]
        ax.plot(range(len(months)), values, marker="o", label=label)
    ax.set_xticks(range(len(months)), months)
    ax.set_ylim(0, 100)
    ax.set_ylabel("%")
    ax.set_title("近 12 个月趋势")
    ax.tick_params(axis="x", labelsize=6.5)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)
