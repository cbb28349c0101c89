"""Memory of N server workers sharing the locate snapshot against N workers each building its
own locator (the peer: the same server without ``GRID_LOCATE_SNAPSHOT_DIR``), in one run.

Three servers on the same PostGIS database holding the generated city (benchmarks/city.py),
each at 1, 2 and 4 workers:

* ``grid serve`` — ``grid serve --workers N`` with the snapshot: workers forked from one
  parent that has imported the service and opened the snapshot (grid.api.prefork);
* ``uvicorn+snap`` — ``uvicorn --workers N`` (spawned workers) with the snapshot;
* ``in-memory`` — ``uvicorn --workers N`` without it: each worker builds its own locator and
  holds its own names (the peer; ``--peer-repeat`` runs, it is slow at city scale).

For each: time from start to the first locate answer, RSS and PSS (``/proc/PID/smaps_rollup``)
summed over every process of the server (parent included) once each worker has answered and
stopped growing, and one client's locate latency (p50/p99 of 500 sequential requests). The
answers of all three servers — every level's code, names, Party organisations, workers, the
nearest grid — are compared on the same 300 points before any figure is printed. Memory per
additional worker is the growth of the summed PSS from 1 to N workers, divided by N − 1.

    python benchmarks/snapshot_bench.py --scale 1 --keep snap_city1      # the city at full size

Medians of ``--repeat`` runs; the load average is printed with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from city import OUT, load_city, random_points  # noqa: E402
from http_locate_bench import fill, free_port, ours_path, stop, wait_ready  # noqa: E402

from grid.spatial import snapshot  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def loadavg() -> str:
    """The 1/5/15-minute load average (the machine is shared)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


KINDS = ("grid serve", "uvicorn+snap", "in-memory")


def start(kind: str, url: str, port: int, workers: int,
          snapshot_dir: Path) -> subprocess.Popen:
    """One of the three servers (see the module doc) in ``workers`` workers."""
    env = {**os.environ, "GRID_DATABASE_URL": url.replace("postgresql://",
                                                          "postgresql+psycopg://")}
    env.pop("GRID_LOCATE_SNAPSHOT_DIR", None)
    if kind != "in-memory":
        env["GRID_LOCATE_SNAPSHOT_DIR"] = str(snapshot_dir)
    if kind == "grid serve":
        command = [sys.executable, "-m", "grid.cli", "serve", "--port", str(port), "--workers",
                   str(workers), "--log-level", "warning", "--no-access-log"]
    else:
        command = [sys.executable, "-m", "uvicorn", "--factory", "grid.api.app:create_app",
                   "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                   "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def memory(pid: int) -> tuple[int, int]:
    """RSS and PSS of one process, in bytes (smaps_rollup; 0 for a process that is gone)."""
    values = {}
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0, 0
    for line in text.splitlines():
        parts = line.split()
        if parts[0] in ("Rss:", "Pss:"):
            values[parts[0]] = int(parts[1]) * 1024
    return values["Rss:"], values["Pss:"]


def server_processes(process: subprocess.Popen) -> list[int]:
    """Every process of the server: the one we started and all its descendants (uvicorn's
    supervisor and spawned workers, or grid serve's parent and forked workers)."""
    return [process.pid, *(c.pid for c in psutil.Process(process.pid).children(recursive=True))]


def settle(base: str, headers: dict, paths: list[str], process: subprocess.Popen) -> None:
    """Load every worker until none grows any more (each has built or mapped its locator and
    its place directory); a worker that died and was replaced starts the wait again."""
    last = None
    with ThreadPoolExecutor(8) as pool:
        for _ in range(120):
            list(pool.map(lambda p: get(base + p, headers), paths[:400]))
            pids = server_processes(process)
            now = [memory(pid)[0] for pid in pids]
            if last is not None and len(now) != len(last):
                last = None
            if last is not None and all(abs(a - b) < 4 << 20 for a, b in zip(now, last,
                                                                           strict=True)):
                return
            last = now
            time.sleep(2)


FAILURES: list[str] = []


def get(url: str, headers: dict) -> dict:
    """One GET, decoded; a dropped connection (a worker that died: the in-memory peer's
    workers have crashed under concurrent first requests at city scale, and uvicorn starts
    another) is retried after a pause, and counted in FAILURES, which is printed."""
    for attempt in range(10):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                        timeout=300) as response:
                return json.loads(response.read())
        except (ConnectionError, urllib.error.URLError) as exc:
            FAILURES.append(f"{url.split('/api')[0]}: {exc!r}")
            if attempt == 9:
                raise
            time.sleep(3)
    raise AssertionError("unreachable")


