"""Units, versions, categories and the OpenAPI docs through the API."""

from __future__ import annotations

from grid.api.schemas import CategoryPublic, UnitPublic, VersionPublic
from tests.conftest import auth

STREET = "110105001"


def test_units_by_level_parent_and_children(client, tokens):
    headers = auth(tokens["grid_worker"])
    communities = [UnitPublic.model_validate(u) for u in client.get(
        "/api/v1/units", params={"level": "community"}, headers=headers).json()]
    assert len(communities) == 6
    assert all(c.parent_code == STREET and c.party_org.org_type == "社区党委"
               for c in communities)
    children = client.get(f"/api/v1/units/{communities[0].code}/children", headers=headers)
    grids = [UnitPublic.model_validate(u) for u in children.json()]
    assert grids and all(g.level == "grid" and g.parent_code == communities[0].code
                         for g in grids)
    by_parent = client.get("/api/v1/units", params={"parent": communities[0].code},
                           headers=headers).json()
    assert [u["code"] for u in by_parent] == [g.code for g in grids]
    one = UnitPublic.model_validate(
        client.get(f"/api/v1/units/{grids[0].code}", headers=headers).json())
    assert one.party_org.org_type == "网格党支部"


def test_units_geojson(client, tokens):
    body = client.get("/api/v1/units/geojson", params={"level": "grid"},
                      headers=auth(tokens["street"])).json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 40
    feature = body["features"][0]
    assert feature["geometry"]["type"] == "MultiPolygon"
    lon, lat = feature["geometry"]["coordinates"][0][0][0]
    assert 116 < lon < 117 and 39 < lat < 41  # lon/lat order, degrees


def test_units_come_a_page_at_a_time(client, tokens):
    """600 buildings in pages of 250: the Link header leads through them all, by code."""
    headers = auth(tokens["street"])
    everything = client.get("/api/v1/units", params={"level": "building", "limit": 10_000},
                            headers=headers)
    assert "link" not in everything.headers and len(everything.json()) == 600
    url, params, codes = "/api/v1/units", {"level": "building", "limit": 250}, []
    while url:
        page = client.get(url, params=params, headers=headers)
        codes += [u["code"] for u in page.json()]
        url, params = page.links.get("next", {}).get("url"), None
    assert codes == [u["code"] for u in everything.json()] and len(codes) == 600
    geojson = client.get("/api/v1/units/geojson", params={"level": "building", "limit": 100,
                                                          "offset": 500}, headers=headers)
    assert [f["id"] for f in geojson.json()["features"]] == codes[500:600]
    assert 'rel="next"' in geojson.headers["link"]  # a full page: there may be more
    assert client.get("/api/v1/units", params={"limit": 10_001},
                      headers=headers).status_code == 422


def test_bad_level_and_unknown_unit(client, tokens):
    headers = auth(tokens["street"])
    bad = client.get("/api/v1/units", params={"level": "city"}, headers=headers)
    assert bad.status_code == 422 and "city" in bad.json()["message"]
    missing = client.get("/api/v1/units/999", headers=headers)
    assert missing.status_code == 404


def test_versions_and_activation_rights(client, tokens):
    versions = [VersionPublic.model_validate(v) for v in client.get(
        "/api/v1/versions", headers=auth(tokens["street"])).json()]
    active = [v for v in versions if v.is_active]
    assert len(active) == 1 and active[0].units["grid"] == 40
    denied = client.post(f"/api/v1/versions/{active[0].id}/activate",
                         headers=auth(tokens["street"]))
    assert denied.status_code == 403


def test_categories_and_docs(client, tokens):
    categories = [CategoryPublic.model_validate(c) for c in client.get(
        "/api/v1/categories", params={"lang": "en"}, headers=auth(tokens["street"])).json()]
    parking = next(c for c in categories if c.code == "Z001")
    assert parking.name == "Parking disorder" and parking.time_limit_hours["grid"] > 0
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/locate" in paths and "/api/v1/incidents/{incident_id}/whistle" in paths
