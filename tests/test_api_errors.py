"""The catch-all: an unexpected error answers the project's JSON error shape with a request id
(header and log line) and nothing of its own text; a database that cannot be reached answers
503 with Retry-After — tried for real against a port where nothing listens and against a
PostgreSQL database that refuses connections, and recovered from once it takes them again."""

from __future__ import annotations

import logging
import re
import socket

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from grid.api.app import create_app
from grid.settings import Settings
from grid.users import add_user
from tests.conftest import ADMIN_URL, _libpq, auth

CJK = re.compile(r"[\u4e00-\u9fff]")


def _shape(response) -> dict:
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    assert CJK.search(body["message"]) and re.search(r"[a-z]{4}", body["message"])
    return body


def test_an_unexpected_error_is_json_with_a_request_id_in_header_and_log(tmp_path, caplog):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("SELECT secret FROM somewhere")

    with TestClient(app) as client, caplog.at_level(logging.ERROR, "grid.api"):
        answer = client.get("/boom?token=should-not-be-logged")
        mine = client.get("/boom", headers={"X-Request-ID": "desk-42.a"})
        odd = client.get("/boom", headers={"X-Request-ID": "no spaces; allowed"})
    assert answer.status_code == 500
    body = _shape(answer)
    assert body["code"] == "internal_error" and "secret" not in answer.text
    rid = answer.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid) and body["details"] == {"request_id": rid}
    [record] = [r for r in caplog.records if rid in r.getMessage()]
    assert "GET /boom" in record.getMessage() and record.exc_info is not None
    assert "should-not-be-logged" not in caplog.text  # no query string in the log
    assert mine.headers["X-Request-ID"] == "desk-42.a"
    assert mine.json()["details"]["request_id"] == "desk-42.a"
    assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["X-Request-ID"])


def test_framework_errors_have_the_same_shape_and_an_id(tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    with TestClient(app) as client:
        missing = client.get("/api/v1/nowhere")
        method = client.delete("/api/v1/versions")
    assert missing.status_code == 404 and _shape(missing)["code"] == "http_error"
    assert method.status_code == 405 and _shape(method)["code"] == "http_error"
    assert missing.headers["X-Request-ID"] != method.headers["X-Request-ID"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_503_with_retry_after_when_nothing_listens(caplog):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/nowhere"
    with TestClient(create_app(Settings(database_url=url))) as client, \
            caplog.at_level(logging.ERROR, "grid.api"):
        units = client.get("/api/v1/units", headers=auth("x" * 43))
        public = client.get("/open311/v2/requests.json")
        report = client.post("/api/v1/incidents", headers=auth("y" * 43),
                             json={"lon": 116.4, "lat": 39.9, "category": "0101"})
    for answer in (units, public, report):
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "5"
        body = _shape(answer)
        assert body["code"] == "database_unavailable"
        assert body["details"]["request_id"] == answer.headers["X-Request-ID"]
    assert "database unavailable" in caplog.text


def test_503_while_postgres_refuses_connections_and_200_again_after(postgis):
    name = make_url(postgis.settings.database_url).database
    with postgis.db.write() as session:
        _, token = add_user(session, "管理员", "admin", "")
    settings = postgis.settings.model_copy(update={"token_cache_seconds": 0})
    with TestClient(create_app(settings)) as client, \
            psycopg.connect(_libpq(ADMIN_URL), autocommit=True) as admin:
        assert client.get("/api/v1/versions", headers=auth(token)).status_code == 200
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            down = client.get("/api/v1/versions", headers=auth(token))
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert down.status_code == 503, down.text
        assert down.headers["Retry-After"] == "5"
        assert _shape(down)["code"] == "database_unavailable"
        assert client.get("/api/v1/versions", headers=auth(token)).status_code == 200
