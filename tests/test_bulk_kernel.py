"""The compiled placement kernel (grid.spatial.kernel) gives GEOS's answers: covers with the
lowest code on shared edges and vertices, for rings of any size, holes and multipolygon parts,
and the boundary flag — on the hard cases (points exactly on edges and vertices, horizontal and
vertical edges, inside holes, between parts, outside, NaN) and on detailed polygons."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from grid.hierarchy.levels import Level
from grid.spatial.bulk import BulkLocator, CellIndex
from grid.spatial.locator import LevelIndex, Locator

ROOT = Path(__file__).resolve().parents[1]


def _expected(geoms, lons, lats):
    """Lowest index (code order) of the polygons covering each point, by STRtree (-1 none)."""
    found = np.full(len(lons), -1)
    tree = shapely.STRtree(geoms)
    point, poly = tree.query(shapely.points(lons, lats), predicate="covered_by")
    order = np.lexsort((poly, point))
    point, poly = point[order], poly[order]
    first = np.r_[True, point[1:] != point[:-1]] if len(point) else np.zeros(0, bool)
    found[point[first]] = poly[first]
    return found


def _edge_points(geoms, rng, count):
    """Vertices, edge midpoints and edge thirds of the polygons' rings (all rings)."""
    rings = shapely.get_rings(shapely.get_parts(geoms))
    coords, which = shapely.get_coordinates(rings, return_index=True)
    same = np.flatnonzero(which[1:] == which[:-1])
    k = rng.choice(same, count)
    t = rng.choice([0.0, 0.5, 1 / 3], count)[:, None]
    return coords[k] + (coords[k + 1] - coords[k]) * t


@pytest.fixture(scope="module")
def hard():
    """Polygons with every hard feature, codes in index order: a 4 × 4 block of unit squares
    (shared horizontal and vertical edges, four-way vertices), triangles sharing sloped edges,
    a square with a square hole and an island polygon inside that hole, a two-part
    multipolygon whose parts touch at a vertex, a 600-vertex wiggly ring (banded), and an
    overlapping pair (the lowest code wins inside the overlap)."""
    polys = [shapely.box(i, j, i + 1, j + 1) for i in range(4) for j in range(4)]
    polys += [shapely.Polygon([(5, 0), (7, 0), (6, 1.5)]), shapely.Polygon([(5, 0), (6, 1.5),
                                                                             (4.5, 1.5)])]
    polys.append(shapely.Polygon([(8, 0), (12, 0), (12, 4), (8, 4)],
                                 [[(9, 1), (11, 1), (11, 3), (9, 3)]]))
    polys.append(shapely.box(9.5, 1.5, 10.5, 2.5))  # the island in the hole
    polys.append(shapely.MultiPolygon([shapely.box(13, 0, 14, 1), shapely.box(14, 1, 15, 2)]))
    t = np.linspace(0, 2 * np.pi, 600, endpoint=False)
    r = 1.5 + 0.2 * np.sin(9 * t)
    polys.append(shapely.Polygon(np.c_[18 + r * np.cos(t), 2 + r * np.sin(t)]))
    polys += [shapely.box(0, 6, 2, 8), shapely.box(1, 7, 3, 9)]
    assert shapely.is_valid(polys).all()
    return np.array(polys, dtype=object)


def _hard_points(geoms, rng):
    lattice = np.stack(np.meshgrid(np.arange(-2, 41) / 2, np.arange(-2, 21) / 2), -1)
    lattice = lattice.reshape(-1, 2)
    edges = _edge_points(geoms, rng, 20_000)
    scattered = rng.uniform((-1, -1), (21, 10), (20_000, 2))
    points = np.concatenate([lattice, edges, scattered])
    return points[:, 0], points[:, 1]


@pytest.mark.parametrize("cells_per_width", [1.5, 6, 23.7])
def test_hard_cases_match_geos(hard, cells_per_width):
    rng = np.random.default_rng(1)
    lons, lats = _hard_points(hard, rng)
    codes = [f"c{k:03d}" for k in range(len(hard))]
    index = CellIndex.build(codes, hard, cells_per_width=cells_per_width)
    found, flag = index.locate_flags(lons, lats)
    expected = _expected(hard, lons, lats)
    bad = np.flatnonzero(found != expected)
    assert len(bad) == 0, (lons[bad[:5]], lats[bad[:5]], found[bad[:5]], expected[bad[:5]])
    # Not vacuous: many points on edges and vertices (shared ones too), many outside.
    held = found >= 0
    assert 0.3 < held.mean() < 0.9
    on_edge = shapely.intersects_xy(shapely.boundary(hard[found[held]]), lons[held],
                                    lats[held])
    assert on_edge.sum() > 5000
    assert np.array_equal(flag[held] == 3, on_edge)
    assert np.array_equal(index.on_boundary(found[held], lons[held], lats[held]), on_edge)
    # The island in the hole, the hole, the hole's edge, the parts' shared vertex, between
    # the parts, the overlap (lowest code), the squares' four-way vertex, NaN, far away.
    for x, y, want in [(10, 2, 19), (9.2, 2, -1), (9, 2, 18), (14, 1, 20), (14.5, 0.5, -1),
                       (1.5, 7.5, 22), (2, 2, 5), (np.nan, 1, -1), (1, np.nan, -1),
                       (-5, 0, -1)]:
        assert index.locate_one(x, y) == want, (x, y)


