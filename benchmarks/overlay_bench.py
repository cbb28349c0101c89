"""Overlay columns of ``grid place`` (issue 13) on the sample street, measured in one run:

* ours — ``OverlayIndex.columns``: one STRtree query over all points for the temporary
  branches, one ``dwithin`` query in Gauss-Krüger metres for the street/lane segments, texts
  indexed from per-overlay arrays;
* the peer — ``OverlayIndex.match`` called point by point (what a loop over rows would do;
  locate and every report call it once).

The answers are compared before any speed is printed: with the peer point by point (branch
names, segment code, chiefs) on its points, and the segment code of every point with a brute
force (all point–segment distances in metres, the tie rule applied). Medians of 3 runs, with
the load average.

    python benchmarks/overlay_bench.py --points 200000 --peer-points 5000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grid.demo import load_sample  # noqa: E402
from grid.migrate import upgrade  # noqa: E402
from grid.overlays.files import load_sample_overlays  # noqa: E402
from grid.overlays.match import OverlayIndex  # noqa: E402
from grid.services import Services  # noqa: E402
from grid.settings import Settings  # noqa: E402


def _median(func, runs: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _brute_force(index: OverlayIndex, lon, lat) -> np.ndarray:
    """Every point's segment by measuring its distance to every segment (densified,
    projected the same way) and applying the tie rule; "" when none is within the distance."""
    import shapely

    from grid.overlays.match import TIE_M
    from grid.spatial.crs import to_metres

    _tree, metric = index._zone(4548)  # the sample street's zone, as the index projects it
    x, y = to_metres(float(lon[0])).transform(lon, lat)
    points = shapely.points(np.asarray(x), np.asarray(y))
    d = shapely.distance(points[:, None], metric[None, :])
    codes = np.array([s["code"] for s in index.segments], dtype=object)
    order = np.argsort(codes.astype(str))
    d, codes = d[:, order], codes[order]
    tied = d <= d.min(axis=1, keepdims=True) + TIE_M
    first = np.argmax(tied, axis=1)
    within = d[np.arange(len(d)), first] <= index.distance_m
    return np.where(within, codes[first], "").astype(object)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--peer-points", type=int, default=5_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    svc = Services(Settings(database_url=f"sqlite:///{folder / 'bench.db'}"))
    upgrade(svc.db)
    load_sample(svc, ROOT / "data" / "boundaries", say=lambda _line: None)
    load_sample_overlays(svc.db, ROOT / "data" / "overlays", svc.categories.departments,
                         say=lambda _line: None)
    index = OverlayIndex.from_db(svc.db, svc.settings.street_chief_distance_m)
    west, south, east, north = np.asarray(index.segment_geoms[0].bounds)[[0, 1, 2, 3]]
    rng = np.random.default_rng(13)
    lon = rng.uniform(west - 0.005, east + 0.005, args.points)
    lat = rng.uniform(south - 0.02, north + 0.02, args.points)
    day = date(2026, 6, 1)
    buildings = np.full(args.points, "", dtype=object)
    index.columns(lon[:10], lat[:10], day, buildings[:10])  # project the segments once

    ours_s, columns = _median(lambda: index.columns(lon, lat, day, buildings))
    n = args.peer_points
    peer_s, matches = _median(lambda: [index.match(x, y, day) for x, y in
                                       zip(lon[:n], lat[:n], strict=True)])
    for i, m in enumerate(matches):
        assert columns["temporary_branch"][i] == "；".join(
            b["name"] for b in m.temporary_branches), i
        code = m.street_chief.code if m.street_chief else ""
        assert columns["street_segment"][i] == code, i
        chiefs = ";".join(f"{c['tier']}:{c['name']}" for c in m.street_chief.chiefs) \
            if m.street_chief else ""
        assert columns["street_chief"][i] == chiefs, i
    brute = _brute_force(index, lon, lat)
    assert (columns["street_segment"] == brute).all(), int((columns["street_segment"]
                                                            != brute).sum())
    near = int((columns["street_segment"] != "").sum())
    inside = int((columns["temporary_branch"] != "").sum())
    ours_rate, peer_rate = args.points / ours_s, n / peer_s
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}")
    print(f"{args.points:,} points: {near:,} within {index.distance_m:g} m of a segment, "
          f"{inside:,} inside a temporary branch; answers agree with the peer on {n:,} points "
          f"and with a brute force on all {args.points:,}")
    print(f"ours  OverlayIndex.columns: {ours_s:.3f} s median of 3 = {ours_rate:,.0f} points/s")
    print(f"peer  OverlayIndex.match per point: {peer_s:.3f} s for {n:,} = "
          f"{peer_rate:,.0f} points/s ({1e6 / peer_rate:.0f} µs per point)")
    print(f"ratio ours/peer: {ours_rate / peer_rate:.1f}x")
    svc.close()


if __name__ == "__main__":
    main()
