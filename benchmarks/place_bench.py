"""Bulk placement through all levels on the city-scale set, measured in one run:

* ours — ``grid.spatial.bulk.BulkLocator`` (cell index; exact tests only in boundary cells),
  street, community, grid and building of every point;
* the backbone ``Locator`` (STRtree, covered_by) — the obvious vectorised approach;
* ``geopandas.sjoin`` — points to grids, then to buildings (predicate covered_by, lowest code
  kept on shared edges);
* PostGIS — ``INSERT INTO placed SELECT … ST_Covers …`` (grid and building per point, lowest
  code), GiST-indexed, on a throwaway database.

Answers are compared with sjoin's (grid and building) so the speed is for the same result.
Prints points/s and ratios, and extrapolates our compute time to 24 million points.

    python benchmarks/place_bench.py --scale 0.1 --points 2000000 --peer-points 500000 \
        --pg-points 100000 [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from city import LEVELS, load_city, random_points  # noqa: E402

from grid.hierarchy.levels import Level  # noqa: E402
from grid.spatial.bulk import BulkLocator, CellIndex  # noqa: E402
from grid.spatial.locator import LevelIndex, Locator  # noqa: E402


def _timed(label, func, *args, **kwargs):
    started = time.perf_counter()
    result = func(*args, **kwargs)
    elapsed = time.perf_counter() - started
    print(f"  {label}: {elapsed:.3f} s", flush=True)
    return result, elapsed


def run_ours(city, lon, lat):
    """Build the cell indexes, then place every point in all four levels."""
    def build():
        return BulkLocator(1, {Level(level): CellIndex.build(city[level]["code"],
                                                             city[level]["geometry"])
                               for level in LEVELS})
    bulk, build_s = _timed("ours: build cell indexes (4 levels)", build)
    for level, index in bulk.indexes.items():
        print(f"    {level}: {index.nx}×{index.ny} cells, {len(index.cand_ptr) - 1:,} boundary "
              f"cells, {len(index.cand_idx):,} candidates")
    found, place_s = _timed(f"ours: place {len(lon):,} points, 4 levels, 1 thread",
                            bulk.locate_indices, lon, lat)
    threaded, place2_s = _timed(f"ours: place {len(lon):,} points, 4 levels, 2 threads",
                                bulk.locate_indices, lon, lat, threads=2)
    assert all((threaded[level] == found[level]).all() for level in found)
    codes = {level: bulk.codes(level, idx) for level, idx in found.items()}
    return codes, build_s, place_s, place2_s


def run_backbone(city, lon, lat):
    """The backbone STRtree locator on the same points (4 levels)."""
    locator = Locator(1, {Level(level): LevelIndex(list(city[level]["code"]),
                                                   list(city[level]["geometry"]))
                          for level in LEVELS})
    _, seconds = _timed(f"backbone Locator: place {len(lon):,} points, 4 levels",
                        locator.locate_many, lon, lat)
    return seconds


def run_sjoin(city, lon, lat):
    """geopandas.sjoin, grids then buildings; lowest code per point on shared edges."""
    import geopandas as gpd

    grids = gpd.GeoDataFrame({"code": city["grid"]["code"]}, geometry=city["grid"]["geometry"],
                             crs=4490)
    buildings = gpd.GeoDataFrame({"code": city["building"]["code"]},
                                 geometry=city["building"]["geometry"], crs=4490)

    def join():
        points = gpd.GeoDataFrame({"row": np.arange(len(lon))},
                                  geometry=gpd.points_from_xy(lon, lat), crs=4490)
        out = {}
        for name, polys in (("grid", grids), ("building", buildings)):
            joined = gpd.sjoin(points, polys, how="left", predicate="covered_by")
            joined = joined.sort_values(["row", "code"]).drop_duplicates("row")
            out[name] = joined["code"].to_numpy(dtype=object)
        return out

    result, seconds = _timed(f"geopandas.sjoin: {len(lon):,} points, grids then buildings",
                             join)
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


def main() -> None:
    """Run every peer on the same points and print rates and ratios."""
    parser = argparse.ArgumentParser(description="bulk placement benchmark")
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--points", type=int, default=2_000_000)
    parser.add_argument("--peer-points", type=int, default=500_000,
                        help="first N points given to the backbone locator and geopandas")
    parser.add_argument("--pg-points", type=int, default=100_000,
                        help="first N points given to PostGIS (0 to skip)")
    parser.add_argument("--pg-url", default=os.environ.get(
        "GRID_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()

    city = load_city(args.scale)
    counts = ", ".join(f"{level} {len(city[level]['code']):,}" for level in LEVELS)
    print(f"city scale {args.scale:g}: {counts}")
    lon, lat = random_points(city, args.points)
    codes, build_s, ours_s, ours2_s = run_ours(city, lon, lat)
    ours_rate = len(lon) / ours_s
    print(f"  ours: {ours_rate:,.0f} points/s (all 4 levels, 1 thread), "
          f"{len(lon) / ours2_s:,.0f} points/s (2 threads)")

    n = min(args.peer_points, len(lon))
    backbone_s = run_backbone(city, lon[:n], lat[:n])
    sjoin, sjoin_s = run_sjoin(city, lon[:n], lat[:n])
    for level in ("grid", "building"):
        ours_level = np.where(codes[Level(level)][:n] == None, np.nan,  # noqa: E711
                              codes[Level(level)][:n]).astype(object)
        theirs = sjoin[level]
        same = sum(1 for a, b in zip(ours_level, theirs, strict=True)
                   if (a == b) or (not isinstance(a, str) and not isinstance(b, str)))
        print(f"  agreement with sjoin at {level}: {same:,}/{n:,}")
    rates = {"backbone Locator (4 levels)": n / backbone_s,
             "geopandas.sjoin (grid+building)": n / sjoin_s}
    if args.pg_points:
        m = min(args.pg_points, len(lon))
        pg_grid, pg_s = run_postgis(city, lon[:m], lat[:m], args.pg_url)
        ours_grid = codes[Level.grid][:m]
        same = int(np.sum([(a == b) or (a is None and b is None)
                           for a, b in zip(ours_grid, pg_grid, strict=True)]))
        print(f"  agreement with PostGIS at grid: {same:,}/{m:,}")
        rates["PostGIS INSERT…SELECT…ST_Covers (grid+building)"] = m / pg_s

    print("\nresults (points/s; ours places 4 levels, the peers 2 or 4 as labelled)")
    print(f"  ours (BulkLocator): {ours_rate:>14,.0f}   build {build_s:.2f} s (once per version)")
    for label, rate in rates.items():
        print(f"  {label}: {rate:>14,.0f}   ours is {ours_rate / rate:,.1f}× faster")
    how = "measured" if len(lon) == 24_000_000 else "extrapolated"
    print(f"  24,000,000 points ({how}): {24e6 / ours_rate:.1f} s on one thread, "
          f"{24e6 * ours2_s / len(lon):.1f} s on two (+{build_s:.1f} s build, once)")


if __name__ == "__main__":
    main()
