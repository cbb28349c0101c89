"""``grid place`` end to end (Parquet in, Parquet out, a fresh process each time) reusing the
locate snapshot, against the same command building its cell index in the process (the peer).

The snapshot is written once by ``grid activate`` (with ``GRID_LOCATE_SNAPSHOT_DIR`` set), as a
deployment would; both commands then run ``--repeat`` times, alternately. The outputs' code,
on-edge and outside columns must be identical before any speed is printed.

    python benchmarks/place_snapshot_bench.py --scale 1 --points 5000000 --keep snap_city1

The start-up floor — ``grid --help`` in a fresh process: the interpreter and the ``grid``
command's imports, nothing placed — is timed in the same runs and printed beside, and so is
the command's fixed cost: ``grid place`` of the first 1,000 points with the snapshot (start-up,
imports, the database and the snapshot opened, a file read and written).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from city import OUT, load_city, random_points  # noqa: E402
from snapshot_bench import city_database, loadavg  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COMPARED = ["street_code", "community_code", "grid_code", "building_code", "on_edge",
            "outside"]


def grid(args: list[str], url: str, snapshot_dir: Path | None) -> float:
    """Run one ``grid`` command in a fresh process; its wall time in seconds."""
    env = {**os.environ, "GRID_DATABASE_URL": url.replace("postgresql://",
                                                          "postgresql+psycopg://")}
    env.pop("GRID_LOCATE_SNAPSHOT_DIR", None)
    if snapshot_dir is not None:
        env["GRID_LOCATE_SNAPSHOT_DIR"] = str(snapshot_dir)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grid.cli", *args], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    """Write the points, activate with a snapshot, time both commands, compare, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--points", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", metavar="DB", help="reuse (and keep) this filled database")
    parser.add_argument("--snapshot", type=Path, metavar="DIR",
                        help="use the snapshot already written under DIR by grid activate "
                             "(of this database's active version) instead of activating again")
    parser.add_argument("--pg-url", default=os.environ.get(
        "GRID_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    print(f"load average at start: {loadavg()}", flush=True)
    city = load_city(args.scale)
    url, _token, version, drop = city_database(args, city)
    work = Path(tempfile.mkdtemp(prefix="place-snapshot-", dir=OUT))
    try:
        lon, lat = random_points(city, args.points)
        source = work / "points.parquet"
        pq.write_table(pa.table({"id": np.arange(args.points), "lon": lon, "lat": lat}), source)
        few = work / "few.parquet"
        pq.write_table(pa.table({"id": np.arange(1000), "lon": lon[:1000], "lat": lat[:1000]}),
                       few)
        snapshot_dir = args.snapshot or work / "snapshot"
        if args.snapshot is None:
            took = grid(["activate", str(version)], url, snapshot_dir)
            print(f"grid activate with the snapshot written: {took:.1f} s; load {loadavg()}",
                  flush=True)
        times: dict[str, list[float]] = {"snapshot": [], "in-process": [], "start-up": [],
                                         "fixed": []}
        outputs = {"snapshot": work / "ours.parquet", "in-process": work / "peer.parquet"}
        for _ in range(args.repeat):
            times["start-up"].append(grid(["--help"], url, snapshot_dir))
            times["fixed"].append(grid(["place", str(few), "--out", str(work / "few-out.parquet")],
                                       url, snapshot_dir))
            for kind, directory in (("snapshot", snapshot_dir), ("in-process", None)):
                times[kind].append(grid(["place", str(source), "--out", str(outputs[kind])],
                                        url, directory))
                print(f"  {kind}: {times[kind][-1]:.1f} s; load {loadavg()}", flush=True)
        ours = pq.read_table(outputs["snapshot"], columns=COMPARED)
        peer = pq.read_table(outputs["in-process"], columns=COMPARED)
        assert ours.num_rows == peer.num_rows == args.points
        assert ours.equals(peer), "snapshot and in-process placements differ"
        placed = int(np.count_nonzero(ours.column("grid_code").to_numpy(
            zero_copy_only=False) != ""))
        print(f"outputs identical in {', '.join(COMPARED)} ({placed:,} of {args.points:,} "
              "points in a grid)")
        med = {kind: statistics.median(t) for kind, t in times.items()}
        print(f"start-up floor (grid --help, fresh process): median {med.pop('start-up'):.1f} s")
        print(f"fixed cost (grid place of 1,000 points, snapshot): median {med.pop('fixed'):.1f} s")
        for kind, seconds in med.items():
            print(f"grid place {args.points:,} points Parquet→Parquet, {kind}: median "
                  f"{seconds:.1f} s = {args.points / seconds / 1e6:.2f} M points/s end to end")
        print(f"ratio in-process / snapshot time: {med['in-process'] / med['snapshot']:.2f}; "
              f"load {loadavg()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        drop()


if __name__ == "__main__":
    main()
