"""A city-scale boundary set for every benchmark: ~330 streets, ~7,000 communities, ~50,000 grids
and 1,000,000 buildings at ``--scale 1`` (Beijing's core is about this size), smaller by flag.

Vectorised and exact: grids are the quads of one jittered lattice (neighbours share their
vertices, so the grids tile the city with no gaps or overlaps and every shared edge is
bit-identical); communities are irregular blocks of grids and streets irregular blocks of
communities, their outlines walked along the same lattice, so the levels nest exactly and edges
are jagged polylines rather than straight lines. Buildings are small quads placed inside each
grid by bilinear mapping, so each lies inside its grid. Codes follow DB11/T 2157 widths
(county 110100, then 3 digits per level).

With ``--detail N`` every lattice edge gets N jittered intermediate vertices, made once per edge
and used by both polygons beside it (reversed for one of them), so grids still tile exactly
with bit-identical shared edges and communities and streets still nest exactly, but a grid
has 4 (N + 1) vertices (40 for N = 9) and a street several hundred — the detailed outlines of
real boundary files. Buildings stay small quads inside their grid (asserted).

    python benchmarks/city.py --scale 0.1        # writes benchmarks/out/city_0.1/*.parquet
    python benchmarks/city.py --scale 1 --detail # writes benchmarks/out/city_1_detail9/

Also importable: ``load_city(scale)`` (generating on first use) and ``random_points``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import shapely

OUT = Path(__file__).resolve().parent / "out"
LEVELS = ("street", "community", "grid", "building")
CENTRE = (116.40, 39.91)
GRID_METRES = 150.0
FULL = {"grids": 50_000, "communities": 7_000, "streets": 330, "buildings": 1_000_000}


def _breaks(n_cells: int, n_parts: int, rng) -> np.ndarray:
    """Split 0..n_cells into n_parts irregular runs (sizes differing by ±1); returns edges."""
    base = np.full(n_parts, n_cells // n_parts)
    base[rng.choice(n_parts, n_cells % n_parts, replace=False)] += 1
    return np.r_[0, np.cumsum(base)]


def _outline(lattice, i0: int, i1: int, j0: int, j1: int) -> np.ndarray:
    """The closed ring around the block of cells [i0, i1) × [j0, j1): lattice vertices and the
    intermediate vertices of every lattice edge on the way (counter-clockwise)."""
    vx, vy, hx, hy, ex, ey = lattice
    k = hx.shape[2]

    def run(px, py, mx, my):  # vertices (n,), each followed by its edge's k points (n, k)
        xs = np.concatenate([px[:, None], mx], axis=1).ravel()
        ys = np.concatenate([py[:, None], my], axis=1).ravel()
        return np.column_stack([xs, ys]) if k else np.column_stack([px, py])

    south = run(vx[j0, i0:i1], vy[j0, i0:i1], hx[j0, i0:i1], hy[j0, i0:i1])
    east = run(vx[j0:j1, i1], vy[j0:j1, i1], ex[j0:j1, i1], ey[j0:j1, i1])
    north = run(vx[j1, i0 + 1:i1 + 1][::-1], vy[j1, i0 + 1:i1 + 1][::-1],
                hx[j1, i0:i1][::-1, ::-1], hy[j1, i0:i1][::-1, ::-1])
    west = run(vx[j0 + 1:j1 + 1, i0][::-1], vy[j0 + 1:j1 + 1, i0][::-1],
               ex[j0:j1, i0][::-1, ::-1], ey[j0:j1, i0][::-1, ::-1])
    ring = np.concatenate([south, east, north, west])
    return np.concatenate([ring, ring[:1]])


def _blocks(lattice, col_edges, row_edges):
    """Polygons of the blocks defined by column and row edges, row-major, with their index."""
    polys = []
    for r in range(len(row_edges) - 1):
        for c in range(len(col_edges) - 1):
            polys.append(shapely.Polygon(_outline(lattice, col_edges[c], col_edges[c + 1],
                                                  row_edges[r], row_edges[r + 1])))
    return np.array(polys, dtype=object)


def _edge_points(ax, ay, bx, by, k: int, rng):
    """``k`` jittered points along each edge a → b (arrays of any shape; result shape + (k,)):
    spread along the edge and pushed sideways by up to 3 % of its length, tapering to nothing
    at its ends (so neighbouring edges never cross)."""
    t = (np.arange(1, k + 1) / (k + 1)) + rng.uniform(-0.3, 0.3, ax.shape + (k,)) / (k + 1)
    side = 0.03 * 4 * t * (1 - t) * rng.uniform(-1, 1, ax.shape + (k,))
    dx, dy = (bx - ax)[..., None], (by - ay)[..., None]
    return (np.round(ax[..., None] + t * dx - side * dy, 7),
            np.round(ay[..., None] + t * dy + side * dx, 7))


def generate(scale: float = 1.0, seed: int = 2157,
             detail: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """The city at ``scale`` as {level: {"code": codes, "parent": parent codes, "geometry": …}};
    ``detail`` intermediate vertices on every lattice edge (see the module's text)."""
    rng = np.random.default_rng(seed)
    n_grids = max(4, int(FULL["grids"] * scale))
    side = int(round(np.sqrt(n_grids)))
    nx, ny = side, max(2, n_grids // side)
    n_comm_side = max(2, int(round(np.sqrt(FULL["communities"] * scale))))
    n_street_side = max(1, int(round(np.sqrt(FULL["streets"] * scale))))
    n_comm_side = min(n_comm_side, nx, ny)
    n_street_side = min(n_street_side, n_comm_side)
    dx = GRID_METRES / (111_320 * np.cos(np.radians(CENTRE[1])))
    dy = GRID_METRES / 110_950
    x0, y0 = CENTRE[0] - nx * dx / 2, CENTRE[1] - ny * dy / 2
    # Jittered lattice: interior vertices move up to 25% of a cell, edges of the city stay put.
    jx, jy = np.meshgrid(np.arange(nx + 1, dtype=float), np.arange(ny + 1, dtype=float))
    jx[1:-1, 1:-1] += rng.uniform(-0.25, 0.25, (ny - 1, nx - 1))
    jy[1:-1, 1:-1] += rng.uniform(-0.25, 0.25, (ny - 1, nx - 1))
    vx, vy = np.round(x0 + jx * dx, 7), np.round(y0 + jy * dy, 7)
    # Each lattice edge's intermediate vertices, made once: h[j, i] on the edge from vertex
    # (j, i) east to (j, i + 1), e[j, i] on the edge from (j, i) north to (j + 1, i).
    detail_rng = np.random.default_rng(seed + 1)  # the quads' city stays as it was
    hx, hy = _edge_points(vx[:, :-1], vy[:, :-1], vx[:, 1:], vy[:, 1:], detail, detail_rng)
    ex, ey = _edge_points(vx[:-1, :], vy[:-1, :], vx[1:, :], vy[1:, :], detail, detail_rng)
    lattice = (vx, vy, hx, hy, ex, ey)

    comm_cols, comm_rows = _breaks(nx, n_comm_side, rng), _breaks(ny, n_comm_side, rng)
    street_cols = comm_cols[_breaks(n_comm_side, n_street_side, rng)]
    street_rows = comm_rows[_breaks(n_comm_side, n_street_side, rng)]

    # Cell → community (column block, row block) → street.
    cc = np.searchsorted(comm_cols, np.arange(nx), side="right") - 1
    cr = np.searchsorted(comm_rows, np.arange(ny), side="right") - 1
    sc = np.searchsorted(street_cols, comm_cols[:-1], side="right") - 1
    sr = np.searchsorted(street_rows, comm_rows[:-1], side="right") - 1
    street_codes = np.array([f"110100{k + 1:03d}" for k in range(n_street_side ** 2)])
    street_of_comm = (sr[:, None] * n_street_side + sc[None, :]).ravel()
    comm_index_in_street = np.zeros(len(street_of_comm), dtype=int)
    for s in range(n_street_side ** 2):
        members = np.flatnonzero(street_of_comm == s)
        comm_index_in_street[members] = np.arange(len(members))
    comm_codes = np.array([f"{street_codes[s]}{k + 1:03d}" for s, k in
                           zip(street_of_comm, comm_index_in_street, strict=True)])

    # Grids: the lattice quads, row-major.
    j, i = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    i, j = i.ravel(), j.ravel()
    corners_x = np.stack([vx[j, i], vx[j, i + 1], vx[j + 1, i + 1], vx[j + 1, i]], axis=1)
    corners_y = np.stack([vy[j, i], vy[j, i + 1], vy[j + 1, i + 1], vy[j + 1, i]], axis=1)
    if detail:
        k = detail
        ring_x = np.concatenate([vx[j, i][:, None], hx[j, i], vx[j, i + 1][:, None], ex[j, i + 1],
                                 vx[j + 1, i + 1][:, None], hx[j + 1, i][:, ::-1],
                                 vx[j + 1, i][:, None], ex[j, i][:, ::-1]], axis=1)
        ring_y = np.concatenate([vy[j, i][:, None], hy[j, i], vy[j, i + 1][:, None], ey[j, i + 1],
                                 vy[j + 1, i + 1][:, None], hy[j + 1, i][:, ::-1],
                                 vy[j + 1, i][:, None], ey[j, i][:, ::-1]], axis=1)
        assert ring_x.shape[1] == 4 * (k + 1)
        ring = np.stack([ring_x, ring_y], axis=2)
    else:
        ring = np.stack([corners_x, corners_y], axis=2)
    grid_geoms = shapely.polygons(np.concatenate([ring, ring[:, :1]], axis=1))
    comm_of_grid = cr[j] * n_comm_side + cc[i]
    order = np.argsort(comm_of_grid, kind="stable")
    rank = np.empty(len(order), dtype=int)
    rank[order] = np.arange(len(order)) - np.searchsorted(comm_of_grid[order],
                                                          comm_of_grid[order])
    grid_codes = np.char.add(comm_codes[comm_of_grid].astype(str),
                             np.char.zfill((rank + 1).astype(str), 3))

    buildings = _buildings(corners_x, corners_y, grid_codes,
                           max(1, int(FULL["buildings"] * scale)), rng)
    city = {
        "street": {"code": street_codes, "parent": np.full(len(street_codes), "110100"),
                   "geometry": _blocks(lattice, street_cols, street_rows)},
        "community": {"code": comm_codes, "parent": street_codes[street_of_comm],
                      "geometry": _blocks(lattice, comm_cols, comm_rows)},
        "grid": {"code": grid_codes, "parent": comm_codes[comm_of_grid],
                 "geometry": grid_geoms},
        "building": buildings,
    }
    if detail:
        # The intermediate vertices bend edges inward by up to 3 % of their length; buildings
        # keep 10 % (in the bilinear map) from their grid's corners' quad: still inside.
        sorter = np.argsort(grid_codes)
        grid_of = sorter[np.searchsorted(grid_codes, buildings["parent"], sorter=sorter)]
        assert np.array_equal(grid_codes[grid_of], buildings["parent"])
        assert shapely.covered_by(buildings["geometry"], grid_geoms[grid_of]).all()
        for level in ("street", "community", "grid"):
            assert shapely.is_valid(city[level]["geometry"]).all(), level
    return city


def _buildings(cx: np.ndarray, cy: np.ndarray, grid_codes, n_buildings: int, rng):
    """``n_buildings`` small quads spread over the grids, each inside its grid (bilinear)."""
    per = int(np.ceil(n_buildings / len(grid_codes)))
    cols = int(np.ceil(np.sqrt(per * 1.5)))
    rows = int(np.ceil(per / cols))
    slot = np.arange(per)
    u0 = 0.1 + 0.8 * (slot % cols) / cols
    v0 = 0.1 + 0.8 * (slot // cols) / rows
    du, dv = 0.8 / cols * 0.6, 0.8 / rows * 0.5
    grid = np.repeat(np.arange(len(grid_codes)), per)[:n_buildings]
    s = np.tile(slot, len(grid_codes))[:n_buildings]
    shift = rng.uniform(0, 0.3, (n_buildings, 2))
    u = u0[s] + shift[:, 0] * du
    v = v0[s] + shift[:, 1] * dv
    us = np.stack([u, u + du, u + du, u, u], axis=1)
    vs = np.stack([v, v, v + dv, v + dv, v], axis=1)

    def bilinear(c):
        c = c[grid]
        return ((1 - us) * (1 - vs) * c[:, [0]] + us * (1 - vs) * c[:, [1]]
                + us * vs * c[:, [2]] + (1 - us) * vs * c[:, [3]])

    geoms = shapely.polygons(np.stack([np.round(bilinear(cx), 7),
                                       np.round(bilinear(cy), 7)], axis=2))
    codes = np.char.add(grid_codes[grid].astype(str), np.char.zfill((s + 1).astype(str), 3))
    return {"code": codes, "parent": grid_codes[grid], "geometry": geoms}


def write(city: dict, directory: Path) -> None:
    """Each level as GeoParquet (EPSG:4490)."""
    import geopandas as gpd

    directory.mkdir(parents=True, exist_ok=True)
    for level in LEVELS:
        part = city[level]
        gpd.GeoDataFrame({"code": part["code"], "parent_code": part["parent"],
                          "name": np.char.add(f"{level} ", part["code"].astype(str))},
                         geometry=part["geometry"], crs="EPSG:4490").to_parquet(
            directory / f"{level}.parquet")


def city_dir(scale: float, detail: int = 0) -> Path:
    """Where the city at ``scale`` (with ``detail`` vertices on each edge) is written."""
    return OUT / (f"city_{scale:g}" + (f"_detail{detail}" if detail else ""))


def load_city(scale: float = 0.1, detail: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """The city at ``scale`` from benchmarks/out (generated and written on first use)."""
    import geopandas as gpd

    directory = city_dir(scale, detail)
    if not (directory / "building.parquet").exists():
        write(generate(scale, detail=detail), directory)
    city = {}
    for level in LEVELS:
        frame = gpd.read_parquet(directory / f"{level}.parquet")
        city[level] = {"code": frame["code"].to_numpy(dtype=object),
                       "parent": frame["parent_code"].to_numpy(dtype=object),
                       "geometry": frame.geometry.to_numpy()}
    return city


def random_points(city: dict, n: int, seed: int = 24, outside: float = 0.02):
    """``n`` uniform points over the city's extent widened so ~``outside`` fall outside it."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = shapely.total_bounds(city["street"]["geometry"])
    pad = outside / 4
    w, h = maxx - minx, maxy - miny
    lon = rng.uniform(minx - pad * w, maxx + pad * w, n)
    lat = rng.uniform(miny - pad * h, maxy + pad * h, n)
    return lon, lat


def main() -> None:
    """Generate and write the city at ``--scale``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="1 = full city (default 0.1)")
    parser.add_argument("--seed", type=int, default=2157)
    parser.add_argument("--detail", type=int, nargs="?", const=9, default=0,
                        help="intermediate vertices on every lattice edge (9 when given alone: "
                             "grids of 40 vertices); 0 = quads (default)")
    args = parser.parse_args()
    started = time.perf_counter()
    city = generate(args.scale, args.seed, args.detail)
    generated = time.perf_counter() - started
    write(city, city_dir(args.scale, args.detail))
    counts = ", ".join(f"{level} {len(city[level]['code']):,}" for level in LEVELS)
    print(f"city scale {args.scale:g}, detail {args.detail}: {counts}; generated in "
          f"{generated:.1f} s, written to {city_dir(args.scale, args.detail)}")
    print(vertex_counts(city))


def vertex_counts(city: dict) -> str:
    """Vertices per polygon (closing vertex not counted) per level: min / median / max."""
    parts = []
    for level in LEVELS:
        n = shapely.get_num_coordinates(city[level]["geometry"]) - 1
        parts.append(f"{level} {n.min()}/{int(np.median(n))}/{n.max()}")
    return "vertices per polygon (min/median/max): " + ", ".join(parts)


if __name__ == "__main__":
    main()
