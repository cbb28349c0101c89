"""``POST /api/v1/incidents`` (a grid worker's report from the phone) at fixed arrival rates,
open loop, against ``grid serve --workers 2`` on PostGIS; every acknowledged id checked
against the table afterwards.

* Data: ``benchmarks/city.py`` at ``--scale`` (0.1 = 33 streets, ~5,000 grids, 100,000
  buildings) COPYed into a throwaway PostGIS database (``http_locate_bench.fill``), kept as a
  template; each run gets a fresh copy of it, so every run starts from the same table.
* Load: ``benchmarks/intake_open_loop.js`` (Node, nothing to install): report i is due at
  start + i/rate and its latency is measured from that due time, so queueing shows (no
  coordinated omission); at most ``--connections`` keep-alive connections. Reports are
  category Z001 at random buildings' interior points (CGCS2000), one body a line.
* Each run: start the server (``grid serve``, the command a deployment runs), time to its
  first 201, an unmeasured warm-up, then each rate for ``--seconds``. After each rate: every
  id answered 201 must be one incident row, once, with its ``report`` step — ``lost`` counts
  those that are not (asserted 0 before any figure is printed).
* CPU: the client's own (Node's ``process.cpuUsage``), the server workers' and the database
  backends' (``/proc/PID/stat``), and the whole machine's busy cores (``/proc/stat``), over
  each rate's run: server and client share the same 2 cores.
* Peer, same run and process model: ``GRID_REPORT_BATCH=0`` — one transaction per report,
  as before the batching writer — at the same rates (``--peer``, on by default).

    python benchmarks/intake_open_loop_bench.py [--scale 0.1] [--rates 500,1000,2000]
        [--seconds 10] [--runs 3] [--connections 64] [--workers 2] [--no-peer]

Prints one line per (run, mode, rate) and the medians over runs; output also goes to
benchmarks/out/intake_open_loop_bench.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import psycopg
import shapely

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from city import LEVELS, OUT, load_city  # noqa: E402
from http_locate_bench import fill, free_port, stop  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_by_pid(pids) -> dict[int, float]:
    """User + system CPU seconds of each of ``pids`` still running."""
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / TICK
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two ``cpu_by_pid``: a process started since counts from 0, one
    gone since counts nothing after ``before`` (a lower bound)."""
    return sum(after.get(pid, before.get(pid, 0)) - before.get(pid, 0)
               for pid in set(before) | set(after))


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (the uvicorn workers of the server's supervisor)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def backends(admin: str, database: str) -> list[int]:
    """The PostgreSQL backend processes connected to ``database``."""
    with psycopg.connect(admin, autocommit=True) as conn:
        return [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [database])]


