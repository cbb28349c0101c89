"""Locate throughput on the sample street: the in-memory locator vs geopandas.sjoin vs the
database's own ST_Covers, measured in the same run. Prints points/s and ratios.

    python benchmarks/locate_bench.py [--points 200000] [--db-points 2000] [--database-url URL]

Without --database-url it builds a throwaway SpatiaLite file from data/boundaries/.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from grid.demo import load_sample
from grid.hierarchy import store
from grid.hierarchy.levels import SPATIAL_LEVELS, Level
from grid.migrate import upgrade
from grid.services import Services
from grid.settings import Settings
from grid.spatial.locator import Locator

DATA = Path(__file__).resolve().parents[1] / "data" / "boundaries"


def main() -> None:
    """Run the three placements on the same random points and print the ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--db-points", type=int, default=2_000)
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
            locator = Locator.from_db(session, version)
            frames = {
                level: gpd.GeoDataFrame(
                    {"code": locator.levels[level].codes},
                    geometry=list(locator.levels[level].geoms), crs=4490)
                for level in SPATIAL_LEVELS
            }

            start = time.perf_counter()
            ours = locator.locate_many(lons, lats)
            t_ours = time.perf_counter() - start

            start = time.perf_counter()
            points = gpd.GeoDataFrame(geometry=shapely.points(lons, lats), crs=4490)
            for level in SPATIAL_LEVELS:
                joined = gpd.sjoin(points, frames[level], predicate="covered_by", how="left")
                joined = joined.sort_values("code").groupby(level=0)["code"].first()
            t_sjoin = time.perf_counter() - start

            n_db = min(args.db_points, args.points)
            start = time.perf_counter()
            for i in range(n_db):
                for level in SPATIAL_LEVELS:
                    store.covering_codes(session, version, level, float(lons[i]), float(lats[i]))
            t_db = (time.perf_counter() - start) * args.points / n_db
        svc.close()
    placed = sum(1 for c in ours[Level.grid] if c is not None)
    backend = "SpatiaLite" if url.startswith("sqlite") else "PostGIS"
    print(f"points: {args.points:,} over 4 levels ({placed:,} inside a grid)")
    print(f"locator:            {t_ours:8.3f} s  {args.points / t_ours:12,.0f} points/s")
    print(f"geopandas.sjoin:    {t_sjoin:8.3f} s  {args.points / t_sjoin:12,.0f} points/s"
          f"  ratio {t_sjoin / t_ours:6.1f}x")
    print(f"{backend} ST_Covers: {t_db:8.3f} s  {args.points / t_db:12,.0f} points/s"
          f"  ratio {t_db / t_ours:6.1f}x  (per-point queries, {n_db:,} measured, scaled)")


if __name__ == "__main__":
    main()
