"""``Idempotency-Key`` on ``POST /incidents``: the mobile page's offline draft sent again (the
page closed after the server stored it, before the draft was deleted) answers the case already
filed instead of filing it twice; two sends racing file one case (both backends)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from grid.api.app import create_app
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.incidents.models import Incident
from tests.conftest import auth


def _body(demo, index: int) -> dict:
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        building = store.units(session, version, Level.building)[index]
        point = store.shape_of(building).representative_point()
    return {"lon": point.x, "lat": point.y, "category": "Z003",
            "description": f"idempotency {uuid.uuid4().hex[:6]}"}


def _filed(demo, key: str) -> int:
    with demo.db.read() as session:
        return session.scalar(select(func.count()).select_from(Incident)
                              .where(Incident.client_key.like(f"%:{key}")))


def test_a_report_sent_again_with_its_key_is_filed_once(demo, tokens):
    body, key = _body(demo, 3), uuid.uuid4().hex
    with TestClient(create_app(demo.settings)) as api:
        keyed = {**auth(tokens["grid_worker"]), "Idempotency-Key": key}
        first = api.post("/api/v1/incidents", json=body, headers=keyed)
        again = api.post("/api/v1/incidents", json=body, headers=keyed)
        assert first.status_code == 201, first.text
        assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["grid_code"] == first.json()["grid_code"]
        # The key belongs to the account: another account's report with it is its own case.
        other = api.post("/api/v1/incidents", json=body,
                         headers={**auth(tokens["street"]), "Idempotency-Key": key})
        assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
        # Without a key every send is a report of its own (the hotline may file the same
        # place twice on purpose: duplicates are suggested, not refused).
        plain = [api.post("/api/v1/incidents", json=body, headers=auth(tokens["street"]))
                 for _ in range(2)]
        assert [r.status_code for r in plain] == [201, 201]
        assert plain[0].json()["id"] != plain[1].json()["id"]
        assert api.post("/api/v1/incidents", json=body, headers={
            **auth(tokens["street"]), "Idempotency-Key": "x" * 101}).status_code == 422
        # The key used again for a different report: refused, not answered with the first.
        for change in ({"description": "another problem"}, {"category": "Z001"},
                       {"lon": body["lon"] + 0.0001}):
            reused = api.post("/api/v1/incidents", json={**body, **change}, headers=keyed)
            assert reused.status_code == 422 and "Idempotency-Key" in reused.json()["message"]
    assert _filed(demo, key) == 2


def test_racing_sends_of_one_key_file_one_case(demo, tokens):
    body, key = _body(demo, 5), uuid.uuid4().hex
    headers = {**auth(tokens["admin"]), "Idempotency-Key": key}
    with TestClient(create_app(demo.settings)) as api:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(
                lambda _i: api.post("/api/v1/incidents", json=body, headers=headers), range(8)))
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201], \
        [a.text for a in answers if a.status_code not in (200, 201)]
    assert len({a.json()["id"] for a in answers}) == 1
    assert _filed(demo, key) == 1
