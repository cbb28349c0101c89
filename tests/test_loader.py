"""Loading boundaries: dry run, all-or-nothing commit, parents by point_on_surface, versions
that carry unchanged units over, activation and rollback."""

from __future__ import annotations

import zipfile

import geopandas as gpd
import pytest
from sqlalchemy import select, text

from grid.demo import load_sample
from grid.errors import LoadError
from grid.hierarchy import store
from grid.hierarchy.codes import CodeScheme
from grid.hierarchy.levels import Level
from grid.hierarchy.models import Unit
from grid.migrate import upgrade
from grid.services import Services
from grid.settings import DEFAULT_CODE_WIDTHS
from grid.spatial.loader import load_boundaries
from grid.spatial.locate import locate_point
from tests.conftest import DATA


def _counts(svc, version_id):
    with svc.db.read() as session:
        return store.unit_counts(session, version_id)


def test_dry_run_writes_nothing(empty):
    report = load_boundaries(empty.db, DATA / "street.geojson", Level.street)
    assert (len(report.added), report.committed, report.errors) == (1, False, [])
    with empty.db.read() as session:
        assert store.list_versions(session) == []


def test_sample_loads_with_parents_found_spatially(empty):
    version = load_sample(empty, DATA, say=lambda _line: None)
    counts = _counts(empty, version)
    assert counts["street"] == 1 and counts["community"] == 6 and counts["grid"] == 40
    assert counts["building"] == 600 and counts["resident_group"] >= 600
    with empty.db.read() as session:
        for level in (Level.community, Level.grid, Level.building, Level.resident_group):
            for unit in store.units(session, version, level):
                # the code scheme nests codes, so the spatially found parent must be the prefix
                assert unit.parent_code and unit.code.startswith(unit.parent_code), unit.code


def test_commit_with_an_error_writes_nothing(empty, tmp_path):
    load_sample(empty, DATA, say=lambda _line: None)
    grids = gpd.read_file(DATA / "grid.geojson")
    grids.loc[1, "code"] = grids.loc[0, "code"]  # a duplicate code
    bad = tmp_path / "grids.gpkg"
    grids.to_file(bad, driver="GPKG")
    with empty.db.read() as session:
        before = [(v.id, v.is_active) for v in store.list_versions(session)]
    with pytest.raises(LoadError) as caught:
        load_boundaries(empty.db, bad, Level.grid, commit=True)
    assert any("duplicate" in line for line in caught.value.details)
    with empty.db.read() as session:
        assert [(v.id, v.is_active) for v in store.list_versions(session)] == before


def test_new_version_carries_unchanged_units_and_activates_atomically(empty, tmp_path):
    first = load_sample(empty, DATA, say=lambda _line: None)
    grids = gpd.read_file(DATA / "grid.geojson")
    renamed_code = grids.loc[3, "code"]
    grids.loc[3, "name"] = "新命名网格"
    path = tmp_path / "grids.geojson"
    grids.to_file(path, driver="GeoJSON")
    report = load_boundaries(empty.db, path, Level.grid, commit=True, label="rename one grid")
    assert (len(report.changed), len(report.unchanged), len(report.added)) == (1, 39, 0)
    second = report.version_id
    assert _counts(empty, second) == _counts(empty, first)  # other levels carried over
    with empty.db.read() as session:
        assert store.require_active_version(session).id == first  # not active until told
        assert store.get_unit(session, first, renamed_code).name != "新命名网格"
    with empty.db.read() as session:
        spot = store.shape_of(store.get_unit(session, first, renamed_code)).representative_point()
        before = locate_point(session, empty.locators, spot.x, spot.y)
    assert before.version == first and before.owners.link(Level.grid).name != "新命名网格"
    with empty.db.write() as session:
        store.activate(session, second)
    with empty.db.read() as session:
        assert store.get_unit(session, second, renamed_code).name == "新命名网格"
        after = locate_point(session, empty.locators, spot.x, spot.y)  # index rebuilt
        assert [v.id for v in store.list_versions(session) if v.is_active] == [second]
    assert after.version == second and after.owners.link(Level.grid).name == "新命名网格"
    # Roll back to the first version, then load again: the old version's units are copied,
    # and the second version keeps exactly what it had.
    with empty.db.write() as session:
        store.activate(session, first)
    third = load_boundaries(empty.db, DATA / "grid.geojson", Level.grid, commit=True).version_id
    assert _counts(empty, third) == _counts(empty, first) == _counts(empty, second)
    with empty.db.read() as session:
        assert store.get_unit(session, second, renamed_code).name == "新命名网格"
        assert store.get_unit(session, third, renamed_code).name != "新命名网格"


