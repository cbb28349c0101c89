"""The ladder through the API alone: grid → community → street → two departments report in and
finish → resolved → closed → rated; refusals with 409, 403 and 401."""

from __future__ import annotations

import pytest

from grid.api.schemas import IncidentDetail, LocationPublic
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from tests.conftest import auth


@pytest.fixture(scope="module")
def spot(demo, tokens) -> tuple[float, float]:
    """A point inside the grid worker's grid."""
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        grid = store.get_unit(session, version, tokens["first_grid"])
        p = store.shape_of(grid).representative_point()
    return p.x, p.y


@pytest.fixture(scope="module")
def elsewhere(demo, tokens) -> tuple[float, float]:
    """A point inside another grid of the street."""
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        grid = store.units(session, version, Level.grid)[-1]
        assert grid.code != tokens["first_grid"]
        p = store.shape_of(grid).representative_point()
    return p.x, p.y


def _post(client, path, token, body=None, status=200):
    response = client.post(path, json=body or {}, headers=auth(token))
    assert response.status_code == status, response.text
    return response.json()


def test_locate_endpoint_names_grid_branch_and_worker(client, tokens, spot):
    body = client.get("/api/v1/locate", params={"lon": spot[0], "lat": spot[1]},
                      headers=auth(tokens["grid_worker"])).json()
    location = LocationPublic.model_validate(body)
    grid = next(link for link in location.owners.chain if link.level == "grid")
    assert grid.code == tokens["first_grid"]
    assert grid.party_org.name.endswith("党支部")
    assert location.owners.grid_workers[0].name


def test_full_ladder_through_the_api(client, tokens, spot):
    gw, street = tokens["grid_worker"], tokens["street"]
    created = _post(client, "/api/v1/incidents", gw, {
        "lon": spot[0], "lat": spot[1], "category": "Z001", "description": "占道停车",
        "reporter": "张网格", "source": "patrol"}, status=201)
    incident = IncidentDetail.model_validate(created)
    assert (incident.state, incident.level) == ("open", "grid")
    assert incident.grid_code == tokens["first_grid"]
    assert incident.owners.link if hasattr(incident.owners, "link") else True
    base = f"/api/v1/incidents/{incident.id}"

    _post(client, f"{base}/whistle", street, {"departments": ["城管执法"]}, status=409)
    after = _post(client, f"{base}/escalate", gw, {"reason": "网格无法处理"})
    assert (after["state"], after["level"]) == ("open", "community")
    _post(client, f"{base}/escalate", gw, {"reason": "越级"}, status=403)
    after = _post(client, f"{base}/escalate", street, {"reason": "需要街道协调"})
    assert after["level"] == "street"
    after = _post(client, f"{base}/whistle", street,
                  {"departments": ["城管执法", "住建"], "reason": "吹哨"})
    assert after["state"] == "whistled"
    _post(client, f"{base}/finish", tokens["城管执法"], status=409)  # not reported in yet
    for department in ("城管执法", "住建"):
        after = _post(client, f"{base}/report-in", tokens[department], {"note": "已报到"})
    _post(client, f"{base}/report-in", tokens["城管执法"], status=409)  # twice
    after = _post(client, f"{base}/finish", tokens["城管执法"], {"note": "已清理"})
    assert after["state"] == "whistled"  # one department still working
    _post(client, f"{base}/close", street, status=409)
    after = _post(client, f"{base}/finish", tokens["住建"], {"note": "已修复"})
    assert after["state"] == "resolved"
    _post(client, f"{base}/rate", street, {"rating": "满意"}, status=409)  # not closed yet
    after = _post(client, f"{base}/close", street, {"reason": "核查通过"})
    assert after["state"] == "closed"
    after = _post(client, f"{base}/rate", street, {"rating": "满意", "note": "回访"})
    assert (after["state"], after["rating"]) == ("rated", "满意")

    timeline = IncidentDetail.model_validate(
        client.get(base, headers=auth(street)).json())
    actions = [(s.action, s.actor, s.from_level, s.to_level) for s in timeline.steps]
    assert [a[0] for a in actions] == [
        "report", "escalate", "escalate", "whistle", "report_in", "report_in",
        "finish", "finish", "close", "rate"]
    assert actions[1][2:] == ("grid", "community") and actions[2][2:] == ("community", "street")
    assert {s.department for s in timeline.steps if s.action == "report_in"} == {"城管执法", "住建"}
    assert all(s.actor and s.at for s in timeline.steps)
    assert [s.at for s in timeline.steps] == sorted(s.at for s in timeline.steps)
    assert all(s.done_at and s.reported_in_at for s in timeline.summonses)


def test_grid_worker_cannot_see_or_move_outside_their_grid(client, tokens, elsewhere):
    street, gw = tokens["street"], tokens["grid_worker"]
    _post(client, "/api/v1/incidents", gw, {
        "lon": elsewhere[0], "lat": elsewhere[1], "category": "Z004"}, status=403)
    other = _post(client, "/api/v1/incidents", street, {
        "lon": elsewhere[0], "lat": elsewhere[1], "category": "Z004"}, status=201)
    response = client.get(f"/api/v1/incidents/{other['id']}", headers=auth(gw))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    _post(client, f"/api/v1/incidents/{other['id']}/resolve", gw, {"reason": "x"}, status=403)
    listed = client.get("/api/v1/incidents", headers=auth(gw)).json()
    assert all(i["grid_code"] == tokens["first_grid"] for i in listed)
    assert other["id"] not in {i["id"] for i in listed}


def test_department_sees_only_incidents_it_was_summoned_to(client, tokens, spot):
    created = _post(client, "/api/v1/incidents", tokens["grid_worker"], {
        "lon": spot[0], "lat": spot[1], "category": "Z005"}, status=201)
    response = client.get(f"/api/v1/incidents/{created['id']}", headers=auth(tokens["住建"]))
    assert response.status_code == 403


def test_errors_have_one_shape(client, tokens, spot):
    no_token = client.get("/api/v1/incidents")
    assert no_token.status_code == 401 and no_token.json()["code"] == "not_authenticated"
    bad = client.get("/api/v1/incidents", headers=auth("not-a-token"))
    assert bad.status_code == 401
    unknown = client.post("/api/v1/incidents", headers=auth(tokens["street"]), json={
        "lon": spot[0], "lat": spot[1], "category": "NOPE"})
    assert unknown.status_code == 422 and unknown.json()["code"] == "invalid_input"
    assert "NOPE" in unknown.json()["message"]
    missing = client.get("/api/v1/incidents/999999", headers=auth(tokens["admin"]))
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    outside = client.post("/api/v1/incidents", headers=auth(tokens["street"]), json={
        "lon": spot[0] + 0.2, "lat": spot[1], "category": "Z001"})
    assert outside.status_code == 422
    assert outside.json()["details"]["nearest_grid"]
    bad_lat = client.get("/api/v1/locate", params={"lon": 116.4, "lat": 123},
                         headers=auth(tokens["street"]))
    assert bad_lat.status_code == 422 and set(bad_lat.json()) == {"code", "message", "details"}
