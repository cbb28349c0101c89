"""``GET /health``: the database and the working-time calendar, 503 when the service cannot work."""

from __future__ import annotations

from fastapi.testclient import TestClient

from grid.api.app import create_app
from grid.settings import Settings


def test_health_reports_database_and_holiday_coverage(client):
    r = client.get("/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["database"] == "ok"
    assert body["calendar"]["file_years"] == [2027, 2028]  # the suite's GRID_HOLIDAYS_FILE
    assert body["calendar"]["covered_through"] == "2028-12-31"
    assert body["status"] == body["calendar"]["status"] == "ok"


def test_health_is_503_with_retry_after_when_the_database_is_away(tmp_path):
    settings = Settings(database_url="postgresql+psycopg://postgres@127.0.0.1:9/nowhere")
    with TestClient(create_app(settings)) as client:
        r = client.get("/health")
    assert r.status_code == 503 and r.headers["Retry-After"] == "30"
    assert r.json()["database"] == "unreachable" and r.json()["status"] == "unavailable"
