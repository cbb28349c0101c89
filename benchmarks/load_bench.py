"""Validate-and-load of a city-scale building layer into PostGIS, against ``ogr2ogr`` loading
the same GeoPackage into the same PostGIS server, in the same run.

    .venv/bin/python benchmarks/load_bench.py --grids 4000 --buildings 200000 --generate-only
    flock -x /tmp/grid-cpu.lock .venv/bin/python benchmarks/load_bench.py \
        --grids 4000 --buildings 200000

The synthetic street is a lattice: communities of 10 × 10 square grids, each grid holding a
lattice of rectangular building footprints (files cached in benchmarks/out/, git-ignored).
Street, communities and grids are loaded first (not timed). The timed step is
``grid load building.gpkg --commit``: read, encoding/CRS checks, the whole validation report
(codes, names, geometry validity, sibling overlaps, parents, spill-over) and the all-or-nothing
write. The peers, each after a CHECKPOINT, into a database set up the same way:

* ``ogr2ogr`` into a new table (the issue's peer): a plain copy, no checks, with the spatial
  index built once at the end;
* for reference, ``grid load`` again with ``GRID_LOAD_PARTITION_ROWS`` above the row count: the
  same checks, but the rows COPYed into ``unit_b0``, the shared partition of the ``unit``
  table, paying for its five indexes row by row — what the load cost before large loads got
  a partition of their own (migration 0009). (``ogr2ogr -append`` no longer serves as this
  reference: with the partitioned table's composite key it finds no FID column and falls back
  to one INSERT per row, ~20 s.)
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import geopandas as gpd
import psycopg
from shapely.geometry import box
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grid.errors import LoadError  # noqa: E402
from grid.hierarchy.levels import Level  # noqa: E402
from grid.migrate import upgrade  # noqa: E402
from grid.services import Services  # noqa: E402
from grid.settings import Settings  # noqa: E402
from grid.spatial.loader import load_boundaries  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
STREET = "110105001"
X0, Y0 = 116.30, 39.85
GRID_DEG = 0.004  # about 340 m × 445 m per grid


def generate(grids: int, buildings: int, paths: dict[str, Path]) -> None:
    """Write the street, community, grid and building GeoPackages to ``paths``."""
    next(iter(paths.values())).parent.mkdir(parents=True, exist_ok=True)
    side = math.ceil(math.sqrt(grids))
    per_community = 100  # 10 × 10 grids per community
    per_grid = math.ceil(buildings / grids)
    cols = math.ceil(math.sqrt(per_grid))
    cell = GRID_DEG / cols
    rows = {"street": [], "community": [], "grid": [], "building": []}
    communities: dict[str, list] = {}
    made = 0
    for g in range(grids):
        gx, gy = g % side, g // side
        c = (gy // 10) * math.ceil(side / 10) + gx // 10
        ccode = f"{STREET}{c + 1:03d}"
        gcode = f"{ccode}{(gy % 10) * 10 + gx % 10 + 1:03d}"
        x, y = X0 + gx * GRID_DEG, Y0 + gy * GRID_DEG
        gbox = box(x, y, x + GRID_DEG, y + GRID_DEG)
        rows["grid"].append((gcode, f"网格{g + 1}", gbox))
        communities.setdefault(ccode, []).append(gbox)
        for b in range(per_grid):
            if made == buildings:
                break
            bx, by = x + (b % cols) * cell, y + (b // cols) * cell
            rows["building"].append((f"{gcode}{b + 1:03d}", f"网格{g + 1}第{b + 1}栋",
                                     box(bx + cell * 0.2, by + cell * 0.2, bx + cell * 0.8,
                                         by + cell * 0.7)))
            made += 1
    for ccode, boxes in communities.items():
        minx = min(b.bounds[0] for b in boxes)
        miny = min(b.bounds[1] for b in boxes)
        maxx = max(b.bounds[2] for b in boxes)
        maxy = max(b.bounds[3] for b in boxes)
        rows["community"].append((ccode, f"社区{ccode[-3:]}", box(minx, miny, maxx, maxy)))
    assert len(communities) <= 999 and per_community * len(communities) >= grids
    rows["street"].append((STREET, "和平街道", box(X0, Y0, X0 + side * GRID_DEG,
                                               Y0 + side * GRID_DEG)))
    for level, items in rows.items():
        frame = gpd.GeoDataFrame({"code": [r[0] for r in items], "name": [r[1] for r in items]},
                                 geometry=[r[2] for r in items], crs=4490)
        frame.to_file(paths[level], driver="GPKG", layer=level, engine="pyogrio")


def _paths(grids: int, buildings: int) -> dict[str, Path]:
    folder = OUT / f"load_{grids}_{buildings}"
    return {level: folder / f"bench_{level}.gpkg"
            for level in ("street", "community", "grid", "building")}


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _setup(admin: str, name: str, paths: dict[str, Path], **settings
            ) -> tuple[Services, int]:
    """A new database with street, communities and grids loaded; its version."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin).set(drivername="postgresql+psycopg", database=name)
    svc = Services(Settings(database_url=url.render_as_string(hide_password=False),
                            **settings))
    upgrade(svc.db)
    version = None
    for level in (Level.street, Level.community, Level.grid):
        try:
            report = load_boundaries(svc.db, paths[level.value], level, commit=True,
                                     version_id=version)
        except LoadError as exc:
            raise SystemExit(f"{level}: {exc.message} {exc.details[:5]}") from exc
        version = report.version_id
    return svc, version


