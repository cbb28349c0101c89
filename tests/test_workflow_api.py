"""Through the API: photos (type/size checks, EXIF GPS placing a report), send-back, duplicate
suggestions and merging that keeps every reporter's callback, overdue report-ins, and
notifications through a webhook that fails once and is retried, never sent twice."""

from __future__ import annotations

import http.server
import io
import json
import threading
from collections.abc import Iterator
from fractions import Fraction

import piexif
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from grid.api.app import create_app
from grid.api.schemas import AttachmentPublic, IncidentDetail
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.incidents.ladder import SYSTEM
from grid.incidents.models import Notification
from grid.incidents.notify import WebhookChannel, deliver
from tests.conftest import auth


@pytest.fixture(scope="module")
def api(demo, tmp_path_factory) -> Iterator[TestClient]:
    """An app on the demo database whose attachments go to a temp directory, 1 MB limit."""
    settings = demo.settings.model_copy(update={
        "attachments_dir": tmp_path_factory.mktemp("attachments"),
        "attachment_max_bytes": 1_000_000})
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def spot(demo, tokens) -> tuple[float, float]:
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        p = store.shape_of(store.get_unit(session, version, tokens["first_grid"])
                           ).representative_point()
    return p.x, p.y


def _dms(value: float) -> tuple[tuple[int, int], ...]:
    """Degrees as EXIF rationals (degrees, minutes, seconds×10000)."""
    d = int(value)
    m = int((value - d) * 60)
    s = Fraction((value - d - m / 60) * 3600).limit_denominator(10_000)
    return (d, 1), (m, 1), (s.numerator, s.denominator)


def jpeg_with_gps(lon: float, lat: float) -> bytes:
    """A small JPEG whose EXIF says where it was taken (as a phone camera writes it)."""
    exif = piexif.dump({"GPS": {
        piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: _dms(lat),
        piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: _dms(lon)}})
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 80, 40)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def _post(client, path, token, body=None, status=200):
    response = client.post(path, json=body or {}, headers=auth(token))
    assert response.status_code == status, response.text
    return response.json()


def test_photo_gps_places_a_report_without_coordinates(api, tokens, spot):
    gw = tokens["grid_worker"]
    up = api.post("/api/v1/incidents/attachments", headers=auth(gw),
                  files={"file": ("IMG_0001.jpg", jpeg_with_gps(*spot), "image/jpeg")})
    assert up.status_code == 201, up.text
    photo = AttachmentPublic.model_validate(up.json())
    assert photo.content_type == "image/jpeg"
    assert photo.lon == pytest.approx(spot[0], abs=1e-6)
    assert photo.lat == pytest.approx(spot[1], abs=1e-6)
    created = IncidentDetail.model_validate(_post(api, "/api/v1/incidents", gw, {
        "category": "0101", "description": "井盖缺失，见照片", "attachments": [photo.id]},
        status=201))
    assert created.grid_code == tokens["first_grid"]
    assert created.steps[0].attachments == [photo.id]
    assert created.due_at and created.time_limit == "2h"
    # As stored, not only as answered (the report's INSERT converts the values itself).
    stored = IncidentDetail.model_validate(api.get(f"/api/v1/incidents/{created.id}",
                                                   headers=auth(gw)).json())
    assert stored.steps[0].attachments == [photo.id]
    assert stored.model_dump(exclude={"possible_duplicates"}) == created.model_dump(
        exclude={"possible_duplicates"})
    got = api.get(f"/api/v1/incidents/attachments/{photo.id}", headers=auth(gw))
    assert got.status_code == 200 and got.content == jpeg_with_gps(*spot)


def test_attachments_are_type_and_size_checked(api, tokens):
    gw = tokens["grid_worker"]
    exe = api.post("/api/v1/incidents/attachments", headers=auth(gw),
                   files={"file": ("photo.jpg", b"MZ\x90\x00 not a photo", "image/jpeg")})
    assert exe.status_code == 422 and exe.json()["code"] == "invalid_input"
    big = b"%PDF-" + b"0" * 1_000_001
    too_big = api.post("/api/v1/incidents/attachments", headers=auth(gw),
                       files={"file": ("scan.pdf", big, "application/pdf")})
    assert too_big.status_code == 422 and too_big.json()["details"]["max_bytes"] == 1_000_000
    no_gps = io.BytesIO()
    Image.new("RGB", (8, 8)).save(no_gps, "PNG")
    png = api.post("/api/v1/incidents/attachments", headers=auth(gw),
                   files={"file": ("a.png", no_gps.getvalue(), "image/png")}).json()
    missing = api.post("/api/v1/incidents", headers=auth(gw), json={
        "category": "0101", "attachments": [png["id"]]})
    assert missing.status_code == 422 and "GPS" in missing.json()["message"]


def test_send_back_with_instructions(api, tokens, spot):
    gw, street = tokens["grid_worker"], tokens["street"]
    case = _post(api, "/api/v1/incidents", gw, {
        "lon": spot[0], "lat": spot[1], "category": "Z004"}, status=201)
    base = f"/api/v1/incidents/{case['id']}"
    _post(api, f"{base}/send-back", street, {"instructions": "网格先处理"}, status=409)
    _post(api, f"{base}/escalate", gw, {"reason": "需社区协调"})
    _post(api, f"{base}/send-back", gw, {"instructions": "越权"}, status=403)
    back = IncidentDetail.model_validate(_post(api, f"{base}/send-back", street, {
        "instructions": "请联系物业后再报"}))
    assert (back.level, back.state) == ("grid", "open")
    assert back.steps[-1].action == "send_back" and back.steps[-1].reason == "请联系物业后再报"
    assert back.time_limit == "24h" and back.due_at > back.steps[-1].at


