"""Boundary files from the wild: GBK attributes with no .cpg, projected Gauss-Krüger
coordinates, pinyin field names, YAML field maps, ambiguous guesses, wrong CRS labels."""

from __future__ import annotations

import re

import geopandas as gpd
import pytest
from typer.testing import CliRunner

from grid.cli import app
from grid.demo import load_sample
from grid.errors import LoadError
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.spatial.encoding import choose_encoding, looks_garbled
from grid.spatial.loader import load_boundaries
from tests.conftest import DATA


def _gbk_grids(tmp_path, renamed: bool = True):
    """The sample grids as a GBK shapefile in EPSG:4548 with pinyin columns and no .cpg."""
    grids = gpd.read_file(DATA / "grid.geojson").to_crs(4548)
    names = [f"和平里第{i}网格（改）" if renamed else n for i, n in enumerate(grids["name"])]
    frame = gpd.GeoDataFrame({"WGBM": grids["code"], "WGMC": names,
                              "SQBM": grids["parent_code"]}, geometry=grids.geometry)
    folder = tmp_path / "gbk"
    folder.mkdir()
    frame.to_file(folder / "wangge.shp", driver="ESRI Shapefile", encoding="GBK")
    for cpg in folder.glob("*.cpg"):
        cpg.unlink()  # what desktop tools so often ship
    return folder / "wangge.shp", dict(zip(grids["code"], names, strict=True))


def test_gbk_shapefile_without_cpg_in_4548_loads_with_correct_names(empty, tmp_path):
    load_sample(empty, DATA, say=lambda _line: None)
    path, expected = _gbk_grids(tmp_path)
    assert b"\xba\xcd\xc6\xbd" in path.with_suffix(".dbf").read_bytes()  # 和平 in GBK
    assert choose_encoding(path).describe() == "GB18030 (detected)"
    report = load_boundaries(empty.db, path, Level.grid, commit=True, label="GBK grids")
    assert report.errors == [], report.errors
    assert report.encoding == "GB18030 (detected)"
    assert report.crs == "EPSG:4548 (.prj)"
    assert report.fields.startswith("code←WGBM, name←WGMC, parent_code←SQBM (guessed)")
    with empty.db.read() as session:
        units = store.units(session, report.version_id, Level.grid)
        assert {u.code: u.name for u in units} == expected
        # the GK reprojection lands each grid back on its community
        assert all(u.code.startswith(u.parent_code) for u in units)


def test_cli_prints_encoding_and_crs(empty, tmp_path, monkeypatch):
    load_sample(empty, DATA, say=lambda _line: None)
    monkeypatch.setenv("GRID_DATABASE_URL", empty.settings.database_url)
    path, _ = _gbk_grids(tmp_path)
    result = CliRunner().invoke(app, ["load", str(path), "--level", "grid"])
    assert result.exit_code == 0, result.output
    assert "GB18030 (detected)" in result.output and "EPSG:4548 (.prj)" in result.output
    assert "dry run" in result.output


def test_wrong_encoding_is_reported_as_garbled_not_stored(empty, tmp_path):
    load_sample(empty, DATA, say=lambda _line: None)
    path, _ = _gbk_grids(tmp_path)
    report = load_boundaries(empty.db, path, Level.grid, encoding="ISO-8859-1")
    assert report.encoding == "ISO-8859-1 (override)"
    garbled = [p for p in report.problems if p.kind == "garbled_name"]
    assert len(garbled) == 40 and all(p.severity == "error" for p in garbled)
    with pytest.raises(LoadError):
        load_boundaries(empty.db, path, Level.grid, encoding="ISO-8859-1", commit=True)


def test_garbled_text_heuristics():
    assert looks_garbled("鍜屽钩琛楅亾")  # 和平街道 as UTF-8 bytes read as GBK
    assert looks_garbled("ºÍÆ½½ÖµÀ")  # 和平街道 as GBK bytes read as Latin-1
    assert looks_garbled("锟斤拷")
    assert not looks_garbled("和平街道安贞里社区")
    assert not looks_garbled("Grid 7")


def test_ambiguous_field_guess_is_refused_and_yaml_map_resolves_it(empty, tmp_path):
    streets = gpd.read_file(DATA / "street.geojson")
    streets["编码"] = streets["code"]
    path = tmp_path / "street.gpkg"
    streets.to_file(path, driver="GPKG")
    with pytest.raises(LoadError, match="ambiguous code column"):
        load_boundaries(empty.db, path, Level.street)
    fields = tmp_path / "fields.yaml"
    fields.write_text("code: 编码\nname: name\n", encoding="utf-8")
    report = load_boundaries(empty.db, path, Level.street, fields_file=fields)
    assert report.errors == [] and report.fields.startswith("code←编码, name←name")
    assert report.fields.endswith("(yaml)")


def test_degrees_labelled_as_metres_are_refused(empty, tmp_path):
    path = tmp_path / "street.shp"
    gpd.read_file(DATA / "street.geojson").set_crs(None, allow_override=True).to_file(path)
    with pytest.raises(LoadError, match="look like degrees"):
        load_boundaries(empty.db, path, Level.street, crs="EPSG:4548")
    report = load_boundaries(empty.db, path, Level.street, crs="EPSG:4490")
    assert report.crs == "EPSG:4490 (--crs)" and report.errors == []


def test_metres_labelled_as_degrees_and_wrong_zone_are_refused(empty, tmp_path):
    metres = gpd.read_file(DATA / "street.geojson").to_crs(4548)
    path = tmp_path / "street.shp"
    metres.set_crs(None, allow_override=True).to_file(path)
    with pytest.raises(LoadError, match="look like metres"):
        load_boundaries(empty.db, path, Level.street, crs="EPSG:4490")
    # a false easting off by 2,000 km (a zone mix-up) puts the street east of Japan
    moved = metres.set_geometry(metres.geometry.translate(xoff=2_000_000), crs=4548)
    far = tmp_path / "far.gpkg"
    moved.to_file(far, driver="GPKG")
    with pytest.raises(LoadError, match=re.escape("outside China")):
        load_boundaries(empty.db, far, Level.street)
