"""Looking a unit code up in the sorted fixed-width arrays of the place directory
(``grid.spatial.places``: Party organisations by unit code; ``grid.spatial.snapshot.UnitNames``:
names by code), as every report and locate does for each unit of its chain.

Ours: ``snapshot.key_range`` (the key padded to the array's width). Peer, same run: numpy's
``np.searchsorted(keys, key)`` on the key as it comes — what the directory did before, which,
for a key wider than the array's items (a building's 18-byte code against the 15-byte codes of
the streets, communities and grids that have organisations), casts the whole array per call.
Agreement (the same [lo, hi) for every key) is asserted before any time is printed.

    python benchmarks/code_lookup_bench.py [--orgs 57000] [--units 1060000] [--lookups 3000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grid.spatial.snapshot import key_range  # noqa: E402


def peer(keys: np.ndarray, key: bytes) -> tuple[int, int]:
    return (int(np.searchsorted(keys, key, "left")), int(np.searchsorted(keys, key, "right")))


def timed(find, keys, asked, repeat: int = 3) -> float:
    """Median over ``repeat`` passes of CPU µs per look-up."""
    runs = []
    for _ in range(repeat):
        started = time.process_time()
        for key in asked:
            find(keys, key)
        runs.append((time.process_time() - started) * 1e6 / len(asked))
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=57_000, help="organisations (city: 57,000)")
    parser.add_argument("--units", type=int, default=1_060_000, help="units (city: ~1.06 M)")
    parser.add_argument("--lookups", type=int, default=3000)
    args = parser.parse_args()
    rng = np.random.default_rng(11)
    # Codes shaped as the sample city's: 15-digit street/community/grid codes, buildings 18.
    grids = sorted({f"110101{n:09d}".encode() for n in rng.integers(0, 10**9, args.orgs)})
    buildings = [g + f"{n:03d}".encode() for g, n in zip(
        rng.choice(grids, args.units), rng.integers(0, 1000, args.units), strict=True)]
    tables = {
        "organisations (S15), building codes (18 B)": (
            np.array(grids, dtype=bytes), rng.choice(buildings, args.lookups)),
        "organisations (S15), grid codes (15 B)": (
            np.array(grids, dtype=bytes), rng.choice(grids, args.lookups)),
        "unit names (S18), grid codes (15 B)": (
            np.array(sorted(set(grids) | set(buildings)), dtype=bytes),
            rng.choice(grids, args.lookups)),
    }
    print(f"{args.orgs:,} organisation codes, {args.units:,} unit codes, {args.lookups:,} "
          f"look-ups; CPU µs per look-up, median of 3; load {open('/proc/loadavg').read()[:14]}")
    for label, (keys, asked) in tables.items():
        asked = [bytes(k) for k in asked]
        assert all(key_range(keys, k) == peer(keys, k) or
                   (key_range(keys, k)[0] == key_range(keys, k)[1]
                    and peer(keys, k)[0] == peer(keys, k)[1]) for k in asked), label
        ours, theirs = timed(key_range, keys, asked), timed(peer, keys, asked)
        print(f"{label:45s} key_range {ours:8.2f}  np.searchsorted {theirs:9.2f}  "
              f"ratio {theirs / ours:7.1f}x")


if __name__ == "__main__":
    main()
