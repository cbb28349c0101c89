"""A point given in GCJ-02 / BD-09 (as phones and web maps in China send it) lands in the grid
where it truly is, through locate and through an incident report."""

from __future__ import annotations

import pytest
from shapely.ops import polylabel

from grid.api.schemas import IncidentDetail, LocationPublic
from grid.hierarchy import store
from grid.spatial import chinacrs
from tests.conftest import auth


@pytest.fixture(scope="module")
def deep(demo, tokens) -> tuple[float, float]:
    """The pole of inaccessibility of the grid worker's grid: the point deepest inside it."""
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        shape = store.shape_of(store.get_unit(session, version, tokens["first_grid"]))
    largest = max(shape.geoms, key=lambda p: p.area)
    p = polylabel(largest, 1e-7)
    return p.x, p.y


def _grid(location: LocationPublic) -> str | None:
    return next((link.code for link in location.owners.chain if link.level == "grid"), None)


def test_locate_with_gcj02_and_bd09_lands_where_it_truly_is(client, tokens, deep):
    headers = auth(tokens["street"])
    gcj = chinacrs.wgs84_to_gcj02(*deep)
    bd = chinacrs.wgs84_to_bd09(*deep)
    # The obfuscation moves the point by hundreds of metres (0.006° of longitude ≈ 500 m here).
    assert abs(gcj[0] - deep[0]) > 0.004
    for crs, (lon, lat) in (("gcj02", gcj), ("bd09", bd), ("wgs84", deep), ("EPSG:4490", deep)):
        body = client.get("/api/v1/locate", params={"lon": lon, "lat": lat, "crs": crs},
                          headers=headers)
        assert body.status_code == 200, body.text
        location = LocationPublic.model_validate(body.json())
        assert _grid(location) == tokens["first_grid"], crs
        # The answer states its CRS: storage coordinates, recovered to ~1 cm.
        assert location.crs == "EPSG:4490"
        assert (location.lon, location.lat) == pytest.approx(deep, abs=1e-6)
    # Taken at face value, the GCJ-02 coordinates name another grid (or none).
    naive = LocationPublic.model_validate(client.get(
        "/api/v1/locate", params={"lon": gcj[0], "lat": gcj[1]}, headers=headers).json())
    assert _grid(naive) != tokens["first_grid"]


def test_locate_unknown_crs_is_refused(client, tokens, deep):
    response = client.get("/api/v1/locate", params={"lon": deep[0], "lat": deep[1],
                                                    "crs": "mars-2"},
                          headers=auth(tokens["street"]))
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input" and "mars-2" in response.json()["message"]


def test_incident_reported_in_gcj02_lands_in_its_true_grid(client, tokens, deep):
    gcj = chinacrs.wgs84_to_gcj02(*deep)
    body = {"lon": gcj[0], "lat": gcj[1], "category": "Z001", "description": "高德坐标上报",
            "source": "patrol", "crs": "gcj02"}
    created = client.post("/api/v1/incidents", json=body, headers=auth(tokens["grid_worker"]))
    assert created.status_code == 201, created.text
    incident = IncidentDetail.model_validate(created.json())
    assert incident.grid_code == tokens["first_grid"]
    # The same numbers without crs are taken as CGCS2000: ~500 m east, in another grid.
    naive = dict(body, crs=None)
    elsewhere = client.post("/api/v1/incidents", json=naive, headers=auth(tokens["street"]))
    if elsewhere.status_code == 201:
        assert IncidentDetail.model_validate(elsewhere.json()).grid_code != tokens["first_grid"]
    else:  # outside coverage
        assert elsewhere.status_code == 422
    # The grid worker, scoped to the true grid, may not report there.
    refused = client.post("/api/v1/incidents", json=naive, headers=auth(tokens["grid_worker"]))
    assert refused.status_code in (403, 422)
