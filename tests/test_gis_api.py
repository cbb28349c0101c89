"""The GIS endpoints: upload a zipped GBK shapefile → report; commit by a second call; only the
gis and admin roles; diff, rollback and re-placing an incident against another version."""

from __future__ import annotations

import os
import zipfile

from fastapi.testclient import TestClient

from grid.api.app import create_app
from grid.demo import load_sample
from grid.hierarchy import store
from grid.incidents.ladder import SYSTEM
from grid.users import add_user
from tests.conftest import DATA, auth
from tests.test_gis_inputs import _gbk_grids


def test_upload_report_commit_diff_rollback_placement(empty, tmp_path):
    first = load_sample(empty, DATA, say=lambda _line: None)
    with empty.db.write() as session:
        _, gis = add_user(session, "测绘员", "gis", "110105001")
        _, street = add_user(session, "街道", "street", "110105001")
    shp, expected = _gbk_grids(tmp_path)
    archive = tmp_path / "grids.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in shp.parent.iterdir():
            zf.write(part, part.name)
    with TestClient(create_app(empty.settings)) as client:
        files = {"file": ("grids.zip", archive.read_bytes(), "application/zip")}
        refused = client.post("/api/v1/gis/uploads", headers=auth(street), files=files,
                              data={"level": "grid"})
        assert refused.status_code == 403
        done = client.post("/api/v1/gis/uploads", headers=auth(gis), files=files,
                           data={"level": "grid"})
        assert done.status_code == 200, done.text
        body = done.json()
        report = body["report"]
        assert report["encoding"] == "GB18030 (detected)" and report["crs"].startswith("EPSG:4548")
        assert report["committed"] is False and report["errors"] == 0
        assert report["changed"] == 40
        bad = client.post("/api/v1/gis/uploads", headers=auth(gis), data={"level": "grid"},
                          files={"file": ("x.csv", b"a,b\n", "text/csv")})
        assert bad.status_code == 422
        assert client.post("/api/v1/gis/uploads/" + "0" * 32 + "/commit", headers=auth(gis),
                           json={}).status_code == 404

        with empty.db.write() as session:
            incident = empty.ladder.report(session, SYSTEM, lon=116.43, lat=39.98,
                                           category="Z001")
            incident_id, old_grid = incident.id, incident.grid_code
        committed = client.post(f"/api/v1/gis/uploads/{body['upload_id']}/commit",
                                headers=auth(gis), json={"label": "GBK grids"})
        assert committed.status_code == 200, committed.text
        second = committed.json()["report"]["version"]
        assert committed.json()["report"]["committed"] is True
        again = client.post(f"/api/v1/gis/uploads/{body['upload_id']}/commit",
                            headers=auth(gis), json={})
        assert again.status_code == 404  # an upload commits once

        diff = client.get(f"/api/v1/gis/versions/{first}/diff/{second}", headers=auth(gis))
        assert set(diff.json()["grid"]["changed"]) == set(expected)
        placed = client.get(f"/api/v1/gis/incidents/{incident_id}/placement?version={second}",
                            headers=auth(gis)).json()
        assert placed["original"]["grid"] == old_grid
        assert placed["placed"]["version"] == second and placed["placed"]["grid"] == old_grid

        with empty.db.write() as session:
            store.activate(session, second)
        back = client.post("/api/v1/gis/versions/rollback", headers=auth(gis))
        assert back.status_code == 200, back.text
        assert back.json()["active"] == first


def test_uploads_are_removed_once_used_refused_discarded_or_stale(empty, tmp_path,
                                                                  monkeypatch):
    from grid.api import gis as gis_api

    monkeypatch.setattr(gis_api, "UPLOAD_ROOT", tmp_path / "uploads")
    load_sample(empty, DATA, say=lambda _line: None)
    with empty.db.write() as session:
        _, gis = add_user(session, "测绘员", "gis", "110105001")
    shp, _ = _gbk_grids(tmp_path)
    archive = tmp_path / "grids.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in shp.parent.iterdir():
            zf.write(part, part.name)
    files = {"file": ("grids.zip", archive.read_bytes(), "application/zip")}

    def kept():
        return sorted(p.name for p in gis_api.UPLOAD_ROOT.iterdir())

    with TestClient(create_app(empty.settings)) as client:
        first = client.post("/api/v1/gis/uploads", headers=auth(gis), files=files,
                            data={"level": "grid"}).json()["upload_id"]
        assert kept() == [first]
        assert client.post(f"/api/v1/gis/uploads/{first}/commit", headers=auth(gis),
                           json={}).status_code == 200
        assert kept() == []  # committed: gone

        # a report with errors (every name garbled) can never be committed: nothing is kept
        broken = client.post("/api/v1/gis/uploads", headers=auth(gis), files=files,
                             data={"level": "grid", "encoding": "ISO-8859-1"})
        assert broken.status_code == 200 and broken.json()["report"]["errors"] > 0
        assert broken.json()["upload_id"] is None and kept() == []
        undecodable = client.post("/api/v1/gis/uploads", headers=auth(gis), files=files,
                                  data={"level": "grid", "encoding": "UTF-8"})
        assert undecodable.status_code == 422 and "GB18030" in undecodable.text
        assert kept() == []

        second = client.post("/api/v1/gis/uploads", headers=auth(gis), files=files,
                             data={"level": "grid"}).json()["upload_id"]
        assert client.delete(f"/api/v1/gis/uploads/{second}",
                             headers=auth(gis)).status_code == 204
        assert kept() == []
        assert client.post(f"/api/v1/gis/uploads/{second}/commit", headers=auth(gis),
                           json={}).status_code == 404

        # a commit that fails still removes the upload (the same file would fail again)
        third = client.post("/api/v1/gis/uploads", headers=auth(gis), files=files,
                            data={"level": "grid"}).json()["upload_id"]
        with empty.db.read() as session:
            active = store.require_active_version(session).id
        refused = client.post(f"/api/v1/gis/uploads/{third}/commit", headers=auth(gis),
                              json={"version": active})
        assert refused.status_code == 422, refused.text
        assert kept() == []

        # an upload left behind goes after UPLOAD_TTL, on the next upload
        stale = client.post("/api/v1/gis/uploads", headers=auth(gis), files=files,
                            data={"level": "grid"}).json()["upload_id"]
        old = gis_api.UPLOAD_ROOT / stale
        past = old.stat().st_mtime - gis_api.UPLOAD_TTL - 60
        os.utime(old, (past, past))
        fresh = client.post("/api/v1/gis/uploads", headers=auth(gis), files=files,
                            data={"level": "grid"}).json()["upload_id"]
        assert kept() == [fresh]
