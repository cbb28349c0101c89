"""Every CSV/XLSX export neutralises text that a spreadsheet would run as a formula (OWASP CSV
injection): the one writer (``grid.tables``) and the exports that go through it — the residents
register (names, addresses) and the three-rate tables."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from grid.api.app import create_app
from grid.demo import load_sample
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.residents.pii import generate_key
from grid.residents.register import import_register
from grid.residents.sample import sample_rows, write_csv
from grid.tables import safe_cell, to_csv, to_xlsx
from grid.users import add_user
from tests.conftest import DATA, auth

HOSTILE = ["=HYPERLINK(\"http://x\",\"点我\")", "+1+1", "-2+3", "@SUM(A1:A9)", "\tTAB",
           "\rCR", "=1+2"]


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_text_gets_a_leading_quote(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["和平街道", "1+1", "a=b", "", None, -5, 3.5, "'=already"])
def test_other_cells_are_left_as_they_are(value):
    assert safe_cell(value) == value


def test_csv_and_xlsx_write_no_formula():
    rows = [{"name": text, "count": -3} for text in HOSTILE]
    read = list(csv.reader(io.StringIO(to_csv(rows).decode("utf-8-sig"))))
    assert [r[0] for r in read[1:]] == ["'" + t for t in HOSTILE]
    assert {r[1] for r in read[1:]} == {"-3"}  # a number stays a number
    sheet = load_workbook(io.BytesIO(to_xlsx(rows, "名单/[1]"))).active
    cells = [row for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert [c[0] for c in cells] == ["'" + t for t in HOSTILE]
    assert all(c[1] == -3 for c in cells) and sheet.title == "名单__1_"
    assert all(sheet.cell(r, 1).data_type == "s" for r in range(2, len(HOSTILE) + 2))


def test_resident_export_neutralises_names_and_addresses(empty, tmp_path):
    load_sample(empty, DATA, say=lambda _line: None)
    key = generate_key()
    with empty.db.write() as session:
        version = store.require_active_version(session).id
        building = store.units(session, version, Level.building)[0]
        _, admin = add_user(session, "管理员", "admin", "")
    rows = sample_rows([{"code": building.code, "name": building.name, **building.attrs}], 2)
    rows[0][0], rows[0][3] = "=HYPERLINK(\"http://x\")", "@SUM(1+1)"
    rows[1][0], rows[1][3] = "+张三", "-和平里1号"
    report = import_register(empty.db, write_csv(tmp_path / "r.csv", rows), key, commit=True)
    assert report.committed, report.problems
    settings = empty.settings.model_copy(update={"pii_key": key})
    with TestClient(create_app(settings)) as client:
        answer = client.get("/api/v1/residents/export.csv", headers=auth(admin),
                            params={"unit": building.code, "clear": "true"})
    assert answer.status_code == 200, answer.text
    table = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    cells = [cell for row in table[1:] for cell in row]
    assert "'=HYPERLINK(\"http://x\")" in cells and "'@SUM(1+1)" in cells
    assert "'+张三" in cells and "'-和平里1号" in cells
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)


def test_xlsx_cells_drop_exactly_what_openpyxl_refuses():
    # grid.tables keeps its own copy of openpyxl's pattern, so importing it (every CLI command
    # does) does not import openpyxl; the two must refuse the same characters
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    from grid.tables import _xlsx_value

    for point in range(0x3100):
        char = chr(point)
        assert (_xlsx_value("a" + char) == "a") == bool(ILLEGAL_CHARACTERS_RE.search(char))
    book = load_workbook(io.BytesIO(to_xlsx([{"name": "网格\x01\x0b员\x1f"}])))
    assert book.active["A2"].value == "网格员"
