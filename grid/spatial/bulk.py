"""The bulk locator: millions of points through every level, arrays in and arrays out.

Same answers as ``grid.spatial.locator.Locator`` — a unit holds a point when its polygon *covers*
it, and on a shared edge or vertex the lowest code wins — but most points never meet an exact
geometric test. Each level gets a regular raster of cells over its extent (a *cell index*):

* the rings of all polygons are rasterised (a conservative supercover), marking *boundary cells*;
* every other cell is crossed by no boundary, so one answer holds for all its points; along each
  row a run of such cells shares one answer, found by one exact test of the run's first centre;
* a boundary cell keeps its short list of candidate polygons (those meeting it), in code order,
  and its points are tested exactly against them, the first hit being the lowest code.

The exact test of a point against a small polygon (one ring of at most ``_MAX_EDGES`` edges, as
most grids and buildings are) is GEOS's own ray-crossing rule run in numpy over a padded table
of vertices, with GEOS's orientation filter: where that filter cannot vouch for the sign of an
orientation (the point is within ~1e-15 relative of an edge's line) the pair goes to
``shapely.intersects_xy``, as do large polygons, polygons with holes and multipolygons. So the
answer is GEOS's answer, for ~5× less work than a GEOS call per pair (which also builds a point).

Cells are treated as boxes enlarged by ``_EPS`` degrees, so a point that floating-point binning
puts in a neighbouring cell (it lies on the shared cell edge) still gets a correct answer. The
raster is sized from the polygons' count and typical width and capped in cells, so memory is
bounded (4 bytes a cell plus the candidate lists).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy.orm import Session

from grid.hierarchy import store
from grid.hierarchy.levels import SPATIAL_LEVELS, Level
from grid.spatial.locator import Locator

# 1e-9° is 0.1 mm: far above float64 binning error at lon ~120 (1e-14), far below any boundary.
_EPS = 1e-9
# Polygons of one ring with up to this many edges are tested in numpy (the vertex table is
# padded to the level's 95th-percentile edge count, at most this, so memory stays ~16 bytes a
# vertex); GEOS's prepared, indexed test is better for larger rings.
_MAX_EDGES = 8
# GEOS's DP_SAFE_EPSILON is 1e-15; ten times that only sends a few more pairs to GEOS.
_ORIENTATION_EPS = 1e-14
# Points placed per step: a chunk's arrays stay in the CPU caches across the four levels.
_CHUNK = 1 << 17
# Boundary cells whose candidates are searched per step (a box each) when an index is built.
_BOX_CHUNK = 1 << 20


@dataclass
class CellIndex:
    """One level's cell index. ``cells[iy * nx + ix]`` is a polygon index (≥ 0, a cell inside
    one polygon), -1 (a cell meeting no polygon) or ``-2 - b`` for boundary cell ``b``, whose
    candidates are ``cand_idx[cand_ptr[b]:cand_ptr[b + 1]]`` in code order."""

    codes: np.ndarray
    geoms: np.ndarray
    x0: float
    y0: float
    size: float
    nx: int
    ny: int
    cells: np.ndarray
    cand_ptr: np.ndarray
    cand_idx: np.ndarray
    ring_row: np.ndarray = None  # polygon → row of ring_xy, -1 for polygons tested by GEOS
    ring_xy: np.ndarray = None  # (rows, K + 1, 2) closed rings, padded with the first vertex

    @classmethod
    def build(cls, codes, geoms, *, cell_size: float | None = None,
              cells_per_width: float | None = None, cells_per_polygon: int = 1024,
              min_cells: int = 4_000_000, max_cells: int = 32_000_000,
              threads: int | None = None) -> CellIndex:
        """Index polygons (sorted here by code) on a raster of ``cells_per_width`` cells across a
        typical polygon (median √area), capped at ``max_cells`` cells.

        By default the raster has ``cells_per_polygon`` cells a polygon (between ``min_cells``
        and ``max_cells``; at least 6 across a polygon): the share of boundary cells — points
        needing an exact test — falls as ~3 / cells_per_width, while memory is 4 bytes a cell
        (a 1,000,000-building level: 32M cells, 128 MB). ``threads`` (default: one per core)
        share the boundary cells' candidate search.
        """
        if cells_per_width is None:
            target = min(max(cells_per_polygon * len(codes), min_cells), max_cells)
            cells_per_width = max(6.0, float(np.sqrt(target / max(len(codes), 1))))
        codes = np.asarray(codes, dtype=object)
        order = np.argsort(codes)  # same order as LevelIndex: index order is code order
        codes = codes[order]
        geoms = np.asarray(geoms, dtype=object)[order]
        shapely.prepare(geoms)
        if len(codes) == 0:
            return cls(codes, geoms, 0.0, 0.0, 1.0, 0, 0, np.empty(0, np.int32),
                       np.zeros(1, np.int64), np.empty(0, np.int32), *_ring_table(geoms))
        bounds = shapely.bounds(geoms)
        x0, y0 = bounds[:, 0].min() - 2 * _EPS, bounds[:, 1].min() - 2 * _EPS
        width = bounds[:, 2].max() + 2 * _EPS - x0
        height = bounds[:, 3].max() + 2 * _EPS - y0
        size = cell_size or float(np.median(np.sqrt(shapely.area(geoms)))) / cells_per_width
        size = max(size, np.sqrt(width * height / max_cells), 1e-7)
        nx, ny = int(width / size) + 1, int(height / size) + 1
        while nx * ny > max_cells:  # int() rounding can overshoot the cap by a row or column
            size *= 1.01
            nx, ny = int(width / size) + 1, int(height / size) + 1
        threads = threads or os.cpu_count() or 1
        index = cls(codes, geoms, x0, y0, size, nx, ny,
                    *_raster(geoms, x0, y0, size, nx, ny, threads), *_ring_table(geoms))
        index.warm_up()
        return index

    def warm_up(self) -> None:
        """Make GEOS build now, before any thread shares these polygons, the point-in-area
        index that a prepared polygon otherwise builds lazily — without a lock — during its
        first tests.

        GEOS (3.12+) ``PreparedPolygon::getPointLocator`` is lazy in two stages: the first point
        test makes a brute-force locator, the second makes an ``IndexedPointInAreaLocator``,
        whose interval tree is built on its first query. Two placement threads meeting a
        polygon during those first tests both build, and one frees what the other still uses
        (SIGSEGV, ``malloc(): unsorted double linked list corrupted``). A point outside the
        envelope reaches none of this (GEOS answers from the envelope), so each polygon is
        tested twice at its envelope's lower-left corner, which is inside the envelope.

        Only the polygons tested through GEOS here are shared with GEOS: the small rings'
        doubtful pairs are tested against polygons made afresh per call (see ``_exact``).
        """
        tested = self.geoms[self.ring_row < 0]
        corners = shapely.bounds(tested)
        for _ in range(2):
            shapely.intersects_xy(tested, corners[:, 0], corners[:, 1])

    def __setstate__(self, state: dict) -> None:
        # Prepared geometries do not survive pickling (dask ships indexes to workers).
        self.__dict__.update(state)
        shapely.prepare(self.geoms)
        self.warm_up()

    def locate(self, x: np.ndarray, y: np.ndarray,
               with_exact: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Polygon index (-1 for none) holding each point; NaN or far points get -1.

        With ``with_exact``, also the mask of points that needed an exact test (the only ones
        that can lie on an edge).
        """
        result = np.full(len(x), -1, dtype=np.int32)
        exact = np.zeros(len(x), dtype=bool)
        if self.nx == 0 or len(x) == 0:
            return (result, exact) if with_exact else result
        with np.errstate(invalid="ignore"):
            fx = np.floor((x - self.x0) / self.size)
            fy = np.floor((y - self.y0) / self.size)
            ok = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)  # False for NaN
        where = np.flatnonzero(ok)
        labels = self.cells[fy[where].astype(np.int64) * self.nx + fx[where].astype(np.int64)]
        result[where] = np.maximum(labels, -1)
        boundary = labels <= -2
        if boundary.any():
            points = where[boundary]
            result[points] = self._exact(x[points], y[points], -2 - labels[boundary])
            exact[points] = True
        return (result, exact) if with_exact else result

    def locate_one(self, x: float, y: float) -> int:
        """``locate`` for one point without the array bookkeeping (every report places one)."""
        if self.nx == 0 or not (math.isfinite(x) and math.isfinite(y)):
            return -1
        ix = math.floor((x - self.x0) / self.size)
        iy = math.floor((y - self.y0) / self.size)
        if not (0 <= ix < self.nx and 0 <= iy < self.ny):
            return -1
        label = int(self.cells[iy * self.nx + ix])
        if label >= -1:
            return label
        return int(self._exact(np.array([x]), np.array([y]), np.array([-2 - label]))[0])

    def on_boundary(self, idx: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether point i lies on the boundary of polygon ``idx[i]``.

        Small rings are tested in numpy, their doubtful pairs on rings rebuilt from the vertex
        table for this call (a snapshot keeps no shapely geometry of them; the padding vertices
        change no answer); others use their geometry's boundary, a new geometry per call.
        """
        result = np.zeros(len(idx), dtype=bool)
        rows = self.ring_row[idx]
        small = np.flatnonzero(rows >= 0)
        if len(small):
            # A point on a ring lies on a vertex or a horizontal edge (a vertex at its height:
            # unsure) or inside a sloping edge (orientation zero, or unsure): the numpy test
            # settles every other pair, the unsure ones go to GEOS.
            _, _, on_edge, unsure = _ring_test(self.ring_xy, rows[small], x[small], y[small])
            result[small] = on_edge
            doubtful = np.flatnonzero(unsure & ~on_edge)
            if len(doubtful):
                rings = shapely.linearrings(self.ring_xy[rows[small[doubtful]]])
                result[small[doubtful]] = shapely.intersects_xy(
                    rings, x[small[doubtful]], y[small[doubtful]])
        large = np.flatnonzero(rows < 0)
        if len(large):
            rings = shapely.boundary(self.geoms[idx[large]])
            result[large] = shapely.intersects_xy(rings, x[large], y[large])
        return result

    def _exact(self, x: np.ndarray, y: np.ndarray, cell_ids: np.ndarray) -> np.ndarray:
        start = self.cand_ptr[cell_ids]
        count = (self.cand_ptr[cell_ids + 1] - start).astype(np.int64)
        pair_start = np.cumsum(count) - count
        point = np.repeat(np.arange(len(x)), count)
        candidate = self.cand_idx[np.arange(len(point)) - np.repeat(pair_start - start, count)]
        hit = np.zeros(len(point), dtype=bool)
        rows = self.ring_row[candidate]
        small = np.flatnonzero(rows >= 0)
        covered, unsure = _covers_rings(self.ring_xy, rows[small], x[point[small]],
                                        y[point[small]])
        hit[small] = covered
        if len(unsure):
            # Pairs the orientation filter cannot vouch for go to GEOS on a polygon made
            # from the ring for this call alone: unprepared, so nothing of it is shared with
            # another thread (the padding vertices change no GEOS answer, see _ring_table).
            doubtful = small[unsure]
            hit[doubtful] = shapely.intersects_xy(
                shapely.polygons(self.ring_xy[rows[doubtful]]), x[point[doubtful]],
                y[point[doubtful]])
        geos = np.flatnonzero(rows < 0)
        if len(geos):
            # Test these pairs grouped by polygon: visiting each polygon's prepared structure
            # once in a row is ~6× faster than jumping between polygons in point order.
            by_polygon = geos[np.argsort(candidate[geos], kind="stable")]
            hit[by_polygon] = shapely.intersects_xy(self.geoms[candidate[by_polygon]],
                                                    x[point[by_polygon]], y[point[by_polygon]])
        # Pairs are in (point, candidate code) order: a point's first hit is its lowest code.
        # (A conservatively marked cell may have no candidate at all: its points get -1.)
        found = np.full(len(x), -1, dtype=np.int32)
        has = np.flatnonzero(count > 0)
        if len(point):
            first_hit = np.minimum.reduceat(np.where(hit, np.arange(len(point)), len(point)),
                                            pair_start[has])
            got = first_hit < len(point)
            found[has[got]] = candidate[first_hit[got]]
        return found


def _ring_table(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The padded vertex table of the polygons tested in numpy (see ``_covers_rings``)."""
    # Stores keep MultiPolygons; most hold one polygon, which is tested as that polygon.
    single = (shapely.get_type_id(geoms) == 6) & (shapely.get_num_geometries(geoms) == 1)
    geoms = np.where(single, shapely.get_geometry(geoms, 0), geoms)
    is_simple = (shapely.get_type_id(geoms) == 3) & (shapely.get_num_interior_rings(geoms) == 0)
    edges = np.where(is_simple, shapely.get_num_coordinates(geoms) - 1, 0)
    width = int(min(np.percentile(edges[is_simple], 95), _MAX_EDGES)) if is_simple.any() else 0
    chosen = np.flatnonzero(is_simple & (edges <= width) & (edges >= 3))
    ring_row = np.full(len(geoms), -1, dtype=np.int32)
    ring_row[chosen] = np.arange(len(chosen), dtype=np.int32)
    coords, owner = shapely.get_coordinates(shapely.get_exterior_ring(geoms[chosen]),
                                            return_index=True)
    # Pad every ring to width + 1 vertices by repeating its first vertex: an edge from a vertex
    # to itself never crosses the ray, and holds the point only when the point is that vertex.
    first = np.searchsorted(owner, np.arange(len(chosen)))
    ring_xy = np.repeat(coords[first][:, None, :], width + 1, axis=1)
    ring_xy[owner, np.arange(len(owner)) - first[owner]] = coords
    return ring_row, ring_xy


def _ring_test(ring_xy: np.ndarray, rows: np.ndarray, px: np.ndarray, py: np.ndarray):
    """Whether ring ``rows[i]`` covers point i, the positions of the pairs left to GEOS, and
    the masks of pairs found on an edge and of pairs the test cannot vouch for.

    GEOS's ``RayCrossingCounter``, vectorised: the point is covered when it lies on an edge or
    a rightward ray from it crosses the ring an odd number of times. A non-horizontal edge
    (p1, p2) with the point strictly between its ends' heights holds the point when the
    orientation of (p1, p2, point) is zero, and is crossed when the point lies on its left
    (walking upward). GEOS's half-open rule for ends at the point's height and its horizontal
    edges are not reproduced: such pairs — a vertex exactly at the point's latitude, rare but for
    points on vertices and horizontal edges — go to GEOS, as do pairs whose orientation the
    filter cannot vouch for. Edges strictly left of the point, which GEOS skips, are harmless
    here: the orientation already says the ray misses them.
    """
    count = np.zeros(len(rows), dtype=np.int8)
    on_edge = np.zeros(len(rows), dtype=bool)
    unsure = np.zeros(len(rows), dtype=bool)
    vertices = ring_xy[rows]
    dx = vertices[:, :, 0] - px[:, None]  # IEEE: a - b is 0 only when a == b, and keeps the sign
    dy = vertices[:, :, 1] - py[:, None]
    above = dy > 0
    unsure |= (dy == 0).any(axis=1)
    for k in range(ring_xy.shape[1] - 1):
        # GEOS's orientationIndexFilter, operation for operation: the sign of det is exact
        # unless both products have one sign and det is within the rounding bound of their sum
        # (with opposite signs |det| ≥ |sum| always passes).
        left = dx[:, k] * dy[:, k + 1]
        right = dy[:, k] * dx[:, k + 1]
        det = left - right
        straddle = above[:, k] != above[:, k + 1]
        sure = np.abs(det) >= _ORIENTATION_EPS * np.abs(left + right)
        unsure |= straddle & ~sure
        straddle &= sure
        on_edge |= straddle & (det == 0)
        count += straddle & ((det > 0) == above[:, k + 1])
    covered = on_edge | (count % 2 == 1)
    return covered, np.flatnonzero(unsure & ~on_edge), on_edge, unsure


def _covers_rings(ring_xy: np.ndarray, rows: np.ndarray, px: np.ndarray,
                  py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether ring ``rows[i]`` covers point i, and the positions of the pairs left to GEOS
    (see ``_ring_test``)."""
    covered, doubtful, _, _ = _ring_test(ring_xy, rows, px, py)
    return covered, doubtful


def _boundary_cells(geoms, x0, y0, size, nx, ny) -> np.ndarray:
    """Mask (flat, row-major) of the cells whose enlarged box a polygon ring passes through.

    Each ring segment is sampled at steps under a cell, so consecutive samples lie in the same
    or adjacent cells; a row (column) of cells is convex, so between two samples in one row the
    segment stays in that row, and on a diagonal step both corner-adjacent cells are marked.
    Sampling the segment shifted by ±_EPS in x and y covers the enlarged boxes.
    """
    rings = shapely.get_rings(shapely.get_parts(geoms))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    ax, ay = coords[:-1][same, 0], coords[:-1][same, 1]
    bx, by = coords[1:][same, 0], coords[1:][same, 1]
    # Steps of under half a cell (0.45): consecutive samples are never two cells apart.
    length = np.hypot(bx - ax, by - ay)
    steps = np.maximum(np.ceil(length / (size * 0.45)), 1).astype(np.int64) + 1
    seg = np.repeat(np.arange(len(ax)), steps)
    t = (np.arange(len(seg)) - np.repeat(np.cumsum(steps) - steps, steps)) / np.repeat(
        steps - 1, steps)
    sx = ax[seg] + (bx[seg] - ax[seg]) * t
    sy = ay[seg] + (by[seg] - ay[seg]) * t
    mask = np.zeros(nx * ny, dtype=bool)
    first = np.r_[True, seg[1:] != seg[:-1]]  # a segment's first sample has no predecessor
    for ox in (-_EPS, _EPS):
        for oy in (-_EPS, _EPS):
            ix = np.clip(np.floor((sx + ox - x0) / size), 0, nx - 1).astype(np.int64)
            iy = np.clip(np.floor((sy + oy - y0) / size), 0, ny - 1).astype(np.int64)
            mask[iy * nx + ix] = True
            diagonal = ~first[1:] & (ix[1:] != ix[:-1]) & (iy[1:] != iy[:-1])
            mask[iy[:-1][diagonal] * nx + ix[1:][diagonal]] = True
            mask[iy[1:][diagonal] * nx + ix[:-1][diagonal]] = True
    return mask


def _lowest_covering(tree, geoms_count: int, points) -> np.ndarray:
    """Index of the lowest-code polygon covering each point (-1 for none)."""
    found = np.full(len(points), -1, dtype=np.int32)
    point_idx, poly_idx = tree.query(points, predicate="covered_by")
    if len(point_idx):
        order = np.lexsort((poly_idx, point_idx))
        point_idx, poly_idx = point_idx[order], poly_idx[order]
        first = np.r_[True, point_idx[1:] != point_idx[:-1]]
        found[point_idx[first]] = poly_idx[first]
    return found


def _raster(geoms, x0, y0, size, nx, ny, threads: int = 1):
    """The cell labels and the boundary cells' candidate lists (see CellIndex)."""
    tree = shapely.STRtree(geoms)
    is_boundary = _boundary_cells(geoms, x0, y0, size, nx, ny)
    boundary = np.flatnonzero(is_boundary)
    # Runs of non-boundary cells along each row hold one answer: test one centre per run.
    open_cell = ~is_boundary
    row_start = np.zeros(nx * ny, dtype=bool)
    row_start[::nx] = True
    start_flag = open_cell & (row_start | ~np.r_[False, open_cell[:-1]])
    starts = np.flatnonzero(start_flag)
    run_id = np.cumsum(start_flag) - 1  # boundary cells get a stale id, overwritten below
    centres = shapely.points(x0 + (starts % nx + 0.5) * size, y0 + (starts // nx + 0.5) * size)
    cells = _lowest_covering(tree, len(geoms), centres)[np.maximum(run_id, 0)].astype(np.int32)
    cells[boundary] = -2 - np.arange(len(boundary), dtype=np.int32)
    # Candidates of a boundary cell: every polygon meeting its enlarged box, in code order.
    # Made a chunk of cells at a time (tens of millions of boxes for a city's buildings),
    # shared among threads: shapely's box and the tree's query release the GIL.
    found: list[tuple[np.ndarray, np.ndarray]] = []

    def candidates(part: slice) -> None:
        bx, by = boundary[part] % nx, boundary[part] // nx
        boxes = shapely.box(x0 + bx * size - _EPS, y0 + by * size - _EPS,
                            x0 + (bx + 1) * size + _EPS, y0 + (by + 1) * size + _EPS)
        cell_idx, poly_idx = tree.query(boxes, predicate="intersects")
        order = np.lexsort((poly_idx, cell_idx))
        found.append((part.start, cell_idx[order] + part.start, poly_idx[order]))

    _by_chunks(len(boundary), candidates, threads, _BOX_CHUNK)
    found.sort(key=lambda item: item[0])  # chunks in cell order: concatenated, still sorted
    cell_idx = np.concatenate([f[1] for f in found] or [np.empty(0, np.int64)])
    poly_idx = np.concatenate([f[2] for f in found] or [np.empty(0, np.int64)])
    cand_ptr = np.zeros(len(boundary) + 1, dtype=np.int64)
    np.cumsum(np.bincount(cell_idx, minlength=len(boundary)), out=cand_ptr[1:])
    return cells, cand_ptr, poly_idx.astype(np.int32)


def coordinate_problems(lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Per point, why its coordinate is unusable (Chinese first), or None when it is fine."""
    lons = np.asarray(lons, dtype=float)
    lats = np.asarray(lats, dtype=float)
    reason = np.full(len(lons), None, dtype=object)
    missing = ~(np.isfinite(lons) & np.isfinite(lats))
    with np.errstate(invalid="ignore"):
        lon_bad = ~missing & (np.abs(lons) > 180)
        lat_bad = ~missing & ~lon_bad & (np.abs(lats) > 90)
    reason[missing] = "坐标缺失或非数字 missing or non-numeric coordinate"
    reason[lon_bad] = "经度超出 ±180 longitude outside ±180"
    reason[lat_bad] = "纬度超出 ±90 latitude outside ±90 (lon/lat swapped?)"
    return reason


class BulkLocator:
    """Cell indexes of every spatial level of one boundary version."""

    def __init__(self, version_id: int, indexes: dict[Level, CellIndex]) -> None:
        self.version_id = version_id
        self.indexes = indexes

    @classmethod
    def from_locator(cls, locator: Locator, **options) -> BulkLocator:
        """Build from the backbone locator's polygons (same codes, same geometries)."""
        return cls(locator.version_id, {
            level: CellIndex.build(index.codes, index.geoms, **options)
            for level, index in locator.levels.items()})

    @classmethod
    def from_db(cls, session: Session, version_id: int, **options) -> BulkLocator:
        """Build the cell index of every spatial level of ``version_id`` (straight from the
        store's polygons: no backbone tree is made on the way)."""
        return cls(version_id, {
            level: CellIndex.build(*store.level_shapes(session, version_id, level), **options)
            for level in SPATIAL_LEVELS})

    def locate_indices(self, lons, lats, threads: int = 1) -> dict[Level, np.ndarray]:
        """Per level, the index into ``indexes[level].codes`` of the unit holding each point
        (-1 where none does, and for unusable coordinates).

        Points go through every level a chunk at a time (the chunk stays in the CPU caches);
        with ``threads`` > 1 the chunks are shared among that many threads — numpy and shapely
        release the GIL in their array loops, so the threads use as many cores.
        """
        x = np.asarray(lons, dtype=float)
        y = np.asarray(lats, dtype=float)
        found = {level: np.empty(len(x), dtype=np.int32) for level in self.indexes}

        def place_chunk(part: slice) -> None:
            for level, index in self.indexes.items():
                found[level][part] = index.locate(x[part], y[part])

        _by_chunks(len(x), place_chunk, threads)
        return found
    def locate_many(self, lons, lats) -> dict[Level, np.ndarray]:
        """Codes of the units holding each point, per level (None where no unit does) — the
        same answer as ``Locator.locate_many`` for valid coordinates."""
        return {level: self.codes(level, idx)
                for level, idx in self.locate_indices(lons, lats).items()}

    def codes(self, level: Level, idx: np.ndarray) -> np.ndarray:
        """Codes for indices returned by ``locate_indices`` (None for -1), as ``str``.

        Only the codes asked for are converted: a snapshot's codes are a memory-mapped
        fixed-width array shared by every process, never copied whole into one.
        """
        out = np.full(len(idx), None, dtype=object)
        held = idx >= 0
        out[held] = self.indexes[level].codes[idx[held]]
        return out

    def place(self, lons, lats, edge_level: Level = Level.grid, threads: int = 1):
        """Indices per level and, for ``edge_level``, whether each point lies on the boundary of
        the unit holding it (on a shared edge or vertex the lowest code won). Chunked and
        shared among ``threads`` as :meth:`locate_indices`."""
        x = np.asarray(lons, dtype=float)
        y = np.asarray(lats, dtype=float)
        found = {level: np.empty(len(x), dtype=np.int32) for level in self.indexes}
        on_edge = np.zeros(len(x), dtype=bool)

        def place_chunk(part: slice) -> None:
            px, py = x[part], y[part]
            for level, index in self.indexes.items():
                if level != edge_level:
                    found[level][part] = index.locate(px, py)
                    continue
                idx, exact = index.locate(px, py, with_exact=True)
                found[level][part] = idx
                check = np.flatnonzero(exact & (idx >= 0))
                if len(check):
                    on_edge[part][check] = index.on_boundary(idx[check], px[check], py[check])

        _by_chunks(len(x), place_chunk, threads)
        return found, on_edge


def _by_chunks(count: int, work, threads: int, chunk: int = _CHUNK) -> None:
    """Call ``work(slice)`` for each chunk of ``count`` rows, on ``threads`` threads."""
    parts = [slice(start, min(start + chunk, count)) for start in range(0, count, chunk)]
    if threads <= 1 or len(parts) < 2:
        for part in parts:
            work(part)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(threads, len(parts))) as pool:
        list(pool.map(work, parts))  # list(): re-raises a chunk's exception here
