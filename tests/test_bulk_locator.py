"""The bulk locator (cell index) gives exactly the backbone locator's answers — on random points,
on shared vertices and on edge points, where the lowest-code rule decides."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grid.hierarchy import store
from grid.hierarchy.levels import SPATIAL_LEVELS, Level
from grid.spatial.bulk import BulkLocator, coordinate_problems
from grid.spatial.locator import Locator


@pytest.fixture(scope="module")
def locators(demo):
    """The backbone locator and bulk locators at three cell sizes (coarse, default, odd fine),
    built from the demo database."""
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        backbone = Locator.from_db(session, version)
        from_db = BulkLocator.from_db(session, version)
    bulks = [from_db] + [BulkLocator.from_locator(backbone, cells_per_width=k)
                         for k in (1.5, 23.7)]
    return backbone, bulks


@pytest.fixture(scope="module")
def special_points(locators):
    """Every vertex of grids and buildings, and points along their edges (midpoints and
    thirds), which lie on shared edges wherever two units meet."""
    backbone, _ = locators
    points = []
    for level in (Level.community, Level.grid, Level.building):
        for geom in backbone.levels[level].geoms:
            rings = shapely.get_rings(shapely.get_parts(geom))
            coords = np.concatenate([shapely.get_coordinates(r) for r in rings])
            points.append(coords)
            points.append((coords[:-1] + coords[1:]) / 2)
            points.append(coords[:-1] + (coords[1:] - coords[:-1]) / 3)
    return np.concatenate(points)


def _compare(backbone, bulk, lons, lats):
    expected = backbone.locate_many(lons, lats)
    found = bulk.locate_many(lons, lats)
    for level in SPATIAL_LEVELS:
        mismatch = np.flatnonzero(expected[level] != found[level])
        assert len(mismatch) == 0, (level, lons[mismatch[:3]], lats[mismatch[:3]])
    return expected


def test_all_vertices_and_edge_points_agree(locators, special_points):
    backbone, bulks = locators
    lons, lats = special_points[:, 0], special_points[:, 1]
    for bulk in bulks:
        expected = _compare(backbone, bulk, lons, lats)
    # Not vacuous: these points are mostly covered, many by two or more grids at once.
    assert np.count_nonzero(expected[Level.grid] != None) > 0.8 * len(lons)  # noqa: E711
    shared = 0
    index = backbone.levels[Level.grid]
    points = shapely.points(lons, lats)
    pts, _ = index.tree.query(points, predicate="covered_by")
    shared = np.count_nonzero(np.bincount(pts, minlength=len(lons)) >= 2)
    assert shared > 100


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_points_agree(locators, special_points, data):
    backbone, bulks = locators
    minx, miny, maxx, maxy = backbone.levels[Level.street].geoms[0].bounds
    n = data.draw(st.integers(1, 300))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    lons = rng.uniform(minx - 0.002, maxx + 0.002, n)
    lats = rng.uniform(miny - 0.002, maxy + 0.002, n)
    # Mix in drawn vertices / edge points and a few explicitly drawn floats.
    picks = data.draw(st.lists(st.integers(0, len(special_points) - 1), max_size=50))
    drawn = data.draw(st.lists(st.tuples(st.floats(minx - 0.001, maxx + 0.001),
                                         st.floats(miny - 0.001, maxy + 0.001)), max_size=20))
    extra = np.array(drawn, dtype=float).reshape(-1, 2)
    lons = np.concatenate([lons, special_points[picks, 0], extra[:, 0]])
    lats = np.concatenate([lats, special_points[picks, 1], extra[:, 1]])
    _compare(backbone, bulks[data.draw(st.integers(0, len(bulks) - 1))], lons, lats)


def test_edge_flag_and_bad_coordinates(locators):
    backbone, bulks = locators
    grid = backbone.levels[Level.grid]
    vertex = shapely.get_coordinates(grid.geoms[0])[0]
    inside = shapely.get_coordinates(grid.geoms[0].point_on_surface())[0]
    lons = np.array([vertex[0], inside[0], np.nan, 200.0, 116.4])
    lats = np.array([vertex[1], inside[1], 39.9, 39.9, 95.0])
    found, on_edge = bulks[0].place(lons, lats)
    assert on_edge.tolist() == [True, False, False, False, False]
    assert found[Level.grid][1] >= 0 and (found[Level.grid][2:] == -1).all()
    problems = coordinate_problems(lons, lats)
    assert problems[0] is None and problems[1] is None
    assert "missing" in problems[2] and "longitude" in problems[3] and "latitude" in problems[4]


def test_cell_index_answers_most_points_without_exact_test(locators):
    """The point of the cell index: deep points need no geometric test."""
    backbone, bulks = locators
    minx, miny, maxx, maxy = backbone.levels[Level.street].geoms[0].bounds
    rng = np.random.default_rng(4)
    lons, lats = rng.uniform(minx, maxx, 5000), rng.uniform(miny, maxy, 5000)
    _, exact = bulks[0].indexes[Level.grid].locate(lons, lats, with_exact=True)
    assert exact.mean() < 0.5


def test_exact_tests_agree_with_geos_on_vertices_and_edges(locators, special_points):
    """The demo's polygons (one-part MultiPolygons in the store) are tested by the compiled
    kernel: covered and on-boundary answers on vertices and edge points are GEOS's."""
    _, bulks = locators
    for level in (Level.grid, Level.building):
        index = bulks[0].indexes[level]
        rng = np.random.default_rng(7)
        poly = rng.integers(0, len(index.codes), len(special_points))
        x, y = special_points[:, 0], special_points[:, 1]
        truth = shapely.intersects_xy(index.geoms[poly], x, y)
        found = index.locate(x, y)
        assert (found[truth] <= poly[truth]).all()  # covered, so found (lowest code) no later
        edge = index.on_boundary(poly, x, y)
        assert np.array_equal(edge, shapely.intersects_xy(shapely.boundary(index.geoms[poly]),
                                                          x, y))
        assert edge.sum() > 0


