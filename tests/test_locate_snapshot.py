"""The locate snapshot: memory-mapped flat arrays that give the in-memory locators' answers,
published atomically (a reader never sees half a snapshot), used by the server and by
``grid place`` when ``GRID_LOCATE_SNAPSHOT_DIR`` is set."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import shapely

from grid.hierarchy import store
from grid.hierarchy.levels import SPATIAL_LEVELS, Level
from grid.spatial import snapshot
from grid.spatial.bulk import BulkLocator
from grid.spatial.locate import locate_point
from grid.spatial.locator import Locator, LocatorCache


@pytest.fixture(scope="module")
def built(demo):
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        return Locator.from_db(session, version), BulkLocator.from_db(session, version)


def _points(backbone: Locator, n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Random points over the street and beyond, and every grid and building vertex and edge
    midpoint (where the lowest-code rule decides)."""
    rng = np.random.default_rng(5)
    minx, miny, maxx, maxy = backbone.levels[Level.street].geoms[0].bounds
    lons = rng.uniform(minx - 0.002, maxx + 0.002, n)
    lats = rng.uniform(miny - 0.002, maxy + 0.002, n)
    special = []
    for level in (Level.grid, Level.building):
        for geom in backbone.levels[level].geoms:
            coords = shapely.get_coordinates(geom)
            special += [coords, (coords[:-1] + coords[1:]) / 2]
    special = np.concatenate(special)
    return np.r_[lons, special[:, 0]], np.r_[lats, special[:, 1]]


def test_snapshot_answers_as_the_locators(built, tmp_path):
    backbone, bulk = built
    path = snapshot.write(bulk, tmp_path)
    assert snapshot.current(tmp_path) == path
    opened = snapshot.open_current(tmp_path, bulk.version_id)
    assert isinstance(opened.indexes[Level.building].cells.base, np.memmap)  # mapped
    lons, lats = _points(backbone)
    expected = backbone.locate_many(lons, lats)
    found = opened.locate_many(lons, lats)
    for level in SPATIAL_LEVELS:
        assert (found[level] == expected[level]).all(), level
    assert np.count_nonzero(expected[Level.building] != None) > 1000  # noqa: E711
    indices, on_edge = opened.place(lons, lats, threads=2)
    fresh_indices, fresh_edge = bulk.place(lons, lats)
    assert (on_edge == fresh_edge).all() and on_edge.sum() > 100
    for level in SPATIAL_LEVELS:
        assert (indices[level] == fresh_indices[level]).all()
    one = snapshot.SnapshotLocator(opened)
    for lon, lat in zip(lons[::97], lats[::97], strict=True):
        assert one.locate(lon, lat) == backbone.locate(lon, lat)
    outside = (lons.min() - 0.01, lats.min() - 0.01)
    assert one.nearest(Level.grid, *outside) == backbone.nearest(Level.grid, *outside)


def test_another_version_is_not_opened_as_this_one(built, tmp_path):
    _, bulk = built
    snapshot.write(bulk, tmp_path)
    assert snapshot.open_current(tmp_path, bulk.version_id + 1) is None
    assert snapshot.open_current(tmp_path / "none") is None


