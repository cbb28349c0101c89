"""Sustained ``POST /api/v1/incidents`` with wrk against uvicorn, on PostGIS and (the peer, same
run) SpatiaLite; prints requests/s, p50/p99 latency, and lost = incidents answered 201 (their
ids, recorded by the wrk script) that are not in the table after the run; ``stored`` counts
every row written during the run (it also holds requests still in flight when wrk stopped).

    python benchmarks/workflow_post_bench.py [--duration 10] [--warmup 3] [--connections 16]
        [--workers 2]
        [--admin-url postgresql://postgres@127.0.0.1:5432/postgres] [--only postgis]
        [--db-prefix grid_bench_]

Each backend gets a throwaway database with the sample street; points are random buildings'
representative points, so every request locates, finds its owners and writes an incident, its
first step, its reporter and its notifications. Output also goes to benchmarks/out/.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from grid.demo import load_sample
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.incidents.models import Incident
from grid.migrate import upgrade
from grid.services import Services
from grid.settings import Settings
from grid.users import add_user

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
LUA = """
local points = {%(points)s}
local token = "%(token)s"
i, created, other = 0, 0, 0
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
function init(args)
  i = math.random(#points)
  -- every acknowledged incident id, one file per thread: checked against the table after
  ids = io.open("%(ids)s-" .. tid, "w")
  ids:setvbuf("line")
end
function request()
  i = i %% #points + 1
  local p = points[i]
  local body = string.format(
    '{"lon":%%.7f,"lat":%%.7f,"category":"Z001","description":"bench","source":"patrol"}',
    p[1], p[2])
  return wrk.format("POST", "/api/v1/incidents",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
function response(status, headers, body)
  if status == 201 then
    created = created + 1
    ids:write(body:match('^{"id":(%%d+),'), "\\n")
  else
    other = other + 1
  end
end
function done(summary, latency, requests)
  local c, o = 0, 0
  for _, t in ipairs(threads) do c = c + t:get("created"); o = o + t:get("other") end
  io.write(string.format("CREATED %%d OTHER %%d\\n", c, o))
  io.write(string.format("P50_US %%d P99_US %%d\\n", latency:percentile(50),
                         latency:percentile(99)))
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database(backend: str, admin_url: str, tmp: str,
              prefix: str = "grid_bench_") -> tuple[str, str | None]:
    if backend == "spatialite":
        return f"sqlite:///{tmp}/bench.db", None
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False), name


def _prepare(url: str) -> tuple[Services, str, list[tuple[float, float]]]:
    svc = Services(Settings(database_url=url))
    upgrade(svc.db)
    load_sample(svc, ROOT / "data" / "boundaries", say=lambda _line: None)
    with svc.db.write() as session:
        token = add_user(session, "bench", "admin", "", None)[1]
        version = store.require_active_version(session).id
        points = [store.shape_of(b).representative_point()
                  for b in store.units(session, version, Level.building)]
    return svc, token, [(p.x, p.y) for p in points]


def _count(svc: Services) -> int:
    with svc.db.read() as session:
        return session.scalar(select(func.count()).select_from(Incident))


def run(backend: str, args, tmp: str) -> dict:
    """One backend: serve, load with wrk, count."""
    url, pg_name = _database(backend, args.admin_url, tmp, args.db_prefix)
    try:
        return _run(url, backend, args, tmp)
    finally:
        if pg_name:
            with psycopg.connect(args.admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def _run(url: str, backend: str, args, tmp: str) -> dict:
    svc, token, points = _prepare(url)
    random.Random(1).shuffle(points)
    coordinates = ",".join(f"{{{x:.7f},{y:.7f}}}" for x, y in points)
    ids = Path(tmp) / f"{backend}-ids"
    warm, lua = Path(tmp) / f"{backend}-warm.lua", Path(tmp) / f"{backend}.lua"
    warm.write_text(LUA % {"points": coordinates, "token": token, "ids": f"{ids}-warm"})
    lua.write_text(LUA % {"points": coordinates, "token": token, "ids": ids})
    port = _free_port()
    env = {**os.environ, "GRID_DATABASE_URL": url}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "grid.api.app:create_app", "--factory",
         "--port", str(port), "--workers", str(args.workers), "--log-level", "warning"],
        env=env, cwd=ROOT)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        # Warm-up, not measured: the first requests build the locator and the place
        # directory, prepare statements and fill compile caches. Sustained rate is the
        # steady state after it.
        if args.warmup:
            subprocess.run(["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d",
                            f"{args.warmup}s", "-s", str(warm), f"http://127.0.0.1:{port}"],
                           capture_output=True, check=True)
            time.sleep(1)
        before = _count(svc)
        wrk = subprocess.run(
            ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d",
             f"{args.duration}s", "--latency", "-s", str(lua), f"http://127.0.0.1:{port}"],
            capture_output=True, text=True)
        if wrk.returncode:
            raise RuntimeError(f"wrk failed: {wrk.stdout}\n{wrk.stderr}")
        time.sleep(1)  # let in-flight requests finish before counting
        stored = _count(svc) - before
        # Lost = acknowledged (201, id in the answer) but not in the table.
        acknowledged = [int(line) for f in sorted(Path(tmp).glob(f"{backend}-ids-[0-9]*"))
                        for line in f.read_text().split()]
        found = _existing(svc, acknowledged)
    finally:
        server.terminate()
        server.wait(timeout=30)
        svc.close()
    text = wrk.stdout
    created, other = map(int, re.search(r"CREATED (\d+) OTHER (\d+)", text).groups())
    p50, p99 = map(int, re.search(r"P50_US (\d+) P99_US (\d+)", text).groups())
    if len(acknowledged) != created or len(set(acknowledged)) != created:
        raise RuntimeError(f"{created} answers 201 but {len(acknowledged)} ids "
                           f"({len(set(acknowledged))} distinct) recorded")
    return {"backend": backend, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1]),
            "created_201": created, "other": other, "stored": stored,
            "lost": created - found, "p50_ms": p50 / 1000, "p99_ms": p99 / 1000,
            "wrk": text}