def test_place_in_threads_answers_as_one_thread(locators, special_points):
    """Several chunks (of 131,072 points) shared among threads: the same indices and edge
    flags as one thread, and the same codes as the backbone locator."""
    backbone, bulks = locators
    rng = np.random.default_rng(11)
    minx, miny, maxx, maxy = backbone.levels[Level.street].geoms[0].bounds
    count = 300_000
    lons = rng.uniform(minx - 0.002, maxx + 0.002, count)
    lats = rng.uniform(miny - 0.002, maxy + 0.002, count)
    picks = rng.integers(0, len(special_points), 50_000)  # many on edges and vertices
    lons[::6][:len(picks)], lats[::6][:len(picks)] = special_points[picks].T
    alone, alone_edge = bulks[0].place(lons, lats)
    shared, shared_edge = bulks[0].place(lons, lats, threads=3)
    assert all((alone[level] == shared[level]).all() for level in alone)
    assert (alone_edge == shared_edge).all() and 0 < alone_edge.sum() < count
    expected = backbone.locate_many(lons, lats)
    for level in SPATIAL_LEVELS:
        assert (bulks[0].codes(level, shared[level]) == expected[level]).all(), level


def test_single_point_locate_agrees_with_the_array_path(locators, special_points):
    """``Locator.locate`` (one tree query per level, the report path) answers as
    ``locate_many`` does, on vertices and shared edges (lowest code) and outside."""
    backbone, _ = locators
    rng = np.random.default_rng(5)
    lo, hi = special_points.min(axis=0) - 0.005, special_points.max(axis=0) + 0.005
    points = np.concatenate([special_points[::7], rng.uniform(lo, hi, size=(2000, 2))])
    expected = backbone.locate_many(points[:, 0], points[:, 1])
    for i, (lon, lat) in enumerate(points):
        assert backbone.locate(float(lon), float(lat)) == {
            level: expected[level][i] for level in SPATIAL_LEVELS}, (lon, lat)


def test_index_is_deterministic_and_pickles(locators):
    """Two builds of one level give identical arrays, and a pickled index (dask ships them to
    workers) answers as the original."""
    import pickle

    from grid.spatial import bulk

    backbone, bulks = locators
    grid = backbone.levels[Level.grid]
    first = bulk.CellIndex.build(grid.codes, grid.geoms)
    again = bulk.CellIndex.build(grid.codes, grid.geoms, threads=3)
    for name in bulk.CellIndex.ARRAYS:
        assert np.array_equal(getattr(first, name), getattr(again, name)), name
    copy = pickle.loads(pickle.dumps(first))
    rng = np.random.default_rng(3)
    minx, miny, maxx, maxy = backbone.levels[Level.street].geoms[0].bounds
    x, y = rng.uniform(minx, maxx, 5000), rng.uniform(miny, maxy, 5000)
    assert np.array_equal(copy.locate(x, y), first.locate(x, y))
