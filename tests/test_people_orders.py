"""在职党员双报到 and 一呼百应 through the API, on both stores: a member registers, the community
confirms, an order is offered to the nearest matching volunteers, taken, reported done and
rated (下单 → 接单 → 回单); an untaken order escalates to the community; orders and incidents
turn into each other; every refusal (wrong role, wrong state, out of scope, bad input)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pyproj import Geod

from grid.api.people_schemas import MemberPublic, OrderPublic, ServicePublic
from grid.people.orders import ORDER_MOVES, OrderMove, OrderState
from tests.helpers import people as helpers
from tests.helpers.people import auth

town = helpers.town  # fixtures: a fresh sample street per module and backend
api = helpers.api
GEOD = Geod(ellps="GRS80")  # CGCS2000's ellipsoid: an independent measure of the ranking


@pytest.fixture(scope="module")
def volunteers(town, api) -> dict[str, dict]:
    """Four volunteers living in four buildings of the grid: three confirmed with 助老 skills,
    one left pending; one of the confirmed works for 区卫健委党委."""
    found = {}
    for i, building in enumerate(town.buildings[1:5]):
        name = f"志愿者{i}"
        token = town.user("volunteer", town.community, name=f"vol-{i}-{town.grid}")
        r = api.post("/api/v1/members", headers=auth(token), json={
            "name": name, "workplace_org": "区卫健委党委" if i < 2 else "区教委党委",
            "building_code": building, "phone": "13800138000",
            "skills": ["elderly", "it"] if i != 2 else ["legal"], "availability": []})
        assert r.status_code == 201, r.text
        member = MemberPublic.model_validate(r.json())
        assert member.state == "pending" and member.community_code == town.community
        assert member.phone == "13800138000"  # the member sees their own phone in clear
        found[name] = {"token": token, "id": member.id, "building": building}
    for name in ("志愿者0", "志愿者1", "志愿者2"):
        r = api.post(f"/api/v1/members/{found[name]['id']}/confirm",
                     headers=auth(town.tokens["community"]))
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "confirmed"
    return found


def _order(api, town, token, building=None, skills=("elderly",), **extra):
    body = {"title": "陪老人看病", "skills": list(skills),
            "building_code": building or town.buildings[0],
            "needed_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            "requester_name": "王大爷", "requester_phone": "13912345678"} | extra
    return api.post("/api/v1/orders", headers=auth(token), json=body)


def test_registration_refusals(town, api, volunteers):
    """Only the community in scope confirms; a confirmed one cannot be confirmed again; a
    volunteer cannot register a home outside their scope; bad input is 422."""
    pending = volunteers["志愿者3"]["id"]
    for who in ("other_community", "grid_worker", "party_org"):
        r = api.post(f"/api/v1/members/{pending}/confirm", headers=auth(town.tokens[who]))
        assert r.status_code == 403, (who, r.text)
    r = api.post(f"/api/v1/members/{volunteers['志愿者0']['id']}/confirm",
                 headers=auth(town.tokens["community"]))
    assert r.status_code == 409
    outsider = town.user("volunteer", town.other_community)
    r = api.post("/api/v1/members", headers=auth(outsider), json={
        "name": "外人", "workplace_org": "x", "building_code": town.buildings[0]})
    assert r.status_code == 403
    r = api.post("/api/v1/members", headers=auth(outsider), json={
        "name": "外人", "workplace_org": "x", "building_code": town.buildings[0],
        "availability": [8]})
    assert r.status_code == 422
    r = api.post("/api/v1/members", headers=auth(town.tokens["grid_worker"]), json={
        "name": "网格员", "workplace_org": "x", "building_code": town.buildings[0]})
    assert r.status_code == 403
    r = api.post("/api/v1/members", headers=auth(outsider), json={
        "name": "x", "workplace_org": "x", "building_code": town.buildings[0],
        "skills": ["juggling"]})
    assert r.status_code in (403, 422)  # the scope is checked first, then the skill
    # The community sees the phone in clear; a grid worker in scope too; nobody else.
    r = api.get(f"/api/v1/members/{pending}", headers=auth(town.tokens["community"]))
    assert r.json()["phone"] == "13800138000"
    assert r.json()["moves"] == ["confirm", "refuse", "leave"]
    assert api.get(f"/api/v1/members/{pending}",
                   headers=auth(town.tokens["other_community"])).status_code == 403
    # Refused, then registered again: waiting for the community once more.
    r = api.post(f"/api/v1/members/{pending}/refuse", headers=auth(town.tokens["community"]))
    assert r.json()["state"] == "refused" and r.json()["moves"] == []
    third = volunteers["志愿者3"]
    r = api.post("/api/v1/members", headers=auth(third["token"]), json={
        "name": "志愿者3", "workplace_org": "区教委党委", "building_code": third["building"],
        "skills": ["elderly", "it"]})
    assert r.status_code == 201 and r.json()["state"] == "pending" and r.json()["id"] == pending


def test_order_offered_taken_done_rated(town, api, volunteers):
    """下单 → offered to the nearest confirmed members with every skill wanted → 接单 →
    done with a note and hours → 回单 rated by the grid worker who placed it."""
    r = _order(api, town, town.tokens["grid_worker"])
    assert r.status_code == 201, r.text
    order = OrderPublic.model_validate(r.json())
    assert order.state == OrderState.open and order.requester_phone == "13912345678"
    # 志愿者2 lacks the skill and 志愿者3 is not confirmed: only 0 and 1, nearest first.
    offered = [o.member_name for o in order.offers]
    assert sorted(offered) == ["志愿者0", "志愿者1"]
    origin = town.points[town.buildings[0]]
    geodesic = {name: GEOD.inv(*origin, *town.points[volunteers[name]["building"]])[2]
                for name in offered}
    assert offered == sorted(offered, key=geodesic.get)
    for offer in order.offers:  # the GK-zone distance agrees with the geodesic within 0.1 %
        assert offer.distance_m == pytest.approx(geodesic[offer.member_name], rel=1e-3, abs=0.5)
    nearest, second = offered
    # Not offered → 403; the nearest takes it; the second is then too late (409).
    r = api.post(f"/api/v1/orders/{order.id}/take",
                 headers=auth(volunteers["志愿者2"]["token"]))
    assert r.status_code == 403
    r = api.post(f"/api/v1/orders/{order.id}/take", headers=auth(volunteers[nearest]["token"]))
    assert r.status_code == 200, r.text
    taken = OrderPublic.model_validate(r.json())
    assert taken.state == "taken" and taken.taker == nearest
    assert taken.requester_phone == "13912345678"  # the taker may call the person served
    assert taken.moves == ["finish"]
    r = api.post(f"/api/v1/orders/{order.id}/take", headers=auth(volunteers[second]["token"]))
    assert r.status_code == 409
    # The other volunteer cannot finish it; the rater cannot rate before it is done.
    body = {"note": "已陪同就医", "hours": 2.5}
    assert api.post(f"/api/v1/orders/{order.id}/finish", json=body,
                    headers=auth(volunteers[second]["token"])).status_code == 403
    assert api.post(f"/api/v1/orders/{order.id}/rate", json={"rating": "满意"},
                    headers=auth(town.tokens["grid_worker"])).status_code == 409
    assert api.post(f"/api/v1/orders/{order.id}/finish", json={"note": "x", "hours": 30},
                    headers=auth(volunteers[nearest]["token"])).status_code == 422
    r = api.post(f"/api/v1/orders/{order.id}/finish", json=body,
                 headers=auth(volunteers[nearest]["token"]))
    assert r.status_code == 200 and r.json()["state"] == "done" and r.json()["hours"] == 2.5
    # The volunteer cannot rate their own service; the placer's side can, once.
    assert api.post(f"/api/v1/orders/{order.id}/rate", json={"rating": "满意"},
                    headers=auth(volunteers[nearest]["token"])).status_code == 403
    assert api.post(f"/api/v1/orders/{order.id}/rate", json={"rating": "很好"},
                    headers=auth(town.tokens["grid_worker"])).status_code == 422
    r = api.post(f"/api/v1/orders/{order.id}/rate", json={"rating": "满意", "note": "回访"},
                 headers=auth(town.tokens["grid_worker"]))
    assert r.status_code == 200
    rated = OrderPublic.model_validate(r.json())
    assert rated.state == "rated" and rated.rating == "满意" and rated.moves == []
    assert [s.move for s in rated.steps] == ["place", "take", "finish", "rate"]
    assert api.post(f"/api/v1/orders/{order.id}/rate", json={"rating": "满意"},
                    headers=auth(town.tokens["grid_worker"])).status_code == 409


def test_workplace_org_sees_hours_not_residents(town, api, volunteers):
    """区卫健委党委 sees its two members' counts and hours — and no order, no incident, no
    resident; 区教委党委 sees only its own."""
    headers = auth(town.tokens["party_org"])
    r = api.get("/api/v1/members/service", headers=headers)
    assert r.status_code == 200
    rows = [ServicePublic.model_validate(x) for x in r.json()]
    assert sorted(x.name for x in rows) == ["志愿者0", "志愿者1"]
    assert sum(x.hours for x in rows) == 2.5 and sum(x.orders_done for x in rows) == 1
    assert not any("phone" in x or "requester" in str(x) for x in r.json())
    other = api.get("/api/v1/members/service", headers=auth(town.tokens["other_org"])).json()
    assert sorted(x["name"] for x in other) == ["志愿者2", "志愿者3"]
    assert api.get("/api/v1/orders", headers=headers).json() == []
    first = api.get("/api/v1/orders", headers=auth(town.tokens["community"])).json()[-1]
    assert api.get(f"/api/v1/orders/{first['id']}", headers=headers).status_code == 403
    assert api.get(f"/api/v1/residents?unit={town.grid}", headers=headers).status_code == 403
    assert api.get("/api/v1/incidents", headers=headers).json() == []
    assert api.get("/api/v1/members", headers=headers).status_code == 403
    # A volunteer sees no incidents either, and no one else's registration.
    vol = auth(volunteers["志愿者0"]["token"])
    assert api.get("/api/v1/incidents", headers=vol).json() == []
    assert api.get(f"/api/v1/members/{volunteers['志愿者1']['id']}",
                   headers=vol).status_code == 403


def test_unanswered_order_escalates_then_becomes_incident(town, api, volunteers):
    """Nobody takes it within 24h: ``escalate_due`` hands it to the community, which offers
    it wider and finally turns it into an incident; the two are linked both ways."""
    r = _order(api, town, town.tokens["community"], skills=["legal"], source="community")
    order = OrderPublic.model_validate(r.json())
    assert [o.member_name for o in order.offers] == ["志愿者2"]
    svc = town.svc
    assert svc.people.orders.escalate_due(svc.db, now=datetime.now(UTC)) == []
    moved = svc.people.orders.escalate_due(svc.db, now=datetime.now(UTC) + timedelta(hours=25))
    assert order.id in moved
    again = svc.people.orders.escalate_due(svc.db, now=datetime.now(UTC) + timedelta(hours=25))
    assert order.id not in again  # escalated once
    escalated = OrderPublic.model_validate(
        api.get(f"/api/v1/orders/{order.id}", headers=auth(town.tokens["community"])).json())
    assert escalated.state == "escalated" and escalated.level == "community"
    assert escalated.steps[-1].actor_role == "system"
    assert "reoffer" in escalated.moves and "to_incident" in escalated.moves
    # Offered wider (nobody new has the skill), then the community turns it into a case.
    r = api.post(f"/api/v1/orders/{order.id}/reoffer", json={"radius_m": 8000},
                 headers=auth(town.tokens["community"]))
    assert r.status_code == 200 and r.json()["state"] == "open"
    assert api.post(f"/api/v1/orders/{order.id}/reoffer", json={"radius_m": 8000},
                    headers=auth(town.tokens["community"])).status_code == 409
    assert api.post(f"/api/v1/orders/{order.id}/to-incident", json={"category": "Z003"},
                    headers=auth(town.tokens["other_community"])).status_code == 403
    assert api.post(f"/api/v1/orders/{order.id}/to-incident", json={"category": "nope"},
                    headers=auth(town.tokens["community"])).status_code == 422
    r = api.post(f"/api/v1/orders/{order.id}/to-incident", json={"category": "Z003"},
                 headers=auth(town.tokens["community"]))
    assert r.status_code == 200, r.text
    linked = OrderPublic.model_validate(r.json())
    assert linked.state == "transferred" and linked.link == "to_incident"
    incident = api.get(f"/api/v1/incidents/{linked.incident_id}",
                       headers=auth(town.tokens["community"])).json()
    assert incident["grid_code"] == town.grid and f"#{order.id}" in incident["description"]
    back = api.get(f"/api/v1/orders?incident={linked.incident_id}",
                   headers=auth(town.tokens["community"])).json()
    assert [o["id"] for o in back] == [order.id]


def test_incident_becomes_order(town, api, volunteers):
    """An incident a volunteer can handle is placed as an order at its point, linked."""
    lon, lat = town.points[town.buildings[0]]
    r = api.post("/api/v1/incidents", headers=auth(town.tokens["grid_worker"]),
                 json={"lon": lon, "lat": lat, "category": "Z003", "description": "独居老人"})
    assert r.status_code == 201, r.text
    incident_id = r.json()["id"]
    body = {"title": "帮独居老人买菜", "skills": ["elderly"],
            "needed_at": (datetime.now(UTC) + timedelta(hours=3)).isoformat()}
    assert api.post(f"/api/v1/orders/from-incident/{incident_id}", json=body,
                    headers=auth(town.tokens["other_community"])).status_code == 403
    r = api.post(f"/api/v1/orders/from-incident/{incident_id}", json=body,
                 headers=auth(town.tokens["grid_worker"]))
    assert r.status_code == 201, r.text
    order = OrderPublic.model_validate(r.json())
    assert order.link == "from_incident" and order.incident_id == incident_id
    assert order.grid_code == town.grid and order.source == "incident" and order.offers
    assert api.post(f"/api/v1/orders/from-incident/{incident_id}",
                    json=body | {"needed_at": "tomorrow"},
                    headers=auth(town.tokens["grid_worker"])).status_code == 422


def test_order_refusals(town, api, volunteers):
    """Wrong role, out of scope, bad input, wrong state."""
    assert _order(api, town, volunteers["志愿者0"]["token"]).status_code == 403
    assert _order(api, town, town.tokens["department"]).status_code == 403
    assert _order(api, town, town.tokens["other_community"]).status_code == 403
    assert _order(api, town, town.tokens["grid_worker"], skills=["juggling"]).status_code == 422
    assert _order(api, town, town.tokens["grid_worker"], building="999").status_code == 422
    r = _order(api, town, town.tokens["grid_worker"], building=None, building_code=None)
    assert r.status_code == 422  # neither a building nor a point
    r = _order(api, town, town.tokens["grid_worker"], needed_at="2026-13-01T00:00:00+08:00")
    assert r.status_code == 422
    r = _order(api, town, town.tokens["grid_worker"], lon=200.0, lat=39.9, building_code=None)
    assert r.status_code == 422
    r = _order(api, town, town.tokens["grid_worker"], requester_phone="12")
    assert r.status_code == 422
    assert api.get("/api/v1/orders/999999", headers=auth(town.tokens["admin"])).status_code \
        == 404
    # A Party organisation places one in its street and may cancel only its own.
    r = _order(api, town, town.tokens["party_org"], source="party_org")
    assert r.status_code == 201, r.text
    mine = r.json()["id"]
    assert api.post(f"/api/v1/orders/{mine}/cancel", json={"reason": "x"},
                    headers=auth(town.tokens["other_org"])).status_code == 403
    assert api.post(f"/api/v1/orders/{mine}/cancel", json={"reason": ""},
                    headers=auth(town.tokens["party_org"])).status_code == 422
    r = api.post(f"/api/v1/orders/{mine}/cancel", json={"reason": "需求已解决"},
                 headers=auth(town.tokens["party_org"]))
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert api.post(f"/api/v1/orders/{mine}/take",
                    headers=auth(volunteers["志愿者0"]["token"])).status_code == 409
    # A volunteer whose registration is pending cannot take anything.
    r = _order(api, town, town.tokens["grid_worker"])
    assert api.post(f"/api/v1/orders/{r.json()['id']}/take",
                    headers=auth(volunteers["志愿者3"]["token"])).status_code == 403


def test_transition_table_is_the_one_the_engine_reads():
    """Every move but ``place`` starts from some state, and only ``take``/``finish`` are a
    volunteer's; a table edit shows up in the pages' buttons (``moves``)."""
    assert all(rule.starts for move, rule in ORDER_MOVES.items() if move != OrderMove.place)
    assert {m for m, r in ORDER_MOVES.items() if "volunteer" in r.roles} == {
        OrderMove.take, OrderMove.finish}


def test_escalate_due_command_sweeps_orders(town, api, volunteers, monkeypatch):
    """``grid escalate-due`` (the cron job) hands an order whose time ran out to the
    community, once."""
    from sqlalchemy import update
    from typer.testing import CliRunner

    from grid.cli import app
    from grid.people.models import Order

    order_id = _order(api, town, town.tokens["grid_worker"]).json()["id"]
    with town.svc.db.write() as session:  # its 24 hours are up
        session.execute(update(Order).where(Order.id == order_id)
                        .values(take_due_at=datetime.now(UTC) - timedelta(minutes=1)))
    monkeypatch.setenv("GRID_DATABASE_URL", town.svc.settings.database_url)
    out = CliRunner().invoke(app, ["escalate-due"])
    assert out.exit_code == 0, out.output
    assert f"orders escalated: 1 [{order_id}]" in out.output
    assert "orders escalated: 0" in CliRunner().invoke(app, ["escalate-due"]).output
    state = api.get(f"/api/v1/orders/{order_id}", headers=auth(town.tokens["community"]))
    assert state.json()["state"] == "escalated"


def test_member_placed_by_address(town, api):
    """双报到 by address: the hotline gazetteer names the building; an address naming no
    building for sure is refused with the candidates."""
    from grid.hierarchy import store

    with town.svc.db.read() as session:
        version = store.require_active_version(session).id
        name = store.get_unit(session, version, town.buildings[1]).name
    token = town.user("volunteer", town.community)
    r = api.post("/api/v1/members", headers=auth(token), json={
        "name": "按地址", "workplace_org": "区卫健委党委",
        "address": f"北京市朝阳区{name}3单元501"})
    assert r.status_code == 201, r.text
    assert r.json()["building_code"] == town.buildings[1]
    r = api.post("/api/v1/members", headers=auth(token), json={
        "name": "按地址", "workplace_org": "区卫健委党委", "address": "火星路99号"})
    assert r.status_code == 422
    r = api.post("/api/v1/members", headers=auth(token), json={
        "name": "按地址", "workplace_org": "区卫健委党委"})
    assert r.status_code == 422
