"""Tables out as CSV (UTF-8 with BOM, so Excel opens Chinese text) and XLSX (openpyxl)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from openpyxl import Workbook


def to_csv(rows: Sequence[dict]) -> bytes:
    """CSV bytes with a header row from the first row's keys."""
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(rows: Sequence[dict], title: str = "sheet") -> bytes:
    """An XLSX workbook with one sheet: a header row and the rows."""
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    if rows:
        sheet.append(list(rows[0]))
        for row in rows:
            sheet.append([v if isinstance(v, int | float | str) or v is None else str(v)
                          for v in row.values()])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
