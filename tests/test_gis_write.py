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
