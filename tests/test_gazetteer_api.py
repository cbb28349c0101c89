"""The hotline API on both stores: match, submit (placed or queued), the queue, resolving."""

from __future__ import annotations

import pytest

from grid.api.hotline import HotlineAddressPublic, MatchPublic
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.users import add_user
from tests.conftest import auth


@pytest.fixture(scope="module")
def people(demo, tokens):
    """Tokens, plus a community user for the first community and a GIS user."""
    community = tokens["first_grid"][:12]
    with demo.db.write() as session:
        extra = {"community": add_user(session, "热线测试社区", "community", community)[1],
                 "gis": add_user(session, "热线测试GIS", "gis", community[:9])[1]}
        version = store.require_active_version(session).id
        building = next(u for u in store.units(session, version, Level.building)
                        if u.code.startswith(community))
        outside = next(u for u in store.units(session, version, Level.building)
                       if not u.code.startswith(community))
    return {**tokens, **extra, "building": building.code, "name": building.name,
            "outside": outside.code}


def test_match_returns_scored_candidates(client, people):
    name = people["name"]
    response = client.post("/api/v1/hotline/match", json={"address": f"北京市朝阳区{name}"},
                           headers=auth(people["grid_worker"]))
    assert response.status_code == 200, response.text
    found = MatchPublic.model_validate(response.json())
    assert found.placed == people["building"] and found.score == 1.0
    assert [c.score for c in found.candidates] == sorted(
        (c.score for c in found.candidates), reverse=True)


def test_submit_place_queue_and_resolve(client, people):
    headers = auth(people["street"])
    sure = client.post("/api/v1/hotline/addresses", headers=headers,
                       json={"address": people["name"] + "2单元", "ref": "12345-0001"})
    assert sure.status_code == 201, sure.text
    placed = HotlineAddressPublic.model_validate(sure.json())
    assert placed.status == "placed" and placed.building_code == people["building"]
    unsure = HotlineAddressPublic.model_validate(client.post(
        "/api/v1/hotline/addresses", headers=headers,
        json={"address": "和平里西社区门口有人乱扔垃圾", "ref": "12345-0002"}).json())
    assert unsure.status == "queued" and unsure.building_code is None
    queue = [HotlineAddressPublic.model_validate(r) for r in client.get(
        "/api/v1/hotline/queue", headers=auth(people["community"])).json()]
    assert unsure.id in [r.id for r in queue] and placed.id not in [r.id for r in queue]

    url = f"/api/v1/hotline/queue/{unsure.id}/resolve"
    assert client.post(url, json={"building_code": people["building"]},
                       headers=auth(people["gis"])).status_code == 403          # role
    assert client.post(url, json={"building_code": people["outside"]},
                       headers=auth(people["community"])).status_code == 403    # scope
    assert client.post(url, json={"building_code": people["first_grid"]},
                       headers=auth(people["community"])).status_code == 422    # not a building
    done = client.post(url, json={"building_code": people["building"]},
                       headers=auth(people["community"]))
    assert done.status_code == 200, done.text
    resolved = HotlineAddressPublic.model_validate(done.json())
    assert resolved.status == "resolved" and resolved.resolved_by == "热线测试社区"
    again = client.post(url, json={"building_code": None}, headers=auth(people["community"]))
    assert again.status_code == 409


def test_reject_and_missing(client, people):
    headers = auth(people["admin"])
    row = client.post("/api/v1/hotline/addresses", headers=headers,
                      json={"address": "上海市浦东新区张江镇碧波路690号"}).json()
    assert row["status"] == "queued" and row["candidates"] == []
    rejected = client.post(f"/api/v1/hotline/queue/{row['id']}/resolve", headers=headers,
                           json={"building_code": None}).json()
    assert rejected["status"] == "rejected"
    listed = client.get("/api/v1/hotline/queue", params={"status": "rejected"}, headers=headers)
    assert row["id"] in [r["id"] for r in listed.json()]
    assert client.post("/api/v1/hotline/queue/999999/resolve", headers=headers,
                       json={"building_code": None}).status_code == 404
    assert client.post("/api/v1/hotline/addresses", headers=headers,
                       json={"address": ""}).status_code == 422
    assert client.get("/api/v1/hotline/queue").status_code == 401


def test_cli_match_and_place(demo, people, tmp_path, monkeypatch):
    import csv

    from typer.testing import CliRunner

    from grid.cli import app

    monkeypatch.setenv("GRID_DATABASE_URL", demo.settings.database_url)
    runner = CliRunner()
    out = runner.invoke(app, ["hotline", "match", people["name"].replace("号楼", "栋")])
    assert out.exit_code == 0, out.output
    assert people["building"] in out.output
    source = tmp_path / "calls.csv"
    source.write_text(f"ref,address\n1,{people['name']}\n2,团结湖小区3号楼\n", encoding="utf-8")
    result = tmp_path / "placed.csv"
    out = runner.invoke(app, ["hotline", "place", str(source), "--out", str(result)])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(result.open(encoding="utf-8")))
    assert [r["status"] for r in rows] == ["auto", "queue"]
    assert rows[0]["building_code_matched"] == people["building"] and rows[0]["ref"] == "1"
