"""Hostile boundary files (tests/helpers/hostile.py: 37 of them, generated here) through
``grid load --commit`` and through the upload API: each refused with a clear bilingual
message, no traceback and no 500, nothing written, and memory bounded — the 1 GiB zip bomb
included, which is refused from the zip's directory before anything is inflated. Also: a
``.txt`` holding GeoJSON is read the same by both; Z/M values are dropped with a warning."""

from __future__ import annotations

import os
import re
import sqlite3
import struct
import subprocess
import sys
import tracemalloc

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from grid.api.app import create_app
from grid.cli import app
from grid.errors import LoadError
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.spatial.loader import load_boundaries
from grid.users import add_user
from tests.conftest import DATA, auth
from tests.helpers.hostile import corpus

runner = CliRunner()
CJK = re.compile(r"[\u4e00-\u9fff]")
#: Python-side allocation peak allowed while one hostile file is refused (tracemalloc).
PEAK_BYTES = 64 * 1024**2


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    cases = corpus(tmp_path_factory.mktemp("hostile"))
    assert len(cases) >= 30
    return cases


def _clear(message: str, expected: str) -> None:
    message = " ".join(message.split())  # the console wraps long lines
    assert any(e in message for e in expected.split("|")), message  # "a|b": either
    assert CJK.search(message) and re.search(r"[A-Za-z]{3}", message), message  # zh and en
    assert "Traceback" not in message


def _versions(svc) -> list:
    with svc.db.read() as session:
        return store.list_versions(session)


def test_every_hostile_file_is_refused_by_grid_load(empty, hostile, monkeypatch):
    monkeypatch.setenv("GRID_DATABASE_URL", empty.settings.database_url)
    for name, path, expected in hostile:
        tracemalloc.start()
        try:
            result = runner.invoke(app, ["load", str(path), "--level", "street", "--commit"])
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert result.exit_code == 1, (name, result.output)
        assert isinstance(result.exception, SystemExit), (name, result.exception)
        _clear(result.output, expected)
        assert peak < PEAK_BYTES, (name, peak)
    assert _versions(empty) == []  # nothing written, not even an empty version


def test_every_hostile_file_is_refused_by_the_upload_api(empty, hostile, monkeypatch,
                                                         tmp_path):
    from grid.api import gis as gis_api

    monkeypatch.setattr(gis_api, "UPLOAD_ROOT", tmp_path / "uploads")
    with empty.db.write() as session:
        _, token = add_user(session, "测绘员", "gis", "110105")
    with TestClient(create_app(empty.settings)) as client:
        for name, path, expected in hostile:
            tracemalloc.start()
            try:
                with path.open("rb") as handle:
                    answer = client.post("/api/v1/gis/uploads", headers=auth(token),
                                         files={"file": (path.name, handle)},
                                         data={"level": "street"})
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            body = answer.json()
            if answer.status_code == 200:  # read, and refused by the validator's report
                assert body["upload_id"] is None and body["report"]["errors"], (name, body)
                _clear(" ".join(body["report"]["error_list"]), expected)
            else:
                assert answer.status_code == 422, (name, answer.status_code, body)
                assert set(body) == {"code", "message", "details"}
                _clear(body["message"], expected)
            assert peak < PEAK_BYTES, (name, peak)
            assert list(gis_api.UPLOAD_ROOT.iterdir()) == [], name  # nothing kept
    assert _versions(empty) == []


#: Run ``grid`` and, at exit, print the process's peak resident memory (VmHWM: the peak of
#: this program's own memory, not of the test process it was forked from).
_PEAK = """
import atexit, sys
def peak():
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    sys.stderr.write(f"PEAK_KB {line.split()[1]}\\n")
atexit.register(peak)
from grid.cli import app
app()
"""


def test_the_zip_bomb_is_refused_in_a_process_that_stays_small(empty, hostile, tmp_path):
    """The 1 MB zip whose .dbf inflates to 1 GiB, in a process of its own: its peak
    resident memory stays far below the 1 GiB inflating would take."""
    bomb = next(path for name, path, _ in hostile if name == "bomb_dbf_1gib.zip")
    assert bomb.stat().st_size < 2 * 1024**2
    env = {**os.environ, "GRID_DATABASE_URL": empty.settings.database_url}
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, "load", str(bomb), "--level", "street", "--commit"],
        env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    _clear(done.stdout, "zip bomb")
    peak_kb = int(re.search(r"PEAK_KB (\d+)", done.stderr).group(1))
    assert peak_kb * 1024 < 600 * 1024**2, peak_kb