def _existing(svc: Services, ids: list[int]) -> int:
    """How many of ``ids`` are incidents in the table."""
    found = 0
    with svc.db.read() as session:
        for i in range(0, len(ids), 1000):
            found += session.scalar(select(func.count()).select_from(Incident).where(
                Incident.id.in_(ids[i:i + 1000])))
    return found


def main() -> None:
    """Run both backends and print the figures and the PostGIS/SpatiaLite ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured load first")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--admin-url", default=os.environ.get(
        "GRID_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--only", choices=("postgis", "spatialite"))
    parser.add_argument("--db-prefix", default="grid_bench_",
                        help="name prefix of the throwaway PostGIS database")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk (scripts/setup.sh --test installs it)")
    OUT.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("postgis", "spatialite"):
            if args.only in (None, backend):
                results.append(run(backend, args, tmp))
    lines = [f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s after a "
             f"{args.warmup}s warm-up, uvicorn --workers {args.workers}, POST /api/v1/incidents"]
    for r in results:
        lines.append(f"{r['backend']:>10}: {r['rps']:8.1f} req/s  p50 {r['p50_ms']:.1f} ms  "
                     f"p99 {r['p99_ms']:.1f} ms  201s {r['created_201']}  other {r['other']}  "
                     f"stored {r['stored']}  lost {r['lost']}")
    if len(results) == 2 and results[1]["rps"]:
        lines.append(f"PostGIS / SpatiaLite throughput ratio: "
                     f"{results[0]['rps'] / results[1]['rps']:.2f}")
    report = "\n".join(lines)
    print(report)
    (OUT / "workflow_post_bench.txt").write_text(
        report + "\n\n" + "\n".join(r["wrk"] for r in results), encoding="utf-8")


if __name__ == "__main__":
    main()
