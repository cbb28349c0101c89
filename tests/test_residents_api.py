"""The residents API on both stores: clear vs masked vs 403 by role and scope, Party members
per building and grid (亮明身份), CSV export masked by default."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from grid.api.app import create_app
from grid.api.residents import ImportReportPublic, PartyPublic, ResidentPublic
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.residents.pii import generate_key, mask_id, mask_phone
from grid.residents.register import import_register
from grid.residents.sample import HEADINGS, sample_rows, write_csv
from grid.users import add_user
from tests.conftest import auth

KEY = generate_key()


@pytest.fixture(scope="module")
def world(demo, tokens, tmp_path_factory):
    """A keyed app on the demo database, a register imported into the first grid and a second
    grid, and extra users (community, gis, a grid worker elsewhere)."""
    settings = demo.settings.model_copy(update={"pii_key": KEY})
    first_grid = tokens["first_grid"]
    with demo.db.write() as session:
        version = store.require_active_version(session).id
        buildings = store.units(session, version, Level.building)
        mine = [b for b in buildings if b.parent_code == first_grid][:3]
        other_grid = next(b.parent_code for b in buildings
                          if not b.code.startswith(first_grid[:12]))
        theirs = [b for b in buildings if b.parent_code == other_grid][:2]
        community = first_grid[:12]
        users = {
            "community": add_user(session, "居民测试社区", "community", community)[1],
            "gis": add_user(session, "居民测试GIS", "gis", first_grid[:9])[1],
            "elsewhere": add_user(session, "居民测试网格员", "grid_worker", other_grid)[1],
        }
    as_dicts = [{"code": b.code, "name": b.name, **b.attrs} for b in mine + theirs]
    rows = sample_rows(as_dicts[:3], 30, seed=909) + sample_rows(as_dicts[3:], 10, seed=910)
    path = write_csv(tmp_path_factory.mktemp("register") / "r.csv", rows)
    report = import_register(demo.db, path, KEY, commit=True)
    assert report.committed, report.problems
    with TestClient(create_app(settings)) as client:
        yield {"client": client, "rows": rows, "mine": [b.code for b in mine],
               "grid": first_grid, "other_grid": other_grid, "community": community,
               "tokens": {**tokens, **users}}


def _get(world, role, path, **params):
    return world["client"].get(path, params=params, headers=auth(world["tokens"][role]))


@pytest.mark.parametrize(("role", "expect"), [
    ("admin", "clear"), ("street", "clear"), ("community", "clear"), ("grid_worker", "clear"),
    ("gis", "masked"), ("城管执法", "masked"), ("elsewhere", 403),
])
def test_masking_by_role_and_scope(world, role, expect):
    building = world["mine"][0]
    response = _get(world, role, "/api/v1/residents", unit=building)
    if expect == 403:
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"
        return
    assert response.status_code == 200, response.text
    people = [ResidentPublic.model_validate(p) for p in response.json()]
    expected = {r[1]: r for r in world["rows"] if r[4] == building}
    assert len(people) == len(expected) and people
    by_masked = {mask_id(k): v for k, v in expected.items()}
    for person in people:
        if expect == "clear":
            row = expected[person.id_number]
            assert not person.masked and person.phone == row[2] and person.name == row[0]
        else:
            row = by_masked[person.id_number]
            assert person.masked and "*" in person.id_number
            assert person.phone == mask_phone(row[2]) and person.name[0] == row[0][0]
            assert person.name != row[0] and person.address == ""


def test_scope_is_per_unit_not_per_role(world):
    # The grid worker of the first grid sees clear data there, and is refused next door.
    assert _get(world, "grid_worker", "/api/v1/residents", unit=world["grid"]).status_code == 200
    assert _get(world, "grid_worker", "/api/v1/residents",
                unit=world["other_grid"]).status_code == 403
    assert _get(world, "grid_worker", "/api/v1/residents",
                unit=world["community"]).status_code == 403
    assert _get(world, "community", "/api/v1/residents",
                unit=world["other_grid"]).status_code == 403
    assert _get(world, "admin", "/api/v1/residents", unit="999").status_code == 404
    assert world["client"].get("/api/v1/residents",
                               params={"unit": world["grid"]}).status_code == 401


def test_party_members_show_identity(world):
    response = _get(world, "community", "/api/v1/residents/party", unit=world["grid"])
    assert response.status_code == 200, response.text
    party = PartyPublic.model_validate(response.json())
    mine = [r for r in world["rows"] if r[4] in world["mine"]]
    expected = {code: sum(1 for r in mine if r[4] == code and r[8] == "是")
                for code in world["mine"]}
    counted = {c.code: c.party_members for c in party.by_building}
    assert all(counted[code] == n for code, n in expected.items())
    assert all(c.residents >= c.party_members for c in party.by_building)
    assert party.by_grid[0].code == world["grid"]
    assert party.by_grid[0].party_members == party.party_members == len(party.members)
    assert all(m.party_member for m in party.members)
    # A masked caller still sees who the Party members are (亮明身份), not their ID numbers.
    masked = PartyPublic.model_validate(
        _get(world, "gis", "/api/v1/residents/party", unit=world["grid"]).json())
    names = {r[0] for r in mine if r[8] == "是"}
    assert {m.name for m in masked.members} <= names | {m.name for m in party.members}
    assert all(m.masked and "*" in m.id_number for m in masked.members)
    assert {m.name for m in masked.members} == {m.name for m in party.members}


def _csv(response):
    return list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))


def test_export_masked_by_default(world):
    building = world["mine"][1]
    ids = {r[1] for r in world["rows"] if r[4] == building}
    masked = _get(world, "street", "/api/v1/residents/export.csv", unit=building)
    assert masked.status_code == 200 and masked.headers["content-type"].startswith("text/csv")
    table = _csv(masked)
    assert len(table) == len(ids) + 1
    assert all(row[1] in {mask_id(i) for i in ids} for row in table[1:])
    assert not any(i in masked.text for i in ids)
    clear = _get(world, "street", "/api/v1/residents/export.csv", unit=building, clear="true")
    assert {row[1] for row in _csv(clear)[1:]} == ids
    refused = _get(world, "gis", "/api/v1/residents/export.csv", unit=building, clear="true")
    assert refused.status_code == 403
    assert _get(world, "elsewhere", "/api/v1/residents/export.csv",
                unit=building).status_code == 403


def test_clear_answers_need_the_key(world, demo):
    # The shared demo app has no GRID_PII_KEY: masked answers work, clear ones say why not.
    with TestClient(create_app(demo.settings)) as client:
        headers = auth(world["tokens"]["street"])
        params = {"unit": world["mine"][0]}
        response = client.get("/api/v1/residents", params=params, headers=headers)
        assert response.status_code == 422 and "GRID_PII_KEY" in response.json()["message"]
        masked = client.get("/api/v1/residents/export.csv", params=params, headers=headers)
        assert masked.status_code == 200


def test_lookup_by_id_number_uses_the_fingerprint(world, demo):
    from grid.errors import Forbidden
    from grid.residents.access import lookup_by_id
    from grid.users import authenticate

    row = next(r for r in world["rows"] if r[4] == world["mine"][0])
    with demo.db.read() as session:
        street = authenticate(session, world["tokens"]["street"])
        found = lookup_by_id(session, street, row[1].lower(), KEY)
        assert found is not None and found.name == row[0] and found.phone == row[2]
        elsewhere = authenticate(session, world["tokens"]["elsewhere"])
        assert lookup_by_id(session, elsewhere, row[1], KEY) is None   # outside their scope
        gis = authenticate(session, world["tokens"]["gis"])
        with pytest.raises(Forbidden):
            lookup_by_id(session, gis, row[1], KEY)


def _upload(world, role, rows, commit=False, name="register.csv", data=None):
    if data is None:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(HEADINGS)
        writer.writerows(rows)
        data = buffer.getvalue().encode("gb18030")  # as Excel in China saves it
    return world["client"].post(
        "/api/v1/residents/imports", files={"file": (name, data, "text/csv")},
        data={"commit": str(commit).lower()}, headers=auth(world["tokens"][role]))


def _new_buildings(demo, grid, count):
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        units = [b for b in store.units(session, version, Level.building)
                 if b.parent_code == grid]
    return [{"code": b.code, "name": b.name, **b.attrs} for b in units[-count:]]


def test_import_over_the_api_dry_run_then_commit(world, demo):
    targets = _new_buildings(demo, world["grid"], 2)
    assert not set(b["code"] for b in targets) & set(world["mine"])
    rows = sample_rows(targets, 8, seed=911)
    dry = _upload(world, "grid_worker", rows)
    assert dry.status_code == 200, dry.text
    report = ImportReportPublic.model_validate(dry.json())
    assert (report.rows, report.accepted, report.committed, report.problems) == (8, 8, False, [])
    assert report.party_members == sum(r[8] == "是" for r in rows)
    listed = _get(world, "grid_worker", "/api/v1/residents", unit=targets[0]["code"]).json()
    assert listed == []  # a dry run writes nothing
    done = _upload(world, "grid_worker", rows, commit=True)
    assert done.status_code == 200, done.text
    report = ImportReportPublic.model_validate(done.json())
    assert report.committed and sum(report.by_building.values()) == 8
    people = [ResidentPublic.model_validate(p) for p in _get(
        world, "grid_worker", "/api/v1/residents", unit=targets[0]["code"]).json()]
    assert {p.id_number for p in people} == {r[1] for r in rows if r[4] == targets[0]["code"]}
    # The same register again: every row is already registered, and nothing is written twice.
    again = _upload(world, "grid_worker", rows, commit=True)
    assert again.status_code == 422
    assert len(again.json()["details"]["problems"]) == 8
    assert "already registered" in again.json()["details"]["problems"][0]["reason"]


def test_import_over_the_api_respects_role_scope_and_rows(world, demo):
    ours = _new_buildings(demo, world["grid"], 3)[:1]
    theirs = _new_buildings(demo, world["other_grid"], 1)
    rows = sample_rows(ours, 2, seed=912) + sample_rows(theirs, 1, seed=913)
    # Roles that do not handle personal data may not import at all.
    assert _upload(world, "gis", rows).status_code == 403
    # A grid worker may not register residents next door: that row is refused, none written.
    refused = _upload(world, "grid_worker", rows, commit=True)
    assert refused.status_code == 422
    problems = refused.json()["details"]["problems"]
    assert [p["row"] for p in problems] == [4] and "outside your scope" in problems[0]["reason"]
    assert _get(world, "grid_worker", "/api/v1/residents", unit=ours[0]["code"]).json() == []
    # A bad ID number is reported with its row, as in the dry run of the CLI.
    bad = [rows[0][:1] + ["110105199001011231"] + rows[0][2:]]
    report = ImportReportPublic.model_validate(_upload(world, "street", bad).json())
    assert report.accepted == 0 and report.problems[0].row == 2
    assert _upload(world, "street", rows, name="register.txt").status_code == 422
    assert _upload(world, "street", [], data=b"").status_code == 422
    # An admin (scope: everything) may place all three.
    done = _upload(world, "admin", rows, commit=True)
    assert done.status_code == 200 and done.json()["committed"], done.text
