"""The rows of the workbook's two big sheets (扣分明细, 通话明细) as SpreadsheetML, streamed to a file.

XlsxWriter builds the workbook: every sheet, its header row, column widths, frozen panes,
auto-filters, formats and charts.  A month's detail sheets, though, are some 4.5 million cells,
and XlsxWriter spends about 2.5 µs of Python on each (checks, dispatch, escaping: over ten
seconds).  These rows are plain (a number with a style, or an inline string), so they are
written here as text in one pass, in a second process while the first writes the rest, and put
into the sheets XlsxWriter left with only their header row (``inject``).  The result is read
back with openpyxl in the tests.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from callmon.export.tables import Table

_NEEDS_ESCAPE = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
MAX_CELL = 32_767  # Excel's limit on a cell's text


def column_letters(n: int) -> list[str]:
    out = []
    for i in range(n):
        name, k = "", i + 1
        while k:
            k, rem = divmod(k - 1, 26)
            name = chr(65 + rem) + name
        out.append(name)
    return out


def text_xml(value: Any) -> str:
    """An inline string's ``<is>`` element: XML-escaped, characters XML cannot hold dropped."""
    s = value if isinstance(value, str) else str(value)
    if len(s) > MAX_CELL:
        s = s[:MAX_CELL]
    if _NEEDS_ESCAPE.search(s):
        s = _INVALID.sub("", s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if s[:1].isspace() or s[-1:].isspace():
        return f'<is><t xml:space="preserve">{s}</t></is>'
    return f"<is><t>{s}</t></is>"


def write_rows(table: Table, styles: dict[str, int], path: Path) -> int:
    """``table``'s rows (from the sheet's second row) as ``<row>`` elements into ``path``; returns how many."""
    letters = column_letters(len(table.columns))
    kinds = [c.kind for c in table.columns]
    with open(path, "w", encoding="utf-8", newline="") as out:
        chunk: list[str] = []
        for r, row in enumerate(table.rows, start=2):
            cells = []
            for c, v in enumerate(row):
                if v is None:
                    continue
                kind = kinds[c]
                ref = f"{letters[c]}{r}"
                if kind == "bool":
                    cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{"是" if v else "否"}</t></is></c>')
                elif kind == "pct":
                    cells.append(f'<c r="{ref}" s="{styles[kind]}"><v>{v / 100!r}</v></c>')
                elif kind in styles:
                    cells.append(f'<c r="{ref}" s="{styles[kind]}"><v>{v!r}</v></c>')
                else:
                    cells.append(f'<c r="{ref}" t="inlineStr">{text_xml(v)}</c>')
            chunk.append(f'<row r="{r}">{"".join(cells)}</row>')
            if len(chunk) >= 2000:
                out.write("".join(chunk))
                chunk = []
        out.write("".join(chunk))
    return len(table.rows)


def inject(skeleton: Path, bodies: dict[str, tuple[Path, int, int]], target: Path) -> None:
    """Copy the workbook ``skeleton`` to ``target`` with each sheet of ``bodies`` (zip member name ->
    (rows file, rows, columns)) given its rows after the header row and its full dimension."""
    with zipfile.ZipFile(skeleton) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED,
                                                           compresslevel=1) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename not in bodies:
                dst.writestr(info, data)
                continue
            rows_file, rows, cols = bodies[info.filename]
            xml = data.decode("utf-8")
            end = xml.index("</sheetData>")
            last = f"{column_letters(cols)[-1]}{rows + 1}"
            head = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last}"/>', xml[:end], count=1)
            with dst.open(info.filename, "w", force_zip64=True) as out:
                out.write(head.encode("utf-8"))
                with open(rows_file, "rb") as body:
                    shutil.copyfileobj(body, out, 1 << 20)
                out.write(xml[end:].encode("utf-8"))


def sheet_members(names: Sequence[str]) -> dict[str, str]:
    """Sheet name -> its zip member, in the order XlsxWriter numbers them (sheet1.xml, sheet2.xml, …)."""
    return {name: f"xl/worksheets/sheet{i}.xml" for i, name in enumerate(names, start=1)}