def described(answer: dict) -> dict:
    """What a locate answer says about the place (all but the overlays, which no server
    here has): codes, names, Party organisations, groups, workers, the nearest grid."""
    return {key: answer.get(key) for key in ("version", "covered", "owners", "nearest_grid")}


def latency(base: str, headers: dict, paths: list[str]) -> tuple[float, float]:
    """p50 and p99 in ms of one client's sequential locates."""
    times = []
    for path in paths:
        started = time.perf_counter()
        get(base + path, headers)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99)]


def one_run(kind: str, url: str, token: str, workers: int, snapshot_dir: Path,
            paths: list[str]) -> dict:
    """Start one server, measure it, stop it."""
    headers = {"Authorization": f"Bearer {token}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start(kind, url, port, workers, snapshot_dir)
    try:
        first = wait_ready(base + paths[0], headers, process, timeout=1800)
        settle(base, headers, paths, process)
        pids = server_processes(process)
        rss, pss = zip(*(memory(pid) for pid in pids), strict=True)
        p50, p99 = latency(base, headers, paths[-500:])
        answers = [described(get(base + p, headers)) for p in paths[:CHECK]]
    finally:
        stop(process)
    failures = [f for f in FAILURES if f.startswith(base)]
    if failures:
        print(f"    {kind}: {len(failures)} dropped connections (a worker died and was "
              f"replaced), e.g. {failures[0]}", flush=True)
    run = {"first_s": first, "rss": sum(rss), "pss": sum(pss), "rss_max": max(rss),
           "processes": len(pids), "p50": p50, "p99": p99, "answers": answers,
           "load": loadavg()}
    print(f"    {kind}, {workers} worker(s): first answer {first:.1f} s, PSS "
          f"{run['pss'] / 2**20:.0f} MB over {len(pids)} processes, p50 {p50:.2f} ms; "
          f"load {run['load']}", flush=True)
    return run


CHECK = 300


def main() -> None:
    """Measure both servers at 1, 2 and 4 workers; print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peer-repeat", type=int, default=1,
                        help="runs of each peer (uvicorn+snap, in-memory: each of its workers "
                             "builds a city's locator)")
    parser.add_argument("--snapshot", type=Path, metavar="DIR",
                        help="use the snapshot already written under DIR by grid activate "
                             "(of this database's active version) instead of writing one")
    parser.add_argument("--keep", metavar="DB", help="reuse (and keep) this filled database")
    parser.add_argument("--pg-url", default=os.environ.get(
        "GRID_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    print(f"load average at start: {loadavg()}", flush=True)
    city = load_city(args.scale)
    counts = {level: len(city[level]["code"]) for level in city}
    print(f"city at --scale {args.scale}: {counts}", flush=True)
    url, token, _version, drop = city_database(args, city)
    snapshot_dir = args.snapshot or Path(tempfile.mkdtemp(prefix="snapshot-", dir=OUT))
    lon, lat = random_points(city, 2000)
    paths = [ours_path(x, y) for x, y in zip(lon, lat, strict=True)]
    try:
        if args.snapshot is None:
            started = time.perf_counter()
            build_snapshot(url, snapshot_dir, _version)
            print(f"snapshot written by grid activate in {time.perf_counter() - started:.1f} s;"
                  f" load {loadavg()}", flush=True)
        print(f"snapshot {snapshot.current(snapshot_dir)}: {du(snapshot_dir) / 2**20:.0f} MB "
              "on disk", flush=True)
        report(args, url, token, snapshot_dir, paths)
    finally:
        if args.snapshot is None:
            shutil.rmtree(snapshot_dir, ignore_errors=True)
        drop()


def city_database(args, city: dict):
    """A PostGIS database holding the city (``--keep``: reused if it exists, and kept): its
    URL, an admin token, the active version and a function that drops it unless kept."""
    name = args.keep or f"grid_bench_snap_{os.getpid()}"
    admin = psycopg.connect(args.pg_url, autocommit=True)
    exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    url = args.pg_url.rsplit("/", 1)[0] + f"/{name}"
    token_file = OUT / f"{name}.token"
    if exists and token_file.exists():
        token = token_file.read_text()
    else:
        if exists:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        token = fill(url, city)
        token_file.write_text(token)
    with psycopg.connect(url) as conn:
        version = conn.execute(
            "SELECT id FROM boundary_version WHERE is_active").fetchone()[0]

    def drop() -> None:
        if not args.keep:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            token_file.unlink(missing_ok=True)

    return url, token, version, drop


def build_snapshot(url: str, snapshot_dir: Path, version: int) -> None:
    """``grid activate`` of the active version with a snapshot directory set, in a fresh
    process, as a deployment writes it."""
    env = {**os.environ, "GRID_DATABASE_URL": url.replace("postgresql://",
                                                          "postgresql+psycopg://"),
           "GRID_LOCATE_SNAPSHOT_DIR": str(snapshot_dir)}
    subprocess.run([sys.executable, "-m", "grid.cli", "activate", str(version)], cwd=ROOT,
                   env=env, check=True, stdout=subprocess.DEVNULL)


def du(path: Path) -> int:
    """Bytes of the current snapshot's files."""
    return sum(f.stat().st_size for f in snapshot.current(path).iterdir())


def report(args, url: str, token: str, snapshot_dir: Path, paths: list[str]) -> None:
    """Run each server ``--repeat`` times (the peer ``--peer-repeat``); print medians."""
    mb = 2 ** 20
    per_workers = {}
    for workers in (int(w) for w in args.workers.split(",")):
        runs: dict[str, list[dict]] = {kind: [] for kind in KINDS}
        for i in range(max(args.repeat, args.peer_repeat)):
            for kind in KINDS:
                if i < (args.repeat if kind == "grid serve" else args.peer_repeat):
                    runs[kind].append(one_run(kind, url, token, workers, snapshot_dir, paths))
        # Agreement before any figure: the whole description of every checked point.
        reference = runs["in-memory"][0]["answers"]
        for kind, rs in runs.items():
            for run in rs:
                assert run["answers"] == reference, f"{kind} answers differ from in-memory"
        med = {kind: {key: statistics.median(r[key] for r in rs)
                      for key in ("first_s", "rss", "pss", "rss_max", "p50", "p99")}
               for kind, rs in runs.items()}
        per_workers[workers] = med
        print(f"\n{workers} worker(s): {CHECK} answers agree across the three servers "
              f"(runs: {', '.join(f'{k} {len(r)}' for k, r in runs.items())}); loads "
              f"{[r['load'] for rs in runs.values() for r in rs]}", flush=True)
        for kind, m in med.items():
            print(f"  {kind:12}: first answer {m['first_s']:.1f} s, RSS {m['rss'] / mb:.0f} MB "
                  f"(largest process {m['rss_max'] / mb:.0f}), PSS {m['pss'] / mb:.0f} MB, "
                  f"locate p50 {m['p50']:.2f} ms p99 {m['p99']:.2f} ms", flush=True)
        ours, peer = med["grid serve"], med["in-memory"]
        print(f"  ratio grid serve / in-memory: PSS {ours['pss'] / peer['pss']:.2f}, first "
              f"answer {ours['first_s'] / peer['first_s']:.2f}, p50 "
              f"{ours['p50'] / peer['p50']:.2f}, p99 {ours['p99'] / peer['p99']:.2f}",
              flush=True)
    counts = sorted(per_workers)
    if len(counts) > 1:
        base = counts[0]
        print(f"\nPSS per additional worker (summed PSS growth from {base} worker(s)); "
              f"load {loadavg()}", flush=True)
        for kind in KINDS:
            growth = {n: (per_workers[n][kind]["pss"] - per_workers[base][kind]["pss"])
                      / (n - base) for n in counts[1:]}
            steps = ", ".join(f"{base}→{n}: {g / mb:.0f} MB" for n, g in growth.items())
            print(f"  {kind:12}: {steps}", flush=True)


if __name__ == "__main__":
    main()
