"""Street/lane centrelines from the wild (issue 13): a GBK road-centreline shapefile without
.cpg in EPSG:4548 — generated here — read with the boundary loader's rules and validated
(self-crossing lines, dangling ends, duplicate codes); a clean file committed as a segment
version, its lane across a community boundary reported; the CLI and the API say the same."""

from __future__ import annotations

import io
import re
import zipfile

import geopandas as gpd
import pytest
from shapely.geometry import LineString
from typer.testing import CliRunner

from grid.cli import app
from grid.demo import load_sample
from grid.hierarchy import store as hierarchy
from grid.hierarchy.levels import Level
from grid.overlays import store
from grid.overlays.segments import load_segments
from grid.spatial.encoding import choose_encoding
from tests.conftest import DATA, auth
from tests.overlay_setup import to_m


@pytest.fixture
def svc(empty):
    load_sample(empty, DATA, say=lambda _line: None)
    return empty


def _centrelines(svc, tmp_path, broken: bool = True):
    """Roads across the sample street in EPSG:4548, GBK attributes, no .cpg. With ``broken``:
    a self-crossing lane, a duplicated code and a lane stopping 2 m short of the main road."""
    with svc.db.read() as session:
        version = hierarchy.require_active_version(session).id
        street = to_m(hierarchy.shape_of(hierarchy.units(session, version, Level.street)[0]))
    minx, miny, maxx, maxy = street.bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    # west → east across the street, noded where the side roads join it (as networks are)
    main = LineString([(minx + 50, cy), (cx, cy), (cx + 200, cy), (maxx - 50, cy)])
    rows = [("DL001", "和平里西街", "主干路", main),
            ("DL002", "安贞胡同", "支路", LineString([(cx, cy), (cx, cy + 300)])),
            ("DL003", "小黄庄南巷", "巷", LineString([(cx + 200, cy), (cx + 200, cy - 250)]))]
    if broken:
        rows += [
            ("DL004", "樱花园东巷", "巷", LineString([(cx - 400, cy - 100), (cx - 300, cy - 200),
                                                  (cx - 300, cy - 100), (cx - 400, cy - 200)])),
            ("DL002", "重复编码胡同", "巷", LineString([(cx + 400, cy + 50),
                                                  (cx + 400, cy + 250)])),
            ("DL005", "未接上巷", "巷", LineString([(cx - 200, cy - 2), (cx - 200, cy - 200)])),
        ]
    frame = gpd.GeoDataFrame({"DLBM": [r[0] for r in rows], "DLMC": [r[1] for r in rows],
                              "DLDJ": [r[2] for r in rows]},
                             geometry=[r[3] for r in rows], crs="EPSG:4548")
    folder = tmp_path / ("broken" if broken else "clean")
    folder.mkdir()
    frame.to_file(folder / "daolu.shp", driver="ESRI Shapefile", encoding="GBK")
    for cpg in folder.glob("*.cpg"):
        cpg.unlink()  # as desktop tools so often ship them
    return folder / "daolu.shp"


def test_gbk_4548_centrelines_validation_report(svc, tmp_path):
    path = _centrelines(svc, tmp_path)
    assert "和平里".encode("gbk") in path.with_suffix(".dbf").read_bytes()
    assert choose_encoding(path).describe() == "GB18030 (detected)"
    report = load_segments(svc.db, path, commit=True)  # refused: it has errors
    assert report.encoding == "GB18030 (detected)" and report.crs == "EPSG:4548 (.prj)"
    assert report.fields.startswith("code←DLBM, name←DLMC")
    assert not report.committed and report.version_id is None
    kinds = {(p.kind, p.codes[0]) for p in report.problems}
    assert ("self_crossing", "DL004") in kinds
    assert ("duplicate_code", "DL002") in kinds
    near_miss = [p for p in report.problems if p.kind == "dangling_end"
                 and p.codes == ["DL005"] and "near miss" in p.message]
    assert len(near_miss) == 1
    # 2 m short in the file; the reprojected main road (two vertices 4 km apart, a chord in
    # lon/lat) runs ~10 cm off the original straight line in metres
    gap = float(re.search(r"near miss: ([\d.]+) m from DL001", near_miss[0].message)[1])
    assert 1.8 <= gap <= 2.2, near_miss[0].message
    crossing = next(p for p in report.problems if p.kind == "self_crossing")
    assert crossing.point is not None and 116 < crossing.point[0] < 118  # lon/lat, not metres
    # the T-junction of DL002 on DL001 is joined, not dangling; its far end is a dead end
    dl002_ends = [p.message for p in report.problems if p.kind == "dangling_end"
                  and p.codes == ["DL002"]]
    assert all("dead end" in m for m in dl002_ends)
    assert report.errors and all(p.severity == "warning" for p in report.problems
                                 if p.kind == "dangling_end")
    with svc.db.read() as session:
        assert store.segment_versions(session) == []


def test_clean_centrelines_commit_as_a_version_with_crossings(svc, tmp_path):
    path = _centrelines(svc, tmp_path, broken=False)
    dry = load_segments(svc.db, path)
    assert dry.errors == [] and not dry.committed
    report = load_segments(svc.db, path, commit=True, activate=True, label="街巷2026")
    assert report.committed and report.activated
    assert len(report.crossings["DL001"]) >= 2  # the main road crosses community boundaries
    with svc.db.read() as session:
        rows = {s.code: s for s in store.segments(session)}
        assert {c: s.name for c, s in rows.items()} == {
            "DL001": "和平里西街", "DL002": "安贞胡同", "DL003": "小黄庄南巷"}
        assert rows["DL001"].kind == "主干路"
        assert rows["DL001"].attrs["communities"] == report.crossings["DL001"]
    # a second load is a new, inactive version until activated
    again = load_segments(svc.db, path, commit=True)
    with svc.db.read() as session:
        assert store.active_segment_version(session).id == report.version_id
        assert again.version_id != report.version_id


def test_cli_and_api_report_the_same(svc, tmp_path, monkeypatch):
    path = _centrelines(svc, tmp_path)
    monkeypatch.setenv("GRID_DATABASE_URL", svc.settings.database_url)
    result = CliRunner().invoke(app, ["overlays", "load-segments", str(path), "--commit"])
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert "GB18030 (detected)" in out and "self_crossing" in out and "duplicate_code" in out
    assert "nothing written" in out
    from fastapi.testclient import TestClient

    from grid.api.app import create_app
    from grid.users import add_user

    with svc.db.write() as session:
        gis = add_user(session, "gis-staff", "gis", "110105")[1]
        street = add_user(session, "street-staff", "street", "110105001")[1]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for part in path.parent.iterdir():
            zf.write(part, part.name)
    with TestClient(create_app(svc.settings)) as client:
        files = {"file": ("daolu.zip", buffer.getvalue(), "application/zip")}
        refused = client.post("/api/v1/overlays/segments/load", files=files,
                              headers=auth(street))
        assert refused.status_code == 403
        answer = client.post("/api/v1/overlays/segments/load", files=files,
                             data={"commit": "true"}, headers=auth(gis))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["committed"] is False and body["source"] == "daolu.zip"
        assert {p["kind"] for p in body["problems"]} >= {
            "self_crossing", "duplicate_code", "dangling_end"}
        assert client.get("/api/v1/overlays/segment-versions",
                          headers=auth(gis)).json() == []
