"""The bulk locator: millions of points through every level, arrays in and arrays out.

Same answers as ``grid.spatial.locator.Locator`` — a unit holds a point when its polygon *covers*
it, and on a shared edge or vertex the lowest code wins — but most points never meet an exact
geometric test. Each level gets a regular raster of cells over its extent (a *cell index*):

* the rings of all polygons are rasterised (conservatively), marking *boundary cells*;
* every other cell is crossed by no ring, so one answer holds for all its points: the lowest
  code polygon covering the cell's centre (found by scanning each polygon's rows);
* a boundary cell keeps its candidate polygons (those meeting it), in code order, and its
  points are tested exactly against them, the first hit being the lowest code.

Lookup and exact test are compiled (``grid.spatial.kernel``, numba, GIL released): one pass per
level over a chunk of points. The exact test is GEOS's ray-crossing rule with GEOS's orientation
filter, on rings of any size (long rings through bands of edges), holes and multipolygon
parts included; a pair whose orientation that filter cannot vouch for (the point within ~1e-15
relative of an edge's line) is settled by ``shapely`` on a polygon made afresh from the arrays,
so the answer is GEOS's answer and no shapely geometry is shared between threads.

Cells are treated as boxes enlarged by ``_EPS`` degrees, so a point that floating-point binning
puts in a neighbouring cell (it lies on the shared cell edge) still gets a correct answer. The
raster is sized from the polygons' count and typical width and capped in cells, so memory is
bounded (4 bytes a cell plus the candidate lists and the vertices).

Polygons are assumed valid (the loader repairs them): for valid (multi)polygons the crossing
parity over all rings is GEOS's answer.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import shapely
from sqlalchemy.orm import Session

from grid.hierarchy.levels import SPATIAL_LEVELS, Level
from grid.spatial import kernel

if TYPE_CHECKING:
    from grid.spatial.locator import Locator

# 1e-9° is 0.1 mm: far above float64 binning error at lon ~120 (1e-14), far below any boundary.
_EPS = 1e-9
# Points placed per step: a chunk's arrays stay in the CPU caches across the four levels.
_CHUNK = 1 << 17
# From this many points on, they are placed in tile order (see BulkLocator._tiled).
_TILED_FROM = 1 << 16


def _numpy(array: np.ndarray) -> np.ndarray:
    """``array`` in memory numpy allocated: numpy asks Linux for huge pages for large arrays
    (numba's allocator does not), and random reads over a 128 MB cell raster miss the TLB
    far less on 2 MB pages."""
    return np.array(array, copy=True)


def _frozen(array: np.ndarray) -> np.ndarray:
    """A read-only, contiguous view: the kernels are compiled for one array type (snapshots
    are read-only maps), so built and mapped indexes share one compiled kernel."""
    view = np.ascontiguousarray(array).view()
    view.flags.writeable = False
    return view


@dataclass
class CellIndex:
    """One level's cell index. ``cells[iy * nx + ix]`` is a polygon index (≥ 0, a cell inside
    one polygon), -1 (a cell meeting no polygon) or, for a boundary cell, ``-2 - 2 p`` (its one
    candidate, polygon ``p``) or ``-2 - (2 k + 1)`` (its candidates are ``cand[k:]`` up to the
    next -1, in code order).

    The polygons are flat arrays (``shapely.to_ragged_array``'s layout): vertices ``xy``,
    ``ring_off`` (ring → vertices), ``part_ring`` (part → rings), ``poly_part`` (polygon →
    parts); ``meta``, ``band_f``, ``band_ptr`` and ``band_edge`` are derived from them for the
    kernel (see ``grid.spatial.kernel``). ``geoms`` (shapely, code order) is kept when the
    index was built from geometries, None when it was opened from a snapshot.
    """

    codes: np.ndarray
    geoms: np.ndarray | None
    x0: float
    y0: float
    size: float
    nx: int
    ny: int
    cells: np.ndarray
    cand: np.ndarray
    xy: np.ndarray
    ring_off: np.ndarray
    part_ring: np.ndarray
    poly_part: np.ndarray
    meta: np.ndarray
    band_f: np.ndarray
    band_ptr: np.ndarray
    band_edge: np.ndarray
    _args: tuple = field(default=(), init=False, repr=False, compare=False)

    #: The arrays a snapshot stores (besides the codes), in constructor order.
    ARRAYS = ("cells", "cand", "xy", "ring_off", "part_ring", "poly_part", "meta", "band_f",
              "band_ptr", "band_edge")

    def __post_init__(self) -> None:
        frozen = {name: _frozen(getattr(self, name)) for name in self.ARRAYS}
        self._args = (
            (float(self.x0), float(self.y0), float(self.size), int(self.nx), int(self.ny),
             frozen["cells"], frozen["cand"]),
            tuple(frozen[name] for name in ("meta", "ring_off", "xy", "band_f", "band_ptr",
                                            "band_edge")))

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
        (a 1,000,000-building level: 32M cells, 128 MB). ``threads`` is accepted for callers of
        the former builder; the compiled builder runs on one thread.
        """
        del threads
        if cells_per_width is None:
            target = min(max(cells_per_polygon * len(codes), min_cells), max_cells)
            cells_per_width = max(6.0, float(np.sqrt(target / max(len(codes), 1))))
        codes = np.asarray(codes, dtype=object)
        order = np.argsort(codes)  # same order as LevelIndex: index order is code order
        codes = codes[order]
        geoms = np.asarray(geoms, dtype=object)[order]
        xy, ring_off, part_ring, poly_part = _ragged(geoms)
        meta, band_f, band_ptr, band_edge = map(_numpy, kernel.polygon_meta(
            part_ring[poly_part], ring_off, xy))
        if len(codes) == 0:
            return cls(codes, geoms, 0.0, 0.0, 1.0, 0, 0, np.empty(0, np.int32),
                       np.empty(0, np.int32), xy, ring_off, part_ring, poly_part, meta, band_f,
                       band_ptr, band_edge)
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
        if len(codes) >= 1 << 30:
            raise ValueError("too many polygons for one cell index (2**30)")
        # Twice _EPS: the rasteriser's own rounding is covered with room to spare.
        cells, cand = map(_numpy, kernel.raster(meta, ring_off, xy, float(x0), float(y0),
                                                float(size), nx, ny, 2 * _EPS))
        return cls(codes, geoms, float(x0), float(y0), float(size), nx, ny, cells, cand, xy,
                   ring_off, part_ring, poly_part, meta, band_f, band_ptr, band_edge)

    def warm_up(self) -> None:
        """Nothing to do, kept for callers: placement no longer tests shared shapely
        geometries.

        It used to make GEOS build, before threads shared them, the point-in-area indexes that
        prepared polygons otherwise build lazily and without a lock during their first tests
        (two threads building at once freed each other's structures: SIGSEGV). The compiled
        test reads only arrays; the pairs it leaves to GEOS are tested on polygons made
        afresh for that call, which no other thread sees.
        """

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_args", None)  # read-only views: rebuilt on arrival
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__post_init__()

    @property
    def boundary_cells(self) -> int:
        """How many cells need an exact test."""
        return int(np.count_nonzero(self.cells <= -2))

    def polygons(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Polygons ``idx`` (all by default) as new shapely geometries, made from the arrays
        (MultiPolygons; one per call, shared with nobody)."""
        n = len(self.poly_part) - 1
        idx = np.arange(n) if idx is None else np.asarray(idx, dtype=np.int64)
        parts, poly_off = _take(self.poly_part, idx)
        rings, part_off = _take(self.part_ring, parts)
        vertices, ring_off = _take(self.ring_off, rings)
        return shapely.from_ragged_array(shapely.GeometryType.MULTIPOLYGON,
                                         np.asarray(self.xy)[vertices],
                                         (ring_off, part_off, poly_off))

    def locate(self, x: np.ndarray, y: np.ndarray,
               with_exact: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Polygon index (-1 for none) holding each point; NaN or far points get -1.

        With ``with_exact``, also the mask of points that needed an exact test (the only ones
        that can lie on an edge).
        """
        found, flag = self.locate_flags(x, y)
        return (found, flag > 0) if with_exact else found

    def locate_flags(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``locate``, with per point 0 (answered by its cell), 1 (tested exactly) or 3
        (tested, and on the boundary of the polygon found)."""
        x, y = _frozen(np.asarray(x, dtype=np.float64)), _frozen(np.asarray(y, np.float64))
        found = np.empty(len(x), dtype=np.int32)
        flag = np.zeros(len(x), dtype=np.uint8)
        self._locate_into(x, y, found, flag)
        return found, flag

    def _locate_into(self, x: np.ndarray, y: np.ndarray, found: np.ndarray,
                     flag: np.ndarray) -> None:
        """``locate_flags`` written into the caller's ``found`` (int32) and ``flag`` (uint8):
        placement reuses its buffers across levels instead of allocating and copying."""
        if self.nx == 0:
            found.fill(-1)
            flag.fill(0)
            return
        kernel.locate(x, y, found, flag, *self._args[0], *self._args[1])
        pending = np.flatnonzero(flag == 2)
        if len(pending):
            self._settle(x, y, pending, found, flag)

    def locate_one(self, x: float, y: float) -> int:
        """``locate`` for one point: the cell's answer without array bookkeeping when the
        point is off every boundary (most reports), the kernel otherwise."""
        if self.nx == 0 or not (math.isfinite(x) and math.isfinite(y)):
            return -1
        inv = 1.0 / self.size
        ix = math.floor((x - self.x0) * inv)
        iy = math.floor((y - self.y0) * inv)
        if not (0 <= ix < self.nx and 0 <= iy < self.ny):
            return -1
        label = int(self.cells[iy * self.nx + ix])
        if label >= -1:
            return label
        return int(self.locate(np.array([x]), np.array([y]))[0])

    def on_boundary(self, idx: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether point i lies on the boundary of polygon ``idx[i]`` (GEOS's answer: pairs
        the orientation filter cannot settle are asked of GEOS)."""
        idx = _frozen(np.asarray(idx, dtype=np.int64))
        x, y = _frozen(np.asarray(x, dtype=np.float64)), _frozen(np.asarray(y, np.float64))
        out = np.zeros(len(idx), dtype=np.uint8)
        kernel.on_boundary(idx, x, y, out, *self._args[1])
        unsure = np.flatnonzero(out == 2)
        if len(unsure):
            rings = shapely.boundary(self.polygons(idx[unsure]))
            out[unsure] = shapely.intersects_xy(rings, x[unsure], y[unsure])
        return out.astype(bool)

    def _settle(self, x, y, pending, found, flag) -> None:
        """Answer the pending points through GEOS: every candidate of their cells, in code
        order, on polygons made for this call; the first covering one wins."""
        point, poly = kernel.candidates(x, y, pending, *self._args[0])
        unique, inverse = np.unique(poly, return_inverse=True)
        geoms = self.polygons(unique)
        hit = shapely.intersects_xy(geoms[inverse], x[point], y[point])
        # Pairs are in (point, code) order; the first hit of each point is its lowest code.
        starts = np.flatnonzero(np.r_[True, point[1:] != point[:-1]])
        first = np.minimum.reduceat(np.where(hit, np.arange(len(point)), len(point)), starts)
        got = first < len(point)
        which = point[starts]
        found[which] = -1
        flag[which] = 1
        held = which[got]
        found[held] = poly[first[got]]
        edge = shapely.intersects_xy(shapely.boundary(geoms[inverse[first[got]]]), x[held],
                                     y[held])
        flag[held[edge]] = 3


def _ragged(geoms: np.ndarray):
    """Vertices and offsets of polygons (Polygon or MultiPolygon) as flat arrays."""
    n = len(geoms)
    if n == 0:
        return (np.empty((0, 2)), np.zeros(1, np.int64), np.zeros(1, np.int64),
                np.zeros(1, np.int64))
    kind, xy, offsets = shapely.to_ragged_array(geoms)
    offsets = [np.asarray(o, dtype=np.int64) for o in offsets]
    if kind == shapely.GeometryType.POLYGON:
        ring_off, part_ring = offsets
        poly_part = np.arange(n + 1, dtype=np.int64)
    elif kind == shapely.GeometryType.MULTIPOLYGON:
        ring_off, part_ring, poly_part = offsets
    else:
        raise ValueError(f"cell index needs polygons, got {kind.name}")
    return np.ascontiguousarray(xy, dtype=np.float64), ring_off, part_ring, poly_part


def _take(offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The children of items ``idx`` of a ragged level (flat), and their new offsets."""
    starts = np.asarray(offsets)[idx]
    lengths = np.asarray(offsets)[idx + 1] - starts
    new = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new[1:])
    flat = np.arange(new[-1], dtype=np.int64) + np.repeat(starts - new[:-1], lengths)
    return flat, new


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
    def from_shapes(cls, version_id: int, shapes: dict[Level, tuple], threads: int | None = None,
                    **options) -> BulkLocator:
        """Build from ``{level: (codes, geometries)}``, the levels shared among ``threads``
        threads (default: one per core; the compiled builder releases the GIL)."""
        from concurrent.futures import ThreadPoolExecutor

        levels = list(shapes)
        with ThreadPoolExecutor(max(1, min(threads or os.cpu_count() or 1, len(levels)))) as pool:
            # Largest level first, so the others fill the second thread meanwhile.
            order = sorted(levels, key=lambda level: -len(shapes[level][0]))
            built = dict(zip(order, pool.map(
                lambda level: CellIndex.build(*shapes[level], **options), order), strict=True))
        return cls(version_id, {level: built[level] for level in levels})

    @classmethod
    def from_locator(cls, locator: Locator, **options) -> BulkLocator:
        """Build from the backbone locator's polygons (same codes, same geometries)."""
        return cls.from_shapes(locator.version_id, {
            level: (index.codes, index.geoms) for level, index in locator.levels.items()},
            **options)

    @classmethod
    def from_db(cls, session: Session, version_id: int, **options) -> BulkLocator:
        """Build the cell index of every spatial level of ``version_id`` (straight from the
        store's polygons: no backbone tree is made on the way)."""
        # Imported here: a placer opened from a snapshot needs neither the store nor the ORM
        # models (geoalchemy2's import is about half a second).
        from grid.hierarchy import store

        return cls.from_shapes(version_id, {
            level: store.level_shapes(session, version_id, level) for level in SPATIAL_LEVELS},
            **options)

    def locate_indices(self, lons, lats, threads: int = 1) -> dict[Level, np.ndarray]:
        """Per level, the index into ``indexes[level].codes`` of the unit holding each point
        (-1 where none does, and for unusable coordinates).

        Many points are first put in tile order (``_tiled``), then go through every level a
        chunk at a time; with ``threads`` > 1 the chunks are shared among that many threads
        (the kernels release the GIL, so the threads use as many cores).
        """
        found, _ = self._run(lons, lats, None, threads)
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
        the unit holding it (on a shared edge or vertex the lowest code won). Tiled, chunked
        and shared among ``threads`` as :meth:`locate_indices`."""
        return self._run(lons, lats, edge_level, threads)

    def _run(self, lons, lats, edge_level: Level | None, threads: int):
        x = np.ascontiguousarray(lons, dtype=np.float64)
        y = np.ascontiguousarray(lats, dtype=np.float64)
        found = {level: np.empty(len(x), dtype=np.int32) for level in self.indexes}
        on_edge = np.zeros(len(x), dtype=bool)

        def place_chunk(part: slice) -> None:
            px, py = _frozen(x[part]), _frozen(y[part])
            order = self._tiled(px, py)
            if order is None:
                for level, index in self.indexes.items():
                    found[level][part], flag = index.locate_flags(px, py)
                    if level == edge_level:
                        on_edge[part] = flag == 3
                return
            # In tile order; the answers go back to the points' order in one scattered
            # write a point (its row of levels), not one a level.
            px, py = map(_frozen, kernel.gather(px, py, order))
            levels = list(self.indexes)
            tiled = np.empty((len(levels), len(px)), dtype=np.int32)
            flag = np.empty(len(px), dtype=np.uint8)  # one buffer for every level's flags
            edge_flag = np.empty(0, dtype=np.uint8)
            for row, level in enumerate(levels):
                self.indexes[level]._locate_into(px, py, tiled[row], flag)
                if level == edge_level:
                    edge_flag = flag.copy()
            rows = np.empty((len(px), len(levels)), dtype=np.int32)
            flags = np.empty(len(px) if len(edge_flag) else 0, dtype=np.uint8)
            kernel.scatter_levels(order, tiled, edge_flag, rows, flags)
            for row, level in enumerate(levels):
                found[level][part] = rows[:, row]
            if len(edge_flag):
                on_edge[part] = flags == 3

        # Big chunks (one a thread at least): the more points a tile holds, the better.
        _by_chunks(len(x), place_chunk, threads,
                   max(_CHUNK, -(-len(x) // max(threads, 1))))
        return found, on_edge

    def _tiled(self, x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        """An order of the points by tiles of 32 × 32 cells of the finest level, or None for
        few points. Random points miss the CPU caches at every level (a city's building
        raster alone is 128 MB); in tile order, consecutive points read the same cells,
        polygons and vertices, so each level's arrays come from the caches."""
        finest = min((index for index in self.indexes.values() if index.nx),
                     key=lambda index: index.size, default=None)
        if finest is None or len(x) < _TILED_FROM:
            return None
        tile = finest.size * 32
        return kernel.tile_order(x, y, finest.x0, finest.y0, tile, finest.nx // 32 + 1,
                                 finest.ny // 32 + 1)


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