def test_nan_and_far_points_and_bulk_place(hard):
    codes = [f"c{k:03d}" for k in range(len(hard))]
    bulk = BulkLocator(1, {Level.grid: CellIndex.build(codes, hard)})
    lons = np.array([np.nan, 0.5, 1e9, -np.inf, 2.0])
    lats = np.array([0.5, np.nan, 0.5, 0.5, 2.0])
    found, on_edge = bulk.place(lons, lats)
    assert found[Level.grid].tolist() == [-1, -1, -1, -1, 5]  # (2, 2): box(1,1) lowest
    assert on_edge.tolist() == [False, False, False, False, True]


@settings(max_examples=150, deadline=None)
@given(ring=st.lists(st.tuples(st.integers(-6, 6), st.integers(-6, 6)), min_size=3,
                     max_size=40, unique=True),
       hole=st.booleans(),
       points=st.lists(st.tuples(st.integers(-14, 14), st.integers(-14, 14)), min_size=1,
                       max_size=60),
       scale=st.sampled_from([1.0, 0.1, 1e-7, 0.3]), origin=st.sampled_from([0.0, 116.4]))
def test_any_ring_matches_geos_on_lattice_points(ring, hole, points, scale, origin):
    """Rings of up to 40 lattice vertices (sloped, horizontal and vertical edges; many points
    exactly on edges, on vertices and on the lines of edges), with a hole when one fits: the
    kernel's covers and boundary answers are GEOS's, whatever its filter left to GEOS."""
    polygon = shapely.Polygon([(origin + x * scale, origin / 3 + y * scale) for x, y in ring])
    if not polygon.is_valid or polygon.area == 0:
        return
    if hole:
        inner = shapely.affinity.scale(polygon.convex_hull, 0.3, 0.3)
        with_hole = shapely.Polygon(polygon.exterior.coords, [inner.exterior.coords])
        if with_hole.is_valid and with_hole.area > 0:
            polygon = with_hole
    px = np.array([origin + x * scale / 2 for x, _ in points])
    py = np.array([origin / 3 + y * scale / 2 for _, y in points])
    index = CellIndex.build(["a"], [polygon], cells_per_width=2)
    assert np.array_equal(index.locate(px, py) == 0, shapely.intersects_xy(polygon, px, py))
    held = np.zeros(len(px), dtype=np.int64)
    assert np.array_equal(index.on_boundary(held, px, py),
                          shapely.intersects_xy(polygon.boundary, px, py))


def _city():
    spec = importlib.util.spec_from_file_location("city", ROOT / "benchmarks" / "city.py")
    city = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(city)
    return city


@pytest.mark.parametrize("detail", [0, 9])
def test_detailed_city_matches_the_backbone_locator(detail):
    """A small city of the benchmark generator (quads, and 40-vertex grids with streets of
    hundreds of vertices): random points, and points on shared vertices and edges, placed at
    all four levels exactly as the STRtree Locator places them (covers, lowest code), with 2
    threads as with 1."""
    city_module = _city()
    city = city_module.generate(0.004, detail=detail)
    levels = {Level(name): (list(city[name]["code"]), city[name]["geometry"])
              for name in city_module.LEVELS}
    backbone = Locator(1, {level: LevelIndex(*shape) for level, shape in levels.items()})
    bulk = BulkLocator(1, {level: CellIndex.build(*shape) for level, shape in levels.items()})
    rng = np.random.default_rng(detail)
    lons, lats = city_module.random_points(city, 200_000)
    special = np.concatenate([_edge_points(city[name]["geometry"], rng, 20_000)
                              for name in ("street", "grid", "building")])
    lons = np.concatenate([lons, special[:, 0]])
    lats = np.concatenate([lats, special[:, 1]])
    order = rng.permutation(len(lons))
    lons, lats = lons[order], lats[order]
    expected = backbone.locate_many(lons, lats)
    alone = bulk.locate_many(lons, lats)
    shared, on_edge = bulk.place(lons, lats, edge_level=Level.grid, threads=2)
    for level in levels:
        assert (alone[level] == expected[level]).all(), level
        assert (bulk.codes(level, shared[level]) == expected[level]).all(), level
    grid = bulk.indexes[Level.grid]
    held = shared[Level.grid] >= 0
    truth = shapely.intersects_xy(shapely.boundary(grid.geoms[shared[Level.grid][held]]),
                                  lons[held], lats[held])
    assert np.array_equal(on_edge[held], truth) and truth.sum() > 10_000
    if detail:
        vertices = shapely.get_num_coordinates(city["street"]["geometry"])
        assert vertices.max() > 300 and (bulk.indexes[Level.street].meta[:, 5] > 0).all()
