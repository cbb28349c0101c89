"""Locate throughput on the sample street: the in-memory locator vs geopandas.sjoin vs the
database's own ST_Covers, measured in the same run on the same random points. Prints points/s and
ratios (medians of ``--repeat`` runs) and the load average.

Like with like: both sides start from the same shapely geometries read from the database once
(not timed); our time includes building the locator's index (``LevelIndex``: STRtree per level),
as sjoin's includes building its own. Answers are compared first — street, community, grid and
building of every point, the lowest code where several polygons cover it — and a disagreement
stops the run before any speed is printed. The database peer is timed per point on a sample
(``--db-points``), its answers checked against ours on that sample, and scaled.

    python benchmarks/locate_bench.py [--points 200000] [--db-points 2000] [--database-url URL]

Without --database-url it builds a throwaway SpatiaLite file from data/boundaries/.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from grid.demo import load_sample
from grid.hierarchy import store
from grid.hierarchy.levels import SPATIAL_LEVELS, Level
from grid.migrate import upgrade
from grid.services import Services
from grid.settings import Settings
from grid.spatial.locator import LevelIndex, Locator

DATA = Path(__file__).resolve().parents[1] / "data" / "boundaries"


def _sjoin(frames: dict, lons: np.ndarray, lats: np.ndarray) -> dict[Level, np.ndarray]:
    """geopandas.sjoin per level (covered_by, lowest code on shared edges)."""
    points = gpd.GeoDataFrame(geometry=shapely.points(lons, lats), crs=4490)
    out = {}
    for level, frame in frames.items():
        joined = gpd.sjoin(points, frame, predicate="covered_by", how="left")
        first = joined.sort_values("code").groupby(level=0)["code"].first()
        codes = np.full(len(lons), None, dtype=object)
        codes[first.index.to_numpy()] = first.to_numpy()
        codes[pd.isna(codes)] = None
        out[level] = codes
    return out


def main() -> None:
    """Run the three placements on the same random points, check they agree, print ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--db-points", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        svc = Services(Settings(database_url=url))
        upgrade(svc.db)
        with svc.db.read() as session:
            loaded = store.active_version(session)
        if loaded is None:
            load_sample(svc, DATA, say=lambda _line: None)
        with svc.db.read() as session:
            version = store.require_active_version(session).id
            street = store.units(session, version, Level.street)[0]
            minx, miny, maxx, maxy = store.shape_of(street).bounds
            rng = np.random.default_rng(1)
            lons = rng.uniform(minx, maxx, args.points)
            lats = rng.uniform(miny, maxy, args.points)
            shapes = {level: store.level_shapes(session, version, level)
                      for level in SPATIAL_LEVELS}
            frames = {level: gpd.GeoDataFrame({"code": codes}, geometry=list(geoms), crs=4490)
                      for level, (codes, geoms) in shapes.items()}
            t_ours, t_sjoin = [], []
            for _ in range(args.repeat):
                start = time.perf_counter()
                locator = Locator(version, {level: LevelIndex(list(codes), list(geoms))
                                            for level, (codes, geoms) in shapes.items()})
                ours = locator.locate_many(lons, lats)
                t_ours.append(time.perf_counter() - start)
                start = time.perf_counter()
                theirs = _sjoin(frames, lons, lats)
                t_sjoin.append(time.perf_counter() - start)
            for level in SPATIAL_LEVELS:
                same = int((ours[level] == theirs[level]).sum())
                assert same == args.points, f"{level}: {args.points - same} points disagree"
            n_db = min(args.db_points, args.points)
            t_db = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                found = {level: [store.covering_codes(session, version, level,
                                                      float(lons[i]), float(lats[i]))
                                 for i in range(n_db)] for level in SPATIAL_LEVELS}
                t_db.append((time.perf_counter() - start) * args.points / n_db)
            for level in SPATIAL_LEVELS:
                lowest = [min(codes) if codes else None for codes in found[level]]
                assert lowest == list(ours[level][:n_db]), f"{level}: the database disagrees"
        svc.close()
    ours_s, sjoin_s, db_s = (statistics.median(t) for t in (t_ours, t_sjoin, t_db))
    placed = sum(1 for c in ours[Level.grid] if c is not None)
    backend = "SpatiaLite" if url.startswith("sqlite") else "PostGIS"
    print(f"points: {args.points:,} over 4 levels ({placed:,} inside a grid); every answer "
          f"equal to sjoin's, and to {backend}'s on the first {n_db:,} (asserted)")
    print(f"medians of {args.repeat} runs; load average {open('/proc/loadavg').read().split()[:3]}")
    print(f"locator (index built): {ours_s:8.3f} s  {args.points / ours_s:12,.0f} points/s")
    print(f"geopandas.sjoin:    {sjoin_s:8.3f} s  {args.points / sjoin_s:12,.0f} points/s"
          f"  ratio {sjoin_s / ours_s:6.1f}x")
    print(f"{backend} ST_Covers: {db_s:8.3f} s  {args.points / db_s:12,.0f} points/s"
          f"  ratio {db_s / ours_s:6.1f}x  (per-point queries, {n_db:,} measured, scaled)")


if __name__ == "__main__":
    main()