def test_duplicates_suggested_and_merged_keeping_every_callback(api, tokens, spot):
    gw, street = tokens["grid_worker"], tokens["street"]
    first = _post(api, "/api/v1/incidents", gw, {
        "lon": spot[0], "lat": spot[1], "category": "Z006", "reporter": "居民甲"}, status=201)
    second = _post(api, "/api/v1/incidents", street, {
        "lon": spot[0] + 0.0005, "lat": spot[1], "category": "Z006", "reporter": "居民乙",
        "source": "hotline"}, status=201)
    suggested = {d["incident_id"]: d["distance_m"] for d in second["possible_duplicates"]}
    assert first["id"] in suggested and 30 < suggested[first["id"]] < 60
    other_kind = _post(api, "/api/v1/incidents", street, {
        "lon": spot[0], "lat": spot[1], "category": "Z005"}, status=201)
    assert first["id"] not in {d["incident_id"] for d in other_kind["possible_duplicates"]}

    merged = IncidentDetail.model_validate(_post(
        api, f"/api/v1/incidents/{second['id']}/merge", street, {"into": first["id"]}))
    assert merged.id == first["id"]
    assert sorted(r.name for r in merged.reporters) == ["居民乙", "居民甲"]
    gone = api.get(f"/api/v1/incidents/{second['id']}", headers=auth(street)).json()
    assert (gone["state"], gone["merged_into"]) == ("merged", first["id"])
    _post(api, f"/api/v1/incidents/{second['id']}/merge", street, {"into": first["id"]},
          status=409)

    # Both reporters are called back; the case is rated once per reporter.
    base = f"/api/v1/incidents/{first['id']}"
    _post(api, f"{base}/resolve", street, {"reason": "已恢复供电"})
    _post(api, f"{base}/close", street, {"reason": "核查"})
    for reporter in merged.reporters:
        after = _post(api, f"{base}/rate", street, {"rating": "满意", "reporter_id": reporter.id})
    assert {r["name"]: r["rating"] for r in after["reporters"]} == {"居民甲": "满意",
                                                                    "居民乙": "满意"}
    _post(api, f"{base}/rate", street, {"rating": "满意", "reporter_id": merged.reporters[0].id},
          status=409)


def test_overdue_report_in_is_listed(api, tokens, spot):
    street = tokens["street"]
    case = _post(api, "/api/v1/incidents", street, {
        "lon": spot[0], "lat": spot[1], "category": "Z002"}, status=201)
    base = f"/api/v1/incidents/{case['id']}"
    _post(api, f"{base}/escalate", street, {"reason": "街道协调"})
    whistled = _post(api, f"{base}/whistle", street, {
        "departments": ["城管执法"], "report_in_minutes": 30})
    assert whistled["summonses"][0]["report_in_due_at"]
    assert not whistled["summonses"][0]["report_in_late"]
    listed = api.get("/api/v1/incidents/overdue-report-ins", headers=auth(street)).json()
    assert case["id"] not in {i["id"] for i in listed}  # 30 minutes have not passed


def _some_incident(demo, session) -> int:
    """A fresh incident to hang test notifications on."""
    version = store.require_active_version(session).id
    p = store.shape_of(store.units(session, version, Level.grid)[0]).representative_point()
    return demo.ladder.report(session, SYSTEM, lon=p.x, lat=p.y, category="Z007").id


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []
    fail_next = True

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if _Hook.fail_next:
            _Hook.fail_next = False
            self.send_response(503)
        else:
            body["idempotency_key"] = self.headers["Idempotency-Key"]
            _Hook.received.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        """Quiet."""


def test_webhook_channel_retries_and_never_sends_twice(demo):
    # Park what other tests queued (as if retried out), so this test sees only its own row.
    with demo.db.write() as session:
        incident_id = _some_incident(demo, session)
        session.flush()
        for row in session.scalars(select(Notification).where(Notification.sent_at.is_(None))):
            row.attempts = 99
        session.add(Notification(key=f"hook-test-{demo.settings.database_url[-8:]}",
                                 incident_id=incident_id, recipient_kind="department",
                                 recipient="城管执法", message="请报到", attempts=0,
                                 last_error=""))
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook = WebhookChannel(f"http://127.0.0.1:{server.server_port}/notify")
        _Hook.received.clear()
        _Hook.fail_next = True
        assert deliver(demo.db, hook) == (0, 1)  # 503: kept for the next run
        assert deliver(demo.db, hook) == (1, 0)
        assert deliver(demo.db, hook) == (0, 0)  # sent rows are never sent again
    finally:
        server.shutdown()
    assert [m["message"] for m in _Hook.received] == ["请报到"]
    assert _Hook.received[0]["idempotency_key"].startswith("hook-test-")


def test_parallel_deliverers_send_each_message_once(demo):
    with demo.db.write() as session:
        incident_id = _some_incident(demo, session)
        session.flush()
        for row in session.scalars(select(Notification).where(Notification.sent_at.is_(None))):
            row.attempts = 99  # park other tests' rows (and the new incident's own)
        tag = f"par-{demo.settings.database_url[-8:]}"
        for i in range(60):
            session.add(Notification(key=f"{tag}-{i}", incident_id=incident_id,
                                     recipient_kind="grid", recipient="g", message=str(i),
                                     attempts=0, last_error=""))
    sent: list[str] = []
    lock = threading.Lock()

    class Counting:
        def send(self, key, kind, recipient, message) -> None:
            with lock:
                sent.append(key)

    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        while deliver(demo.db, Counting(), batch=7) != (0, 0):
            pass

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    mine = [k for k in sent if k.startswith(tag)]
    assert sorted(mine) == sorted(f"{tag}-{i}" for i in range(60))  # all, and each once
