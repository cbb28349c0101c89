"""``GET /api/v1/locate`` under load on the city-scale set in PostGIS, against tipg serving the
same table with its CQL2 point filter, in one run.

* Data: ``benchmarks/city.py`` at ``--scale`` (1 = 324 streets, 7,056 communities, 49,952 grids,
  1,000,000 buildings) written straight into our schema on a throwaway PostGIS database (one
  active version; a Party organisation for every street, community and grid; a grid worker for
  every grid). The loader's validation is not what is measured here, so rows are COPYed.
* Ours: ``uvicorn grid.api.app:create_app``, ``GET /api/v1/locate?lon=&lat=`` with a bearer
  token: street → community → grid → building with Party organisations and workers, answered
  from memory (``grid.spatial.places``, default ``GRID_LOCATE_CACHE_SECONDS=5``).
* tipg (PyPI, its own venv in benchmarks/out/tipg-venv): ``/collections/public.unit/items?
  filter=S_INTERSECTS(geom,POINT(x y))`` on the same ``unit`` table (GiST index), given every
  advantage: ``bbox-only=true`` and three properties, so it does not ship polygons.
* Load: a fixed arrival rate (``--rate``, open loop, ``benchmarks/http_open_loop.js`` on Node:
  latency from each request's due time) and the maximum throughput at ``--connections``
  concurrent clients (``wrk``, closed loop). The same random points (2 % outside the city) for
  both servers; answers are cross-checked on a sample first.

Server and load tool share the machine's cores (2 here): the numbers include that contention.

    python benchmarks/city.py --scale 1
    python benchmarks/http_locate_bench.py --scale 1 [--db-prefix h4_] [--skip-tipg]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import psycopg
import shapely

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from city import LEVELS, OUT, load_city, random_points  # noqa: E402

from grid.migrate import upgrade  # noqa: E402
from grid.services import Services  # noqa: E402
from grid.settings import Settings  # noqa: E402
from grid.users import add_user  # noqa: E402

ORG_TYPES = {"street": "街道党工委", "community": "社区党委", "grid": "网格党支部"}
NAMES = {"street": "街道", "community": "社区", "grid": "网格", "building": "号楼"}
TIPG_VENV = OUT / "tipg-venv"


def _copy(conn, table: str, columns: str, rows) -> None:
    with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def fill(url: str, city: dict) -> str:
    """Migrate a new database, COPY the city into it, and return an admin token."""
    svc = Services(Settings(database_url=url.replace("postgresql://", "postgresql+psycopg://")))
    upgrade(svc.db)
    with svc.db.write() as session:
        token = add_user(session, "http-bench", "admin", "")[1]
    svc.close()
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute(
            "INSERT INTO boundary_version (label, note, created_at, activated_at, is_active) "
            "VALUES ('city', '', now(), now(), true) RETURNING id").fetchone()[0]
        for level in LEVELS:
            part = city[level]
            multi = shapely.multipolygons(shapely.get_parts(part["geometry"])[:, None]) \
                if len(part["geometry"]) else part["geometry"]
            wkb = shapely.to_wkb(shapely.set_srid(multi, 4490), hex=True, include_srid=True)
            _copy(conn, "unit", "code, name, level, parent_code, version_low, version_high, "
                  "attrs, geom",
                  ((c, f"{c[-3:]}{NAMES[level]}", level, p, version, version, "{}", g)
                   for c, p, g in zip(part["code"], part["parent"], wkb, strict=True)))
            print(f"  unit {level}: {len(part['code']):,} rows", flush=True)
        _copy(conn, "party_org", "unit_code, level, org_type, name, secretary, contact",
              ((c, level, ORG_TYPES[level], f"{c}{ORG_TYPES[level]}", "书记", "010-00000000")
               for level in ORG_TYPES for c in city[level]["code"]))
        _copy(conn, "grid_worker", "grid_code, name, phone, role",
              ((c, f"网格员{c[-3:]}", "13800000000", "专职网格员")
               for c in city["grid"]["code"]))
        conn.execute("ANALYZE")
    return token


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, headers: dict, process: subprocess.Popen, timeout: float) -> float:
    """Seconds until ``url`` answers 200 (the first locate builds the in-memory index)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                        timeout=timeout) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def get_json(url: str, headers: dict) -> dict:
    """One GET, decoded."""
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as response:
        return json.loads(response.read())


def ours_path(lon: float, lat: float) -> str:
    """Our locate request for a point."""
    return f"/api/v1/locate?lon={float(lon)!r}&lat={float(lat)!r}"


def tipg_path(lon: float, lat: float) -> str:
    """tipg's CQL2 point filter on the unit table (no geometry in the answer)."""
    query = urllib.parse.urlencode({
        "filter": f"S_INTERSECTS(geom,POINT({float(lon)!r} {float(lat)!r}))",
        "filter-lang": "cql2-text",
        "properties": "code,level,name", "bbox-only": "true", "limit": 10})
    return f"/collections/public.unit/items?{query}"


