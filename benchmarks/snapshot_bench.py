"""Memory of N server workers with the shared locate snapshot against N workers each building
its own locator (the peer: the same server without ``GRID_LOCATE_SNAPSHOT_DIR``), in one run.

For 1, 2 and 4 uvicorn workers of each kind on the same PostGIS database holding the generated
city (benchmarks/city.py): time from start to the first locate answer, RSS and PSS (from
``/proc/PID/smaps_rollup``) of every worker once each has answered and stopped growing, and
one client's locate latency (p50/p99 of sequential requests). Answers of the two servers are
compared on ``--check`` points (every level's code) before any figure is printed.

    python benchmarks/snapshot_bench.py --scale 0.2 --keep grid_bench_snap   # 200k buildings

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
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from city import OUT, load_city, random_points  # noqa: E402
from http_locate_bench import fill, free_port, ours_path, stop, wait_ready  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def loadavg() -> str:
    """The 1/5/15-minute load average (the machine is shared)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def start(url: str, port: int, workers: int, snapshot_dir: Path | None) -> subprocess.Popen:
    """The API in ``workers`` uvicorn workers, with or without the shared snapshot."""
    env = {**os.environ, "GRID_DATABASE_URL": url.replace("postgresql://",
                                                          "postgresql+psycopg://")}
    env.pop("GRID_LOCATE_SNAPSHOT_DIR", None)
    if snapshot_dir is not None:
        env["GRID_LOCATE_SNAPSHOT_DIR"] = str(snapshot_dir)
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "grid.api.app:create_app", "--host",
         "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning",
         "--no-access-log"], cwd=ROOT, env=env)


def memory(pid: int) -> tuple[int, int]:
    """RSS and PSS of one process, in bytes (smaps_rollup)."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if parts[0] in ("Rss:", "Pss:"):
            values[parts[0]] = int(parts[1]) * 1024
    return values["Rss:"], values["Pss:"]


def serving_processes(process: subprocess.Popen, workers: int) -> list[int]:
    """The processes answering requests: the workers (or the one process when alone)."""
    if workers == 1:
        return [process.pid]
    children = psutil.Process(process.pid).children()
    return [c.pid for c in children if "spawn_main" in " ".join(c.cmdline())]


def settle(base: str, headers: dict, paths: list[str], pids: list[int]) -> None:
    """Load every worker until none grows any more (each has built or mapped its locator and
    its place directory)."""
    last = None
    with ThreadPoolExecutor(8) as pool:
        for _ in range(120):
            list(pool.map(lambda p: get(base + p, headers), paths[:400]))
            now = [memory(pid)[0] for pid in pids]
            if last is not None and all(abs(a - b) < 4 << 20 for a, b in zip(now, last,
                                                                           strict=True)):
                return
            last = now
            time.sleep(2)


def get(url: str, headers: dict) -> dict:
    """One GET, decoded."""
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                timeout=120) as response:
        return json.loads(response.read())


def codes(answer: dict) -> dict:
    """Every level's code in a locate answer."""
    return {link["level"]: link["code"] for link in answer["owners"]["chain"]}


def latency(base: str, headers: dict, paths: list[str]) -> tuple[float, float]:
    """p50 and p99 in ms of one client's sequential locates."""
    times = []
    for path in paths:
        started = time.perf_counter()
        get(base + path, headers)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99)]


