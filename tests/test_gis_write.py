"""The bulk write behind every load (COPY on PostGIS, executemany on SpatiaLite): text that
needs escaping, extra attributes, polygons stored as MultiPolygons, and a reload that finds
every unit unchanged, attributes included."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely

from grid.demo import load_sample
from grid.errors import LoadError
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.spatial import loader
from grid.spatial.loader import load_boundaries
from tests.conftest import DATA
from tests.test_gis_validate import _planted


def test_escaped_text_attributes_and_reload(empty, tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "CHUNK_ROWS", 7)  # 40 grids: six chunks, one COPY
    load_sample(empty, DATA, say=lambda _line: None)
    grids = gpd.read_file(DATA / "grid.geojson").sort_values("code").reset_index(drop=True)
    odd = {0: "东\t区\\一", 1: "北\n区", 2: "南\r区 \\N"}
    for i, name in odd.items():
        grids.loc[i, "name"] = name
    # a MultiPolygon and a 3-D polygon among the Polygons: all stored as 2-D MultiPolygons
    grids.loc[3, "geometry"] = shapely.MultiPolygon([grids.loc[3, "geometry"]])
    grids.loc[4, "geometry"] = shapely.force_3d(grids.loc[4, "geometry"], z=42.0)
    grids["floors"] = np.arange(len(grids), dtype="int64")
    grids["area_ha"] = [np.nan if i % 2 else i / 4 for i in range(len(grids))]
    grids["note"] = [None if i % 3 else f'引号"与\\反斜杠{i}' for i in range(len(grids))]
    path = tmp_path / "grids.geojson"
    grids.to_file(path, driver="GeoJSON")
    report = load_boundaries(empty.db, path, Level.grid, commit=True)
    assert report.errors == [] and len(report.changed) == 40, report.summary()
    with empty.db.read() as session:
        units = {u.code: u for u in store.units(session, report.version_id, Level.grid)}
        for i, row in grids.iterrows():
            unit = units[row["code"]]
            assert unit.name == odd.get(i, row["name"])
            want = {k: row[k] for k in ("xiaoqu",) if k in row and isinstance(row[k], str)}
            want["floors"] = i
            if i % 2 == 0:
                want["area_ha"] = i / 4
            if i % 3 == 0:
                want["note"] = f'引号"与\\反斜杠{i}'
            assert unit.attrs == want, (i, unit.attrs)
            shape = store.shape_of(unit)
            assert shape.geom_type == "MultiPolygon" and not shape.has_z
            assert shape.equals_exact(shapely.force_2d(row["geometry"]), 1e-9) or \
                shape.geoms[0].equals_exact(row["geometry"], 1e-9)
            assert unit.parent_code == row["parent_code"]
    again = load_boundaries(empty.db, path, Level.grid, version_id=report.version_id)
    assert (len(again.unchanged), len(again.changed), len(again.added)) == (40, 0, 0)
    grids.loc[5, "floors"] = 99
    grids.to_file(path, driver="GeoJSON")
    moved = load_boundaries(empty.db, path, Level.grid, version_id=report.version_id)
    assert moved.changed == [grids.loc[5, "code"]] and len(moved.unchanged) == 39


def test_chunked_checks_find_the_same_faults_and_write_nothing(empty, tmp_path, monkeypatch):
    load_sample(empty, DATA, say=lambda _line: None)
    path, _ = _planted(tmp_path)
    whole = load_boundaries(empty.db, path, Level.grid)
    monkeypatch.setattr(loader, "CHUNK_ROWS", 5)  # the first faults come in the 2nd chunk
    chunked = load_boundaries(empty.db, path, Level.grid)
    def listed(report):
        return sorted(json.dumps(p.as_dict(), ensure_ascii=False) for p in report.problems)

    assert listed(chunked) == listed(whole) and len(listed(whole)) >= 10
    assert chunked.added == chunked.changed == chunked.unchanged == []
    with empty.db.read() as session:
        versions = store.list_versions(session)
    with pytest.raises(LoadError):
        load_boundaries(empty.db, path, Level.grid, commit=True)
    with empty.db.read() as session:
        assert [v.id for v in store.list_versions(session)] == [v.id for v in versions]


def test_rows_naming_a_missing_version_are_refused(empty):
    """Migration 0007 took the row-by-row foreign keys off ``unit`` on PostGIS: the writer's
    one check per write refuses a version that does not exist, and nothing is written; a
    version that rows still name cannot be deleted."""
    from sqlalchemy import delete, func, select

    from grid.hierarchy.models import BoundaryVersion, Unit
    from grid.spatial.write import UnitWriter, detach_rows

    load_sample(empty, DATA, say=lambda _line: None)
    with empty.db.read() as session:
        before = session.scalar(select(func.count()).select_from(Unit))
        top = session.scalar(select(func.max(BoundaryVersion.id)))
    box = shapely.box(116.3, 39.9, 116.31, 39.91)
    with pytest.raises(LoadError, match=str(top + 7)), empty.db.write() as session:
        writer = UnitWriter(session, Level.grid, top + 7).start()
        writer.add(np.array(["x1"], dtype=object), np.array(["x"], dtype=object),
                   np.array([None], dtype=object), np.array(["{}"], dtype=object),
                   np.array([box], dtype=object))
        writer.finish(errors=False)
    with pytest.raises(LoadError, match=str(top + 6)), empty.db.write() as session:
        ids = session.scalars(select(Unit.id).limit(1)).all()
        detach_rows(session, np.asarray(ids, dtype=np.int64), np.array([1]), top + 7)
    with empty.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Unit)) == before
    # the delete half of the old foreign keys: a trigger on PostGIS, the keys on SpatiaLite
    with pytest.raises(Exception, match="(?i)foreign key|still named"), \
            empty.db.write() as session:
        session.execute(delete(BoundaryVersion).where(BoundaryVersion.id == top))
    with empty.db.read() as session:
        assert session.scalar(select(func.max(BoundaryVersion.id))) == top


def test_file_wkb_written_as_is_only_where_it_is_the_stored_geometry(empty, tmp_path,
                                                                      monkeypatch):
    """A file already in storage CRS has its WKB sent to the database as it is: Polygons,
    MultiPolygons, a 3-D polygon (serialised again, as 2-D) and a repaired bow-tie (its
    repair is stored, not the file's) all come back as the file's shapes."""
    monkeypatch.setattr(loader, "CHUNK_ROWS", 7)
    load_sample(empty, DATA, say=lambda _line: None)
    grids = gpd.read_file(DATA / "grid.geojson").sort_values("code").reset_index(drop=True)
    grids.loc[3, "geometry"] = shapely.MultiPolygon([grids.loc[3, "geometry"]])
    grids.loc[4, "geometry"] = shapely.force_3d(grids.loc[4, "geometry"], z=7.0)
    original = grids.loc[9, "geometry"]
    ring = list(original.exterior.coords)
    grids.loc[9, "geometry"] = shapely.Polygon(
        [ring[0], original.representative_point().coords[0], *ring])
    assert not grids.loc[9, "geometry"].is_valid
    grids["floors"] = np.arange(len(grids), dtype="int64")  # every grid is written anew
    path = tmp_path / "grids.gpkg"
    grids.set_crs(4490, allow_override=True).to_file(path, driver="GPKG")
    assert loader.read_source(path, Level.grid, raw=True)[2].stored_as_is
    report = load_boundaries(empty.db, path, Level.grid, commit=True, repair=True)
    assert report.errors == [] and len(report.changed) == 40, report.summary()
    with empty.db.read() as session:
        units = {u.code: u for u in store.units(session, report.version_id, Level.grid)}
    for i, row in grids.iterrows():
        shape = store.shape_of(units[row["code"]])
        assert shape.geom_type == "MultiPolygon" and not shape.has_z and shape.is_valid
        if i == 9:
            assert abs(shape.area - original.area) < 1e-9
        else:
            want = shapely.force_2d(row["geometry"])
            assert shape.equals_exact(want, 0) or shape.geoms[0].equals_exact(want, 0), i


@pytest.mark.parametrize("chunk", [3, 7, 25_000])
def test_chunked_crs_checks_refuse_as_the_whole_file_check_does(empty, tmp_path, monkeypatch,
                                                                chunk):
    """A projected file checked a chunk at a time gets the outcome the whole file gets: a
    file whose numbers are all degrees (every chunk alone could be metres near the origin),
    one with degrees only in its last chunk (earlier chunks already streamed), one with
    degrees only in its first, and a good one."""
    monkeypatch.setattr(loader, "CHUNK_ROWS", chunk)
    load_sample(empty, DATA, say=lambda _line: None)
    grids = gpd.read_file(DATA / "grid.geojson").sort_values("code").reset_index(drop=True)
    metres = grids.to_crs(4548)
    degrees = grids.geometry.to_numpy()
    cases = {
        "all_degrees": degrees,
        "last_degrees": np.r_[metres.geometry.to_numpy()[:-2], degrees[-2:]],
        "first_degrees": np.r_[degrees[:2], metres.geometry.to_numpy()[2:]],
        "good": metres.geometry.to_numpy(),
    }
    with empty.db.read() as session:
        versions = [v.id for v in store.list_versions(session)]
    for name, geoms in cases.items():
        path = tmp_path / f"{name}.gpkg"
        gpd.GeoDataFrame(grids.drop(columns="geometry"), geometry=list(geoms),
                         crs=4548).to_file(path, driver="GPKG")
        try:
            loader.read_source(path, Level.grid)  # the whole file, checked before any row
            whole = None
        except LoadError as exc:
            whole = str(exc)
        if whole is None:
            report = load_boundaries(empty.db, path, Level.grid)
            assert name == "good" and report.errors == [], report.summary()
            continue
        with pytest.raises(LoadError) as caught:
            load_boundaries(empty.db, path, Level.grid, commit=True)
        assert str(caught.value) == whole, name
        with empty.db.read() as session:
            assert [v.id for v in store.list_versions(session)] == versions, name


def test_garbled_name_prefilter_covers_every_mojibake_pattern():
    """The garbled-name check scans all names for a character a MOJIBAKE match can begin
    with before running MOJIBAKE itself: every branch of it must begin with one."""
    from grid.spatial import validate
    from grid.spatial.encoding import MOJIBAKE

    samples = ["锟斤拷", "烫烫", "屯屯", "\ufffd", "Ã©", "ÿ\u0080"]
    for sample in samples:
        match = MOJIBAKE.search(f"名{sample}称")
        assert match and validate._MOJIBAKE_FIRST.match(match.group())
    assert len(MOJIBAKE.pattern.split("|")) == 5  # a new branch needs a sample above


def test_level_extent_and_frame_match_the_units(demo):
    """The collection extent (one aggregate in the database) and the export frame (one plain
    query) agree with the units read one by one through the ORM."""
    from grid.spatial.export import level_extent, level_frame

    with demo.db.read() as session:
        version = store.require_active_version(session).id
        for level in (Level.street, Level.grid, Level.building):
            units = store.units(session, version, level)
            one_by_one = [store.shape_of(u) for u in units]
            expected = [round(float(v), 7) for v in shapely.total_bounds(one_by_one)]
            assert level_extent(session, version, level) == expected
            frame = level_frame(session, version, level)
            assert frame["code"].tolist() == [u.code for u in units]
            assert frame["parent_code"].tolist() == [u.parent_code or "" for u in units]
            assert shapely.equals_exact(frame.geometry.array, one_by_one, 0).all()
        assert level_extent(session, 10**6, Level.building) is None  # a version with none