def post(base: str, token: str, body: str) -> int:
    request = urllib.request.Request(
        base + "/api/v1/incidents", data=body.encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status


def start_server(url: str, port: int, workers: int, batch: bool) -> subprocess.Popen:
    """``grid serve`` (the deployment's command) with this tree first on the path."""
    env = {**os.environ, "GRID_DATABASE_URL": url.replace("postgresql://",
                                                          "postgresql+psycopg://"),
           "PYTHONPATH": str(ROOT), "GRID_REPORT_BATCH": "1" if batch else "0"}
    return subprocess.Popen(
        [sys.executable, "-c", "from grid.cli import app; app()", "serve", "--host",
         "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_first_report(base: str, token: str, body: str, server: subprocess.Popen) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < 600:
        if server.poll() is not None:
            raise RuntimeError(f"server exited: {server.stderr.read()}")
        try:
            if post(base, token, body) == 201:
                return time.perf_counter() - started
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server not ready after 600 s")


def open_loop(base: str, bodies: Path, rate: int, seconds: float, connections: int,
              token: str, ids: Path, drain: float = 30) -> dict:
    out = subprocess.run(
        ["node", str(HERE / "intake_open_loop.js"), base, "/api/v1/incidents", str(bodies),
         str(rate), str(seconds), str(connections), token, str(ids), str(drain)],
        capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def settle(url: str) -> None:
    """Wait until the incident table stops growing (the server's backlog is written)."""
    with psycopg.connect(url, autocommit=True) as conn:
        last = -1
        while (count := conn.execute("SELECT count(*) FROM incident").fetchone()[0]) != last:
            last = count
            time.sleep(1)


def check_stored(url: str, ids: list[int]) -> dict:
    """Each acknowledged id: one incident row, with its one ``report`` step."""
    with psycopg.connect(url) as conn:
        incidents = conn.execute("SELECT count(*) FROM incident WHERE id = ANY(%s)",
                                 [ids]).fetchone()[0]
        steps = conn.execute(
            "SELECT count(*) FROM incident_step WHERE incident_id = ANY(%s) "
            "AND action = 'report'", [ids]).fetchone()[0]
    return {"acknowledged": len(ids), "distinct": len(set(ids)), "stored": incidents,
            "report_steps": steps, "lost": len(set(ids)) - incidents}


def one_run(args, template: str, token: str, bodies: Path, work: Path, batch: bool,
            run: int) -> list[dict]:
    name = f"{args.db_prefix}run_{uuid.uuid4().hex[:8]}"
    url = args.pg_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(args.pg_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    first = bodies.read_text().split("\n", 1)[0]
    results = []
    server = start_server(url, port, args.workers, batch)
    try:
        ready = wait_first_report(base, token, first, server)
        mode = "batched" if batch else "one-per-report"
        print(f"run {run} {mode}: server start to first 201: {ready:.2f} s", flush=True)
        # Warm-up, unmeasured: pools fill, both workers' place directories are built.
        open_loop(base, bodies, args.warmup_rate, args.warmup, args.connections, token,
                  work / "warm-ids", args.drain)
        settle(url)
        workers = children(server.pid)
        for rate in args.rates:
            time.sleep(1)
            ids_file = work / f"ids-{run}-{mode}-{rate}"
            pg = backends(args.pg_url, name)
            load = Path("/proc/loadavg").read_text().split()[:3]
            cpu0, pg0, (busy0, all0) = cpu_by_pid(workers), cpu_by_pid(pg), machine_busy()
            started = time.perf_counter()
            result = open_loop(base, bodies, rate, args.seconds, args.connections, token,
                               ids_file, args.drain)
            elapsed = time.perf_counter() - started
            busy1, all1 = machine_busy()
            pg1 = cpu_by_pid(set(pg) | set(backends(args.pg_url, name)))
            cpu1 = cpu_by_pid(workers)
            answered = max(result["ok"], 1)
            server_s, db_s = cpu_used(cpu0, cpu1), cpu_used(pg0, pg1)
            result.update(
                run=run, mode=mode, ready_s=round(ready, 2), loadavg=" ".join(load),
                server_cores=round(server_s / elapsed, 2),
                worker_cores=[round((cpu1.get(p, 0) - cpu0.get(p, 0)) / elapsed, 2)
                              for p in workers],
                db_cores=round(db_s / elapsed, 2),
                machine_cores=round((busy1 - busy0) / (all1 - all0) * os.cpu_count(), 2),
                # CPU per acknowledged report: what bounds the rate on 2 shared cores
                server_ms=round(server_s * 1000 / answered, 2),
                db_ms=round(db_s * 1000 / answered, 2),
                client_ms=round(result["client_cpu_s"] * 1000 / answered, 2))
            settle(url)  # answers given up on may still be written: wait for them
            ids = [int(line) for line in ids_file.read_text().split()]
            result.update(check_stored(url, ids))
            results.append(result)
            print("  " + json.dumps(result), flush=True)
    finally:
        stop(server)
        with psycopg.connect(args.pg_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--rates", default="500,1000,2000")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=4, help="seconds of unmeasured load")
    parser.add_argument("--warmup-rate", type=int, default=300)
    parser.add_argument("--drain", type=float, default=20,
                        help="seconds after the last send before answers still out count as "
                             "errors (unanswered)")
    parser.add_argument("--no-peer", dest="peer", action="store_false",
                        help="skip the one-transaction-per-report peer")
    parser.add_argument("--only-peer", action="store_true")
    parser.add_argument("--db-prefix", default="intake_")
    parser.add_argument("--pg-url", default=os.environ.get(
        "GRID_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    args.rates = [int(r) for r in args.rates.split(",")]

    city = load_city(args.scale)
    counts = ", ".join(f"{level} {len(city[level]['code']):,}" for level in LEVELS)
    print(f"city scale {args.scale:g}: {counts}; {os.cpu_count()} cores shared by server, "
          "database and client", flush=True)
    rng = np.random.default_rng(7)
    buildings = city["building"]["geometry"]
    points = shapely.point_on_surface(buildings[rng.choice(len(buildings), 20_000)])
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="intake-", dir=OUT))
    bodies = work / "bodies.txt"
    bodies.write_text("\n".join(
        json.dumps({"lon": round(float(p.x), 7), "lat": round(float(p.y), 7),
                    "category": "Z001", "description": "占道停车 bench", "source": "patrol",
                    "crs": "cgcs2000"}, ensure_ascii=False)
        for p in points) + "\n")
    template = f"{args.db_prefix}tpl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{template}"')
    try:
        token = fill(args.pg_url.rsplit("/", 1)[0] + f"/{template}", city)
        modes = [] if args.only_peer else [True]
        if args.peer or args.only_peer:
            modes.append(False)
        results = []
        for run in range(1, args.runs + 1):
            for batch in modes:
                results += one_run(args, template, token, bodies, work, batch, run)
    finally:
        with psycopg.connect(args.pg_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
    lost = sum(r["lost"] for r in results)
    assert lost == 0, f"{lost} acknowledged reports are not in the table"
    assert all(r["report_steps"] == r["stored"] == r["distinct"] == r["acknowledged"]
               for r in results), "an acknowledged report stored twice or without its step"
    lines = [f"POST /api/v1/incidents open loop, {args.seconds:g} s per rate, "
             f"{args.connections} connections, grid serve --workers {args.workers}, "
             f"scale {args.scale:g}, medians of {args.runs} runs (each from a fresh start)"]
    medians = {}
    for mode in dict.fromkeys(r["mode"] for r in results):
        for rate in args.rates:
            rows = [r for r in results if r["mode"] == mode and r["rate"] == rate]

            def med(key, rows=rows):
                return statistics.median(r[key] for r in rows)
            medians[mode, rate] = m = {k: med(k) for k in (
                "achieved_rate", "p50_ms", "p99_ms", "max_ms", "errors", "client_cores",
                "server_cores", "db_cores", "machine_cores", "ready_s", "server_ms", "db_ms",
                "client_ms")}
            lines.append(
                f"{mode:>15} {rate:5d}/s: achieved {m['achieved_rate']:7.1f}/s  "
                f"p50 {m['p50_ms']:8.1f} ms  p99 {m['p99_ms']:8.1f} ms  max {m['max_ms']:8.1f} ms"
                f"  errors {m['errors']:g}  lost 0  cores: client {m['client_cores']:.2f} "
                f"server {m['server_cores']:.2f} db {m['db_cores']:.2f} "
                f"machine {m['machine_cores']:.2f}  CPU ms/report: server {m['server_ms']:.2f} "
                f"db {m['db_ms']:.2f} client {m['client_ms']:.2f}  start {m['ready_s']:.1f} s  "
                f"load {' / '.join(r['loadavg'] for r in rows)}")
    for rate in args.rates:
        if ("batched", rate) in medians and ("one-per-report", rate) in medians:
            a, b = medians["batched", rate], medians["one-per-report", rate]
            lines.append(f"{rate:5d}/s p99 one-per-report / batched: "
                         f"{b['p99_ms'] / a['p99_ms']:.2f}")
    report = "\n".join(lines)
    print(report)
    (OUT / "intake_open_loop_bench.txt").write_text(
        report + "\n\n" + "\n".join(json.dumps(r) for r in results) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