def one_run(url: str, token: str, workers: int, snapshot_dir: Path | None,
            paths: list[str]) -> dict:
    """Start one server, measure it, stop it."""
    headers = {"Authorization": f"Bearer {token}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start(url, port, workers, snapshot_dir)
    try:
        first = wait_ready(base + paths[0], headers, process, timeout=1800)
        pids = serving_processes(process, workers)
        settle(base, headers, paths, pids)
        rss, pss = zip(*(memory(pid) for pid in pids), strict=True)
        p50, p99 = latency(base, headers, paths[:500])
        answers = [codes(get(base + p, headers)) for p in paths[:CHECK]]
    finally:
        stop(process)
    return {"first_s": first, "rss": sum(rss), "pss": sum(pss), "rss_max": max(rss),
            "p50": p50, "p99": p99, "answers": answers, "load": loadavg()}


CHECK = 300


def main() -> None:
    """Measure both servers at 1, 2 and 4 workers; print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", metavar="DB", help="reuse (and keep) this filled database")
    parser.add_argument("--pg-url", default=os.environ.get(
        "GRID_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    print(f"load average at start: {loadavg()}", flush=True)
    city = load_city(args.scale)
    counts = {level: len(city[level]["code"]) for level in city}
    print(f"city at --scale {args.scale}: {counts}", flush=True)
    url, token, _version, drop = city_database(args, city)
    snapshot_dir = Path(tempfile.mkdtemp(prefix="snapshot-", dir=OUT))
    lon, lat = random_points(city, 2000)
    paths = [ours_path(x, y) for x, y in zip(lon, lat, strict=True)]
    try:
        started = time.perf_counter()
        build_snapshot(url, snapshot_dir)
        print(f"snapshot written in {time.perf_counter() - started:.1f} s "
              f"({du(snapshot_dir) / 2**20:.0f} MB on disk); load {loadavg()}", flush=True)
        report(args, url, token, snapshot_dir, paths)
    finally:
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


def build_snapshot(url: str, snapshot_dir: Path) -> None:
    """What ``grid activate`` does with a snapshot directory set, in a fresh process."""
    env = {**os.environ, "GRID_DATABASE_URL": url.replace("postgresql://",
                                                          "postgresql+psycopg://"),
           "GRID_LOCATE_SNAPSHOT_DIR": str(snapshot_dir)}
    code = ("from grid.settings import Settings; from grid.services import Services;"
            "from grid.spatial import snapshot; from grid.spatial.bulk import BulkLocator;"
            "from grid.hierarchy import store; s = Services(Settings());"
            "session = s.db.read().__enter__(); v = store.require_active_version(session).id;"
            "snapshot.ensure(s.settings.locate_snapshot_dir, v,"
            " lambda: BulkLocator.from_db(session, v))")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


def du(path: Path) -> int:
    """Bytes of the current snapshot's files."""
    from grid.spatial import snapshot

    return sum(f.stat().st_size for f in snapshot.current(path).iterdir())


def report(args, url: str, token: str, snapshot_dir: Path, paths: list[str]) -> None:
    """Run each configuration ``--repeat`` times; print medians and ratios."""
    mb = 2 ** 20
    per_worker = {}
    for workers in (int(w) for w in args.workers.split(",")):
        runs = {"snapshot": [], "in-memory": []}
        for _ in range(args.repeat):
            for kind, directory in (("snapshot", snapshot_dir), ("in-memory", None)):
                runs[kind].append(one_run(url, token, workers, directory, paths))
        # Agreement before any figure: every level's code of every checked point.
        for ours, peer in zip(runs["snapshot"], runs["in-memory"], strict=True):
            assert ours["answers"] == peer["answers"], "snapshot and in-memory answers differ"
        med = {kind: {key: statistics.median(r[key] for r in rs)
                      for key in ("first_s", "rss", "pss", "rss_max", "p50", "p99")}
               for kind, rs in runs.items()}
        per_worker[workers] = med
        print(f"\n{workers} worker(s), {CHECK} answers agree; loads "
              f"{[r['load'] for rs in runs.values() for r in rs]}", flush=True)
        for kind, m in med.items():
            print(f"  {kind:9}: first answer {m['first_s']:.1f} s, RSS {m['rss'] / mb:.0f} MB "
                  f"(largest worker {m['rss_max'] / mb:.0f}), PSS {m['pss'] / mb:.0f} MB, "
                  f"locate p50 {m['p50']:.2f} ms p99 {m['p99']:.2f} ms", flush=True)
        s, p = med["snapshot"], med["in-memory"]
        print(f"  ratio snapshot/in-memory: PSS {s['pss'] / p['pss']:.2f}, first answer "
              f"{s['first_s'] / p['first_s']:.2f}, p50 {s['p50'] / p['p50']:.2f}", flush=True)
    counts = sorted(per_worker)
    if len(counts) > 1:
        lo, hi = counts[0], counts[-1]
        for kind in ("snapshot", "in-memory"):
            extra = (per_worker[hi][kind]["pss"] - per_worker[lo][kind]["pss"]) / (hi - lo)
            print(f"PSS per additional worker, {kind}: {extra / mb:.0f} MB "
                  f"({lo}→{hi} workers); load {loadavg()}", flush=True)


if __name__ == "__main__":
    main()
