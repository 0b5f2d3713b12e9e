"""``callmon export``: the month's compliance report as XLSX, CSV and PDF."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable
from pathlib import Path

from callmon.config import Config
from callmon.export.run import FORMATS, ExportError, export_month, parse_formats, previous_month
from callmon.store.db import open_store
from callmon.timeutil import PeriodError, month_range


def cmd_export(cfg: Config, args: argparse.Namespace) -> int:
    try:
        month = args.month or previous_month(cfg.tz)
        month_range(month, cfg.tz)
        formats = parse_formats(args.format) if args.format else parse_formats(",".join(cfg.export.formats))
        out = Path(args.out or cfg.export.dir)
        result = export_month(open_store(cfg.database.url), cfg, month, formats, out, site=args.site,
                              mask=False if args.unmasked else None)
    except (PeriodError, ExportError) as exc:
        print(f"callmon export: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # no CJK font for the PDF
        print(f"callmon export: {exc}", file=sys.stderr)
        return 1
    note = "no calls this month (the report says so)" if result.empty else \
        f"{result.calls} calls, {result.deductions} deductions"
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items() if k != "total")
    memory = f"peak memory {result.peak_mb:.0f} MB" + (
        f" + {result.child_peak_mb:.0f} MB (second process)" if result.child_peak_mb else "")
    print(f"{month}: {note}; {result.seconds['total']:.1f} s ({steps}); {memory}")
    for path in result.files:
        print(f"  {path}")
    # The command ends here.  What the month's rows left in reference cycles (ReportLab's page
    # callbacks hold the report) would cost a final collection of half a million objects (~0.6 s)
    # at exit; frozen, they are left to the operating system with the rest of the process.
    gc.freeze()
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("export", cmd_export, "the month's compliance report: XLSX with charts, CSV, PDF")
    p.add_argument("--month", metavar="YYYY-MM", help="calendar month in the site's time zone (default: the previous)")
    p.add_argument("--site", metavar="NAME", help="site name in the report and file names (default: [site] name)")
    p.add_argument("--format", metavar="LIST",
                   help=f"comma-separated, of {','.join(FORMATS)} (default: [export] formats)")
    p.add_argument("--out", metavar="DIR", help="output directory (default: [export] dir)")
    p.add_argument("--unmasked", action="store_true", help="caller numbers in full (default: [export] mask_numbers)")