def _ogr(admin: str, name: str) -> str:
    pg = make_url(admin)
    return (f"PG:host={pg.host or '127.0.0.1'} port={pg.port or 5432} "
            f"user={pg.username or 'postgres'} dbname={name}")


def _checkpoint(admin: str) -> None:
    """Flush dirty pages before a timed step, so none pays for the one before it."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def main() -> None:
    """Generate (once), load both ways, print the times and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=400)
    parser.add_argument("--buildings", type=int, default=20_000)
    parser.add_argument("--generate-only", action="store_true",
                        help="write the GeoPackages and stop (run this outside the CPU lock)")
    parser.add_argument("--postgres", default=os.environ.get(
        "GRID_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--prefix", default="grid_bench",
                        help="name prefix of the throwaway PostGIS database")
    args = parser.parse_args()
    paths = _paths(args.grids, args.buildings)
    if not all(p.exists() for p in paths.values()):
        generate(args.grids, args.buildings, paths)
    if args.generate_only:
        print(f"wrote {paths['building'].parent}")
        return
    admin = args.postgres.replace("postgresql+psycopg://", "postgresql://")
    ours_db, shared_db = (f"{args.prefix}_{uuid.uuid4().hex[:8]}" for _ in range(2))
    try:
        # Two databases set up alike (street, communities, grids loaded; not timed): ours and
        # ogr2ogr's plain copy go into the first, the reference load (no partition of its own)
        # into the second, so each timed write meets the same table state.
        svc, version = _setup(admin, ours_db, paths)
        shared_svc, shared_version = _setup(admin, shared_db, paths,
                                            load_partition_rows=10 * args.buildings)
        _checkpoint(admin)
        # the peer first: the file is then as warm in the page cache for us as for it
        theirs = _timed(["ogr2ogr", "-f", "PostgreSQL", _ogr(admin, ours_db),
                         str(paths["building"]), "-nln", "ogr_building",
                         "-lco", "GEOMETRY_NAME=geom", "-lco", "SPATIAL_INDEX=GIST"])
        _checkpoint(admin)
        start = time.perf_counter()
        report = load_boundaries(svc.db, paths["building"], Level.building, commit=True,
                                 version_id=version)
        ours = time.perf_counter() - start
        assert len(report.added) == args.buildings and not report.errors, report.summary()
        svc.close()
        _checkpoint(admin)
        # Reference: the same load with no partition of its own (rows into unit_b0)
        start = time.perf_counter()
        report = load_boundaries(shared_svc.db, paths["building"], Level.building, commit=True,
                                 version_id=shared_version)
        shared = time.perf_counter() - start
        assert len(report.added) == args.buildings and not report.errors, report.summary()
        shared_svc.close()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in (ours_db, shared_db):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"buildings {args.buildings}, grids {args.grids}, communities "
          f"{math.ceil(args.grids / 100)}")
    print(f"grid load (read + validate + write): {ours:7.2f} s  "
          f"({args.buildings / ours:,.0f} rows/s)")
    print(f"ogr2ogr (copy into a new table):     {theirs:7.2f} s  "
          f"({args.buildings / theirs:,.0f} rows/s)")
    print(f"grid load into the shared partition: {shared:7.2f} s  (reference: indexes "
          "maintained row by row)")
    print(f"ratio grid/ogr2ogr: {ours / theirs:.2f}x (target <= 1.5x)")
    print(f"ratio shared partition/ogr2ogr: {shared / theirs:.2f}x")


if __name__ == "__main__":
    main()