def test_zipped_projected_shapefile_is_reprojected(empty, tmp_path):
    load_sample(empty, DATA, say=lambda _line: None)
    grids = gpd.read_file(DATA / "grid.geojson").to_crs(4548)  # CGCS2000 GK CM 117E, metres
    folder = tmp_path / "shp"
    folder.mkdir()
    grids.to_file(folder / "grids.shp", driver="ESRI Shapefile", encoding="UTF-8")
    archive = tmp_path / "grids.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in folder.iterdir():
            zf.write(part, part.name)
    report = load_boundaries(empty.db, archive, Level.grid)
    assert report.errors == []
    assert len(report.changed) + len(report.unchanged) == 40 and not report.added


def test_missing_crs_is_refused_with_the_fix(empty, tmp_path):
    grids = gpd.read_file(DATA / "street.geojson").set_crs(None, allow_override=True)
    path = tmp_path / "nocrs.shp"
    grids.to_file(path)
    with pytest.raises(LoadError, match="--crs"):
        load_boundaries(empty.db, path, Level.street)


def test_code_scheme_is_configurable():
    beijing = CodeScheme(DEFAULT_CODE_WIDTHS)
    assert beijing.length(Level.grid) == 15
    assert beijing.problem("110105001001001", Level.grid, "110105001001") is None
    assert "15" in beijing.problem("11010500100101", Level.grid)
    assert beijing.problem("110105001002001", Level.grid, "110105001001") is not None
    wider = CodeScheme({**DEFAULT_CODE_WIDTHS, "grid": 8})
    assert wider.length(Level.grid) == 20


def _partitions(svc) -> dict[str, int]:
    """PostGIS: each partition of unit and how many indexes it has."""
    with svc.db.read() as session:
        return dict(session.execute(text(
            "SELECT c.relname, (SELECT count(*) FROM pg_index x WHERE x.indrelid = c.oid) "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'unit'::regclass")).all())


def test_large_load_in_its_own_partition_reads_the_same(databases, backend, demo, tmp_path):
    """A load above load_partition_rows (on PostGIS: COPY into a new table, attached as a
    partition at the end) stores exactly what the ordinary path stores; a failed one leaves
    no table behind."""
    svc = Services(databases.new(backend).model_copy(update={"load_partition_rows": 100}))
    try:
        upgrade(svc.db)
        version = load_sample(svc, DATA, say=lambda _line: None)  # 600 buildings: partitioned
        rows = select(Unit.code, Unit.name, Unit.level, Unit.parent_code,
                      Unit.geom.ST_AsBinary()).order_by(Unit.code)
        with svc.db.read() as session, demo.db.read() as other:
            ours = session.execute(rows.where(store.alive_in(version))).all()
            theirs = other.execute(rows.where(
                store.alive_in(store.require_active_version(other).id))).all()
            assert len(ours) == len(theirs) > 1600 and ours == theirs
            building = next(r.code for r in ours if r.level == "building")
            spot = store.shape_of(store.get_unit(session, version, building)
                                  ).representative_point()
            found = locate_point(session, svc.locators, spot.x, spot.y)
        assert found.owners.link(Level.building).code == building
        if backend == "postgis":
            parts = _partitions(svc)
            assert len(parts) == 2 and parts.pop("unit_b0") == 5  # b0 + the buildings' own
            assert list(parts.values()) == [5]  # pkey, 3 btrees, GiST: built when attached
        buildings = gpd.read_file(DATA / "building.geojson")
        buildings.loc[1, "code"] = buildings.loc[0, "code"]  # a duplicate: the load fails
        bad = tmp_path / "buildings.gpkg"
        buildings.to_file(bad, driver="GPKG")
        before = _partitions(svc) if backend == "postgis" else None
        with pytest.raises(LoadError):
            load_boundaries(svc.db, bad, Level.building, commit=True)
        if backend == "postgis":
            assert _partitions(svc) == before
        with svc.db.read() as session:
            assert store.unit_counts(session, version)["building"] == 600
    finally:
        svc.close()
