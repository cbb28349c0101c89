"""OGC API – Features at /ogc, read by the API directly and by two clients this project did not
write: GDAL's OAPIF driver (ogrinfo/ogr2ogr, Debian gdal-bin) and OWSLib, against a real uvicorn
server. The token travels in the Authorization header (GDAL_HTTP_HEADERS, OWSLib headers=)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from owslib.ogcapi.features import Features

from grid.hierarchy import store
from grid.hierarchy.levels import Level
from tests.conftest import auth, served

LEVELS = ["street", "community", "grid", "building"]
#: Overlay collections (issue 13), after the incidents.
OVERLAYS = ["temporary_branches", "street_segments", "stationed_units"]


@pytest.fixture(scope="module")
def server(demo):
    """The app served by uvicorn on a free local port."""
    with served(demo.settings) as url:
        yield url


def _gdal(*args: str, token: str) -> str:
    env = {**os.environ, "GDAL_HTTP_HEADERS": f"Authorization: Bearer {token}",
           "GDAL_HTTP_MAX_RETRY": "0", "CPL_DEBUG": "OFF"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_landing_conformance_collections(client, tokens):
    assert client.get("/ogc").status_code == 401
    landing = client.get("/ogc", headers=auth(tokens["admin"])).json()
    assert {"conformance", "data", "service-desc"} <= {link["rel"] for link in landing["links"]}
    conf = client.get("/ogc/conformance", headers=auth(tokens["admin"])).json()
    assert any(c.endswith("/conf/geojson") for c in conf["conformsTo"])
    body = client.get("/ogc/collections", headers=auth(tokens["admin"])).json()
    ids = [c["id"] for c in body["collections"]]
    assert ids == [*LEVELS, "incidents", *OVERLAYS]
    grid = next(c for c in body["collections"] if c["id"] == "grid")
    minx, miny, maxx, maxy = grid["extent"]["spatial"]["bbox"][0]
    assert 116 < minx < maxx < 117 and 39 < miny < maxy < 41
    assert client.get("/ogc/collections/nothing", headers=auth(tokens["admin"])).status_code \
        == 404


def test_items_paging_bbox_single_and_version(client, tokens, demo):
    headers = auth(tokens["admin"])
    first = client.get("/ogc/collections/grid/items?limit=15", headers=headers)
    assert first.headers["content-type"].startswith("application/geo+json")
    page = first.json()
    assert (page["numberMatched"], page["numberReturned"]) == (40, 15)
    codes = [f["id"] for f in page["features"]]
    seen = list(codes)
    while (nxt := next((x for x in page["links"] if x["rel"] == "next"), None)) is not None:
        page = client.get(nxt["href"], headers=headers).json()
        seen += [f["id"] for f in page["features"]]
    assert len(seen) == 40 == len(set(seen)) and seen == sorted(seen)
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        unit = store.get_unit(session, version, codes[0])
        x0, y0, x1, y1 = store.shape_of(unit).bounds
    small = client.get(f"/ogc/collections/grid/items?bbox={x0},{y0},{x1},{y1}",
                       headers=headers).json()
    assert codes[0] in [f["id"] for f in small["features"]] and small["numberMatched"] < 40
    one = client.get(f"/ogc/collections/grid/items/{codes[0]}", headers=headers).json()
    assert one["properties"]["name"] == unit.name and one["geometry"]["type"] == "MultiPolygon"
    versioned = client.get(f"/ogc/collections/grid/items?version={version}&limit=1",
                           headers=headers).json()
    assert versioned["features"][0]["properties"]["version"] == version
    assert client.get("/ogc/collections/grid/items?version=999999",
                      headers=headers).status_code == 404
    assert client.get("/ogc/collections/grid/items?bbox=1,2,3",
                      headers=headers).status_code == 422
    assert client.get("/ogc/collections/grid/items/nope", headers=headers).status_code == 404


def test_incidents_follow_scope(client, tokens, demo):
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        grid = store.get_unit(session, version, tokens["first_grid"])
        spot = store.shape_of(grid).representative_point()
    made = client.post("/api/v1/incidents", headers=auth(tokens["street"]),
                       json={"lon": spot.x, "lat": spot.y, "category": "Z003"})
    assert made.status_code == 201, made.text
    mine = client.get("/ogc/collections/incidents/items?limit=10000",
                      headers=auth(tokens["grid_worker"])).json()
    assert mine["features"] and all(f["properties"]["grid_code"] == tokens["first_grid"]
                                    for f in mine["features"])
    assert "reporter" not in mine["features"][0]["properties"]
    everything = client.get("/ogc/collections/incidents/items?limit=1",
                            headers=auth(tokens["admin"])).json()
    assert everything["numberMatched"] >= mine["numberMatched"]
    one = client.get(f"/ogc/collections/incidents/items/{made.json()['id']}",
                     headers=auth(tokens["grid_worker"])).json()
    assert one["geometry"]["type"] == "Point"


def test_gdal_oapif_lists_and_reads(server, tokens):
    url = f"OAPIF:{server}/ogc"
    listing = _gdal("ogrinfo", "-ro", "-q", url, token=tokens["admin"])
    for level in [*LEVELS, "incidents"]:
        assert f": {level}" in listing, listing
    # a small page size makes GDAL follow our next links
    out = _gdal("ogr2ogr", "-f", "GeoJSON", "/vsistdout/", url, "grid", "-oo", "PAGE_SIZE=7",
                token=tokens["admin"])
    features = json.loads(out)["features"]
    assert len(features) == 40
    assert {f["properties"]["code"] for f in features} == {f["properties"]["code"]
                                                           for f in features if f["geometry"]}
    assert any("网格" in f["properties"]["name"] for f in features)
    summary = _gdal("ogrinfo", "-ro", "-so", url, "community", token=tokens["admin"])
    assert "Feature Count: 6" in summary


def test_owslib_reads_collections_and_items(server, tokens, demo):
    api = Features(f"{server}/ogc", headers={"Authorization": f"Bearer {tokens['admin']}"})
    ids = [c["id"] for c in api.collections()["collections"]]
    assert ids == [*LEVELS, "incidents", *OVERLAYS]
    assert any(c.endswith("/conf/core") for c in api.conformance()["conformsTo"])
    page = api.collection_items("building", limit=5)
    assert page["numberReturned"] == 5 and page["numberMatched"] == 600
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        street = store.units(session, version, Level.street)[0]
    item = api.collection_item("street", street.code)
    assert item["properties"]["name"] == street.name
