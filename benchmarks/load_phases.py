"""Where ``grid load`` spends its time: CPU and wall seconds of each phase of one load of the
building file of ``load_bench.py`` into PostGIS, in a fresh process (run it once per figure).

    .venv/bin/python benchmarks/load_bench.py --scale 0.2 --prepare-only   # the files
    flock /tmp/bench.lock .venv/bin/python benchmarks/load_phases.py --scale 0.2

The phases, in order: the imports ``grid load`` makes (``grid.cli``, the database, the
loader), the engine and the migrations check, reading the file, checking and writing chunk by
chunk (the COPY streams meanwhile), the checks across the whole file (codes, names, overlaps,
spill-over), waiting for the server to finish the COPY and build the partition's indexes, and
settling and committing. CPU seconds are this process's (all its threads); the server's
work shows as wall time with no CPU. ``load_bench.py`` prints ``ogr2ogr``'s whole command
beside ours; these say which part of ours stands in the way.
"""

from __future__ import annotations

import time

_START = time.process_time(), time.perf_counter()
_MARKS: list[tuple[str, float, float]] = []


def _mark(label: str) -> None:
    _MARKS.append((label, time.process_time(), time.perf_counter()))


import argparse  # noqa: E402  (after the clock starts: the imports are a phase)
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import grid.cli  # noqa: E402, F401  (what `grid load` imports before it loads)
from grid.db import Database  # noqa: E402
from grid.spatial import loader, write  # noqa: E402

_mark("imports (grid.cli, database, loader)")


def _timed(module, name: str) -> None:
    """Mark the end of ``module.name`` each time it returns."""
    inner = getattr(module, name)

    def marked(*args, **kwargs):
        result = inner(*args, **kwargs)
        _mark(name)
        return result

    setattr(module, name, marked)


def main() -> None:
    """Build a template (street, communities, grids), copy it, load the buildings, print."""
    from sqlalchemy.engine import make_url

    from grid.hierarchy.levels import Level
    from grid.migrate import upgrade
    from grid.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--postgres", default=os.environ.get(
        "GRID_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    admin = args.postgres.replace("postgresql+psycopg://", "postgresql://")
    building = ROOT / "benchmarks" / "out" / f"load_{args.scale:g}" / "building.shp"
    if not building.exists():
        raise SystemExit(f"no {building}: run benchmarks/load_bench.py --scale {args.scale:g} "
                         "--prepare-only first")
    name = f"load_phases_{uuid.uuid4().hex[:8]}"
    # the template in a process of its own: this one must meet the load as `grid load` does,
    # with nothing imported or initialised by the template's loads
    made = subprocess.run(
        [sys.executable, "-c", "from benchmarks.load_bench import make_template, prepare_files;"
         f"print(make_template({admin!r}, {name!r}, prepare_files({args.scale!r}, 'shp')))"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    if made.returncode:
        raise SystemExit(made.stderr[-2000:])
    version = int(made.stdout.split()[-1])
    _timed(loader, "_read_for_load")
    _timed(loader, "_check_and_write")
    _timed(loader, "relational_problems")
    finish = write.UnitWriter.finish

    def finished(self, errors: bool) -> None:
        finish(self, errors)
        _mark("wait for the server (COPY end, index builds)")

    write.UnitWriter.finish = finished
    _MARKS.clear()  # the load's phases start here
    start = time.process_time(), time.perf_counter()
    url = make_url(admin).set(drivername="postgresql+psycopg", database=name)
    db = Database(Settings(database_url=url.render_as_string(hide_password=False)))
    try:
        upgrade(db)
        _mark("engine and migrations check")
        report = loader.load_boundaries(db, building, Level.building, commit=True,
                                        version_id=version)
        _mark("settle and commit")
    finally:
        db.dispose()
        import psycopg

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    imports = _IMPORTS
    print(f"{report.rows:,} buildings, {len(report.errors)} errors; load average "
          f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print(f"{'phase':46s} {'CPU s':>6s} {'wall s':>7s}")
    print(f"{imports[0]:46s} {imports[1]:6.2f} {imports[2]:7.2f}")
    cpu, wall = start
    total_cpu, total_wall = imports[1], imports[2]
    for label, c, w in _MARKS:
        print(f"{label:46s} {c - cpu:6.2f} {w - wall:7.2f}")
        total_cpu, total_wall = total_cpu + c - cpu, total_wall + w - wall
        cpu, wall = c, w
    print(f"{'total (imports + load)':46s} {total_cpu:6.2f} {total_wall:7.2f}")


label, cpu, wall = _MARKS[0]
_IMPORTS = (label, cpu - _START[0], wall - _START[1])

if __name__ == "__main__":
    main()
