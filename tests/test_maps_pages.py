"""The map pages as HTML (no browser): basemaps by configuration, the Amap GCJ-02 display shift,
the one-payload incident layer, languages, and the report page — all with nothing remote."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from geoalchemy2.shape import to_shape
from pydantic import ValidationError

from grid.api.app import create_app
from grid.incidents.models import Incident
from grid.settings import Settings
from grid.spatial.chinacrs import wgs84_to_gcj02
from maps.assets import remote_references
from maps.basemap import tile_layers
from tests.conftest import auth

STREET = "110105001"
PAYLOAD = re.compile(r"GridMaps\.incidents\([^,]+,\s*[^,]+,\s*[^,]+,\s*")


def _payload(html: str) -> dict:
    return json.JSONDecoder().raw_decode(html, PAYLOAD.search(html).end())[0]


@pytest.fixture(scope="module")
def one(client, tokens, demo) -> int:
    """One incident at the first grid's representative point."""
    from grid.hierarchy import store

    with demo.db.read() as session:
        version = store.require_active_version(session).id
        p = store.shape_of(store.get_unit(session, version, tokens["first_grid"])) \
            .representative_point()
    r = client.post("/api/v1/incidents", headers=auth(tokens["street"]),
                    json={"lon": p.x, "lat": p.y, "category": "Z003"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _get(settings, url, token):
    with TestClient(create_app(settings)) as c:
        return c.get(url, headers=auth(token))


def test_street_map_carries_every_incident_in_one_payload(client, tokens, one):
    r = client.get(f"/maps/streets/{STREET}", headers=auth(tokens["street"]))
    assert r.status_code == 200
    html = r.text
    listed = client.get("/api/v1/incidents", params={"unit": STREET, "limit": 1000},
                        headers=auth(tokens["street"])).json()
    payload = _payload(html)
    assert sorted(row[0] for row in payload["rows"]) == sorted(i["id"] for i in listed)
    by_id = {i["id"]: i for i in listed}
    for row in payload["rows"]:  # the indexes decode to the incident's own values
        incident = by_id[row[0]]
        assert payload["keys"]["states"][row[4]] == incident["state"]
        assert payload["keys"]["codes"][row[8]] == incident["grid_code"]
        assert payload["keys"]["categories"][row[3]] == incident["category"]
    assert html.count("L.circleMarker") == 0 and html.count("L.marker(") == 0  # no per-marker JS
    assert remote_references(html) == []
    assert "L.tileLayer" not in html  # basemap "none": boundaries only
    assert "网格党支部" in html and "/static/vendor/leaflet.markercluster" in html


def test_english_on_request(client, tokens, one):
    html = client.get(f"/maps/streets/{STREET}?lang=en", headers=auth(tokens["street"])).text
    payload = _payload(html)
    assert payload["text"]["party_org"] == "Party organisation"
    assert payload["states"]["open"] == "open"
    assert "Grids" in html


def test_amap_shifts_overlays_for_display_only(demo, tokens, one):
    settings = demo.settings.model_copy(update={"basemap": "amap"})
    html = _get(settings, f"/maps/streets/{STREET}", tokens["street"]).text
    payload = _payload(html)
    row = next(r for r in payload["rows"] if r[0] == one)
    drawn = [payload["origin"][0] + row[1] / 1e6, payload["origin"][1] + row[2] / 1e6]
    with demo.db.read() as session:
        stored = to_shape(session.get(Incident, one).geom)
    lon, lat = wgs84_to_gcj02(stored.x, stored.y)
    assert drawn == pytest.approx([lon, lat], abs=2e-6)
    assert abs(drawn[0] - stored.x) > 1e-3  # hundreds of metres, not rounding
    assert "webrd0{s}.is.autonavi.com" in html
    assert remote_references(html) == []  # tiles are requested by Leaflet, not by the page
    with demo.db.read() as session:  # stored data untouched
        assert to_shape(session.get(Incident, one).geom).equals(stored)


def test_incident_page_shifted_on_amap(demo, tokens, one):
    plain = _get(demo.settings, f"/maps/incidents/{one}", tokens["street"]).text
    amap = _get(demo.settings.model_copy(update={"basemap": "amap"}),
                f"/maps/incidents/{one}", tokens["street"]).text
    with demo.db.read() as session:
        stored = to_shape(session.get(Incident, one).geom)
    lon, lat = wgs84_to_gcj02(stored.x, stored.y)
    assert f"[{stored.y}, {stored.x}]" in plain
    assert f"[{lat}, {lon}]" in amap


def test_basemap_settings():
    assert tile_layers(Settings()) == []
    with pytest.raises(ValidationError, match="TIANDITU_KEY"):
        Settings(basemap="tianditu")
    layers = tile_layers(Settings(basemap="tianditu", tianditu_key="k123"))
    assert [t.overlay for t in layers] == [False, False, True]
    assert all("tk=k123" in t.url for t in layers)
    osm = tile_layers(Settings(basemap="osm", basemap_url="http://tiles.intranet/{z}/{x}/{y}.png"))
    assert osm[0].url == "http://tiles.intranet/{z}/{x}/{y}.png"


def test_city_overview_links_each_street(client, tokens, one):
    r = client.get("/maps/city", headers=auth(tokens["admin"]))
    assert r.status_code == 200
    assert f"/maps/streets/{STREET}?lang=zh" in r.text
    assert remote_references(r.text) == []
    r = client.get("/maps/city", headers=auth(tokens["grid_worker"]))
    assert r.status_code == 200  # a grid worker sees the street holding their grid


def test_report_page_embeds_scope_and_nothing_remote(demo, tokens):
    # A client of its own: signing in sets a cookie, which must not leak to other tests.
    with TestClient(create_app(demo.settings)) as client:
        client.post("/signin", data={"token": tokens["grid_worker"]})
        r = client.get("/report")
    with TestClient(create_app(demo.settings)) as anonymous:
        assert anonymous.get("/report", follow_redirects=False).status_code == 303
    assert r.status_code == 200
    assert remote_references(r.text) == []
    assert tokens["grid_worker"] not in r.text  # the page holds no token
    config = json.loads(re.search(r'<script type="application/json" id="report-config">'
                                  r"(.*?)</script>", r.text, re.S).group(1))
    assert "token" not in config
    assert [f["properties"]["code"] for f in config["grids"]["features"]] == [tokens["first_grid"]]
    assert config["buildings"] == [f"/maps/streets/{STREET}/buildings.geojson"]
    assert 'capture="environment"' in r.text
    # No category is chosen for the user: the first option is an empty, disabled prompt.
    assert re.search(r'<option value="" selected disabled>', r.text)


def test_buildings_come_by_bounding_box(client, tokens, demo):
    everything = client.get(f"/maps/streets/{STREET}/buildings.geojson",
                            headers=auth(tokens["street"])).json()["features"]
    assert len(everything) == 600
    lons = sorted(c[0] for f in everything for c in f["geometry"]["coordinates"][0])
    lats = sorted(c[1] for f in everything for c in f["geometry"]["coordinates"][0])
    west = f"{lons[0]},{lats[0]},{lons[len(lons) // 4]},{lats[-1]}"
    some = client.get(f"/maps/streets/{STREET}/buildings.geojson?bbox={west}",
                      headers=auth(tokens["street"])).json()["features"]
    assert 0 < len(some) < len(everything)
    assert all(f["properties"]["party_org"] for f in some[:5])
    assert client.get(f"/maps/streets/{STREET}/buildings.geojson?bbox=1,2,3",
                      headers=auth(tokens["street"])).status_code == 422
    outside = client.get("/maps/streets/110105002/buildings.geojson",
                         headers=auth(tokens["grid_worker"]))
    assert outside.status_code == 403



def test_communities_shaded_by_three_rate_score(client, tokens, demo, one):
    from grid.orm import utcnow
    from maps.street import _score_fill, month_scores

    html = client.get(f"/maps/streets/{STREET}?shade=score", headers=auth(tokens["street"])).text
    assert "本月三率得分" in html  # the legend's title
    with demo.db.read() as session:
        community = session.get(Incident, one).community_code
        scores = month_scores(session, demo.settings, utcnow())
    assert community in scores and scores[community].received >= 1
    assert f'"score_value": {json.dumps(scores[community].score)}' in html
    assert _score_fill(scores[community].score) in html
    assert _score_fill(59.9) != _score_fill(100.0)
    assert client.get(f"/maps/streets/{STREET}?shade=bogus",
                      headers=auth(tokens["street"])).status_code == 422


def test_report_page_in_english_and_on_tianditu(demo, tokens):
    settings = demo.settings.model_copy(update={"basemap": "tianditu", "tianditu_key": "k42"})
    r = _get(settings, "/report?lang=en", tokens["grid_worker"])
    assert r.status_code == 200
    config = json.loads(re.search(r'<script type="application/json" id="report-config">'
                                  r"(.*?)</script>", r.text, re.S).group(1))
    # The Content-Security-Policy lets the browser fetch the configured basemap's tiles.
    assert "img-src 'self' data: blob: https://*.tianditu.gov.cn" in \
        r.headers["content-security-policy"]
    assert config["text"]["locate"] == "Locate me" and "Report a problem" in r.text
    # The vector base map with its label overlay; the key (from settings) only in tile URLs.
    assert ["vec_w" in t["url"] or "cva_w" in t["url"] for t in config["tiles"]] == [True, True]
    assert r.text.count("k42") == 2
    assert remote_references(r.text) == []  # tiles are requested by Leaflet, not by the page
