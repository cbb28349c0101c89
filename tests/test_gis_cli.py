"""The GIS commands: versions diff, rollback, export (GeoPackage, GeoJSON, GBK shapefile) and
loading the export back."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import pytest
from typer.testing import CliRunner

from grid.cli import app
from grid.demo import load_sample
from grid.hierarchy import store
from tests.conftest import DATA

runner = CliRunner()


@pytest.fixture
def env(empty, monkeypatch):
    monkeypatch.setenv("GRID_DATABASE_URL", empty.settings.database_url)
    return empty


def _run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_diff_rollback_and_export(env, tmp_path):
    first = load_sample(env, DATA, say=lambda _line: None)
    grids = gpd.read_file(DATA / "grid.geojson")
    renamed = grids.loc[2, "code"]
    grids.loc[2, "name"] = "新命名网格"
    grids.loc[5, "geometry"] = grids.loc[5, "geometry"].buffer(-0.0002)
    path = tmp_path / "grids.geojson"
    grids.to_file(path)
    out = _run("load", str(path), "--level", "grid", "--commit")
    second = int(re.search(r"written to version (\d+)", out).group(1))
    _run("activate", str(second))

    changes = json.loads(_run("versions", "diff", str(first), str(second), "--json"))
    assert changes["grid"]["changed"][renamed] == 0
    assert changes["grid"]["changed"][grids.loc[5, "code"]] > 1  # the shrunk one, in %
    assert changes["grid"]["unchanged"] == 38 and changes["street"]["unchanged"] == 1
    assert "新增 added" in _run("versions", "diff", str(first), str(second))
    assert str(second) in _run("versions")

    shp = tmp_path / "out" / "grids.shp"
    assert "exported 40" in _run("export", str(shp), "--level", "grid", "--encoding", "GBK")
    assert shp.with_suffix(".cpg").read_text().strip() == "GBK"
    assert "新命名网格".encode("gbk") in shp.with_suffix(".dbf").read_bytes()
    back = gpd.read_file(shp)  # GDAL honours the .cpg
    assert "新命名网格" in set(back["name"])
    out = _run("load", str(shp), "--level", "grid")  # the export loads back cleanly
    assert "GBK (cpg)" in out and "dry run" in out
    for suffix in ("gpkg", "geojson"):
        target = tmp_path / f"communities.{suffix}"
        _run("export", str(target), "--level", "community", "--version", str(first))
        assert len(gpd.read_file(target)) == 6

    assert f"rolled back to version {first}" in _run("rollback")
    with env.db.read() as session:
        assert store.require_active_version(session).id == first
    assert "错误" in _run("export", str(tmp_path / "x.csv"), "--level", "grid", code=1)
