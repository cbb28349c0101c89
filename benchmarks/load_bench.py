"""``grid load`` of a city's buildings into PostGIS against ``ogr2ogr`` loading the same file
into a new table: both as the whole command a user runs, each a fresh process.

    .venv/bin/python benchmarks/load_bench.py --scale 0.2 --prepare-only   # the files
    .venv/bin/python benchmarks/load_bench.py --scale 0.2 --lock /tmp/bench.lock
    .venv/bin/python benchmarks/load_bench.py --scale 0.2 --cold --lock /tmp/bench.lock
    .venv/bin/python benchmarks/load_bench.py --scale 1 --runs 1 --lock /tmp/bench.lock

(``--lock``: a file other benchmarks on the machine flock too; it is held from the warm-up to
the last timed command, not while the template database is built.)

The input is the building layer of ``benchmarks/city.py`` (scale 0.2: 200,000 buildings; 1:
1,000,000) as GIS staff hand it over: an ESRI shapefile (``.shp .shx .dbf .prj .cpg``, UTF-8
attributes ``code``, ``name`` in Chinese, ``grid_code``, ``floors``; CGCS2000, EPSG:4490);
``--format gpkg`` uses a GeoPackage instead. Street, communities and grids are loaded once
into a template database (not timed); every timed command gets its own copy of it
(``CREATE DATABASE … TEMPLATE``), after a ``CHECKPOINT``.

The two commands, each started by fork/exec from this script and timed from start to exit
(Python start-up, imports, migrations check, reading, the whole validation report, the
all-or-nothing write and its index builds for ours; reading, the copy and the GiST index for
ogr2ogr):

* ours: ``grid load building.shp --level building --version N --commit``;
* theirs: ``ogr2ogr -f PostgreSQL PG:… building.shp -nln ogr_building
  -lco GEOMETRY_NAME=geom -lco SPATIAL_INDEX=GIST`` (a plain copy, no checks).

Cache state: warm by default (one untimed run of each first, so the file, the interpreter's
modules and GDAL's libraries are in the page cache for both); ``--cold`` runs
``sync; echo 3 > /proc/sys/vm/drop_caches`` before every timed command (root only). The order
of the two alternates from run to run. Agreement is asserted before any time is printed: the
rows each command wrote (code, name and geometry as WKB) hash the same. The peak RSS of each
command is what GNU time reports (``/usr/bin/time -f %M``).

CPU seconds, beside the wall times: the command's own (user + system, from GNU time) and the
database server's for it (the backends and parallel workers serving its database, sampled
from ``/proc/PID/stat`` every 20 ms while it runs; the server must run on this machine). On
a machine others share, wall time follows the CPU a command needs more than its own speed:
these say which side — the command or the server — a difference comes from.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.city import load_city  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
GRID = str(Path(sys.executable).with_name("grid"))
#: GNU time (Debian package ``time``), for each command's peak RSS.
TIME = "/usr/bin/time"


def prepare_files(scale: float, fmt: str) -> dict[str, Path]:
    """The street, community and grid GeoPackages and the building file (written once)."""
    folder = OUT / f"load_{scale:g}"
    paths = {level: folder / f"{level}.gpkg" for level in ("street", "community", "grid")}
    paths["building"] = folder / ("building.shp" if fmt == "shp" else "building.gpkg")
    if all(p.exists() for p in paths.values()):
        return paths
    import geopandas as gpd
    import pyogrio

    folder.mkdir(parents=True, exist_ok=True)
    city = load_city(scale)
    for level in ("street", "community", "grid"):
        part = city[level]
        frame = gpd.GeoDataFrame(
            {"code": part["code"], "name": [f"{level}{c[-3:]}" for c in part["code"]]},
            geometry=part["geometry"], crs="EPSG:4490")
        pyogrio.write_dataframe(frame, paths[level], driver="GPKG", layer=level)
    part = city["building"]
    codes = part["code"].astype(str)
    rng = np.random.default_rng(15)
    frame = gpd.GeoDataFrame(
        {"code": codes, "name": [f"{c[-6:-3]}网格{int(c[-3:])}号楼" for c in codes],
         "grid_code": part["parent"].astype(str),
         "floors": rng.integers(2, 33, len(codes)).astype(np.int32)},
        geometry=part["geometry"], crs="EPSG:4490")
    if fmt == "shp":
        pyogrio.write_dataframe(frame, paths["building"], driver="ESRI Shapefile",
                                encoding="UTF-8")
    else:
        pyogrio.write_dataframe(frame, paths["building"], driver="GPKG", layer="building")
    return paths


def _pg_url(admin: str, name: str) -> str:
    return make_url(admin).set(drivername="postgresql+psycopg", database=name) \
        .render_as_string(hide_password=False)


def _libpq(admin: str, name: str) -> str:
    return make_url(admin).set(drivername="postgresql", database=name) \
        .render_as_string(hide_password=False)


def _ogr(admin: str, name: str) -> str:
    pg = make_url(admin)
    password = f" password={pg.password}" if pg.password else ""
    return (f"PG:host={pg.host or '127.0.0.1'} port={pg.port or 5432} "
            f"user={pg.username or 'postgres'} dbname={name}{password}")


def make_template(admin: str, name: str, paths: dict[str, Path]) -> int:
    """A database with the schema and the street, communities and grids loaded (the
    template each timed command copies); returns the inactive version to load into."""
    from grid.db import Database
    from grid.errors import LoadError
    from grid.hierarchy.levels import Level
    from grid.migrate import upgrade
    from grid.settings import Settings
    from grid.spatial.loader import load_boundaries

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(Settings(database_url=_pg_url(admin, name)))
    try:
        upgrade(db)
        version = None
        for level in (Level.street, Level.community, Level.grid):
            try:
                report = load_boundaries(db, paths[level.value], level, commit=True,
                                         version_id=version)
            except LoadError as exc:
                raise SystemExit(f"{level}: {exc.message} {exc.details}") from exc
            version = report.version_id
    finally:
        db.dispose()
    return version


@contextmanager
def _locked(path: Path | None) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (nothing when None)."""
    if path is None:
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _checkpoint(admin: str) -> None:
    """Flush dirty pages, so no command pays for the one before it."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def _drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


class ServerCPU:
    """CPU seconds the server's processes spend for one database while it is sampled: every
    20 ms the backends and parallel workers connected to it are listed and their
    ``/proc/PID/stat`` user + system ticks read; each process counts with its last reading
    (at most 20 ms of a process's end is missed)."""

    def __init__(self, admin: str, database: str) -> None:
        self.admin, self.database = admin, database
        self.ticks: dict[int, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> ServerCPU:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()

    def _sample(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            while not self.stop.wait(0.02):
                pids = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                    (self.database,)).fetchall()
                for (pid,) in pids:
                    try:
                        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:  # gone, or another machine's process
                        continue
                    self.ticks[pid] = int(fields[11]) + int(fields[12])  # utime + stime

    @property
    def seconds(self) -> float:
        return sum(self.ticks.values()) / os.sysconf("SC_CLK_TCK")


def _timed(command: list[str], env: dict[str, str] | None = None
           ) -> tuple[float, int, float]:
    """Wall seconds of one fresh process, from fork to exit, its peak RSS in bytes and its
    CPU seconds (user + system).

    The command runs under GNU time (``/usr/bin/time -f %M``), which reports the peak RSS
    of the command alone: a child forked from this script would count the script's own
    pages, a few hundred MiB, in its ``ru_maxrss``. Both commands pay the same wrapper."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        start = time.perf_counter()
        child = subprocess.run([TIME, "-f", "%M %U %S", "-o", rss.name, *command], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
        if child.returncode:
            raise SystemExit(f"{command[0]} failed ({child.returncode}): "
                             f"{child.stderr.decode(errors='replace')[-2000:]}")
        peak, user, system = rss.read().split()[-3:]
        return elapsed, int(peak) * 1024, float(user) + float(system)


def _digest(conn: psycopg.Connection, query: str) -> tuple[int, str]:
    """Row count and a hash of (code, name, WKB) in code order."""
    h = hashlib.sha256()
    count = 0
    with conn.cursor(name="digest") as cursor:
        cursor.itersize = 20_000
        cursor.execute(query)
        for code, name, wkb in cursor:
            h.update(code.encode() + b"\t" + name.encode() + b"\t" + bytes(wkb) + b"\n")
            count += 1
    return count, h.hexdigest()


def ours_digest(admin: str, name: str, version: int) -> tuple[int, str]:
    with psycopg.connect(_libpq(admin, name)) as conn:
        return _digest(conn, "SELECT code, name, ST_AsBinary(ST_Multi(geom)) FROM unit "
                             f"WHERE level = 'building' AND version_low <= {version} "
                             f"AND version_high >= {version} ORDER BY code")


def ogr_digest(admin: str, name: str) -> tuple[int, str]:
    with psycopg.connect(_libpq(admin, name)) as conn:
        return _digest(conn, "SELECT code, name, ST_AsBinary(ST_Multi(geom)) "
                             "FROM ogr_building ORDER BY code")


def main() -> None:
    """Prepare (once), time both commands ``--runs`` times, assert agreement, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.2,
                        help="city scale: 0.2 = 200,000 buildings, 1 = 1,000,000")
    parser.add_argument("--format", choices=("shp", "gpkg"), default="shp")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true",
                        help="drop the page cache before every timed command (root)")
    parser.add_argument("--prepare-only", action="store_true",
                        help="write the files and stop (run this outside the bench lock)")
    parser.add_argument("--postgres", default=os.environ.get(
        "GRID_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--prefix", default="load_bench")
    parser.add_argument("--lock", type=Path,
                        help="a lock file held (flock) while the commands are timed, so "
                             "benchmarks sharing a machine take turns")
    args = parser.parse_args()
    paths = prepare_files(args.scale, args.format)
    if args.prepare_only:
        print(f"wrote {paths['building'].parent}")
        return
    admin = args.postgres.replace("postgresql+psycopg://", "postgresql://")
    tag = uuid.uuid4().hex[:8]
    template = f"{args.prefix}_{tag}_t"
    made = [template]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    building = str(paths["building"])
    times: dict[str, list[float]] = {"grid load": [], "ogr2ogr": []}
    rss: dict[str, list[int]] = {"grid load": [], "ogr2ogr": []}
    cpu: dict[str, list[tuple[float, float]]] = {"grid load": [], "ogr2ogr": []}
    digests: dict[str, set] = {"grid load": set(), "ogr2ogr": set()}
    try:
        version = make_template(admin, template, paths)

        def fresh() -> str:
            name = f"{args.prefix}_{tag}_{len(made)}"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            made.append(name)
            return name

        def run(which: str, timed: bool) -> None:
            name = fresh()
            if which == "grid load":
                command = [GRID, "load", building, "--level", "building", "--version",
                           str(version), "--commit"]
                command_env = {**env, "GRID_DATABASE_URL": _pg_url(admin, name)}
            else:
                command = ["ogr2ogr", "-f", "PostgreSQL", _ogr(admin, name), building,
                           "-nln", "ogr_building", "-lco", "GEOMETRY_NAME=geom",
                           "-lco", "SPATIAL_INDEX=GIST"]
                command_env = None
            _checkpoint(admin)
            if timed and args.cold:
                _drop_caches()
            with ServerCPU(admin, name) as server:
                elapsed, peak, own = _timed(command, command_env)
            digests[which].add(ours_digest(admin, name, version) if which == "grid load"
                               else ogr_digest(admin, name))
            if timed:
                times[which].append(elapsed)
                rss[which].append(peak)
                cpu[which].append((own, server.seconds))
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            made.remove(name)

        with _locked(args.lock):  # the template is built outside the lock, the rest in it
            if not args.cold:  # warm-up, untimed: both meet a warm page cache
                run("ogr2ogr", False)
                run("grid load", False)
            load_before = Path("/proc/loadavg").read_text().split()[:3]
            for i in range(args.runs):
                order = ("ogr2ogr", "grid load") if i % 2 == 0 else ("grid load", "ogr2ogr")
                for which in order:
                    run(which, True)
            load_after = Path("/proc/loadavg").read_text().split()[:3]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    # agreement first: every run of both wrote the same rows
    assert len(digests["grid load"]) == 1 and digests["grid load"] == digests["ogr2ogr"], \
        digests
    count = next(iter(digests["grid load"]))[0]
    print(f"{count:,} buildings from {paths['building'].name} ({args.format}), "
          f"{'cold cache (dropped before each command)' if args.cold else 'warm cache'}, "
          f"{args.runs} run(s) each, fresh processes; rows agree (sha256 of code, name, WKB)")
    print(f"load average before {' '.join(load_before)}, after {' '.join(load_after)}")
    for which in ("grid load", "ogr2ogr"):
        runs = ", ".join(f"{t:.2f}" for t in times[which])
        print(f"{which:9s}: median {statistics.median(times[which]):6.2f} s  "
              f"[{runs}]  peak RSS {max(rss[which]) / 2**20:,.0f} MiB")
        own = statistics.median(c[0] for c in cpu[which])
        server = statistics.median(c[1] for c in cpu[which])
        print(f"{'':9s}  CPU s (medians): command {own:5.2f}, server {server:5.2f}, "
              f"both {statistics.median(sum(c) for c in cpu[which]):5.2f}")
    ratio = statistics.median(times["grid load"]) / statistics.median(times["ogr2ogr"])
    print(f"ratio grid load / ogr2ogr (medians): {ratio:.2f}x (target <= 1.0x)")


if __name__ == "__main__":
    main()
