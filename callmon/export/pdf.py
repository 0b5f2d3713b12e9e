"""PDF: a printable A4 report (ReportLab): the header and summary with charts, then a page per operator.

Chinese text is set in an embedded CJK TrueType font (WenQuanYi Zen Hei from Debian's
``fonts-wqy-zenhei``, installed by ``scripts/install-system-deps.sh``; ``[export] font``
names another).  ReportLab embeds TrueType outlines only, which is why it is not the
CFF-based Noto CJK.  Charts are drawn by matplotlib with the same font.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, PageBreak, Paragraph, SimpleDocTemplate
from reportlab.platypus import Table as PdfTable

from callmon.compliance.labels import ITEM_NAMES
from callmon.export import charts
from callmon.export.atomic import atomic_path
from callmon.export.figures import MonthReport
from callmon.export.tables import OPERATOR_SCORES, OPERATOR_STATS, Table, item_ids, operator_rows

FONT_CANDIDATES = ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
                   "/usr/share/fonts/truetype/arphic/uming.ttc")
FONT = "CallmonCJK"


class FontError(RuntimeError):
    """No CJK TrueType font to embed."""


def find_font(configured: str = "") -> Path:
    for candidate in ([configured] if configured else list(FONT_CANDIDATES)):
        if Path(candidate).is_file():
            return Path(candidate)
    raise FontError(f"no CJK TrueType font for the PDF ({configured or ', '.join(FONT_CANDIDATES)} not found): "
                    "install Debian's fonts-wqy-zenhei (scripts/install-system-deps.sh) or set [export] font")


def _register(font: Path) -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, str(font), subfontIndex=0))


def show(value: Any, kind: str) -> str:
    """A figure as printed: percentages with one decimal and a % sign, seconds with three decimals."""
    if value is None:
        return "–"
    if kind == "bool":
        return "是" if value else "否"
    if kind == "pct":
        return f"{value:.1f}%"
    if kind == "sec":
        return f"{value:.3f}"
    if kind == "score":
        return f"{value:.1f}"
    return str(value)


class _Styles:
    def __init__(self) -> None:
        self.title = ParagraphStyle("title", fontName=FONT, fontSize=18, leading=24, spaceAfter=6)
        self.h2 = ParagraphStyle("h2", fontName=FONT, fontSize=13, leading=18, spaceBefore=8, spaceAfter=4)
        self.body = ParagraphStyle("body", fontName=FONT, fontSize=8.5, leading=12, wordWrap="CJK")
        self.cell = ParagraphStyle("cell", fontName=FONT, fontSize=8, leading=10, wordWrap="CJK")


def _grid(rows: list[list[Any]], widths: Sequence[float] | None = None, header: bool = True) -> PdfTable:
    table = PdfTable(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [("FONTNAME", (0, 0), (-1, -1), FONT), ("FONTSIZE", (0, 0), (-1, -1), 8),
             ("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
             ("ALIGN", (1, 0), (-1, -1), "RIGHT"), ("TOPPADDING", (0, 0), (-1, -1), 1.6),
             ("BOTTOMPADDING", (0, 0), (-1, -1), 1.6)]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DCE6F1")))
    table.setStyle(style)
    return table


def write_pdf(report: MonthReport, tables: Sequence[Table], meta: Sequence[tuple[str, str]], path: Path,
              font: Path) -> Path:
    _register(font)
    st = _Styles()
    story: list[Any] = [Paragraph(escape(f"110 接警服务质量月报　{report.month}　{report.header['site']}"), st.title)]
    story.append(_grid([[Paragraph(escape(k), st.cell), Paragraph(escape(v), st.cell)] for k, v in meta[1:]],
                       [38 * mm, 140 * mm], header=False))
    summary = tables[0]
    story += [Paragraph("汇总", st.h2)]
    rows = [[c.title for c in summary.columns]]
    rows += [[row[0], row[1], *(show(v, summary.kind(r, c)) for c, v in enumerate(row) if c >= 2)]
             for r, row in enumerate(summary.rows)]
    story.append(_grid(rows, [62 * mm, 14 * mm, 34 * mm, 34 * mm, 34 * mm]))
    images = charts.summary_charts(report, font)
    story += [PageBreak(), Paragraph("图表", st.h2)]
    for caption, png, height in images:
        story += [Image(io.BytesIO(png), width=178 * mm, height=height * mm), Paragraph(caption, st.body)]
    center = report.scores["center"]
    for op in operator_rows(report):
        story += [PageBreak(), *_operator_page(op, center, item_ids(report), st)]
    doc = SimpleDocTemplate("unused", pagesize=A4, initialFontName=FONT, leftMargin=16 * mm, rightMargin=16 * mm,
                            topMargin=14 * mm, bottomMargin=14 * mm, title=f"110 接警服务质量月报 {report.month}",
                            author=f"callmon {report.header['version']}", subject=report.header["site"])
    with atomic_path(path) as tmp:
        doc.filename = str(tmp)
        doc.build(story, onFirstPage=_footer(report), onLaterPages=_footer(report))
    return path


def _operator_page(op: dict[str, Any], center: dict[str, Any], items: list[str], st: _Styles) -> list[Any]:
    out: list[Any] = [Paragraph(escape(f"接警员 {op['operator']}"), st.title)]
    figures = [["指标", "本人"]]
    figures += [[label, show(op.get(key), kind)] for key, label, kind in OPERATOR_STATS + OPERATOR_SCORES]
    out.append(_grid(figures, [70 * mm, 30 * mm]))
    out.append(Paragraph("评分项达标率（应做到的通话中做到的比例；禁用语为未使用的比例）", st.h2))
    rows = [["评分项", "本人", "全中心"]]
    for item in items:
        mine = op["items_pct"].get(item)
        rows.append([ITEM_NAMES.get(item, item), show(mine, "pct"), show(center["items_pct"].get(item), "pct")])
    out.append(_grid(rows, [70 * mm, 30 * mm, 30 * mm]))
    return out


def _footer(report: MonthReport) -> Any:
    def draw(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.drawString(16 * mm, 8 * mm, f"{report.header['site']} · {report.month} · {report.header['timezone']} · "
                                           f"callmon {report.header['version']} · 生成于 {report.header['generated']}")
        canvas.drawRightString(A4[0] - 16 * mm, 8 * mm, f"第 {doc.page} 页")
        canvas.restoreState()
    return draw