def open_loop(base: str, paths_file: Path, rate: int, seconds: int, connections: int,
              token: str | None) -> dict:
    """Fixed arrival rate with the Node harness; its JSON report."""
    command = ["node", str(HERE / "http_open_loop.js"), base, str(paths_file), str(rate),
               str(seconds), str(connections)] + ([token] if token else [])
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def wrk(base: str, paths_file: Path, seconds: int, connections: int, token: str | None) -> dict:
    """Closed-loop maximum with wrk (2 threads); requests/s and latency percentiles."""
    script = paths_file.with_suffix(".lua")
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"\n' if token else ""
    script.write_text(
        f'{auth}local paths = {{}}\nfor line in io.lines("{paths_file}") do '
        'paths[#paths + 1] = line end\nlocal i = 0\nrequest = function()\n'
        '  i = i % #paths + 1\n  return wrk.format("GET", paths[i])\nend\n')
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-s", str(script), base], capture_output=True, text=True, check=True)
    text = out.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)

    def pct(p: str) -> str:
        match = re.search(rf"^\s+{p}%\s+(\S+)", text, re.M)
        return match.group(1) if match else "?"

    return {"rps": rps, "p50": pct("50"), "p99": pct("99"),
            "non2xx": int(errors.group(1)) if errors else 0}


def start_ours(url: str, port: int, workers: int) -> subprocess.Popen:
    """Our API in ``workers`` uvicorn workers, no access log."""
    env = {**os.environ, "GRID_DATABASE_URL": url.replace("postgresql://",
                                                          "postgresql+psycopg://")}
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "grid.api.app:create_app", "--host",
         "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning",
         "--no-access-log"], cwd=ROOT, env=env)


