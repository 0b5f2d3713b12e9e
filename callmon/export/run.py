"""``callmon export``'s work: build the month's report once, then write each requested format.

The month's figures are computed once (``figures``).  Then two processes share the writing: a
forked child writes the deductions (the largest part: its workbook rows and its CSV) while this
one writes the calls, the other CSV files and the PDF; the workbook is assembled when both are
done.  The web download runs it in one process (no fork inside a threaded server).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import re
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from callmon.config import Config
from callmon.export.csv_files import csv_path, write_csv
from callmon.export.figures import build_report
from callmon.export.tables import DEDUCTIONS, Table, all_tables, meta_lines
from callmon.export.xlsx import write_rows_here, write_xlsx
from callmon.timeutil import shift_month

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
    peak_mb: float = 0.0  # this process's peak resident memory
    child_peak_mb: float = 0.0  # the workbook writer's, when it was forked


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
    gc_was = gc.isenabled()
    gc.disable()  # millions of short-lived rows, no cycles among them: full collections would only rescan them
    try:
        return _export(engine, cfg, month, formats, out_dir, site, mask, parallel, font, started)
    finally:
        if gc_was:
            gc.enable()


def _export(engine: Engine | Connection, cfg: Config, month: str, formats: list[str], out_dir: Path, site: str,
            mask: bool, parallel: bool, font: Path | None, started: float) -> ExportResult:
    report = build_report(engine, month, cfg.tz, cfg.rings.policy(), site, cfg.site.timezone,
                          details="csv" in formats or "xlsx" in formats, parallel=parallel)
    result = ExportResult(month, calls=len(report.calls), deductions=len(report.deductions), empty=report.empty)
    result.seconds["figures"] = time.perf_counter() - started
    tables, meta = all_tables(report, mask), meta_lines(report)
    base = base_name(site, month)
    # the second process takes the deductions (the biggest part), this one the rest and the PDF
    theirs = {DEDUCTIONS}
    mine = {t.name for t in tables} - theirs
    do_csv = "csv" in formats

    def child_part(jobs: list[tuple[Table, Path]], styles: dict[str, int]) -> None:
        write_rows_here([j for j in jobs if j[0].name in theirs], styles)
        if do_csv:
            write_csv(tables, meta, out_dir, base, only=theirs)

    def parent_part(jobs: list[tuple[Table, Path]], styles: dict[str, int]) -> None:
        write_rows_here([j for j in jobs if j[0].name in mine], styles)
        if do_csv:
            _timed(result, "csv", write_csv, tables, meta, out_dir, base, mine)
        if font is not None:
            from callmon.export.pdf import write_pdf
            _timed(result, "pdf", write_pdf, report, tables, meta, out_dir / f"{base}.pdf", font)

    def both(jobs: list[tuple[Table, Path]], styles: dict[str, int]) -> None:
        _two_processes(parallel, lambda: child_part(jobs, styles), lambda: parent_part(jobs, styles))

    if "xlsx" in formats:
        _timed(result, "xlsx+", write_xlsx, report, tables, meta, out_dir / f"{base}.xlsx", both)
        result.files.append(out_dir / f"{base}.xlsx")
    else:
        both([], {})
    if do_csv:
        result.files += [csv_path(out_dir, base, t) for t in tables]
    if font is not None:
        result.files.append(out_dir / f"{base}.pdf")
    result.seconds["total"] = time.perf_counter() - started
    result.peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result.child_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if parallel else 0.0
    return result


def _two_processes(parallel: bool, second: Callable[[], None], first: Callable[[], None]) -> None:
    """``second`` in a forked process while this one runs ``first`` (both when ``parallel`` is off)."""
    if not parallel:
        second()
        first()
        return
    child = multiprocessing.get_context("fork").Process(target=_guarded, args=(second,), name="callmon-export")
    child.start()
    try:
        first()
    finally:
        child.join()
    if child.exitcode != 0:
        raise ExportError(f"the export's second process failed (exit {child.exitcode}); see the log above")


def _guarded(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:
        log.exception("export: the second process failed")
        raise


def _timed(result: ExportResult, name: str, fn: Any, *args: Any) -> Any:
    t = time.perf_counter()
    out = fn(*args)
    result.seconds[name] = time.perf_counter() - t
    return out
