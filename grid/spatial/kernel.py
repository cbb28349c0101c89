"""The compiled kernels of the bulk locator (``grid.spatial.bulk``): building a level's cell
index, and testing points against it — GEOS's point-in-polygon rule, compiled with numba.

A level's polygons are flat arrays (the layout of ``shapely.to_ragged_array``): vertices ``xy``
(every ring closed), ``ring_off`` (ring → its vertices), and per polygon one row of ``meta``
(int64 × 8, one cache line: first and last ring, first and last vertex, first band, number of
bands). A polygon of more than ``_BAND_MIN_EDGES`` edges also has *bands*: its height cut into
strips, each listing the edges that reach into it, so a point meets only the few edges of its
strip (a street of 500 vertices costs a handful of edge tests, not 500).

The test of a point against a polygon is GEOS's ``RayCrossingCounter`` over all rings of all
parts together — what GEOS's ``IndexedPointInAreaLocator`` (a prepared polygon's point test)
does: on a vertex or on an edge → on the boundary; otherwise covered when a rightward ray
crosses the rings an odd number of times, with GEOS's half-open rule at vertices and its
horizontal edges. The sign of an orientation is taken from GEOS's own filter
(``CGAlgorithmsDD::orientationIndexFilter``), operation for operation; where that filter cannot
vouch for the sign (the point within ~1e-15 relative of an edge's line), GEOS would go on in
double-double arithmetic, and the kernel answers *unsure* instead: the caller settles such
pairs through shapely, so every answer is GEOS's answer.

Nothing here touches a shapely geometry, so threads share these arrays freely (``nogil``).
Compiled on first use and cached on disk (``cache=True``: ``__pycache__`` beside this file, or
numba's user-wide cache directory when that is not writable, or ``NUMBA_CACHE_DIR``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Test results of one (point, polygon) pair.
OUTSIDE, INSIDE, UNSURE, ON_EDGE = 0, 1, 2, 3
#: Answer of a point whose lowest candidates include an unsure pair (settled by the caller).
PENDING = -3
# GEOS's DP_SAFE_EPSILON is 1e-15; ten times that only leaves a few more pairs unsure, and any
# sign this filter vouches for, GEOS's vouches for too.
_ORIENTATION_EPS = 1e-14
# Polygons with more edges than this get bands of about _BAND_EDGES edges each.
_BAND_MIN_EDGES = 24
_BAND_EDGES = 6


@njit(cache=True, nogil=True, inline="always")
def _segment(x1, y1, x2, y2, px, py):
    """GEOS ``RayCrossingCounter::countSegment`` for one edge: 1 crossed, 3 the point is on
    it, 2 orientation unsure, 0 nothing."""
    if x1 < px and x2 < px:
        return 0
    if px == x2 and py == y2:
        return ON_EDGE
    if y1 == py and y2 == py:
        lo, hi = (x1, x2) if x1 <= x2 else (x2, x1)
        if lo <= px <= hi:
            return ON_EDGE
        return 0
    if (y1 > py and y2 <= py) or (y2 > py and y1 <= py):
        left = (x1 - px) * (y2 - py)
        right = (y1 - py) * (x2 - px)
        det = left - right
        if left > 0.0:
            if right > 0.0 and abs(det) < _ORIENTATION_EPS * (left + right):
                return UNSURE
        elif left < 0.0:
            if right < 0.0 and abs(det) < _ORIENTATION_EPS * (-left - right):
                return UNSURE
        if det == 0.0:
            return ON_EDGE
        sign = 1 if det > 0.0 else -1
        if y2 < y1:
            sign = -sign
        return 1 if sign > 0 else 0
    return 0


@njit(cache=True, nogil=True, inline="always")
def _edges(k0, k1, px, py, xy):
    """Edges ``k0 .. k1 - 1`` (edge k from vertex k to k + 1): (crossings, unsure, on edge)."""
    crossings = 0
    unsure = False
    for k in range(k0, k1):
        r = _segment(xy[k, 0], xy[k, 1], xy[k + 1, 0], xy[k + 1, 1], px, py)
        if r == ON_EDGE:
            return crossings, unsure, True
        if r == UNSURE:
            unsure = True
        elif r == 1:
            crossings += 1
    return crossings, unsure, False


@njit(cache=True, nogil=True)
def test_polygon(p, px, py, meta, ring_off, xy, band_f, band_ptr, band_edge):
    """OUTSIDE, INSIDE, ON_EDGE or UNSURE for point (px, py) and polygon ``p``."""
    crossings = 0
    unsure = False
    nb = meta[p, 5]
    if nb > 0:  # only the edges reaching into the point's band
        b = np.floor((py - band_f[p, 0]) / band_f[p, 1])
        first = meta[p, 4] + _clamp(b, nb)
        for j in range(band_ptr[first], band_ptr[first + 1]):
            k = band_edge[j]
            c, u, on = _edges(k, k + 1, px, py, xy)
            if on:
                return ON_EDGE
            crossings += c
            unsure |= u
    else:
        for ring in range(meta[p, 0], meta[p, 1]):
            # One ring (most polygons): its vertices are the polygon's, no ring_off read.
            k0 = meta[p, 2] if meta[p, 1] - meta[p, 0] == 1 else ring_off[ring]
            k1 = meta[p, 3] if meta[p, 1] - meta[p, 0] == 1 else ring_off[ring + 1]
            c, u, on = _edges(k0, k1 - 1, px, py, xy)
            if on:
                return ON_EDGE
            crossings += c
            unsure |= u
    if unsure:
        return UNSURE
    return INSIDE if crossings % 2 == 1 else OUTSIDE


@njit(cache=True, nogil=True)
def _candidate_test(i, p, k, px, py, out, flag, cand, meta, ring_off, xy, band_f, band_ptr,
                    band_edge):
    """Test point i against its cell's candidates from polygon ``p`` (``k`` ≥ 0: the rest
    follow in ``cand[k + 1:]`` up to -1) and write its answer."""
    while True:
        r = test_polygon(p, px, py, meta, ring_off, xy, band_f, band_ptr, band_edge)
        if r == INSIDE or r == ON_EDGE:
            out[i], flag[i] = p, r
            return
        if r == UNSURE:
            out[i], flag[i] = PENDING, 2
            return
        if k < 0 or cand[k + 1] < 0:
            out[i], flag[i] = -1, 1
            return
        k += 1
        p = cand[k]


@njit(cache=True, nogil=True)
def locate(x, y, out, flag, x0, y0, size, nx, ny, cells, cand, meta, ring_off, xy, band_f,
           band_ptr, band_edge):
    """Per point, the polygon holding it (lowest code; -1 none; PENDING when an unsure pair
    came before any hit) into ``out``, and into ``flag`` how it was found: 0 by the cell
    alone, 1 tested exactly, 3 tested and on the found polygon's boundary, 2 pending.

    Random points over a large level miss the CPU caches at each step (cell, polygon row,
    vertices), so points go in batches, one step for the whole batch at a time, in loops
    without branches on loaded values: the processor then has many of a batch's memory
    reads in flight at once instead of waiting for each in turn.
    """
    inv = 1.0 / size
    batch = 256
    where = np.empty(batch, np.int64)
    label = np.empty(batch, np.int32)
    first = np.empty(batch, np.int64)
    at = np.empty(batch, np.int64)
    has_lists = len(cand) > 0
    warm = 0.0
    for s in range(0, len(x), batch):
        e = min(len(x), s + batch)
        # 1. Cell labels; boundary points gathered (branch-free on the label).
        m = 0
        for i in range(s, e):
            fx = np.floor((x[i] - x0) * inv)
            fy = np.floor((y[i] - y0) * inv)
            inside = fx >= 0 and fx < nx and fy >= 0 and fy < ny  # False for NaN
            c = int(fy) * nx + int(fx) if inside else 0
            v = cells[c] if inside else -1
            out[i] = max(v, -1)
            flag[i] = 0
            where[m] = i
            label[m] = v
            m += v <= -2
        # 2. Each boundary point's first candidate and its polygon row; its first vertex
        # read too (into ``warm``), so the tests below find them in the cache.
        for j in range(m):
            v = -2 - label[j]
            is_list = (v & 1) == 1
            k = v >> 1
            p = cand[k if is_list else 0] if has_lists else 0
            p = p if is_list else k
            first[j] = p
            at[j] = k if is_list else -1
            warm += xy[meta[p, 2], 0]
        # 3. The exact tests.
        for j in range(m):
            i = where[j]
            _candidate_test(i, first[j], at[j], x[i], y[i], out, flag, cand, meta,
                            ring_off, xy, band_f, band_ptr, band_edge)
    return warm


@njit(cache=True, nogil=True)
def on_boundary(idx, x, y, out, meta, ring_off, xy, band_f, band_ptr, band_edge):
    """Per pair, 1 when point i lies on the boundary of polygon ``idx[i]``, 0 when not, 2
    when the orientation filter cannot tell (the caller asks GEOS)."""
    for i in range(len(idx)):
        r = test_polygon(idx[i], x[i], y[i], meta, ring_off, xy, band_f, band_ptr, band_edge)
        if r == ON_EDGE:
            out[i] = 1
        elif r == UNSURE:
            out[i] = 2
        else:
            out[i] = 0


@njit(cache=True, nogil=True)
def _candidate_pairs(x, y, points, x0, y0, size, nx, ny, cells, cand, pair_point, pair_poly):
    inv = 1.0 / size
    write = len(pair_point) > 0
    n = 0
    for i in points:
        fx = np.floor((x[i] - x0) * inv)
        fy = np.floor((y[i] - y0) * inv)
        if not (fx >= 0 and fx < nx and fy >= 0 and fy < ny):
            continue
        label = cells[int(fy) * nx + int(fx)]
        if label >= -1:
            continue
        v = -2 - label
        if v & 1 == 0:
            if write:
                pair_point[n], pair_poly[n] = i, v >> 1
            n += 1
            continue
        k = v >> 1
        while cand[k] >= 0:
            if write:
                pair_point[n], pair_poly[n] = i, cand[k]
            n += 1
            k += 1
    return n


@njit(cache=True, nogil=True)
def candidates(x, y, points, x0, y0, size, nx, ny, cells, cand):
    """(point, polygon) pairs of the given points' cells' candidates, in candidate (code)
    order — for the pending points, settled through GEOS."""
    none = np.empty(0, np.int64)
    count = _candidate_pairs(x, y, points, x0, y0, size, nx, ny, cells, cand, none, none)
    pair_point = np.empty(count, np.int64)
    pair_poly = np.empty(count, np.int64)
    if count:
        _candidate_pairs(x, y, points, x0, y0, size, nx, ny, cells, cand, pair_point,
                         pair_poly)
    return pair_point, pair_poly


# --- building ------------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def polygon_meta(poly_ring, ring_off, xy):
    """Per polygon its ``meta`` row, ``band_f`` row (band origin and height) and the bands'
    edge lists (``band_ptr``, ``band_edge``: global index of each edge's first vertex)."""
    n = len(poly_ring) - 1
    meta = np.zeros((n, 8), np.int64)
    band_f = np.zeros((n, 2), np.float64)
    total_bands = 0
    for p in range(n):
        r0, r1 = poly_ring[p], poly_ring[p + 1]
        meta[p, 0], meta[p, 1] = r0, r1
        meta[p, 2], meta[p, 3] = ring_off[r0], ring_off[r1]
        edges = ring_off[r1] - ring_off[r0] - (r1 - r0)
        if edges > _BAND_MIN_EDGES:
            lo, hi = np.inf, -np.inf
            for k in range(ring_off[r0], ring_off[r1]):
                lo = min(lo, xy[k, 1])
                hi = max(hi, xy[k, 1])
            nb = edges // _BAND_EDGES
            if hi > lo:
                meta[p, 4], meta[p, 5] = total_bands, nb
                band_f[p, 0], band_f[p, 1] = lo, (hi - lo) / nb
                total_bands += nb
    band_ptr = np.zeros(total_bands + 1, np.int64)
    _band_edges(meta, ring_off, xy, band_f, band_ptr, np.empty(0, np.int64))
    band_ptr = np.cumsum(band_ptr)  # counts were kept one place up: now each band's start
    band_edge = np.empty(band_ptr[total_bands], np.int64)
    _band_edges(meta, ring_off, xy, band_f, band_ptr[:total_bands].copy(), band_edge)
    return meta, band_f, band_ptr, band_edge


@njit(cache=True, nogil=True)
def _band_edges(meta, ring_off, xy, band_f, at, band_edge):
    """Count the edges of each band into ``at[band + 1]`` (``band_edge`` empty), or write
    them, ``at`` holding each band's next free place."""
    write = len(band_edge) > 0
    for p in range(meta.shape[0]):
        nb = meta[p, 5]
        if nb == 0:
            continue
        y0b, h = band_f[p, 0], band_f[p, 1]
        for ring in range(meta[p, 0], meta[p, 1]):
            for k in range(ring_off[ring], ring_off[ring + 1] - 1):
                a, b = xy[k, 1], xy[k + 1, 1]
                first = _clamp(np.floor((min(a, b) - y0b) / h), nb)
                last = _clamp(np.floor((max(a, b) - y0b) / h), nb)
                for band in range(first, last + 1):
                    g = meta[p, 4] + band
                    if write:
                        band_edge[at[g]] = k
                        at[g] += 1
                    else:
                        at[g + 1] += 1


@njit(cache=True, nogil=True, inline="always")
def _clamp(v, n):
    return 0 if not v >= 0 else (n - 1 if v >= n else int(v))


@njit(cache=True, nogil=True)
def _touch(p, meta, ring_off, xy, x0, y0, size, nx, ny, eps, mark, out, n):
    """Mark (``mark[c] = p``) every cell whose box, enlarged by ``eps``, an edge of polygon
    ``p`` may meet (conservatively: a cell too many costs an exact test, never an answer);
    append newly marked cells to ``out`` (grown as needed) from position ``n``."""
    for ring in range(meta[p, 0], meta[p, 1]):
        for k in range(ring_off[ring], ring_off[ring + 1] - 1):
            ax, ay, bx, by = xy[k, 0], xy[k, 1], xy[k + 1, 0], xy[k + 1, 1]
            ylo, yhi = min(ay, by), max(ay, by)
            row0 = _clamp(np.floor((ylo - eps - y0) / size), ny)
            row1 = _clamp(np.floor((yhi + eps - y0) / size), ny)
            for iy in range(row0, row1 + 1):
                # The part of the segment within the row's band (enlarged by eps).
                band_lo = max(ylo, y0 + iy * size - eps)
                band_hi = min(yhi, y0 + (iy + 1) * size + eps)
                if by != ay:
                    xa = ax + (band_lo - ay) * (bx - ax) / (by - ay)
                    xb = ax + (band_hi - ay) * (bx - ax) / (by - ay)
                    xlo, xhi = min(xa, xb), max(xa, xb)
                else:
                    xlo, xhi = min(ax, bx), max(ax, bx)
                col0 = _clamp(np.floor((xlo - eps - x0) / size), nx)
                col1 = _clamp(np.floor((xhi + eps - x0) / size), nx)
                for ix in range(col0, col1 + 1):
                    c = iy * nx + ix
                    if mark[c] != p:
                        mark[c] = p
                        if n == len(out):
                            grown = np.empty(max(2 * len(out), 1024), np.int64)
                            grown[:n] = out[:n]
                            out = grown
                        out[n] = c
                        n += 1
    return out, n


@njit(cache=True, nogil=True)
def _boundary_pairs(meta, ring_off, xy, x0, y0, size, nx, ny, eps, mark):
    """The (cell, polygon) pairs of every cell each polygon's rings pass through, polygon by
    polygon in code order."""
    touched = np.empty(1 << 16, np.int64)
    owner = np.empty(1 << 16, np.int32)
    n = 0
    for p in range(meta.shape[0]):
        start = n
        touched, n = _touch(p, meta, ring_off, xy, x0, y0, size, nx, ny, eps, mark,
                            touched, n)
        if len(owner) < len(touched):
            grown = np.empty(len(touched), np.int32)
            grown[:start] = owner[:start]
            owner = grown
        owner[start:n] = p
    return touched[:n], owner[:n]


@njit(cache=True, nogil=True)
def _row_crossings(p, yc, meta, ring_off, xy, xs):
    """The x of every crossing of polygon ``p``'s rings with the line y = yc, sorted, into
    ``xs``; their count."""
    count = 0
    for ring in range(meta[p, 0], meta[p, 1]):
        for k in range(ring_off[ring], ring_off[ring + 1] - 1):
            ay, by = xy[k, 1], xy[k + 1, 1]
            if (ay > yc) != (by > yc):
                ax, bx = xy[k, 0], xy[k + 1, 0]
                xs[count] = ax + (yc - ay) * (bx - ax) / (by - ay)
                count += 1
    xs[:count].sort()
    return count


@njit(cache=True, nogil=True)
def _interiors(meta, ring_off, xy, x0, y0, size, nx, ny, eps, mark, boundary, cells):
    """Label each cell off every ring with the first (lowest code) polygon holding its
    centre; return the (cell, polygon) pairs of boundary cells lying wholly inside a polygon
    whose own rings miss them (overlaps, islands), which are candidates there too."""
    max_vertices = 1
    for p in range(meta.shape[0]):
        max_vertices = max(max_vertices, meta[p, 3] - meta[p, 2])
    xs = np.empty(max_vertices, np.float64)
    extra_cell = np.empty(1024, np.int64)
    extra_owner = np.empty(1024, np.int32)
    m = 0
    scratch = np.empty(0, np.int64)
    for p in range(meta.shape[0]):
        scratch, _ = _touch(p, meta, ring_off, xy, x0, y0, size, nx, ny, eps, mark,
                            scratch, 0)
        lo, hi = np.inf, -np.inf
        for k in range(meta[p, 2], meta[p, 3]):
            lo = min(lo, xy[k, 1])
            hi = max(hi, xy[k, 1])
        for iy in range(_clamp(np.floor((lo - y0) / size), ny),
                        _clamp(np.floor((hi - y0) / size), ny) + 1):
            count = _row_crossings(p, y0 + (iy + 0.5) * size, meta, ring_off, xy, xs)
            for j in range(0, count - 1, 2):
                col0 = _clamp(np.ceil((xs[j] - x0) / size - 0.5), nx)
                col1 = _clamp(np.floor((xs[j + 1] - x0) / size - 0.5), nx)
                for ix in range(col0, col1 + 1):
                    c = iy * nx + ix
                    if mark[c] == p:  # met by the polygon's rings: a candidate already
                        continue
                    if not boundary[c]:
                        if cells[c] == -1:
                            cells[c] = p
                        continue
                    if m == len(extra_cell):
                        extra_cell = np.concatenate((extra_cell, extra_cell))
                        extra_owner = np.concatenate((extra_owner, extra_owner))
                    extra_cell[m], extra_owner[m] = c, p
                    m += 1
    return extra_cell[:m], extra_owner[:m]


@njit(cache=True, nogil=True)
def _lists(cell_of, poly_of, cells, sort_lists):
    """Write each boundary cell's candidates (pairs grouped here by cell, each list in code
    order): one candidate in the cell itself as -2 - 2p, a longer list into ``cand``, ended
    by -1, the cell holding -2 - (2 k + 1) for its start k."""
    n_cells = len(cells)
    start = np.zeros(n_cells + 1, np.int64)
    for j in range(len(cell_of)):
        start[cell_of[j] + 1] += 1
    for c in range(n_cells):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    order = np.empty(len(cell_of), np.int32)
    for j in range(len(cell_of)):  # stable: pairs came in code order
        c = cell_of[j]
        order[fill[c]] = poly_of[j]
        fill[c] += 1
    cand_len = 0
    for c in range(n_cells):
        if start[c + 1] - start[c] > 1:
            cand_len += start[c + 1] - start[c] + 1
    cand = np.empty(cand_len, np.int32)
    at = 0
    for c in range(n_cells):
        s, e = start[c], start[c + 1]
        if e == s:
            continue
        if sort_lists:  # pairs of enclosing polygons came last: restore code order
            order[s:e].sort()
        if e - s == 1:
            cells[c] = -2 - 2 * order[s]
            continue
        cells[c] = -2 - (2 * at + 1)
        cand[at:at + e - s] = order[s:e]
        at += e - s
        cand[at] = -1
        at += 1
    return cand


@njit(cache=True, nogil=True)
def raster(meta, ring_off, xy, x0, y0, size, nx, ny, eps):
    """The cell labels and candidate lists of a level (see ``CellIndex``).

    1. The cells each polygon's rings pass through (their boxes enlarged by ``eps``): the
       boundary cells, and their candidates.
    2. The cells inside each polygon (their centres, scanned row by row between the rings'
       crossings): a cell no ring of the polygon meets is inside it whole or outside it
       whole, so its centre decides.
    3. The candidate lists, in cell order, each in code order.
    """
    n_cells = nx * ny
    mark = np.full(n_cells, -1, np.int32)
    touched, owner = _boundary_pairs(meta, ring_off, xy, x0, y0, size, nx, ny, eps, mark)
    boundary = np.zeros(n_cells, np.bool_)
    for j in range(len(touched)):
        boundary[touched[j]] = True
    cells = np.full(n_cells, -1, np.int32)
    mark[:] = -1
    extra_cell, extra_owner = _interiors(meta, ring_off, xy, x0, y0, size, nx, ny, eps, mark,
                                         boundary, cells)
    cell_of = np.concatenate((touched, extra_cell))
    poly_of = np.concatenate((owner, extra_owner))
    cand = _lists(cell_of, poly_of, cells, len(extra_cell) > 0)
    return cells, cand


@njit(cache=True, nogil=True)
def tile_order(x, y, x0, y0, tile, ntx, nty):
    """An order of the points by square tiles of side ``tile`` (row by row; points off the
    tiles, and NaN, last): a counting sort, two passes over the points."""
    n = len(x)
    n_tiles = ntx * nty
    inv = 1.0 / tile
    key = np.empty(n, np.int32)
    start = np.zeros(n_tiles + 2, np.int64)
    for i in range(n):
        fx = np.floor((x[i] - x0) * inv)
        fy = np.floor((y[i] - y0) * inv)
        k = n_tiles
        if fx >= 0 and fx < ntx and fy >= 0 and fy < nty:
            k = int(fy) * ntx + int(fx)
        key[i] = k
        start[k + 1] += 1
    for k in range(n_tiles + 1):
        start[k + 1] += start[k]
    order = np.empty(n, np.int64)
    for i in range(n):
        k = key[i]
        order[start[k]] = i
        start[k] += 1
    return order


@njit(cache=True, nogil=True)
def gather(x, y, order):
    """``x[order]``, ``y[order]`` in one pass."""
    gx = np.empty(len(order), np.float64)
    gy = np.empty(len(order), np.float64)
    for j in range(len(order)):
        i = order[j]
        gx[j] = x[i]
        gy[j] = y[i]
    return gx, gy


@njit(cache=True, nogil=True)
def scatter_levels(order, found, flag, out, out_flag):
    """``out[order[j], l] = found[l, j]`` for every level l, and ``out_flag[order] = flag``
    unless ``flag`` is empty: one scattered write of a row (all levels of a point share a
    cache line) instead of one a level."""
    levels = found.shape[0]
    with_flag = len(flag) > 0
    for j in range(len(order)):
        i = order[j]
        for level in range(levels):
            out[i, level] = found[level, j]
        if with_flag:
            out_flag[i] = flag[j]
