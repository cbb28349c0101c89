"""Importing a resident register on both stores: dry run, bad rows reported with reasons,
all-or-nothing commit, XLSX, duplicates, encryption at rest, refusal without a key, the CLI."""

from __future__ import annotations

import random
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from grid.cli import app
from grid.errors import InvalidInput
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.residents.models import Resident
from grid.residents.pii import generate_key, mask_id
from grid.residents.register import import_register
from grid.residents.sample import HEADINGS, make_id, sample_rows, write_csv
from grid.services import Services

KEY = generate_key()


@pytest.fixture(scope="module")
def keyed(demo):
    """Services on the demo database with a PII key of this module's own."""
    svc = Services(demo.settings.model_copy(update={"pii_key": KEY}))
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def buildings(keyed):
    """Buildings of the last community (the API tests use the first), as plain dicts."""
    with keyed.db.read() as session:
        version = store.require_active_version(session).id
        community = store.units(session, version, Level.community)[-1].code
        units = [u for u in store.units(session, version, Level.building)
                 if u.code.startswith(community)]
        return [{"code": u.code, "name": u.name, "parent": u.parent_code, **u.attrs}
                for u in units]


def _count(svc, prefix):
    with svc.db.read() as session:
        return len(session.scalars(select(Resident.id).where(
            Resident.building_code.startswith(prefix))).all())


def test_bad_rows_are_reported_and_nothing_is_written(keyed, buildings, tmp_path):
    good = sample_rows(buildings[:3], 5, seed=101)
    b = buildings[0]
    rng = random.Random(5)
    bad_check = make_id(rng)
    bad_check = bad_check[:17] + ("0" if bad_check[17] != "0" else "1")
    rows = good + [
        ["钱一", bad_check, "13800001111", "", b["code"], "1", "2", "201", "否"],       # row 7
        ["钱二", make_id(rng), "12345", "", b["code"], "1", "2", "201", "否"],          # row 8
        ["钱三", make_id(rng), "13800001112", "", "不存在小区9号楼", "1", "", "", "否"],  # row 9
        ["钱四", make_id(rng), "13800001113", "", b["code"], "9", "", "", "否"],        # row 10
        ["钱五", good[0][1], "13800001114", "", b["code"], "1", "", "", "否"],          # row 11
        ["钱六", make_id(rng), "", "", b["code"], "1", "99", "", "也许"],               # row 12
        ["", make_id(rng), "", "", b["code"], "1", "", "", "否"],                      # row 13
    ]
    path = write_csv(tmp_path / "register.csv", rows)
    before = _count(keyed, b["code"][:12])
    report = import_register(keyed.db, path, KEY, commit=True)
    reasons = {p.row: p.reason for p in report.problems}
    assert sorted(reasons) == [7, 8, 9, 10, 11, 12, 13]
    assert "校验位" in reasons[7]
    assert "手机号无效" in reasons[8]
    assert "找不到楼栋" in reasons[9]
    assert "没有 9 单元" in reasons[10]
    assert "第 2 行重复" in reasons[11]
    assert "党员一栏" in reasons[12] and "层" in reasons[12]   # every problem of a row is listed
    assert "缺少姓名" in reasons[13]
    assert report.accepted == 5 and not report.committed
    assert _count(keyed, b["code"][:12]) == before    # all or nothing: nothing


def test_dry_run_then_commit_places_groups(keyed, buildings, tmp_path):
    rows = sample_rows(buildings[3:8], 25, seed=202)
    path = write_csv(tmp_path / "register.csv", rows)
    prefix = buildings[0]["code"][:12]
    before = _count(keyed, prefix)
    dry = import_register(keyed.db, path, KEY)
    assert dry.accepted == 25 and not dry.problems and not dry.committed
    assert _count(keyed, prefix) == before
    done = import_register(keyed.db, path, KEY, commit=True)
    assert done.committed and done.party_members == sum(r[8] == "是" for r in rows)
    assert _count(keyed, prefix) == before + 25
    with keyed.db.read() as session:
        version = store.require_active_version(session).id
        groups = {g.code: g for g in store.units(session, version, Level.resident_group)}
        for row in rows:
            resident = session.scalar(select(Resident).where(
                Resident.id_masked == mask_id(row[1]), Resident.name == row[0]))
            assert resident.building_code == row[4]
            group = groups[resident.group_code]
            assert group.parent_code == row[4]
            low, _, high = str(group.attrs["units"]).partition("-")
            assert int(low) <= int(row[5]) <= int(high or low)
    again = import_register(keyed.db, path, KEY)
    assert len(again.problems) == 25 and all("已登记" in p.reason for p in again.problems)


