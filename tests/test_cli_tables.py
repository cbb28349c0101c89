"""CLI tables never cut a code: on a narrow terminal the codes stay whole (wrapped between
codes), the message column folds instead."""

from __future__ import annotations

import io
import re

from rich.console import Console
from rich.table import Table

from grid.cli import keep_codes_whole
from grid.spatial.validate import ERROR, Problem, report_table

CODES = ["110105001001001", "110105001001007", "110105001001004001", "110105001001"]


def _render(width: int, whole: bool) -> str:
    problems = [Problem("sibling_overlap", ERROR, CODES[:2],
                        f"{CODES[0]} 与 {CODES[1]} 重叠 overlap 80328.3 m²", 80328.3,
                        (116.428535, 39.979014)),
                Problem("outside_parent", ERROR, [CODES[2], CODES[3]],
                        f"{CODES[2]} 超出上级 {CODES[3]} spills 386654.4 m² outside its parent",
                        386654.4, (116.421441, 39.982884))]
    table = Table("级别 severity", "类型 kind", "编码 codes", "面积 m²", "位置 point",
                  "说明 message")
    rows = report_table(problems)
    for row in rows:
        table.add_row(*row)
    if whole:
        keep_codes_whole(table, rows, (1, 2, 4))
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(table)
    return out.getvalue()


def _codes_column(text: str) -> list[str]:
    # the third cell of each line: what the codes column shows, line by line
    cells = [line.split("│") for line in text.splitlines() if line.count("│") >= 6]
    return [c[3].strip() for c in cells if c[3].strip()]


def test_codes_stay_whole_on_a_narrow_terminal():
    text = _render(80, whole=True)
    shown = _codes_column(text)
    for code in CODES:
        assert code in shown, (code, shown)
    assert all(re.fullmatch(r"[0-9]+|编码 codes|编码|codes", s) for s in shown), shown


def test_without_it_rich_cuts_codes():
    """The check above can fail: rich left to itself cuts the codes of this table."""
    shown = _codes_column(_render(80, whole=False))
    assert not all(code in shown for code in CODES), shown
