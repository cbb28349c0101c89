"""Tables out as CSV (UTF-8 with BOM, so Excel opens Chinese text) and XLSX (openpyxl) — the one
way every export writes its cells.

Text that a spreadsheet would read as a formula is neutralised first (OWASP "CSV injection"):
a cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
single quote, so a resident named ``=HYPERLINK(…)`` or an address ``@SUM(…)`` opens as the text
it is. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

#: First characters that make a spreadsheet evaluate a cell (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` as a spreadsheet may show it: text that would start a formula gets a leading
    ``'``; anything else is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    """Every cell of a row through :func:`safe_cell`."""
    return [safe_cell(v) for v in values]


def csv_text(header: Sequence[str], rows: Iterable[Iterable[Any]]) -> str:
    """CSV text (with a BOM) of a header and rows of cells, neutralised."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(safe_row(header))
    writer.writerows(safe_row(row) for row in rows)
    return out.getvalue()


def to_csv(rows: Sequence[dict]) -> bytes:
    """CSV bytes with a header row from the first row's keys."""
    if not rows:
        return "\ufeff".encode()
    return csv_text(list(rows[0]), (row.values() for row in rows)).encode("utf-8")


#: Characters XML (so a sheet) cannot hold: openpyxl's ``ILLEGAL_CHARACTERS_RE``, here so that
#: importing this module (every CLI command does) does not import openpyxl (0.1–0.4 s).
_ILLEGAL_CHARACTERS = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
#: Characters a sheet title may not hold.
_SHEET_TITLE = re.compile(r"[\\/*?:\[\]\x00-\x1f]")


def _xlsx_value(value: Any) -> Any:
    """A cell openpyxl can write: text without the control characters XML refuses."""
    if value is None or isinstance(value, int | float):
        return value
    return _ILLEGAL_CHARACTERS.sub("", value if isinstance(value, str) else str(value))


def to_xlsx(rows: Sequence[dict], title: str = "sheet") -> bytes:
    """An XLSX workbook with one sheet: a header row and the rows."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = _SHEET_TITLE.sub("_", title)[:31] or "sheet"
    if rows:
        sheet.append(safe_row(rows[0]))
        for row in rows:
            sheet.append(safe_row(_xlsx_value(v) for v in row.values()))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
