"""Bad input is a 4xx from the schema (``grid.api.limits``), never a 500, on both stores:
integers beyond the int32 columns, empty enums, NUL in path, query and body, non-ASCII digits
in ids, points outside the service area (a typed point, a report, a photo's EXIF GPS at 0,0),
a token that is not Latin-1, a month past 9999, a file name that is not Latin-1."""

from __future__ import annotations

import io
import re
from urllib.parse import unquote

import piexif
import pytest
from PIL import Image

from tests.conftest import auth

BIG = 3_000_000_000


def _jpeg_at(lon: float, lat: float) -> bytes:
    rational = ((int(lon), 1), (0, 1), (0, 1))
    exif = piexif.dump({"GPS": {
        piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((int(lat), 1), (0, 1),
                                                                          (0, 1)),
        piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: rational}})
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 20, 30)).save(out, "JPEG", exif=exif)
    return out.getvalue()


REPORT = {"lon": 116.4, "lat": 39.9, "category": "Z001"}


@pytest.fixture(scope="module")
def api(demo, tmp_path_factory):
    """The demo database's app with attachments kept in a temporary folder."""
    from fastapi.testclient import TestClient

    from grid.api.app import create_app

    settings = demo.settings.model_copy(
        update={"attachments_dir": tmp_path_factory.mktemp("attachments")})
    with TestClient(create_app(settings)) as client:
        yield client

#: (method, url, keyword arguments, expected status): before the limits each answered 500
#: (or, for the empty enums and the long id list, was taken as no filter or no limit).
CASES = [
    ("get", f"/api/v1/incidents/{BIG}", {}, 422),
    ("get", f"/api/v1/incidents/attachments/{BIG}", {}, 422),
    ("get", f"/api/v1/units?version={BIG}", {}, 422),
    ("get", "/api/v1/units?offset=10000000000000000000", {}, 422),
    ("get", f"/ogc/collections?version={-BIG}", {}, 422),
    ("post", f"/api/v1/versions/{BIG}/activate", {}, 422),
    ("post", f"/api/v1/incidents/{BIG}/rate", {"json": {"rating": "满意"}}, 422),
    ("post", "/api/v1/incidents", {"json": {**REPORT, "attachments": [BIG]}}, 422),
    ("post", "/api/v1/incidents/1/resolve", {"json": {"attachments": list(range(1, 60))}}, 422),
    ("get", "/api/v1/units?level=", {}, 422),
    ("get", "/api/v1/incidents?level=", {}, 422),
    ("get", "/api/v1/incidents?state=", {}, 422),
    ("get", "/api/v1/units/ab%00cd", {}, 422),
    ("get", "/api/v1/units?parent=11%00", {}, 422),
    ("get", "/api/v1/incidents?category=Z%00", {}, 422),
    ("post", "/api/v1/incidents", {"json": {**REPORT, "description": "a\x00b"}}, 422),
    ("post", "/api/v1/hotline/match", {"json": {"address": "和平里\x00"}}, 422),
    ("get", "/ogc/collections/incidents/items/%C2%B2", {}, 404),
    ("get", "/ogc/collections/nowhere%00/items", {}, 422),
    ("get", "/ogc/collections/street/items?bbox=nan,nan,nan,nan", {}, 422),
    ("get", "/api/v1/incidents/stats/rates?month=9999-12", {}, 422),
    # (A ?token= in a URL is no longer read at all — tests/test_signin.py — so a non-Latin-1
    # one can no longer reach a cookie.)
    ("get", "/maps/streets/110105001/buildings.geojson?bbox=1.2.3,1,2,3", {}, 422),
    # NUL anywhere is refused before routing (grid.api.errors.RequestGuard), also by routers
    # whose own types would let it through to PostgreSQL
    ("get", "/api/v1/overlays/chiefs?segment=a%00b", {}, 422),
    ("get", "/api/v1/members/service?org=%00", {}, 422),
    ("post", "/api/v1/overlays/building-heads", {"json": {
        "valid_from": "2026-01-01", "role": "楼栋长", "name": "张\x00三", "phone": "",
        "building_code": "110105001001001001"}}, 422),
]


@pytest.mark.parametrize(("method", "url", "kwargs", "status"), CASES,
                         ids=[f"{m} {u}" for m, u, _, _ in CASES])
def test_bad_input_is_refused_by_the_schema(client, tokens, method, url, kwargs, status):
    answer = getattr(client, method)(url, headers=auth(tokens["admin"]), **kwargs)
    assert answer.status_code == status, answer.text
    assert set(answer.json()) == {"code", "message", "details"}


