"""XLSX: one sheet per part, frozen header rows, auto-filters, number and percent formats, and
native Excel charts (XlsxWriter, in constant-memory mode: rows go to disk as they are written).

Charts, on 汇总: pass rate and within-limit rate per operator (from 接警员), the distribution of
ring seconds with the bars past the ring limit in red, and the last 12 months' trend.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from callmon.export.atomic import atomic_path
from callmon.export.figures import HISTOGRAM_MAX_S, MonthReport
from callmon.export.sheet_xml import inject, sheet_members, write_rows
from callmon.export.tables import CALLS, DEDUCTIONS, OPERATOR_SCORES, OPERATOR_STATS, OPERATORS, SUMMARY, Table

DETAIL_SHEETS = (DEDUCTIONS, CALLS)  # rows written by sheet_xml, not cell by cell
NUMBER_FORMATS = {"int": "0", "pct": "0.0%", "sec": "0.000", "score": "0.0"}
WIDTH_SAMPLE = 400  # rows looked at to size a column (a month has 150,000)


def display_width(value: Any) -> int:
    """Columns a value takes in Excel: CJK characters count two."""
    text = value if isinstance(value, str) else ("" if value is None else f"{value}")
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


class _Formats:
    def __init__(self, wb: Workbook) -> None:
        self.header = wb.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1, "text_wrap": True,
                                     "valign": "vcenter"})
        self.title = wb.add_format({"bold": True, "font_size": 14})
        self.label = wb.add_format({"bold": True})
        self.kinds = {k: wb.add_format({"num_format": f}) for k, f in NUMBER_FORMATS.items()}
        self.text = wb.add_format({})


def _cell_writer(ws: Worksheet, kind: str, fmt: _Formats) -> Callable[[int, int, Any], None]:
    number, string = ws.write_number, ws.write_string
    if kind == "pct":
        pct = fmt.kinds["pct"]
        return lambda r, c, v: number(r, c, v / 100, pct)
    if kind in NUMBER_FORMATS:
        f = fmt.kinds[kind]
        return lambda r, c, v: number(r, c, v, f)
    if kind == "bool":
        return lambda r, c, v: string(r, c, "是" if v else "否")
    return lambda r, c, v: string(r, c, str(v)) if not isinstance(v, int | float) else number(r, c, v)


def _table(ws: Worksheet, table: Table, fmt: _Formats, first_row: int = 0, freeze: bool = True,
           header_only: bool = False) -> int:
    """The table at ``first_row`` with a frozen, filtered header; returns the next free row.

    ``header_only``: the rows come later (``sheet_xml``); the columns carry their number format.
    """
    ncols = len(table.columns)
    widths = [display_width(c.title) for c in table.columns]
    for row in table.rows[:WIDTH_SAMPLE]:
        for i, v in enumerate(row):
            widths[i] = max(widths[i], display_width(v))
    for i, w in enumerate(widths):
        kind = table.columns[i].kind
        ws.set_column(i, i, min(60, max(8, w + 2)), fmt.kinds.get(kind) if header_only else None)
    ws.write_row(first_row, 0, [c.title for c in table.columns], fmt.header)
    if freeze:
        ws.freeze_panes(first_row + 1, 1)
    ws.autofilter(first_row, 0, first_row + max(1, len(table.rows)), ncols - 1)
    if header_only:
        return first_row + 1 + len(table.rows)
    writers = [_cell_writer(ws, c.kind, fmt) for c in table.columns]
    mixed = {k: _cell_writer(ws, k, fmt) for k in NUMBER_FORMATS}
    r = first_row
    for index, row in enumerate(table.rows):
        r += 1
        for c, v in enumerate(row):
            if v is None:
                continue
            write = writers[c] if table.row_kinds is None or table.columns[c].kind != "mixed" \
                else mixed[table.row_kinds[index]]
            write(r, c, v)
    return r + 1


RowsWriter = Callable[[list[tuple[Table, Path]], dict[str, int]], None]


def write_rows_here(jobs: list[tuple[Table, Path]], styles: dict[str, int]) -> None:
    for table, path in jobs:
        write_rows(table, styles, path)


def write_xlsx(report: MonthReport, tables: Sequence[Table], meta: Sequence[tuple[str, str]], path: Path,
               rows_writer: RowsWriter = write_rows_here) -> Path:
    """The workbook at ``path``.  ``rows_writer`` writes the detail sheets' rows files (``run`` passes
    one that does half of them in a second process)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".callmon-xlsx-", dir=path.parent) as work:
        skeleton = Path(work) / "skeleton.xlsx"
        styles = _skeleton(report, tables, meta, skeleton)
        jobs = [(t, Path(work) / f"rows-{i}.xml") for i, t in enumerate(tables) if t.name in DETAIL_SHEETS]
        rows_writer(jobs, styles)
        members = sheet_members([t.name for t in tables])
        with atomic_path(path) as tmp:
            inject(skeleton, {members[t.name]: (p, len(t.rows), len(t.columns)) for t, p in jobs}, tmp)
    return path