def test_a_txt_holding_geojson_is_read_the_same_by_cli_and_api(empty, monkeypatch, tmp_path):
    from grid.api import gis as gis_api

    monkeypatch.setattr(gis_api, "UPLOAD_ROOT", tmp_path / "uploads")
    monkeypatch.setenv("GRID_DATABASE_URL", empty.settings.database_url)
    text = tmp_path / "street.txt"
    text.write_bytes((DATA / "street.geojson").read_bytes())
    cli = runner.invoke(app, ["load", str(text), "--level", "street", "--json"])
    assert cli.exit_code == 0, cli.output
    assert '"rows": 1' in cli.output and '"errors": 0' in cli.output
    with empty.db.write() as session:
        _, token = add_user(session, "测绘员", "gis", "110105")
    with TestClient(create_app(empty.settings)) as client:
        answer = client.post("/api/v1/gis/uploads", headers=auth(token),
                             files={"file": ("street.txt", text.read_bytes())},
                             data={"level": "street"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["report"]["rows"] == 1 and answer.json()["upload_id"]


def _gpkg_with(path, wkt: str) -> None:
    """A one-street GeoPackage whose geometry is ``wkt`` (pyogrio writes no M: the blob is
    put in place by hand, GeoPackage header + ISO WKB)."""
    flat = shapely.force_2d(shapely.from_wkt(wkt))
    gpd.GeoDataFrame({"code": ["110105001"], "name": ["和平街道"]}, geometry=[flat],
                     crs=4490).to_file(path, driver="GPKG", layer="street", SPATIAL_INDEX="NO")
    geometry = shapely.from_wkt(wkt)
    dims = 2 + shapely.has_z(geometry) + shapely.has_m(geometry)
    blob = b"GP\x00\x01" + struct.pack("<i", 4490) + shapely.to_wkb(
        geometry, flavor="iso", output_dimension=dims, byte_order=1)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE street SET geom = ?", (blob,))
        conn.execute("UPDATE gpkg_geometry_columns SET z = 2, m = 2")


@pytest.mark.parametrize("wkt", [
    "POLYGON Z ((116.40 39.90 5, 116.41 39.90 5, 116.41 39.91 5, 116.40 39.91 5, 116.40 39.90 5))",
    "POLYGON M ((116.40 39.90 7, 116.41 39.90 7, 116.41 39.91 7, 116.40 39.91 7, 116.40 39.90 7))",
    "POLYGON ZM ((116.40 39.90 1 7, 116.41 39.90 1 7, 116.41 39.91 1 7, 116.40 39.91 1 7, "
    "116.40 39.90 1 7))",
])
def test_z_and_m_are_dropped_with_a_warning(empty, tmp_path, wkt):
    path = tmp_path / "street.gpkg"
    _gpkg_with(path, wkt)
    report = load_boundaries(empty.db, path, Level.street, commit=True)
    assert report.errors == [] and report.added == ["110105001"]
    assert any("Z" in w and "2-D" in w and w.startswith("1 ") for w in report.warnings), \
        report.warnings
    with empty.db.read() as session:
        codes, geoms = store.level_shapes(session, report.version_id, Level.street)
    assert list(codes) == ["110105001"]
    assert not shapely.has_z(geoms[0]) and not shapely.has_m(geoms[0])


@pytest.mark.parametrize(("content", "name", "expected"), [
    (b"PK\x05\x06" + b"\x00" * 18, "groups.zip", "resident groups load from a CSV"),
    (b"", "groups.csv", "empty"),
    ("编码,名称\n1,和平".encode("gb18030"), "groups.csv", "cannot read"),
    (b'code,name,building_code\n"1,2\n', "groups.csv", "cannot read"),
])
def test_broken_resident_group_tables_are_refused_with_a_message(empty, tmp_path, content,
                                                                 name, expected):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError) as refused:
        load_boundaries(empty.db, path, Level.resident_group)
    _clear(refused.value.message, expected)


@pytest.mark.parametrize(("driver", "suffix"), [("KML", ".kml"), ("FlatGeobuf", ".fgb")])
def test_kml_and_flatgeobuf_pass_the_gate_and_load(empty, tmp_path, monkeypatch, driver,
                                                   suffix):
    """The gate decides kinds by content; KML and FlatGeobuf are boundary files it knows
    (they were refused as 'not a boundary file' once it came in)."""
    from grid.spatial.inputs import sniff

    streets = gpd.read_file(DATA / "street.geojson")
    path = tmp_path / f"street{suffix}"
    streets[["code", "name", "geometry"]].to_file(path, driver=driver)
    assert sniff(path) == suffix[1:]
    monkeypatch.setenv("GRID_DATABASE_URL", empty.settings.database_url)
    result = runner.invoke(app, ["load", str(path), "--level", "street", "--commit"])
    assert result.exit_code == 0, result.output
    [version] = _versions(empty)
    with empty.db.read() as session:
        loaded = {u.code: u.name for u in store.units(session, version.id, Level.street)}
    assert loaded == dict(zip(streets["code"], streets["name"], strict=True))


def test_the_segment_upload_passes_the_same_gate(empty, hostile):
    """``/overlays/segments/load`` reads its file through the gate too: every hostile file
    with a suffix the route takes is refused — 422 with a bilingual message, or a report
    with errors and nothing committed — in bounded memory (the zip bombs from the zip's
    directory), never a 500."""
    with empty.db.write() as session:
        _, token = add_user(session, "测绘员", "gis", "110105")
    taken = (".zip", ".gpkg", ".geojson", ".json")
    cases = [c for c in hostile if c[1].suffix.lower() in taken]
    assert any(name.startswith("bomb") for name, _, _ in cases)
    refused = 0
    with TestClient(create_app(empty.settings)) as client:
        for name, path, expected in cases:
            tracemalloc.start()
            try:
                with path.open("rb") as handle:
                    answer = client.post("/api/v1/overlays/segments/load",
                                         headers=auth(token),
                                         files={"file": (path.name, handle)})
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            body = answer.json()
            if answer.status_code == 200:  # read, and refused by the validator's report
                assert body["committed"] is False and body["errors"], (name, body)
                continue
            assert answer.status_code == 422, (name, answer.status_code, body)
            assert set(body) == {"code", "message", "details"}
            message = " ".join(body["message"].split())
            assert CJK.search(message) and "Traceback" not in message, (name, message)
            if name.startswith("bomb"):
                _clear(message, expected)
                refused += 1
            assert peak < PEAK_BYTES, (name, peak)
    assert refused == sum(name.startswith("bomb") for name, _, _ in cases)