def start_tipg(url: str, port: int, workers: int) -> subprocess.Popen:
    """tipg in ``workers`` uvicorn workers on the same database, only the unit table."""
    env = {**os.environ, "DATABASE_URL": url, "TIPG_DB_TABLES": '["public.unit"]',
           "TIPG_DB_SCHEMAS": '["public"]', "TIPG_MAX_FEATURES_PER_QUERY": "100"}
    return subprocess.Popen(
        [str(TIPG_VENV / "bin" / "uvicorn"), "tipg.main:app", "--host", "127.0.0.1", "--port",
         str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
        env=env)


def stop(process: subprocess.Popen) -> None:
    """Stop one server we started."""
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def cross_check(ours: str, tipg: str | None, headers: dict, lon, lat) -> str:
    """Our grid and building codes against tipg's features for the same points."""
    same = total = 0
    for x, y in zip(lon, lat, strict=True):
        answer = get_json(ours + ours_path(x, y), headers)
        codes = {link["level"]: link["code"] for link in answer["owners"]["chain"]}
        if tipg is None:
            total += 1
            same += bool(codes) == answer["covered"]
            continue
        features = get_json(tipg + tipg_path(x, y), {})["features"]
        theirs: dict[str, list[str]] = {}
        for f in features:
            theirs.setdefault(f["properties"]["level"], []).append(f["properties"]["code"])
        total += 1
        same += all(codes.get(level) == (min(theirs[level]) if level in theirs else None)
                    for level in ("grid", "building"))
    return f"{same}/{total}"


def run(args, url: str, token: str, lon, lat) -> dict:
    """Start the servers, cross-check answers, then load each at the fixed rate and at the max
    (one at a time; the idle one only waits)."""
    headers = {"Authorization": f"Bearer {token}"}
    work = Path(tempfile.mkdtemp(prefix="http-bench-", dir=OUT))
    servers = {"ours": (start_ours, ours_path, token)}
    if not args.skip_tipg:
        servers["tipg"] = (start_tipg, tipg_path, None)
    bases, processes, results, warm = {}, [], {}, {}
    try:
        for name, (start, path_of, auth) in servers.items():
            port = free_port()
            bases[name] = f"http://127.0.0.1:{port}"
            processes.append(start(url, port, args.workers))
            ready = wait_ready(bases[name] + path_of(float(lon[0]), float(lat[0])),
                               headers if auth else {}, processes[-1], timeout=900)
            print(f"{name}: ready in {ready:.1f} s (the first request builds any in-memory "
                  "index)", flush=True)
            # Warm-up load: pools fill, in-memory snapshots finish (ours makes its locate
            # directory in the background), other workers build their index meanwhile.
            warm[name] = 10 + round(ready * (1.5 if args.workers > 1 else 0.5))
        n = min(args.check, len(lon))
        print(f"answers agreeing (grid and building codes, lowest code on shared edges): "
              f"{cross_check(bases['ours'], bases.get('tipg'), headers, lon[:n], lat[:n])}",
              flush=True)
        for name, (_, path_of, auth) in servers.items():
            paths = work / f"{name}.txt"
            paths.write_text("\n".join(path_of(float(x), float(y))
                                       for x, y in zip(lon, lat, strict=True)) + "\n")
            wrk(bases[name], paths, warm[name], args.connections, auth)  # warm-up: pools, indexes
            fixed = open_loop(bases[name], paths, args.rate, args.seconds, args.connections,
                              auth)
            print(f"  {name} fixed {args.rate}/s: {json.dumps(fixed)}", flush=True)
            top = wrk(bases[name], paths, args.seconds, args.connections, auth)
            print(f"  {name} max at {args.connections} clients: {json.dumps(top)}", flush=True)
            results[name] = {"fixed": fixed, "max": top}
    finally:
        for process in processes:
            stop(process)
    return results


def main() -> None:
    """Fill a throwaway database, load both servers, print the figures and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--rate", type=int, default=500, help="fixed arrival rate, requests/s")
    parser.add_argument("--seconds", type=int, default=20, help="length of each load run")
    parser.add_argument("--connections", type=int, default=64, help="concurrent clients")
    parser.add_argument("--points", type=int, default=20_000, help="distinct points cycled")
    parser.add_argument("--check", type=int, default=200, help="points cross-checked first")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers, each server")
    parser.add_argument("--skip-tipg", action="store_true")
    parser.add_argument("--db-prefix", default="grid_bench_")
    parser.add_argument("--keep", metavar="DB", help="reuse (and keep) this filled database")
    parser.add_argument("--pg-url", default=os.environ.get(
        "GRID_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    if not args.skip_tipg and not (TIPG_VENV / "bin" / "uvicorn").exists():
        sys.exit(f"tipg is not installed: python3 -m venv {TIPG_VENV} && "
                 f"{TIPG_VENV}/bin/pip install tipg uvicorn   (or pass --skip-tipg)")

    city = load_city(args.scale)
    counts = ", ".join(f"{level} {len(city[level]['code']):,}" for level in LEVELS)
    print(f"city scale {args.scale:g}: {counts}; {os.cpu_count()} cores shared by server and "
          "load tool", flush=True)
    lon, lat = random_points(city, args.points, seed=5)
    name = args.keep or f"{args.db_prefix}http_{uuid.uuid4().hex[:8]}"
    url = args.pg_url.rsplit("/", 1)[0] + f"/{name}"
    fresh = True
    with psycopg.connect(args.pg_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            fresh = False
        else:
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        if fresh:
            started = time.perf_counter()
            token = fill(url, city)
            print(f"filled {name} in {time.perf_counter() - started:.1f} s", flush=True)
            (OUT / f"{name}.token").write_text(token)
        else:
            token = (OUT / f"{name}.token").read_text()
            print(f"reusing {name}", flush=True)
        results = run(args, url, token, lon, lat)
    finally:
        if not args.keep:
            with psycopg.connect(args.pg_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    report(args, results)


def report(args, results: dict) -> None:
    """The summary lines (figures exactly as measured above)."""
    ours = results["ours"]
    print(f"\nresults ({os.cpu_count()} cores shared by server and load tool; {args.workers} "
          "uvicorn worker(s) each)")
    fixed = ours["fixed"]
    verdict = "met" if fixed["p99_ms"] is not None and fixed["p99_ms"] < 5 else "NOT met"
    print(f"  ours, fixed arrival {args.rate}/s for {args.seconds} s: p50 {fixed['p50_ms']} ms, "
          f"p99 {fixed['p99_ms']} ms (target p99 < 5 ms: {verdict}), achieved "
          f"{fixed['achieved_rate']}/s, errors {fixed['errors']}")
    print(f"  ours, max at {args.connections} clients (wrk): {ours['max']['rps']:,.0f} requests/s"
          f" (p50 {ours['max']['p50']}, p99 {ours['max']['p99']})")
    if "tipg" in results:
        tipg = results["tipg"]
        fixed = tipg["fixed"]
        print(f"  tipg, fixed arrival {args.rate}/s: p50 {fixed['p50_ms']} ms, p99 "
              f"{fixed['p99_ms']} ms, achieved {fixed['achieved_rate']}/s, errors "
              f"{fixed['errors']}")
        print(f"  tipg, max at {args.connections} clients (wrk): {tipg['max']['rps']:,.0f} "
              f"requests/s (p50 {tipg['max']['p50']}, p99 {tipg['max']['p99']})")
        ratio = ours["max"]["rps"] / tipg["max"]["rps"]
        print(f"  ours / tipg max throughput: {ratio:.2f}× (target ≥ 3×: "
              f"{'met' if ratio >= 3 else 'NOT met'})")


if __name__ == "__main__":
    main()
