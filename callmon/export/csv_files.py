"""CSV: one file per part, UTF-8 with a byte-order mark so Excel on a Chinese Windows reads it as UTF-8."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from callmon.export.atomic import atomic_path
from callmon.export.tables import PART_FILES, Table

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any, kind: str) -> Any:
    """A value as the CSV shows it: booleans as 是/否, nothing as an empty field, numbers as they are.

    Text that a spreadsheet would take for a formula (transcribed speech can begin with anything)
    gets a leading apostrophe, as OWASP advises against CSV injection.
    """
    if value is None:
        return ""
    if kind == "bool" or isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_path(out_dir: Path, base: str, table: Table) -> Path:
    return out_dir / f"{base}-{PART_FILES[table.name]}.csv"


def write_csv(tables: Sequence[Table], meta: Sequence[tuple[str, str]], out_dir: Path, base: str,
              only: set[str] | None = None) -> list[Path]:
    """``{base}-summary.csv`` (the report's header lines first), ``-operators``, ``-deductions``, ``-calls``
    (``only``: those parts)."""
    written = []
    for table in tables:
        if only is not None and table.name not in only:
            continue
        path = csv_path(out_dir, base, table)
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
            w = csv.writer(fh)
            if table is tables[0]:
                w.writerows(meta)
                w.writerow([])
            w.writerow([c.title for c in table.columns])
            kinds = [c.kind for c in table.columns]
            if table.row_kinds is None:
                w.writerows([cell(v, k) for v, k in zip(row, kinds, strict=True)] for row in table.rows)
            else:
                w.writerows([cell(v, table.kind(r, i)) for i, v in enumerate(row)] for r, row in enumerate(table.rows))
        written.append(path)
    return written