@pytest.mark.parametrize("url", ["/open311/v2/requests/%C2%B2.json",
                                 "/open311/v2/requests/99999999999999999999.json",
                                 "/open311/v2/requests/%C2%B2.xml"])
def test_open311_ids_in_other_digits_are_not_found(client, url):
    answer = client.get(url)  # unauthenticated, as Open311 reads are
    assert answer.status_code == 404, answer.text


def test_open311_id_lists_skip_what_is_not_an_id(client):
    answer = client.get("/open311/v2/requests.json",
                        params={"service_request_id": "²,3000000000,-1,abc"})
    assert answer.status_code == 200 and answer.json() == []


def _outside(answer) -> None:
    assert answer.status_code == 422, answer.text
    assert "outside the service area" in answer.json()["message"]
    assert "不在服务范围内" in answer.json()["message"]


@pytest.mark.parametrize(("lon", "lat", "crs"), [
    (0, 0, "cgcs2000"), (-122.4, 37.8, "wgs84"), (116.4, 89.0, "gcj02"), (39.9, 116.4, "bd09"),
    (500000, 0, "EPSG:4548")])
def test_locate_outside_the_service_area_is_a_422(client, tokens, lon, lat, crs):
    _outside(client.get("/api/v1/locate", params={"lon": lon, "lat": lat, "crs": crs},
                        headers=auth(tokens["admin"])))


def test_reports_outside_the_service_area_are_a_422(api, tokens):
    _outside(api.post("/api/v1/incidents", headers=auth(tokens["admin"]),
                         json={**REPORT, "lon": 0, "lat": 0}))
    photo = api.post("/api/v1/incidents/attachments", headers=auth(tokens["admin"]),
                     files={"file": ("null-island.jpg", _jpeg_at(0, 0), "image/jpeg")})
    assert photo.status_code == 201 and photo.json()["lon"] == 0, photo.text
    _outside(api.post("/api/v1/incidents", headers=auth(tokens["admin"]), json={
        "category": "Z001", "attachments": [photo.json()["id"]]}))


def test_a_download_named_in_chinese_has_an_ascii_and_a_utf8_file_name(client, tokens):
    answer = client.get("/api/v1/incidents/stats/hotspots", headers=auth(tokens["admin"]),
                        params={"month": "2026-10", "street": "和平", "format": "csv"})
    assert answer.status_code == 200, answer.text
    disposition = answer.headers["Content-Disposition"]
    assert 'filename="hotspots-__-2026-10.csv"' in disposition
    encoded = re.search(r"filename\*=UTF-8''(\S+)", disposition).group(1)
    assert unquote(encoded) == "hotspots-和平-2026-10.csv"


def test_attachment_file_names_lose_control_characters(api, tokens):
    # sent by hand: an HTTP client would percent-encode the NUL
    head = (b'--cut\r\nContent-Disposition: form-data; name="file"; '
            b'filename="a\x00b/../c\x01.jpg"\r\nContent-Type: image/jpeg\r\n\r\n')
    photo = api.post("/api/v1/incidents/attachments", content=head + _jpeg_at(116, 39)
                        + b"\r\n--cut--\r\n", headers={
                            **auth(tokens["admin"]),
                            "Content-Type": "multipart/form-data; boundary=cut"})
    assert photo.status_code == 201, photo.text
    assert photo.json()["filename"] == "c.jpg"


def test_register_rows_with_nul_or_overlong_text_are_row_problems(demo, tokens):
    from fastapi.testclient import TestClient

    from grid.api.app import create_app
    from grid.hierarchy import store
    from grid.hierarchy.levels import Level
    from grid.residents.pii import generate_key
    from grid.residents.sample import HEADINGS, sample_rows

    with demo.db.read() as session:
        building = store.units(session, store.require_active_version(session).id,
                               Level.building)[0]
    rows = sample_rows([{"code": building.code, "name": building.name, **building.attrs}], 3)
    rows[0][0] = "张\x00三"
    rows[1][3] = "和平里" * 200
    rows[2][5] = "99999999999999999999"
    text = "\n".join(",".join(row) for row in [HEADINGS, *rows]).encode()
    settings = demo.settings.model_copy(update={"pii_key": generate_key()})
    with TestClient(create_app(settings)) as client:
        answer = client.post("/api/v1/residents/imports", headers=auth(tokens["admin"]),
                             files={"file": ("r.csv", text, "text/csv")})  # a dry run
    assert answer.status_code == 200, answer.text
    reasons = [p["reason"] for p in answer.json()["problems"]]
    assert len(reasons) == 3 and answer.json()["accepted"] == 0
    assert "control characters" in reasons[0] and "longer than 300" in reasons[1]
    assert "at most 9999" in reasons[2]
