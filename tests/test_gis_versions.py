"""Redistricting (村改居): nine villages become seven communities in a new version. Grids are
re-parented, old incidents keep their old community, new ones get the new one, any incident can
be re-placed against any version, and a diff and a rollback tell and undo the change."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box

from grid.errors import InvalidInput, LoadError
from grid.hierarchy import store, versions
from grid.hierarchy.levels import Level
from grid.incidents.ladder import SYSTEM
from grid.incidents.models import Incident
from grid.spatial.loader import load_boundaries

STREET = "110105001"
X0, Y0, STEP = 116.40, 39.90, 0.01  # nine 0.01° cells, about 850 m × 1,100 m each


def _cell(i: int):
    row, col = divmod(i, 3)
    return box(X0 + col * STEP, Y0 + row * STEP, X0 + (col + 1) * STEP, Y0 + (row + 1) * STEP)


def _write(tmp_path, name, codes, names, geoms):
    path = tmp_path / f"{name}.geojson"
    gpd.GeoDataFrame({"code": codes, "name": names}, geometry=geoms, crs=4490).to_file(path)
    return path


def _villages(tmp_path):
    street = _write(tmp_path, "street", [STREET], ["和平街道"], [box(X0, Y0, X0 + 3 * STEP,
                                                                      Y0 + 3 * STEP)])
    villages = _write(tmp_path, "villages", [f"{STREET}{i + 1:03d}" for i in range(9)],
                      [f"第{i + 1}村" for i in range(9)], [_cell(i) for i in range(9)])
    grids = _write(tmp_path, "grids", [f"{STREET}{i + 1:03d}001" for i in range(9)],
                   [f"第{i + 1}村网格" for i in range(9)], [_cell(i) for i in range(9)])
    # 村改居: villages 1+2 and 4+5 merge; the other five keep their code and their land
    merged = {0: [0, 1], 3: [3, 4]}
    keep = [0, 2, 3, 5, 6, 7, 8]
    geoms = [_cell(i).union(_cell(merged[i][1])) if i in merged else _cell(i) for i in keep]
    communities = _write(tmp_path, "communities", [f"{STREET}{i + 1:03d}" for i in keep],
                         [f"第{i + 1}社区" for i in keep], geoms)
    return street, villages, grids, communities


def _report(svc, lon, lat) -> int:
    with svc.db.write() as session:
        return svc.ladder.report(session, SYSTEM, lon=lon, lat=lat, category="Z001").id


def test_nine_villages_become_seven_communities(empty, tmp_path):
    street, villages, grids, communities = _villages(tmp_path)
    first = load_boundaries(empty.db, street, Level.street, commit=True).version_id
    load_boundaries(empty.db, villages, Level.community, commit=True, version_id=first)
    load_boundaries(empty.db, grids, Level.grid, commit=True, version_id=first)
    with empty.db.write() as session:
        store.activate(session, first)
    spot = _cell(1).centroid  # village 2, which merges into community 1
    old_id = _report(empty, spot.x, spot.y)

    report = load_boundaries(empty.db, communities, Level.community, commit=True)
    second = report.version_id
    assert sorted(report.removed) == [f"{STREET}002", f"{STREET}005"]
    kept = [f"{STREET}{i:03d}" for i in (1, 3, 4, 6, 7, 8, 9)]
    assert sorted(report.changed) == kept  # every village is renamed a community
    moved = [p for p in report.problems if p.kind == "reparented"]
    assert sorted(p.codes[0] for p in moved) == [f"{STREET}002001", f"{STREET}005001"]
    with empty.db.write() as session:
        store.activate(session, second)
        grid = store.get_unit(session, second, f"{STREET}002001")
        assert grid.parent_code == f"{STREET}001"  # not orphaned
        assert store.get_unit(session, first, f"{STREET}002001").parent_code == f"{STREET}002"
    new_id = _report(empty, spot.x, spot.y)

    with empty.db.read() as session:
        old, new = session.get(Incident, old_id), session.get(Incident, new_id)
        assert (old.community_code, old.boundary_version) == (f"{STREET}002", first)
        assert (new.community_code, new.boundary_version) == (f"{STREET}001", second)
        again = versions.placement_in(session, old, second)
        assert again["original"]["community"] == f"{STREET}002"
        assert again["placed"]["community"] == f"{STREET}001"
        assert again["placed"]["grid"] == f"{STREET}002001"
        back = versions.placement_in(session, new, first)
        assert back["placed"]["community"] == f"{STREET}002"
        assert session.get(Incident, old_id).community_code == f"{STREET}002"  # not rewritten

        changes = versions.diff(session, first, second)
        community = changes["community"]
        assert sorted(community.removed) == [f"{STREET}002", f"{STREET}005"]
        merged = {f"{STREET}001", f"{STREET}004"}
        assert community.changed == pytest.approx(
            {code: 100.0 if code in merged else 0.0 for code in kept}, rel=1e-3, abs=1e-6)
        assert community.unchanged == 0 and community.added == []
        assert changes["street"].unchanged == 1 and not changes["street"].changed
        assert set(changes["grid"].changed) == {f"{STREET}002001", f"{STREET}005001"}

    with empty.db.write() as session:
        assert versions.rollback(session).id == first
    with empty.db.read() as session:
        assert store.require_active_version(session).id == first
    rolled = _report(empty, spot.x, spot.y)
    with empty.db.read() as session:
        assert session.get(Incident, rolled).community_code == f"{STREET}002"


def test_a_load_that_would_orphan_children_is_refused(empty, tmp_path):
    street, villages, grids, communities = _villages(tmp_path)
    first = load_boundaries(empty.db, street, Level.street, commit=True).version_id
    load_boundaries(empty.db, villages, Level.community, commit=True, version_id=first)
    load_boundaries(empty.db, grids, Level.grid, commit=True, version_id=first)
    with empty.db.write() as session:
        store.activate(session, first)
        with pytest.raises(InvalidInput):
            versions.rollback(session)  # nothing to roll back to yet
    smaller = gpd.read_file(communities)
    smaller = smaller[smaller["code"] != f"{STREET}009"]  # village 9's land left uncovered
    path = tmp_path / "smaller.geojson"
    smaller.to_file(path)
    with pytest.raises(LoadError) as caught:
        load_boundaries(empty.db, path, Level.community, commit=True)
    assert any(f"{STREET}009001" in line for line in caught.value.details)