def _skeleton(report: MonthReport, tables: Sequence[Table], meta: Sequence[tuple[str, str]],
              path: Path) -> dict[str, int]:
    """Everything but the detail sheets' rows; returns the style index of each number kind."""
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_urls": False,
                                         "strings_to_formulas": False, "strings_to_numbers": False})
    fmt = _Formats(wb)
    sheets = {t.name: wb.add_worksheet(t.name) for t in tables}
    summary = sheets[SUMMARY]
    for r, (label, value) in enumerate(meta):
        summary.write_string(r, 0, label, fmt.label)
        summary.write_string(r, 1, value)
    top = len(meta) + 1
    after = _table(summary, tables[0], fmt, top, freeze=False)
    summary.freeze_panes(1, 0)  # the title row; the figures table follows the header lines
    trend_row, hist_row = after + 1, after + 1 + len(report.trend) + 3
    _trend_table(summary, report, fmt, trend_row)
    _histogram_table(summary, report, fmt, hist_row)
    for table in tables[1:]:
        _table(sheets[table.name], table, fmt, header_only=table.name in DETAIL_SHEETS)
    _charts(wb, summary, report, tables, trend_row, hist_row)
    wb.close()
    # set once a format is used (the detail sheets' columns use theirs)
    return {kind: int(f.xf_index) for kind, f in fmt.kinds.items() if f.xf_index is not None}


def _trend_table(ws: Worksheet, report: MonthReport, fmt: _Formats, row: int) -> None:
    ws.write_string(row - 1, 0, "近 12 个月趋势", fmt.label)
    ws.write_row(row, 0, ["月份", "来电总数", "三声内接听率", "合格率", "平均得分", "放弃率"], fmt.header)
    for k, m in enumerate(report.trend, start=row + 1):
        ws.write_string(k, 0, m["month"])
        ws.write_number(k, 1, m["calls_offered"], fmt.kinds["int"])
        for col, key in ((2, "within_ring_limit_pct"), (3, "pass_rate_pct"), (5, "abandon_rate_pct")):
            if m[key] is not None:
                ws.write_number(k, col, m[key] / 100, fmt.kinds["pct"])
        if m["mean_score"] is not None:
            ws.write_number(k, 4, m["mean_score"], fmt.kinds["score"])


def _histogram_table(ws: Worksheet, report: MonthReport, fmt: _Formats, row: int) -> None:
    ws.write_string(row - 1, 0, "振铃时长分布（已接听通话，接听的接警员）", fmt.label)
    ws.write_row(row, 0, ["振铃时长", "通话数"], fmt.header)
    for s, n in enumerate(report.ring_histogram):
        label = f"{s}–{s + 1} 秒" if s < HISTOGRAM_MAX_S else f"≥ {s} 秒"
        ws.write_string(row + 1 + s, 0, label)
        ws.write_number(row + 1 + s, 1, n, fmt.kinds["int"])


def _charts(wb: Workbook, ws: Worksheet, report: MonthReport, tables: Sequence[Table], trend_row: int,
            hist_row: int) -> None:
    ops = next(t for t in tables if t.name == OPERATORS)
    keys = [k for k, _, _ in OPERATOR_STATS + OPERATOR_SCORES]
    n = max(1, len(ops.rows))
    per_op = wb.add_chart({"type": "column"})
    for key, name, color in (("pass_rate_pct", "合格率", "#4F81BD"),
                             ("within_ring_limit_pct", "三声内接听率", "#9BBB59")):
        col = 1 + keys.index(key)
        per_op.add_series({"name": name, "categories": [OPERATORS, 1, 0, n, 0],
                           "values": [OPERATORS, 1, col, n, col], "fill": {"color": color}})
    per_op.set_title({"name": "各接警员合格率与三声内接听率"})
    per_op.set_y_axis({"num_format": "0%", "max": 1, "min": 0})
    per_op.set_size({"width": 960, "height": 320})
    ws.insert_chart(1, 7, per_op)

    limit_s = float(report.header["ring_policy"]["limit_seconds"])
    hist = wb.add_chart({"type": "column"})
    points = [{"fill": {"color": "#C0504D" if s >= limit_s else "#4F81BD"}} for s in range(HISTOGRAM_MAX_S + 1)]
    hist.add_series({"name": "通话数", "categories": [SUMMARY, hist_row + 1, 0, hist_row + 1 + HISTOGRAM_MAX_S, 0],
                     "values": [SUMMARY, hist_row + 1, 1, hist_row + 1 + HISTOGRAM_MAX_S, 1], "points": points,
                     "gap": 20})
    limit = report.header["ring_policy"]["limit"]
    hist.set_title({"name": f"振铃时长分布（红色：{limit_s:g} 秒及以上，超过 {limit} 声）"})
    hist.set_legend({"none": True})
    hist.set_size({"width": 960, "height": 320})
    ws.insert_chart(18, 7, hist)

    trend = wb.add_chart({"type": "line"})
    last = trend_row + len(report.trend)
    for col, name in ((2, "三声内接听率"), (3, "合格率"), (5, "放弃率")):
        trend.add_series({"name": name, "categories": [SUMMARY, trend_row + 1, 0, last, 0],
                          "values": [SUMMARY, trend_row + 1, col, last, col], "marker": {"type": "circle"}})
    trend.set_title({"name": "近 12 个月趋势"})
    trend.set_y_axis({"num_format": "0%", "min": 0, "max": 1})
    trend.set_size({"width": 960, "height": 320})
    ws.insert_chart(35, 7, trend)
