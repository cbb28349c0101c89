"""Bulk placement through all levels on the city-scale set, measured in one run:

* ours — ``grid.spatial.bulk.BulkLocator`` (cell index, compiled kernel; exact tests only in
  boundary cells): street, community, grid and building of every point. Timed as the user
  meets it: the start-up (imports, compiled kernels loaded — or compiled, on a cold cache),
  building the four cell indexes, and placing (1 thread and ``--threads``);
* the backbone ``Locator`` (STRtree, covered_by) — the obvious vectorised approach;
* ``geopandas.sjoin`` — points to each of the four levels (predicate covered_by, lowest code
  kept on shared edges); it builds its tree inside the join, so its time includes its index;
* PostGIS — ``INSERT INTO placed SELECT … ST_Covers …`` (grid and building per point, lowest
  code), GiST-indexed, on a throwaway database.

The points are uniform over the city (2 % outside it) with ``--edge-share`` of them put exactly
on polygon vertices and edge midpoints, where the lowest-code rule decides. Before any speed is
printed, ours is ASSERTED equal to sjoin at all four levels on the first ``--peer-points``
points (and to PostGIS at grid on ``--pg-points``).

    python benchmarks/place_bench.py --scale 1 --points 5000000 --peer-points 1000000 \
        [--detail] [--threads 2] [--pg-points 100000] [--pg-url postgresql://…]

Cold numba cache: ``NUMBA_CACHE_DIR=$(mktemp -d) python benchmarks/place_bench.py …``.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import shapely  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from city import LEVELS, load_city, random_points, vertex_counts  # noqa: E402

from grid.hierarchy.levels import Level  # noqa: E402
from grid.spatial.locator import LevelIndex, Locator  # noqa: E402


def _timed(label, func, *args, **kwargs):
    started = time.perf_counter()
    result = func(*args, **kwargs)
    elapsed = time.perf_counter() - started
    print(f"  {label}: {elapsed:.3f} s", flush=True)
    return result, elapsed


def start_ours():
    """Import the bulk locator and load its compiled kernels (numba compiles them here when
    its cache is cold), by indexing and placing a few points on two small squares."""
    from grid.spatial.bulk import BulkLocator, CellIndex

    squares = [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]
    tiny = BulkLocator(0, {Level.grid: CellIndex.build(["a", "b"], squares)})
    x = np.linspace(-0.5, 2.5, 1 << 17)
    found, _ = tiny.place(x, np.full(len(x), 0.5), edge_level=Level.grid, threads=2)
    assert found[Level.grid][len(x) // 2] >= 0
    return BulkLocator, CellIndex


def run_ours(city, lon, lat, threads):
    """Start up, build the cell indexes, then place every point in all four levels."""
    (BulkLocator, CellIndex), start_s = _timed(
        "ours: start-up (import, compiled kernels loaded or compiled)", start_ours)

    def build():
        return BulkLocator.from_shapes(1, {
            Level(level): (city[level]["code"], city[level]["geometry"]) for level in LEVELS},
            threads=threads)
    bulk, build_s = _timed(f"ours: build cell indexes (4 levels, {threads} threads)", build)
    for level, index in bulk.indexes.items():
        print(f"    {level}: {index.nx}×{index.ny} cells, {index.boundary_cells:,} boundary "
              f"cells, {len(index.cand):,} in candidate lists, {len(index.xy):,} vertices")
    found, place_s = _timed(f"ours: place {len(lon):,} points, 4 levels, 1 thread",
                            bulk.locate_indices, lon, lat)
    cpu = time.process_time()
    threaded, place_n_s = _timed(f"ours: place {len(lon):,} points, 4 levels, {threads} threads",
                                 bulk.locate_indices, lon, lat, threads=threads)
    cpu = time.process_time() - cpu
    print(f"    (CPU time of that step: {cpu:.2f} s, {cpu / len(lon) * 1e9:.0f} ns a point; "
          f"wall × {threads} / CPU = {place_n_s * threads / cpu:.2f}: above 1, the threads "
          "waited for cores that other processes held)")
    assert all((threaded[level] == found[level]).all() for level in found)
    codes = {level: bulk.codes(level, idx) for level, idx in found.items()}
    return codes, start_s, build_s, place_s, place_n_s


def run_backbone(city, lon, lat):
    """The backbone STRtree locator on the same points (4 levels)."""
    locator = Locator(1, {Level(level): LevelIndex(list(city[level]["code"]),
                                                   list(city[level]["geometry"]))
                          for level in LEVELS})
    _, seconds = _timed(f"backbone Locator: place {len(lon):,} points, 4 levels",
                        locator.locate_many, lon, lat)
    return seconds


def run_sjoin(city, lon, lat):
    """geopandas.sjoin at each level; lowest code per point on shared edges."""
    import geopandas as gpd

    frames = {level: gpd.GeoDataFrame({"code": city[level]["code"]},
                                      geometry=city[level]["geometry"], crs=4490)
              for level in LEVELS}

    def join():
        points = gpd.GeoDataFrame({"row": np.arange(len(lon))},
                                  geometry=gpd.points_from_xy(lon, lat), crs=4490)
        out = {}
        for level, polys in frames.items():
            joined = gpd.sjoin(points, polys, how="left", predicate="covered_by")
            joined = joined.sort_values(["row", "code"]).drop_duplicates("row")
            codes = joined["code"].to_numpy(dtype=object)
            out[level] = np.where(joined["code"].isna().to_numpy(), None, codes)
        return out

    result, seconds = _timed(f"geopandas.sjoin: {len(lon):,} points, 4 levels", join)
    return result, seconds


def run_postgis(city, lon, lat, url):
    """INSERT … SELECT … ST_Covers into a table, on a throwaway database."""
    import psycopg

    name = f"grid_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(url.rsplit("/", 1)[0] + f"/{name}", autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
            for level in ("grid", "building"):
                conn.execute(f"CREATE TABLE {level}s (code text, geom geometry(Polygon, 4490))")
                buffer = io.StringIO()
                wkb = shapely.to_wkb(city[level]["geometry"], hex=True)
                for code, g in zip(city[level]["code"], wkb, strict=True):
                    buffer.write(f"{code}\tSRID=4490;{g}\n")
                with conn.cursor().copy(f"COPY {level}s (code, geom) FROM STDIN") as copy:
                    copy.write(buffer.getvalue())
                conn.execute(f"CREATE INDEX ON {level}s USING gist (geom)")
                conn.execute(f"ANALYZE {level}s")
            conn.execute("CREATE TABLE pts (id int, geom geometry(Point, 4490))")
            buffer = io.StringIO()
            for i, (x, y) in enumerate(zip(lon, lat, strict=True)):
                buffer.write(f"{i}\tSRID=4490;POINT({float(x)!r} {float(y)!r})\n")
            with conn.cursor().copy("COPY pts (id, geom) FROM STDIN") as copy:
                copy.write(buffer.getvalue())
            conn.execute("CREATE TABLE placed (id int, grid_code text, building_code text)")
            sql = """INSERT INTO placed
                SELECT p.id,
                  (SELECT g.code FROM grids g WHERE ST_Covers(g.geom, p.geom)
                   ORDER BY g.code LIMIT 1),
                  (SELECT b.code FROM buildings b WHERE ST_Covers(b.geom, p.geom)
                   ORDER BY b.code LIMIT 1)
                FROM pts p"""
            _, seconds = _timed(f"PostGIS INSERT…SELECT…ST_Covers: {len(lon):,} points, "
                                "grid + building", conn.execute, sql)
            rows = conn.execute("SELECT grid_code FROM placed ORDER BY id").fetchall()
            return np.array([r[0] for r in rows], dtype=object), seconds
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def edge_points(city, lon, lat, share: float, seed: int = 3):
    """Put ``share`` of the points exactly on vertices and edge midpoints of grids and
    buildings (shared edges and corners: the lowest code decides)."""
    rng = np.random.default_rng(seed)
    count = int(len(lon) * share)
    if count == 0:
        return lon, lat
    chosen = []
    for level in ("grid", "building"):
        geoms = city[level]["geometry"]
        picked = geoms[rng.integers(0, len(geoms), count)]
        coords, which = shapely.get_coordinates(shapely.get_exterior_ring(picked),
                                                return_index=True)
        first = np.searchsorted(which, np.arange(len(picked)))
        size = np.diff(np.r_[first, len(which)]) - 1  # edges of each ring
        k = first + (rng.random(len(picked)) * size).astype(np.int64)
        mid = rng.random(len(picked)) < 0.5
        chosen.append(np.where(mid[:, None], (coords[k] + coords[k + 1]) / 2, coords[k]))
    chosen = np.concatenate(chosen)[rng.permutation(2 * count)[:count]]
    where = rng.choice(len(lon), count, replace=False)
    lon, lat = lon.copy(), lat.copy()
    lon[where], lat[where] = chosen[:, 0], chosen[:, 1]
    return lon, lat


def main() -> None:
    """Run every peer on the same points, assert the answers agree, print rates and ratios."""
    parser = argparse.ArgumentParser(description="bulk placement benchmark")
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--detail", type=int, nargs="?", const=9, default=0,
                        help="detailed outlines (benchmarks/city.py --detail)")
    parser.add_argument("--points", type=int, default=2_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--edge-share", type=float, default=0.01,
                        help="share of points put on vertices and edge midpoints")
    parser.add_argument("--peer-points", type=int, default=500_000,
                        help="first N points given to the backbone locator and geopandas")
    parser.add_argument("--pg-points", type=int, default=0,
                        help="first N points given to PostGIS (0, the default, skips it)")
    parser.add_argument("--pg-url", default=os.environ.get(
        "GRID_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()

    with open("/proc/loadavg") as f:
        print(f"load average at start: {f.read().split()[0]}")
    city, load_s = _timed(f"load city scale {args.scale:g} detail {args.detail}", load_city,
                          args.scale, args.detail)
    counts = ", ".join(f"{level} {len(city[level]['code']):,}" for level in LEVELS)
    print(f"city scale {args.scale:g}: {counts}\n{vertex_counts(city)}")
    lon, lat = random_points(city, args.points)
    lon, lat = edge_points(city, lon, lat, args.edge_share)
    before_ours = time.perf_counter() - STARTED - load_s
    codes, start_s, build_s, place_s, place_n_s = run_ours(city, lon, lat, args.threads)

    n = min(args.peer_points, len(lon))
    sjoin, sjoin_s = run_sjoin(city, lon[:n], lat[:n])
    for level in LEVELS:
        ours_level = codes[Level(level)][:n]
        same = int(np.count_nonzero(ours_level == sjoin[level]))
        print(f"  agreement with sjoin at {level}: {same:,}/{n:,}")
        assert same == n, f"ours differs from sjoin at {level}"
    backbone_s = run_backbone(city, lon[:n], lat[:n])
    rates = {"backbone Locator (4 levels, tree built before)": n / backbone_s,
             "geopandas.sjoin (4 levels, tree built inside)": n / sjoin_s}
    if args.pg_points:
        m = min(args.pg_points, len(lon))
        pg_grid, pg_s = run_postgis(city, lon[:m], lat[:m], args.pg_url)
        same = int(np.count_nonzero(codes[Level.grid][:m] == pg_grid))
        print(f"  agreement with PostGIS at grid: {same:,}/{m:,}")
        assert same == m, "ours differs from PostGIS at grid"
        rates["PostGIS INSERT…SELECT…ST_Covers (grid+building)"] = m / pg_s

    total = start_s + build_s + place_n_s
    ours_rate = len(lon) / place_n_s
    print(f"\nresults ({len(lon):,} points; agreement with sjoin asserted on {n:,} at all 4 "
          f"levels; points/s)")
    print(f"  ours place step, 4 levels, {args.threads} threads: {ours_rate:>14,.0f}")
    print(f"  ours place step, 4 levels, 1 thread:  {len(lon) / place_s:>14,.0f}")
    print(f"  ours start-up {start_s:.2f} s + index build {build_s:.2f} s + place "
          f"{place_n_s:.2f} s = {total:.2f} s: {len(lon) / total:>14,.0f} points/s "
          f"(script start to here, city loading excluded: {before_ours + total:.2f} s)")
    for label, rate in rates.items():
        print(f"  {label}: {rate:>14,.0f}   ours (place step) {ours_rate / rate:,.1f}×, "
              f"ours (start-up + build + place) {len(lon) / total / rate:,.1f}×")
    with open("/proc/loadavg") as f:
        print(f"load average at end: {f.read().split()[0]}")


if __name__ == "__main__":
    main()
