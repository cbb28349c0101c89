"""Locate answers from the shared snapshot (grid.spatial.snapshot.UnitNames, PlaceDirectory on
a snapshot directory) equal the database's — names, Party chain, resident groups, workers, the
nearest grid — and see ``grid activate``, Party organisation and worker changes made by
another process within the documented window; ``grid serve --workers 2`` (forked workers)
answers the same and stops cleanly. On both stores."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box
from sqlalchemy import delete, select
from typer.testing import CliRunner

from grid.cli import app as cli
from grid.demo import demo_users, load_sample
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.hierarchy.models import GridWorker, PartyOrg
from grid.spatial import snapshot
from grid.spatial.loader import load_boundaries
from grid.spatial.locate import locate_point
from grid.spatial.locator import LocatorCache
from grid.spatial.places import PlaceDirectory
from tests.conftest import DATA, TEST_HOLIDAYS

ROOT = Path(__file__).resolve().parents[1]


def _points(demo, n=300, seed=3):
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        street = store.units(session, version, Level.street)[0]
        minx, miny, maxx, maxy = store.shape_of(street).bounds
    rng = np.random.default_rng(seed)
    pad = 0.004  # some points outside the street: the nearest grid is named
    return list(zip(rng.uniform(minx - pad, maxx + pad, n).tolist(),
                    rng.uniform(miny - pad, maxy + pad, n).tolist(), strict=True))


def test_unit_names_are_the_stores(demo, tmp_path):
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        located = LocatorCache(tmp_path).get(session)
        rows = store.unit_rows(session, version, None, "level", "code", "name",
                               "parent_code").all()
    units = located.units
    assert units is not None and isinstance(units.codes.base, np.memmap)  # mapped, not copied
    assert len(units) == len(rows)
    children: dict[str, list[str]] = {}
    for level, code, name, parent in rows:
        i = units.find(code)
        assert (units.code(i), units.level(i), units.name(i)) == (code, level, name)
        if level == Level.resident_group.value:
            children.setdefault(parent, []).append(code)
    assert children, "the sample has resident groups"
    for level, code, _name, _parent in rows:
        if level == Level.building.value:
            got = [units.code(int(g)) for g in units.groups(units.find(code))]
            assert got == sorted(children.get(code, []))
    assert units.find("no-such-code") == -1


def test_snapshot_directory_answers_as_the_database(demo, tmp_path):
    places = PlaceDirectory(demo.db, LocatorCache(tmp_path), fresh_seconds=3600)
    places.refresh()
    kinds = {"covered": 0, "outside": 0, "groups": 0, "workers": 0, "orgs": 0}
    for lon, lat in _points(demo):
        with demo.db.read() as session:
            expected = locate_point(session, demo.locators, lon, lat)
        found = places.locate(lon, lat)
        assert found == expected
        kinds["covered"] += found.covered
        kinds["outside"] += found.nearest_grid is not None
        kinds["groups"] += bool(found.owners.resident_groups)
        kinds["workers"] += bool(found.owners.grid_workers)
        kinds["orgs"] += any(link.party_org for link in found.owners.chain)
    assert kinds["covered"] > 100 and kinds["outside"] > 10, kinds
    assert kinds["groups"] and kinds["workers"] and kinds["orgs"], kinds


def test_org_and_worker_changes_are_seen_within_the_window(demo, tmp_path):
    places = PlaceDirectory(demo.db, LocatorCache(tmp_path), fresh_seconds=0.2)
    places.refresh()
    lon, lat = next(p for p in _points(demo, seed=4) if places.locate(*p).covered)
    grid = places.locate(lon, lat).codes[Level.grid]
    with demo.db.write() as session:
        org = session.scalar(select(PartyOrg).where(PartyOrg.unit_code == grid))
        old = org.secretary
        org.secretary = "新书记"
        session.add(GridWorker(grid_code=grid, name="新网格员", phone="13900000000",
                               role="兼职网格员"))
    try:
        deadline = time.monotonic() + 30  # fresh_seconds plus one re-read, on a busy machine
        found = places.locate(lon, lat)
        while found.owners.link(Level.grid).party_org.secretary != "新书记":
            assert time.monotonic() < deadline, "the change was never seen"
            time.sleep(0.05)
            found = places.locate(lon, lat)
        assert "新网格员" in [w.name for w in found.owners.grid_workers]
        with demo.db.read() as session:
            assert found == locate_point(session, demo.locators, lon, lat)
    finally:
        with demo.db.write() as session:
            session.scalar(select(PartyOrg).where(PartyOrg.unit_code == grid)).secretary = old
            session.execute(delete(GridWorker).where(GridWorker.name == "新网格员"))


STREET = "110105001"
X0, Y0, STEP = 116.40, 39.90, 0.01


def _cell(i: int):
    row, col = divmod(i, 3)
    return box(X0 + col * STEP, Y0 + row * STEP, X0 + (col + 1) * STEP, Y0 + (row + 1) * STEP)


def _layer(tmp_path, name, codes, names, geoms):
    path = tmp_path / f"{name}.geojson"
    gpd.GeoDataFrame({"code": codes, "name": names}, geometry=geoms, crs=4490).to_file(path)
    return path


def test_activation_by_another_process_is_seen(empty, tmp_path, monkeypatch):
    """Version 1 has nine villages, version 2 seven communities (two villages merged); a
    ``grid activate`` (the CLI, writing the snapshot as a deployment does) is seen by a
    running directory within its window, from the snapshot the command wrote."""
    directory = tmp_path / "snapshots"
    layers = tmp_path / "layers"
    layers.mkdir()
    street = _layer(layers, "street", [STREET], ["和平街道"],
                    [box(X0, Y0, X0 + 3 * STEP, Y0 + 3 * STEP)])
    villages = _layer(layers, "villages", [f"{STREET}{i + 1:03d}" for i in range(9)],
                      [f"第{i + 1}村" for i in range(9)], [_cell(i) for i in range(9)])
    grids = _layer(layers, "grids", [f"{STREET}{i + 1:03d}001" for i in range(9)],
                   [f"第{i + 1}村网格" for i in range(9)], [_cell(i) for i in range(9)])
    merged = {0: 1, 3: 4}  # 村改居: villages 1+2 and 4+5 merge, the others keep their land
    keep = [0, 2, 3, 5, 6, 7, 8]
    communities = _layer(layers, "communities", [f"{STREET}{i + 1:03d}" for i in keep],
                         [f"第{i + 1}社区" for i in keep],
                         [_cell(i).union(_cell(merged[i])) if i in merged else _cell(i)
                          for i in keep])
    first = load_boundaries(empty.db, street, Level.street, commit=True).version_id
    load_boundaries(empty.db, villages, Level.community, commit=True, version_id=first)
    load_boundaries(empty.db, grids, Level.grid, commit=True, version_id=first)
    monkeypatch.setenv("GRID_DATABASE_URL", empty.settings.database_url)
    monkeypatch.setenv("GRID_LOCATE_SNAPSHOT_DIR", str(directory))

    def activate(version: int) -> None:
        result = CliRunner().invoke(cli, ["activate", str(version)])
        assert result.exit_code == 0, result.output

    activate(first)
    second = load_boundaries(empty.db, communities, Level.community, commit=True).version_id
    locators = LocatorCache(directory)
    places = PlaceDirectory(empty.db, locators, fresh_seconds=0.2)
    places.refresh()
    spot = _cell(1).centroid  # village 2, merged into community 1 in version 2
    community = places.locate(spot.x, spot.y).owners.link(Level.community)
    assert (community.code, community.name) == (f"{STREET}002", "第2村")

    activate(second)  # in "another process": nothing tells this directory
    written = snapshot.current(directory)
    deadline = time.monotonic() + 30
    while places.locate(spot.x, spot.y).version != second:
        assert time.monotonic() < deadline, "the activation was never seen"
        time.sleep(0.05)
    found = places.locate(spot.x, spot.y)
    assert (found.owners.link(Level.community).code,
            found.owners.link(Level.community).name) == (f"{STREET}001", "第1社区")
    with empty.db.read() as session:
        assert found == locate_point(session, LocatorCache(), spot.x, spot.y)
        # answered from the snapshot the command wrote: opened here, not built again
        assert locators.get(session).path == written == snapshot.current(directory)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str) -> dict:
    import json

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return {int(p) for p in out.split()}


def test_forked_workers_answer_as_the_database_and_stop(empty, tmp_path):
    # Its own database, not the session's shared demo: this test SIGKILLs a server process
    # working on the file. (With the shared SpatiaLite demo file, 12 later tests of the full
    # suite failed with "disk I/O error" on new connections — old connections kept working —
    # in three full runs (two here, one in CI); with this test deselected, none did (one
    # run). The mechanism was not found:
    # a stand-alone reproduction of the same server life on a file held open by another
    # process did not fail. See the closing note of 2026-12-03.)
    demo = empty
    load_sample(demo, DATA, say=lambda _line: None)
    with demo.db.read() as session:
        first_grid = store.units(session, store.require_active_version(session).id,
                                 Level.grid)[0].code
    tokens = {u.role: u.token for u in demo_users(demo, first_grid)}
    port = _free_port()
    env = {**os.environ, "GRID_DATABASE_URL": demo.settings.database_url,
           "GRID_LOCATE_SNAPSHOT_DIR": str(tmp_path), "GRID_HOLIDAYS_FILE": str(TEST_HOLIDAYS)}
    server = subprocess.Popen([sys.executable, "-m", "grid.cli", "serve", "--port", str(port),
                               "--workers", "2", "--log-level", "warning", "--no-access-log"],
                              cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}/api/v1/locate"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _get(f"{base}?lon=116.4&lat=39.9", tokens["admin"])
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        workers = _children(server.pid)
        assert len(workers) == 2
        for lon, lat in _points(demo, n=40, seed=8):
            with demo.db.read() as session:
                expected = locate_point(session, demo.locators, lon, lat)
            answer = _get(f"{base}?lon={lon!r}&lat={lat!r}", tokens["admin"])
            assert answer["covered"] == expected.covered
            assert [(c["code"], c["name"], (c["party_org"] or {}).get("name"))
                    for c in answer["owners"]["chain"]] == [
                (c.code, c.name, c.party_org and c.party_org.name)
                for c in expected.owners.chain]
            assert [g["code"] for g in answer["owners"]["resident_groups"]] == [
                g.code for g in expected.owners.resident_groups]
            assert [w["name"] for w in answer["owners"]["grid_workers"]] == [
                w.name for w in expected.owners.grid_workers]
        # A worker that dies is replaced by a new fork of the parent.
        os.kill(min(workers), signal.SIGKILL)
        while len(_children(server.pid) - {min(workers)}) < 2:
            assert time.monotonic() < deadline + 60, "the dead worker was not replaced"
            time.sleep(0.2)
        _get(f"{base}?lon=116.4&lat=39.9", tokens["admin"])
        workers = _children(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert code == 0
    for pid in workers:  # every worker went with the parent
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