def test_readers_never_see_a_half_written_snapshot(demo, built, tmp_path):
    """A writer publishes snapshots of two different 'versions' (the demo's street and
    building levels swapped between them, and all or only the resident-group units' names)
    while readers open the current one over and over: every open must be whole — its
    version's arrays, all of them, readable."""
    _, bulk = built
    with demo.db.read() as session:
        rows = store.unit_rows(session, bulk.version_id, None, "level", "code", "name",
                               "parent_code").all()
    names = {1: snapshot.UnitNames.from_rows(rows),
             2: snapshot.UnitNames.from_rows([r for r in rows if r.level == "resident_group"])}
    first = BulkLocator(1, {Level.street: bulk.indexes[Level.street],
                            Level.building: bulk.indexes[Level.building]})
    second = BulkLocator(2, {Level.street: bulk.indexes[Level.grid]})
    expected = {1: {Level.street: len(bulk.indexes[Level.street].codes),
                    Level.building: len(bulk.indexes[Level.building].codes),
                    "units": len(rows)},
                2: {Level.street: len(bulk.indexes[Level.grid].codes),
                    "units": len(names[2])}}
    assert expected[1]["units"] > expected[2]["units"] > 0
    snapshot.write(first, tmp_path, names[1])
    stop = threading.Event()
    seen, problems = [], []

    def read() -> None:
        while not stop.is_set():
            try:
                opened = snapshot.open_locator(tmp_path)
                counts = {level: len(index.codes)
                          for level, index in opened.bulk.indexes.items()}
                counts["units"] = len(opened.units)
                if counts != expected[opened.version_id]:
                    problems.append((opened.version_id, counts))
                for index in opened.bulk.indexes.values():
                    int(index.cells[-1]), int(index.band_ptr[-1])  # every file readable
                units = opened.units
                units.name(len(units) - 1), int(units.group_ptr[-1])
                seen.append(opened.version_id)
            except Exception as exc:  # noqa: BLE001  (any failure to open is the finding)
                problems.append(repr(exc))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for i in range(12):
        version = 2 if i % 2 == 0 else 1
        snapshot.write(second if version == 2 else first, tmp_path, names[version])
    stop.set()
    for reader in readers:
        reader.join()
    assert not problems, problems[:3]
    assert {1, 2} <= set(seen)
    # Old snapshots are pruned to the current one plus KEEP; no temporary is left behind.
    names = [p.name for p in tmp_path.iterdir()]
    assert len([n for n in names if n.startswith("v")]) <= snapshot.KEEP + 1
    assert not [n for n in names if n.startswith(".tmp-") or n.startswith(".current-")]


def test_server_locates_from_the_snapshot(demo, built, tmp_path):
    backbone, bulk = built
    cache = LocatorCache(tmp_path / "snapshots")
    lons, lats = _points(backbone, 50)
    with demo.db.read() as session:
        for lon, lat in zip(lons[::7], lats[::7], strict=True):
            located = locate_point(session, cache, lon, lat)
            plain = locate_point(session, demo.locators, lon, lat)
            assert located.codes == plain.codes and located.nearest_grid == plain.nearest_grid
        assert isinstance(cache.get(session), snapshot.SnapshotLocator)
    written = snapshot.current(tmp_path / "snapshots")
    assert written is not None and (written / "meta.json").exists()
    # A second process finds the snapshot and opens it rather than building its own.
    with demo.db.read() as session:
        again = LocatorCache(tmp_path / "snapshots").get(session)
    assert snapshot.current(tmp_path / "snapshots") == written
    assert again.version_id == bulk.version_id
    assert os.path.samefile(written, snapshot.current(tmp_path / "snapshots"))


def test_key_range_finds_keys_of_every_width():
    """Look-ups in the name and organisation arrays by codes narrower, as wide as and wider
    than the array's items agree with a plain search over the Python list (a wider code — a
    building's against the grids' — is in none of them)."""
    rng = np.random.default_rng(3)
    codes = sorted({"".join(rng.choice(list("0123456789"), int(rng.integers(2, 9))))
                    for _ in range(400)})
    keys = np.array([c.encode() for c in codes for _ in range(int(rng.integers(1, 3)))],
                    dtype=bytes)
    listed = [k.decode() for k in keys.tolist()]
    asked = codes + ["", "0", "99999999", "123456789", "1234567890", codes[7] + "0"]
    for code in asked:
        lo, hi = snapshot.key_range(keys, code.encode())
        expected = [i for i, c in enumerate(listed) if c == code]
        assert list(range(lo, hi)) == expected or (not expected and lo == hi), code
    names = snapshot.UnitNames.from_rows(
        [("grid", c, f"网格{c}", None) for c in codes] + [("building", codes[0] + "000000000",
                                                           "楼", codes[0])])
    assert names.find(codes[0] + "000000000") >= 0
    assert names.find(codes[0] + "0000000001") == -1  # wider than every code
    assert [names.name(names.find(c)) for c in codes] == [f"网格{c}" for c in codes]