def test_personal_data_is_encrypted_at_rest(keyed, buildings, tmp_path):
    rows = sample_rows(buildings[8:10], 4, seed=303)
    import_register(keyed.db, write_csv(tmp_path / "r.csv", rows), KEY, commit=True)
    with keyed.db.read() as session:
        raw = session.execute(text("SELECT * FROM resident")).all()
    stored = "\n".join("|".join(str(v) for v in row) for row in raw)
    for row in rows:
        id_number, phone = row[1], row[2]
        assert mask_id(id_number) in stored          # the masked form is there …
        assert id_number not in stored               # … the number is not, in any column,
        assert id_number[6:14] not in stored          # nor its birth date,
        assert phone not in stored                   # nor the phone
    if keyed.settings.is_spatialite:   # and not anywhere in the database file either
        from sqlalchemy.engine import make_url

        path = make_url(keyed.settings.database_url).database
        blob = b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if Path(p).exists())
        for row in rows:
            assert row[1].encode() not in blob and row[2].encode() not in blob


def test_xlsx_register_with_numeric_cells(keyed, buildings, tmp_path):
    rows = sample_rows(buildings[10:12], 3, seed=404)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADINGS)
    for row in rows:
        # Excel users type phones and units as numbers; names of buildings instead of codes.
        b = next(x for x in buildings if x["code"] == row[4])
        sheet.append([row[0], row[1], int(row[2]), "", b["name"].replace("号楼", "栋"),
                      int(row[5]), int(row[6]), row[7], row[8]])
    book.save(tmp_path / "register.xlsx")
    report = import_register(keyed.db, tmp_path / "register.xlsx", KEY, commit=True)
    assert report.committed and report.accepted == 3, report.problems
    assert sorted(report.by_building) == sorted({r[4] for r in rows})


def test_refuses_without_a_key(demo, buildings, tmp_path):
    path = write_csv(tmp_path / "r.csv", sample_rows(buildings[:1], 1, seed=505))
    with pytest.raises(InvalidInput, match="GRID_PII_KEY"):
        import_register(demo.db, path, None, commit=True)


def test_cli_import(keyed, buildings, tmp_path, monkeypatch):
    monkeypatch.setenv("GRID_DATABASE_URL", keyed.settings.database_url)
    rows = sample_rows(buildings[12:14], 3, seed=606)
    rows.append(["孙七", "110105199001011230", "", "", buildings[12]["code"], "1", "", "", "否"])
    path = write_csv(tmp_path / "r.csv", rows)
    runner = CliRunner()
    monkeypatch.delenv("GRID_PII_KEY", raising=False)
    out = runner.invoke(app, ["residents", "import", str(path)])
    assert out.exit_code == 1 and "GRID_PII_KEY" in out.output
    monkeypatch.setenv("GRID_PII_KEY", KEY)
    out = runner.invoke(app, ["residents", "import", str(path), "--commit"])
    assert out.exit_code == 1 and "第 5 行" in out.output and "nothing written" in out.output
    write_csv(path, rows[:3])
    out = runner.invoke(app, ["residents", "import", str(path), "--commit"])
    assert out.exit_code == 0, out.output
    assert "written: 3" in out.output


def test_room_column_may_carry_the_unit(keyed, buildings, tmp_path):
    b = next(x for x in buildings[14:] if int(x.get("units", 1)) >= 2)
    rng = random.Random(707)
    rows = [["周一", make_id(rng), "", "", b["code"], "", "", "2单元301室", "否"],
            ["周二", make_id(rng), "", "", b["code"], "", "", "2-502", "是"]]
    report = import_register(keyed.db, write_csv(tmp_path / "r.csv", rows), KEY, commit=True)
    assert report.committed, report.problems
    with keyed.db.read() as session:
        people = {r.name: r for r in session.scalars(
            select(Resident).where(Resident.name.in_(["周一", "周二"]),
                                   Resident.building_code == b["code"]))}
    assert (people["周一"].entrance, people["周一"].floor, people["周一"].room) == (2, 3, "301")
    assert (people["周二"].entrance, people["周二"].floor, people["周二"].room) == (2, 5, "502")
    assert people["周一"].group_code.startswith(b["code"])


def test_demo_register(empty):
    """The demo's sample register: two residents a building, idempotent, none without a key."""
    from grid.demo import load_sample, sample_residents
    from tests.conftest import DATA

    load_sample(empty, DATA, say=lambda _line: None)
    assert sample_residents(empty) is None  # no key: nothing can be stored
    keyed = Services(empty.settings.model_copy(update={"pii_key": KEY}))
    try:
        added = sample_residents(keyed)
        with keyed.db.read() as session:
            buildings = len(store.units(session, store.require_active_version(session).id,
                                        Level.building))
            rows = session.scalars(select(Resident)).all()
        assert added == len(rows) == 2 * buildings
        assert 0 < sum(r.party_member for r in rows) < len(rows)
        assert all(r.group_code for r in rows)  # every resident lands in a resident group
        assert sample_residents(keyed) == 0
    finally:
        keyed.close()
