"""Locate: the in-memory locator agrees with the database's own ST_Covers, the edge rule,
outside coverage, and the index following activation."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from grid.hierarchy import store
from grid.hierarchy.levels import SPATIAL_LEVELS, Level
from grid.spatial.crs import to_metres
from grid.spatial.locate import locate_point
from grid.spatial.locator import Locator

STREET = "110105001"


@pytest.fixture(scope="module")
def version(demo) -> int:
    with demo.db.read() as session:
        return store.require_active_version(session).id


def test_locator_agrees_with_database_st_covers(demo, version):
    rng = np.random.default_rng(2157)
    with demo.db.read() as session:
        minx, miny, maxx, maxy = store.shape_of(store.get_unit(session, version, STREET)).bounds
        lons = rng.uniform(minx - 0.003, maxx + 0.003, 250)
        lats = rng.uniform(miny - 0.003, maxy + 0.003, 250)
        # Add points inside buildings so the building level is exercised, not just its gaps.
        for building in store.units(session, version, Level.building)[::12]:
            p = store.shape_of(building).representative_point()
            lons, lats = np.append(lons, p.x), np.append(lats, p.y)
        found = Locator.from_db(session, version).locate_many(lons, lats)
        compared = hits = 0
        for i, (lon, lat) in enumerate(zip(lons, lats, strict=True)):
            for level in SPATIAL_LEVELS:
                reference = store.covering_codes(session, version, level, float(lon), float(lat))
                expected = reference[0] if reference else None
                assert found[level][i] == expected, (level, lon, lat)
                compared += 1
                hits += expected is not None
    assert compared == len(lons) * 4
    assert hits > len(lons)  # most points fall in some unit: the comparison is not vacuous


def _shared_vertex(session, version):
    grids = store.units(session, version, Level.grid)
    shapes = {g.code: store.shape_of(g) for g in grids}
    codes = sorted(shapes)
    for a in codes:
        ring_a = {tuple(c) for poly in shapes[a].geoms for c in poly.exterior.coords}
        for b in codes:
            if b <= a:
                continue
            ring_b = {tuple(c) for poly in shapes[b].geoms for c in poly.exterior.coords}
            common = sorted(ring_a & ring_b)
            if common:
                return a, b, common[0]
    raise AssertionError("no two grids share a vertex in the sample data")


def test_point_on_shared_edge_belongs_to_lowest_code(demo, version):
    with demo.db.read() as session:
        a, b, (lon, lat) = _shared_vertex(session, version)
        covering = store.covering_codes(session, version, Level.grid, lon, lat)
        assert a in covering and b in covering  # the database sees both ...
        located = locate_point(session, demo.locators, lon, lat)
    assert located.codes[Level.grid] == covering[0] == min(covering)  # ... we pick one


def test_outside_coverage_names_nearest_grid_and_distance(demo, version):
    with demo.db.read() as session:
        street = store.shape_of(store.get_unit(session, version, STREET))
        minx, miny, maxx, maxy = street.bounds
        lon, lat = maxx + 0.01, (miny + maxy) / 2  # ~850 m east of the street
        located = locate_point(session, demo.locators, lon, lat)
        assert not located.covered
        assert located.codes[Level.street] is None
        nearest = located.nearest_grid
        assert nearest is not None
        # Brute force over every grid in metres must agree on the code and the distance.
        transform = to_metres(lon).transform
        here = shapely.Point(transform(lon, lat))
        distances = {
            g.code: shapely.transform(
                store.shape_of(g),
                lambda xy: np.column_stack(transform(xy[:, 0], xy[:, 1]))).distance(here)
            for g in store.units(session, version, Level.grid)
        }
    best = min(distances, key=distances.get)
    assert nearest.code == best
    assert nearest.distance_m == pytest.approx(distances[best], abs=0.1)
    assert 500 < nearest.distance_m < 1500
    assert "outside coverage" in located.message


def test_locate_names_grid_party_branch_and_worker(demo, version):
    with demo.db.read() as session:
        building = store.units(session, version, Level.building)[5]
        p = store.shape_of(building).representative_point()
        located = locate_point(session, demo.locators, p.x, p.y)
    assert located.covered
    levels = [link.level for link in located.owners.chain]
    assert levels == ["street", "community", "grid", "building"]
    grid = located.owners.link(Level.grid)
    assert grid.code == building.parent_code
    assert grid.party_org is not None and grid.party_org.org_type == "网格党支部"
    assert located.owners.grid_workers, "every sample grid has a grid worker"
    assert located.owners.resident_groups
    assert all(g.code.startswith(building.code) for g in located.owners.resident_groups)
