"""Done when (issue 13): an incident near a lane inside a project's temporary branch area
names its grid's Party branch, the lane chief and the temporary branch — in the API (locate
and the report), the maps (street map layers and popups, the incident page) and
``grid place`` — and the street summons a stationed unit. On both stores; the street map
also in a real headless Chromium."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import sync_playwright
from shapely.geometry import mapping
from typer.testing import CliRunner

from grid.api.app import create_app
from grid.api.overlay_schemas import BranchPublic, StationedPublic
from grid.api.schemas import IncidentDetail, LocationPublic
from grid.cli import app as cli
from grid.demo import DEMO_STREET, load_sample
from grid.hierarchy import store as hierarchy
from grid.hierarchy.levels import Level
from grid.users import add_user
from tests.conftest import DATA, auth, served, sign_in
from tests.overlay_setup import site

BRANCH = "和平里地铁站项目临时党支部"
LANE = "和平西巷"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture
def street(empty, tmp_path):
    """The sample street with overlays set up through the API around one grid's open ground:
    a live temporary branch and an expired one, a lane 20 m away with two chiefs, a building
    head, a stationed unit. Yields (services, client, tokens, site)."""
    load_sample(empty, DATA, say=lambda _line: None)
    with empty.db.write() as session:
        tokens = {"admin": add_user(session, "admin", "admin", "")[1],
                  "gis": add_user(session, "gis", "gis", "110105")[1],
                  "street": add_user(session, "和平街道办", "street", DEMO_STREET)[1],
                  "unit": add_user(session, "医院值班", "department", DEMO_STREET[:6],
                                   "和平里医院")[1]}
    with empty.db.read() as session:
        version = hierarchy.require_active_version(session).id
        here = site(session, version, 3)
        building = hierarchy.units(session, version, Level.building,
                                   parent_code=here.grid_code)[0]
    lanes = gpd.GeoDataFrame({"DLBM": ["HPXJ-01"], "DLMC": [LANE]},
                             geometry=[here.lane(dy=20)], crs="EPSG:4490")
    lanes.to_file(tmp_path / "lanes.geojson", driver="GeoJSON")
    with TestClient(create_app(empty.settings)) as client:
        street_auth = auth(tokens["street"])
        for code, name, period in (
                ("TB-SITE", BRANCH, ("2020-01-01", "2099-12-31")),
                ("TB-OLD", "已撤销项目临时党支部", ("2020-01-01", "2020-12-31"))):
            r = client.post("/api/v1/overlays/branches", headers=street_auth, json={
                "code": code, "name": name, "parent_org_code": DEMO_STREET,
                "secretary": "赵建国", "contact": "13800000001",
                "valid_from": period[0], "valid_to": period[1],
                "geometry": mapping(here.area(200))})
            assert r.status_code == 201, r.text
            BranchPublic.model_validate(r.json())
        with (tmp_path / "lanes.geojson").open("rb") as f:
            r = client.post("/api/v1/overlays/segments/load", headers=auth(tokens["gis"]),
                            files={"file": ("lanes.geojson", f.read())},
                            data={"commit": "true", "activate": "true"})
        assert r.status_code == 200 and r.json()["committed"], r.text
        for tier, name in ((3, "钱巷长"), (1, "王区长")):
            r = client.post("/api/v1/overlays/chiefs", headers=street_auth, json={
                "segment_code": "HPXJ-01", "tier": tier, "name": name,
                "phone": "1380000000" + str(tier), "valid_from": "2020-01-01"})
            assert r.status_code == 201, r.text
        r = client.post("/api/v1/overlays/building-heads", headers=street_auth, json={
            "building_code": building.code, "role": "楼栋长", "name": "孙大妈",
            "valid_from": "2020-01-01"})
        assert r.status_code == 201, r.text
        r = client.post("/api/v1/overlays/stationed-units", headers=street_auth, json={
            "code": "ZQ-01", "name": "和平里医院", "kind": "医院", "street_code": DEMO_STREET,
            "party_org": "和平里医院党委", "contact": "<b>周院长</b>", "phone": "13800000009",
            "resources": ["义诊", "${alert(1)}"], "valid_from": "2020-01-01",
            "geometry": mapping(here.area(30).centroid)})
        assert r.status_code == 201, r.text
        StationedPublic.model_validate(r.json())
        yield empty, client, tokens, here


def test_bad_overlay_input_is_refused_before_any_query(street):
    _svc, client, tokens, here = street
    street_auth = auth(tokens["street"])
    bad = client.post("/api/v1/overlays/chiefs", headers=street_auth, json={
        "segment_code": "HPXJ-01", "tier": 4, "name": "x", "valid_from": "2020-01-01"})
    assert bad.status_code == 422
    backwards = client.post("/api/v1/overlays/branches", headers=street_auth, json={
        "code": "TB-X", "name": "x", "parent_org_code": DEMO_STREET, "valid_from": "2026-02-01",
        "valid_to": "2026-01-01", "geometry": mapping(here.area(50))})
    assert backwards.status_code == 422
    other = client.post("/api/v1/overlays/stationed-units", headers=street_auth, json={
        "code": "ZQ-X", "name": "别街单位", "street_code": "110105002",
        "valid_from": "2020-01-01", "geometry": mapping(here.area(30).centroid)})
    assert other.status_code == 403
    listed = client.get("/api/v1/overlays/branches", headers=street_auth).json()
    assert [b["code"] for b in listed] == ["TB-SITE"]  # the expired one is not valid today
    every = client.get("/api/v1/overlays/branches?all=true", headers=street_auth).json()
    assert {b["code"]: b["active"] for b in every} == {"TB-OLD": False, "TB-SITE": True}


def test_done_when_api_maps_and_place(street, tmp_path, monkeypatch):
    svc, client, tokens, here = street
    lon, lat = here.lonlat()
    street_auth = auth(tokens["street"])
    located = client.get(f"/api/v1/locate?lon={lon}&lat={lat}", headers=street_auth)
    assert located.status_code == 200, located.text
    where = LocationPublic.model_validate(located.json())
    grid = next(link for link in where.owners.chain if link.level == "grid")
    assert grid.code == here.grid_code and grid.party_org.org_type == "网格党支部"
    assert [b.code for b in where.overlays.temporary_branches] == ["TB-SITE"]
    assert where.overlays.street_chief.segment_code == "HPXJ-01"
    assert abs(where.overlays.street_chief.distance_m - 20) < 0.1
    assert [c.name for c in where.overlays.street_chief.chiefs] == ["王区长", "钱巷长"]
    # the branch on a day before it was set up
    earlier = client.get(f"/api/v1/locate?lon={lon}&lat={lat}&on=2019-06-01",
                         headers=street_auth).json()
    assert earlier["overlays"]["temporary_branches"] == []

    filed = client.post("/api/v1/incidents", headers=street_auth, json={
        "lon": lon, "lat": lat, "category": "Z011", "description": "工地夜间施工扰民"})
    assert filed.status_code == 201, filed.text
    case = IncidentDetail.model_validate(filed.json())
    grid = next(link for link in case.owners.chain if link.level == "grid")
    assert grid.party_org.name.endswith("党支部")
    assert [(b.code, b.told) for b in case.overlays.temporary_branches] == [("TB-SITE", True)]
    assert {c.name: c.told for c in case.overlays.street_chief.chiefs} == {
        "王区长": False, "钱巷长": True}
    again = IncidentDetail.model_validate(client.get(f"/api/v1/incidents/{case.id}",
                                                     headers=street_auth).json())
    assert again.overlays == case.overlays

    for move, body in (("escalate", {"reason": "社区呼叫"}), ("escalate", {"reason": "街道"}),
                       ("whistle", {"departments": ["住建"], "stationed_units": ["ZQ-01"]})):
        r = client.post(f"/api/v1/incidents/{case.id}/{move}", headers=street_auth, json=body)
        assert r.status_code == 200, r.text
    assert {s["department"] for s in r.json()["summonses"]} == {"住建", "和平里医院"}
    r = client.post(f"/api/v1/incidents/{case.id}/report-in", headers=auth(tokens["unit"]),
                    json={"note": "已到场"})
    assert r.status_code == 200, r.text
    unit = next(s for s in r.json()["summonses"] if s["department"] == "和平里医院")
    assert unit["reported_in_at"] is not None and unit["report_in_late"] is False

    page = client.get(f"/maps/incidents/{case.id}", headers=street_auth)
    assert page.status_code == 200
    assert BRANCH in page.text and "钱巷长" in page.text and "已通知" in page.text
    html = client.get(f"/maps/streets/{DEMO_STREET}", headers=street_auth).text
    assert "url(#grid-hatch)" in html and 'id="grid-hatch"' in html
    assert LANE in html and "钱巷长" in html and "和平里医院" in html
    assert "已撤销项目临时党支部" not in html  # expired: not drawn
    assert "&lt;b&gt;周院长&lt;/b&gt;" in html and "<b>周院长</b>" not in html
    assert "${alert(1)}" not in html and "&#36;{alert(1)}" in html
    assert "segment-open-1" in html  # the lane's chief has one open case

    ogc = client.get("/ogc/collections", headers=street_auth).json()
    assert {"temporary_branches", "street_segments", "stationed_units"} <= {
        c["id"] for c in ogc["collections"]}
    items = client.get("/ogc/collections/temporary_branches/items",
                       headers=street_auth).json()
    assert {f["id"]: f["properties"]["active"] for f in items["features"]} == {
        "TB-OLD": False, "TB-SITE": True}
    lane = client.get("/ogc/collections/street_segments/items/HPXJ-01",
                      headers=street_auth).json()
    assert lane["geometry"]["type"] == "MultiLineString"
    assert [c["name"] for c in lane["properties"]["chiefs"]] == ["王区长", "钱巷长"]

    source = tmp_path / "points.csv"
    far = here.lonlat(dy=-90)
    pd.DataFrame({"id": [1, 2], "lon": [lon, far[0]], "lat": [lat, far[1]]}).to_csv(
        source, index=False)
    monkeypatch.setenv("GRID_DATABASE_URL", svc.settings.database_url)
    result = CliRunner().invoke(cli, ["place", str(source), "--out", str(tmp_path / "o.csv"),
                                      "--threads", "1"])
    assert result.exit_code == 0, result.output
    out = pd.read_csv(tmp_path / "o.csv", dtype=str, keep_default_na=False)
    assert out["grid_code"].tolist()[0] == here.grid_code
    assert out["grid_party_branch"].tolist()[0].endswith("党支部")
    assert out["temporary_branch"].tolist() == [BRANCH, BRANCH]  # 90 m south: still inside
    assert out["street_segment"].tolist() == ["HPXJ-01", ""]  # 110 m from the lane: none
    assert out["street_chief"].tolist() == ["1:王区长;3:钱巷长", ""]
    assert abs(float(out["street_chief_distance_m"][0]) - 20) < 0.1
    dated = CliRunner().invoke(cli, ["place", str(source), "--out", str(tmp_path / "d.csv"),
                                     "--threads", "1", "--on", "2019-06-01"])
    assert dated.exit_code == 0, dated.output
    assert pd.read_csv(tmp_path / "d.csv", dtype=str, keep_default_na=False)[
        "temporary_branch"].tolist() == ["", ""]


@pytest.mark.browser
def test_street_map_shows_the_overlays_in_chromium(street, backend):
    svc, client, tokens, here = street
    lon, lat = here.lonlat()
    r = client.post("/api/v1/incidents", headers=auth(tokens["street"]), json={
        "lon": lon, "lat": lat, "category": "Z010", "description": "占道经营"})
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    with served(svc.settings) as base, sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        for viewport in ({"width": 1440, "height": 900}, {"width": 390, "height": 844}):
            page = chromium.new_page(viewport=viewport)
            sign_in(page, base, tokens["street"], "/")
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.goto(f"{base}/maps/streets/{DEMO_STREET}")
            page.wait_for_selector("path.overlay-branch")
            assert page.locator("path.overlay-branch").first.get_attribute(
                "fill") == "url(#grid-hatch)"
            assert page.locator("path.overlay-segment.segment-open-1").count() == 1
            if viewport["width"] < 600:  # on a phone the panels come folded (maps.js)
                assert page.locator(".grid-panel.folded").count() == 2
                assert page.locator(".leaflet-control-layers-expanded").count() == 0
                page.click(".leaflet-control-layers-toggle")
            labels = page.locator(".leaflet-control-layers").inner_text()
            assert "临时党支部" in labels and "街巷长" in labels and "驻区单位" in labels
            # dispatched on the line itself: at street zoom the case's marker, 20 m
            # away, sits over it
            page.locator("path.overlay-segment").first.dispatch_event("click")
            popup = page.locator(".segment-popup")
            popup.wait_for()
            assert "钱巷长" in popup.inner_text() and "王区长" in popup.inner_text()
            # opening the next popup closes this one (Leaflet's autoClose)
            page.locator("path.overlay-unit").first.dispatch_event("click")
            unit = page.locator(".unit-popup")
            unit.wait_for()
            assert "<b>周院长</b>" in unit.inner_text()  # shown as text, not markup
            assert "${alert(1)}" in unit.inner_text()
            page.goto(f"{base}/maps/incidents/{case_id}")
            told = page.locator("#audit #overlays")
            told.wait_for()
            assert BRANCH in told.inner_text() and "钱巷长" in told.inner_text()
            assert "已通知" in told.inner_text()  # 占道经营 tells the lane chief
            assert errors == [], errors
            page.close()
        chromium.close()
