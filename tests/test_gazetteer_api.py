"""The hotline API on both stores: match, submit (placed or queued), the queue, resolving."""

from __future__ import annotations

import pytest

from grid.api.hotline import AliasPublic, AliasRecord, HotlineAddressPublic, MatchPublic
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


def test_alias_lifecycle(client, people):
    """A queued address resolved with keep_alias is placed next time (identical, other 单元 /
    room, same sound); revoking stops that; the audit trail stays; scope is enforced."""
    community, admin = auth(people["community"]), auth(people["admin"])
    old_name = "原化工二厂宿舍14号楼"                    # an old name no gazetteer knows
    first = HotlineAddressPublic.model_validate(client.post(
        "/api/v1/hotline/addresses", headers=community,
        json={"address": old_name + "3单元201"}).json())
    assert first.status == "queued"
    url = f"/api/v1/hotline/queue/{first.id}/resolve"
    assert client.post(url, headers=auth(people["street"]),
                       json={"building_code": people["outside"], "keep_alias": True}
                       ).status_code == 200                     # street covers both
    # …but that placed it on the building outside the community: the community user may
    # neither see nor revoke that alias.
    listed = client.get("/api/v1/hotline/aliases", headers=community).json()
    assert old_name not in [a["example"] for a in listed]
    outside = next(a for a in client.get("/api/v1/hotline/aliases", headers=admin).json()
                   if a["source_address_id"] == first.id)
    assert client.delete(f"/api/v1/hotline/aliases/{outside['id']}",
                         headers=community).status_code == 403
    assert client.delete(f"/api/v1/hotline/aliases/{outside['id']}",
                         headers=admin).status_code == 200

    second = HotlineAddressPublic.model_validate(client.post(
        "/api/v1/hotline/addresses", headers=community, json={"address": old_name}).json())
    assert second.status == "queued"                            # the revoked alias is unused
    done = client.post(f"/api/v1/hotline/queue/{second.id}/resolve", headers=community,
                       json={"building_code": people["building"], "keep_alias": True})
    assert done.status_code == 200, done.text
    alias = AliasPublic.model_validate(next(
        a for a in client.get("/api/v1/hotline/aliases", headers=community).json()
        if a["source_address_id"] == second.id))
    assert alias.building_code == people["building"] and alias.created_by == "热线测试社区"

    for again in (old_name, old_name + "2单元502室", "原化工二厂宿舍14号楼楼下垃圾",
                  "原化工二场宿舍14号楼"):                     # 场 for 厂: same sound
        placed = MatchPublic.model_validate(client.post(
            "/api/v1/hotline/match", json={"address": again}, headers=community).json())
        assert placed.placed == people["building"], again
        assert "learned alias" in placed.candidates[0].reason
    other = client.post("/api/v1/hotline/match", json={"address": "原化工二厂宿舍15号楼"},
                        headers=community).json()
    assert other["placed"] is None                              # another building: not it
    elsewhere = client.post("/api/v1/hotline/match", headers=community,
                            json={"address": "北京市海淀区" + old_name}).json()
    assert elsewhere["placed"] is None                          # a stated district rules it out

    assert client.delete(f"/api/v1/hotline/aliases/{alias.id}",
                         headers=auth(people["grid_worker"])).status_code == 403
    revoked = AliasPublic.model_validate(client.delete(
        f"/api/v1/hotline/aliases/{alias.id}", headers=community).json())
    assert revoked.revoked_by == "热线测试社区" and revoked.revoked_at is not None
    assert client.delete(f"/api/v1/hotline/aliases/{alias.id}",
                         headers=community).status_code == 409
    assert client.post("/api/v1/hotline/match", json={"address": old_name},
                       headers=community).json()["placed"] is None
    audit = client.get("/api/v1/hotline/aliases", params={"revoked": True},
                       headers=community).json()
    assert alias.id in [a["id"] for a in audit]
    assert client.delete("/api/v1/hotline/aliases/999999", headers=admin).status_code == 404


def test_alias_export_and_import(client, people):
    """Aliases exported from one deployment import into another (here: after revoking them),
    all or nothing, with scope checks and bounded input."""
    community, admin = auth(people["community"]), auth(people["admin"])
    row = client.post("/api/v1/hotline/addresses", headers=community,
                      json={"address": "老纺织局宿舍2号楼"}).json()
    client.post(f"/api/v1/hotline/queue/{row['id']}/resolve", headers=community,
                json={"building_code": people["building"], "keep_alias": True})
    exported = [AliasRecord.model_validate(r) for r in client.get(
        "/api/v1/hotline/aliases/export", headers=community).json()]
    mine = [r for r in exported if r.example == "老纺织局宿舍2号楼"]
    assert len(mine) == 1
    again = client.post("/api/v1/hotline/aliases/import", headers=community,
                        json={"aliases": [mine[0].model_dump()]}).json()
    assert again == {"added": 0, "present": 1}
    alias_id = next(a["id"] for a in client.get("/api/v1/hotline/aliases", headers=admin).json()
                    if a["example"] == "老纺织局宿舍2号楼")
    client.delete(f"/api/v1/hotline/aliases/{alias_id}", headers=community)
    assert client.post("/api/v1/hotline/match", json={"address": "老纺织局宿舍2号楼"},
                       headers=community).json()["placed"] is None
    added = client.post("/api/v1/hotline/aliases/import", headers=community,
                        json={"aliases": [mine[0].model_dump()]})
    assert added.status_code == 200 and added.json() == {"added": 1, "present": 0}
    assert client.post("/api/v1/hotline/match", json={"address": "老纺织局宿舍2号楼3单元"},
                       headers=community).json()["placed"] == people["building"]
    outside = {**mine[0].model_dump(), "key": "别处|1", "building_code": people["outside"]}
    assert client.post("/api/v1/hotline/aliases/import", headers=community,
                       json={"aliases": [outside]}).status_code == 403
    clash = {**mine[0].model_dump(), "building_code": people["building"][:-1] + "9"}
    assert client.post("/api/v1/hotline/aliases/import", headers=admin,
                       json={"aliases": [clash]}).status_code in (404, 409)
    assert client.post("/api/v1/hotline/aliases/import", headers=admin,
                       json={"aliases": [{"key": "", "building_code": "1"}]}
                       ).status_code == 422


def test_cli_aliases_export_import(demo, people, tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from grid.cli import app

    monkeypatch.setenv("GRID_DATABASE_URL", demo.settings.database_url)
    runner = CliRunner()
    path = tmp_path / "aliases.json"
    out = runner.invoke(app, ["hotline", "aliases-export", str(path)])
    assert out.exit_code == 0, out.output
    records = json.loads(path.read_text(encoding="utf-8"))
    assert all({"key", "building_code"} <= set(r) for r in records)
    path.write_text(json.dumps([{"key": "命令行导入|7", "building_code": people["building"],
                                 "example": "命令行导入小区7号楼"}], ensure_ascii=False),
                    encoding="utf-8")
    out = runner.invoke(app, ["hotline", "aliases-import", str(path), "--by", "GIS 张工"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["hotline", "match", "命令行导入小区7号楼2单元"])
    assert out.exit_code == 0 and people["building"] in out.output, out.output
    path.write_text("not json", encoding="utf-8")
    assert runner.invoke(app, ["hotline", "aliases-import", str(path)]).exit_code == 1
    with demo.db.read() as session:
        from sqlalchemy import select

        from grid.hotline.models import HotlineAlias
        row = session.scalar(select(HotlineAlias).where(HotlineAlias.key == "命令行导入|7"))
        assert row.created_by.startswith("GIS 张工")
