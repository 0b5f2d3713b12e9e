"""``callmon export``'s work: build the month's report once, then write each requested format.

With several formats the workbook (the slowest: XlsxWriter writes about 400,000 cells a second)
is written by a forked child process while this one writes the CSV files and the PDF, so the
two cores of a small server both work.  The web download asks for one format: no fork.
"""

from __future__ import annotations

import logging
import multiprocessing
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from callmon.config import Config
from callmon.export.csv_files import write_csv
from callmon.export.figures import MonthReport, build_report
from callmon.export.tables import all_tables, meta_lines
from callmon.export.trend import shift_month

log = logging.getLogger(__name__)
FORMATS = ("xlsx", "csv", "pdf")


class ExportError(ValueError):
    """An export that cannot be made as asked (bad format list, no font, a writer failed)."""


@dataclass
class ExportResult:
    month: str
    files: list[Path] = field(default_factory=list)
    calls: int = 0
    deductions: int = 0
    empty: bool = False
    seconds: dict[str, float] = field(default_factory=dict)


def parse_formats(text: str) -> list[str]:
    wanted = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise ExportError(f"--format {text!r}: expected a comma-separated list of {', '.join(FORMATS)}")
    return list(dict.fromkeys(wanted))


def previous_month(tz: Any) -> str:
    return shift_month(datetime.now(tz).strftime("%Y-%m"), -1)


def base_name(site: str, month: str) -> str:
    """``callmon-常州-2026-10``: the site's name kept (Chinese included), path characters not."""
    name = re.sub(r"[^\w.-]+", "_", site).strip("_") or "site"
    return f"callmon-{name}-{month}"


def export_month(engine: Engine | Connection, cfg: Config, month: str, formats: list[str], out_dir: Path,
                 site: str | None = None, mask: bool | None = None, parallel: bool = True) -> ExportResult:
    site = site or cfg.site.name
    mask = cfg.export.mask_numbers if mask is None else mask
    font = None
    if "pdf" in formats:
        from callmon.export.pdf import find_font  # matplotlib and ReportLab load only for a PDF
        font = find_font(cfg.export.font)
    started = time.perf_counter()
    with Session(engine) as session:
        report = build_report(session, month, cfg.tz, cfg.rings.policy(), site, cfg.site.timezone,
                              details="csv" in formats or "xlsx" in formats)
    result = ExportResult(month, calls=len(report.calls), deductions=len(report.deductions), empty=report.empty)
    result.seconds["figures"] = time.perf_counter() - started
    tables, meta = all_tables(report, mask), meta_lines(report)
    base = base_name(site, month)
    child = None
    if "xlsx" in formats and parallel and len(formats) > 1:
        child = multiprocessing.get_context("fork").Process(target=_xlsx_child, args=(report, tables, meta,
                                                                                      out_dir / f"{base}.xlsx"))
        child.start()
    elif "xlsx" in formats:
        result.files.append(_timed(result, "xlsx", _write_xlsx, report, tables, meta, out_dir / f"{base}.xlsx"))
    if "csv" in formats:
        result.files += _timed(result, "csv", write_csv, tables, meta, out_dir, base)
    if "pdf" in formats and font is not None:
        from callmon.export.pdf import write_pdf
        result.files.append(_timed(result, "pdf", write_pdf, report, tables, meta, out_dir / f"{base}.pdf", font))
    if child is not None:
        child.join()
        if child.exitcode != 0:
            raise ExportError(f"writing {out_dir / f'{base}.xlsx'} failed (exit {child.exitcode}); see the log")
        result.files.insert(0, out_dir / f"{base}.xlsx")
    result.seconds["total"] = time.perf_counter() - started
    return result


def _timed(result: ExportResult, name: str, fn: Any, *args: Any) -> Any:
    t = time.perf_counter()
    out = fn(*args)
    result.seconds[name] = time.perf_counter() - t
    return out


def _write_xlsx(report: MonthReport, tables: Any, meta: Any, path: Path) -> Path:
    from callmon.export.xlsx import write_xlsx
    return write_xlsx(report, tables, meta, path)


def _xlsx_child(report: MonthReport, tables: Any, meta: Any, path: Path) -> None:
    try:
        _write_xlsx(report, tables, meta, path)
    except Exception:
        log.exception("writing %s failed", path)
        raise
