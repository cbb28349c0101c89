"""Threaded placement never corrupts the heap (issue 11, item 6).

GEOS builds a prepared polygon's point locator lazily and without a lock (a brute-force locator
on the first test, an indexed one on the second, its tree on that one's first query), so two
threads placing points against shared polygons that had not been tested twice before freed
each other's structures: SIGSEGV or ``malloc(): ... corrupted``. The test runs threaded
placement in a fresh interpreter with CPython's debug allocator and glibc's heap checks on, so
a regression shows up as a non-zero exit status here rather than as a flaky crash elsewhere.

How often it catches the unfixed code depends on the threads really running at once: with the
load average around 10 on the 2 shared cores the worker below crashed in 4 of 4 subprocesses,
within its first rounds; at 14–19, in 0 of 3 (and this test passed 5 of 5 times on the unfixed
code), with 4 threads and 800,000 points in 1 of 3.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Edge-heavy data: 3,600 wiggly 48-vertex polygons (tested through GEOS, shared prepared
# geometries) beside 900 quads (tested in numpy, with points on their vertices' latitudes so
# that doubtful pairs go to GEOS too); 400,000 points, a quarter of them on vertices and edges.
# Each round re-prepares the geometries and checks that two threads give exactly the one-thread
# answer.
WORKER = r"""
import sys
import numpy as np
import shapely
from grid.hierarchy.levels import Level
from grid.spatial.bulk import BulkLocator, CellIndex

rounds = int(sys.argv[1])
rng = np.random.default_rng(7)
t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
wiggly, codes = [], []
for i in range(60):
    for j in range(60):
        r = 0.45 + 0.04 * rng.standard_normal(48).clip(-2, 2)
        wiggly.append(shapely.Polygon(np.c_[116 + (i + 0.5 + r * np.cos(t)) * 1e-3,
                                            39 + (j + 0.5 + r * np.sin(t)) * 1e-3]))
        codes.append(f"w{i:03d}{j:03d}")
quads = [shapely.box(116 + i * 2e-3, 39 + j * 2e-3, 116 + (i + 1) * 2e-3, 39 + (j + 1) * 2e-3)
         for i in range(30) for j in range(30)]
wkb_w, wkb_q = shapely.to_wkb(wiggly), shapely.to_wkb(quads)
codes_q = [f"q{k:04d}" for k in range(len(quads))]
n = 300_000
x = rng.uniform(116, 116.06, n)
y = rng.uniform(39, 39.06, n)
vertices = shapely.get_coordinates(np.r_[wiggly, quads])
pick = rng.integers(0, len(vertices), 100_000)
edge = vertices[pick] + (vertices[(pick + 1) % len(vertices)] - vertices[pick]) * rng.choice(
    [0.0, 0.5], (len(pick), 1))
x, y = np.r_[x, edge[:, 0]], np.r_[y, edge[:, 1]]
order = rng.permutation(len(x))
x, y = x[order], y[order]
bulk = BulkLocator(1, {
    Level.grid: CellIndex.build(codes, shapely.from_wkb(wkb_w), cells_per_width=3),
    Level.building: CellIndex.build(codes_q, shapely.from_wkb(wkb_q), cells_per_width=3)})
single, edge1 = bulk.place(x, y, threads=1)
assert (single[Level.grid] >= 0).mean() > 0.5 and edge1.sum() > 1000
for r in range(rounds):
    # Fresh prepared geometries (their lazy state lives as long as they do), readied the way
    # CellIndex.build readies them, then placed by two threads at once.
    for index in bulk.indexes.values():
        shapely.destroy_prepared(index.geoms)
        shapely.prepare(index.geoms)
        index.warm_up()
    threaded, edge2 = bulk.place(x, y, threads=2)
    for level in single:
        assert (threaded[level] == single[level]).all(), (r, level)
    assert (edge1 == edge2).all(), r
print("ok", rounds)
"""


def test_threaded_placement_survives_debug_allocators(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONMALLOC="debug", MALLOC_CHECK_="3",
               MALLOC_PERTURB_="165", PYTHONFAULTHANDLER="1")
    done = subprocess.run([sys.executable, "-c", WORKER, "10"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.strip() == "ok 10"
