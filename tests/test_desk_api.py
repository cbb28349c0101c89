"""The street office's desk API on both stores: figures, the ranking with names (a community
with no case is unrated, not 100 %), the trend, quiet communities, and 每月一题 adopted with a
lead, followed, refused where it must be, and closed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from grid.api.app import create_app
from grid.demo import DEMO_STREET, demo_users, load_sample
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.incidents.desk import month_of, shift_month
from grid.incidents.models import Incident
from grid.incidents.rates import month_bounds
from grid.migrate import upgrade
from grid.orm import utcnow
from grid.services import Services
from tests.conftest import DATA, auth


def _last_month(svc: Services):
    """An instant in last month (local time): a day before this month began."""
    this = month_of(utcnow(), svc.settings.work_timezone)
    return month_bounds(this, svc.settings.work_timezone)[0] - timedelta(days=1)


@pytest.fixture(scope="module")
def desk(databases, backend) -> Iterator[tuple[Services, TestClient, dict, list[int]]]:
    """A database of its own: the sample street, its users, and five cases in two
    communities (one of them moved back a month), so no other test's cases count."""
    svc = Services(databases.new(backend))
    upgrade(svc.db)
    load_sample(svc, DATA, say=lambda _line: None)
    with svc.db.read() as session:
        version = store.require_active_version(session).id
        communities = store.units(session, version, Level.community)
        grids = [store.units(session, version, Level.grid, parent_code=c.code)[0]
                 for c in communities[:2]]
        points = [store.shape_of(g).representative_point() for g in grids]
    users = demo_users(svc, grids[0].code)
    tokens = {u.role if u.role != "department" else u.department: u.token for u in users}
    ids = []
    with TestClient(create_app(svc.settings)) as client:
        for point, category, source in ((points[0], "Z004", "resident"),
                                        (points[0], "Z003", "patrol"),
                                        (points[1], "Z004", "patrol"),
                                        (points[1], "Z004", "patrol"),
                                        (points[0], "Z004", "hotline")):
            r = client.post("/api/v1/incidents", headers=auth(tokens["street"]),
                            json={"lon": point.x, "lat": point.y, "category": category,
                                  "source": source, "description": "测试"})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        with svc.db.write() as session:  # the last one was received last month
            session.execute(update(Incident).where(Incident.id == ids[-1]).values(
                created_at=_last_month(svc)))
            # one overdue case
            session.execute(update(Incident).where(Incident.id == ids[0]).values(
                due_at=utcnow() - timedelta(hours=1)))
        yield svc, client, tokens, ids
    svc.close()


def test_figures_count_the_streets_open_cases(desk):
    svc, client, tokens, ids = desk
    r = client.get(f"/api/v1/desk/streets/{DEMO_STREET}/figures", headers=auth(tokens["street"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["open"] == 5 and body["overdue"] == 1
    assert sum(body["by_level"].values()) == 5
    by_category = {c["category"]: c for c in body["by_category"]}
    assert by_category["Z004"]["count"] == 4 and by_category["Z004"]["name"] == "垃圾分类"
    assert body["this_month"]["received"] == 4 and body["last_month"]["received"] == 1
    assert body["name"] and body["name"] != DEMO_STREET


def test_figures_refuse_outside_scope(desk):
    svc, client, tokens, ids = desk
    r = client.get(f"/api/v1/desk/streets/{DEMO_STREET}/figures",
                   headers=auth(tokens["grid_worker"]))
    assert r.status_code == 403
    r = client.get("/api/v1/desk/streets/999999999/figures", headers=auth(tokens["street"]))
    assert r.status_code == 403


def test_ranking_names_units_and_leaves_unrated_ones_blank(desk):
    svc, client, tokens, ids = desk
    r = client.get(f"/api/v1/desk/streets/{DEMO_STREET}/ranking",
                   headers=auth(tokens["street"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["units"]) == 2
    for row in body["units"]:
        assert row["name"] and row["name"] != row["code"]
        assert row["rank"] in (1, 2)
    assert body["unrated"], "the sample street has communities with no case this month"
    assert all(u["score"] is None and u["rank"] is None for u in body["unrated"])
    assert body["bottom"] == [body["units"][-1]["code"]]  # of two ranked, the last
    quiet = {q["code"] for q in body["quiet"]}
    complained = {r["code"] for r in body["units"]}
    # the first community had a resident complaint this month, the second only patrol cases
    assert body["units"] and not (quiet & {c for c in complained if c.endswith("001")})
    assert {u["code"] for u in body["unrated"]} <= quiet


def test_trend_has_one_point_per_month_and_none_without_cases(desk):
    svc, client, tokens, ids = desk
    r = client.get(f"/api/v1/desk/streets/{DEMO_STREET}/trend?months=3",
                   headers=auth(tokens["street"]))
    assert r.status_code == 200, r.text
    body = r.json()
    month = month_of(utcnow(), svc.settings.work_timezone)
    assert body["months"] == [shift_month(month, 2, "Asia/Shanghai"),
                              shift_month(month, 1, "Asia/Shanghai"), month]
    street = body["series"][DEMO_STREET]
    assert [p["received"] for p in street] == [0, 1, 4]
    # No case two months ago: no rate at all. This month: cases received, so response and
    # resolution rates, but none rated yet, so no satisfaction rate and no score
    # (grid.incidents.rates: nothing to divide by is no rate, not 100 %).
    assert street[0]["score"] is None and street[0]["response"] is None
    assert street[-1]["response"] is not None and street[-1]["resolution"] is not None
    assert street[-1]["satisfaction"] is None and street[-1]["score"] is None
    assert body["names"][DEMO_STREET] != DEMO_STREET


def test_bad_input_is_422(desk):
    svc, client, tokens, ids = desk
    h = auth(tokens["street"])
    assert client.get(f"/api/v1/desk/streets/{DEMO_STREET}/ranking?month=2026-13",
                      headers=h).status_code == 422
    assert client.get(f"/api/v1/desk/streets/{DEMO_STREET}/trend?months=99",
                      headers=h).status_code == 422
    r = client.post(f"/api/v1/desk/streets/{DEMO_STREET}/topics", headers=h,
                    json={"month": "2026-12", "category": "Z004", "lead": "a\x00b"})
    assert r.status_code == 422
    r = client.post(f"/api/v1/desk/streets/{DEMO_STREET}/topics", headers=h,
                    json={"month": "2026-12", "category": "Z004", "lead": ""})
    assert r.status_code == 422


def test_topic_adopted_followed_and_closed(desk):
    svc, client, tokens, ids = desk
    h = auth(tokens["street"])
    month = month_of(utcnow(), svc.settings.work_timezone)
    r = client.get(f"/api/v1/desk/streets/{DEMO_STREET}/candidates", headers=h)
    assert r.status_code == 200
    top = r.json()[0]
    assert top["category"] == "Z004" and top["count"] == 3 and top["leader"]
    body = {"month": month, "category": "Z004", "title": "垃圾分类攻坚", "lead": top["leader"]}
    r = client.post(f"/api/v1/desk/streets/{DEMO_STREET}/topics", headers=auth(
        tokens["grid_worker"]), json=body)
    assert r.status_code == 403
    r = client.post(f"/api/v1/desk/streets/{DEMO_STREET}/topics", headers=h, json=body)
    assert r.status_code == 201, r.text
    topic = r.json()
    assert topic["lead"] == top["leader"] and topic["state"] == "active"
    assert client.post(f"/api/v1/desk/streets/{DEMO_STREET}/topics", headers=h,
                       json=body).status_code == 409
    r = client.get(f"/api/v1/desk/topics/{topic['id']}", headers=h)
    assert r.status_code == 200, r.text
    detail = r.json()
    assert {c["id"] for c in detail["cases"]} == {ids[0], ids[2], ids[3]}
    assert all(c["grid_name"] for c in detail["cases"])
    assert detail["trend"][-1] == {"month": month, "received": 3, "solved": 0,
                                   "unresolved": 3}
    assert detail["trend"][-2]["received"] == 1  # last month's hotline case
    assert len(detail["trend"]) == 4
    assert client.get(f"/api/v1/desk/topics/{topic['id']}",
                      headers=auth(tokens["grid_worker"])).status_code == 404
    listed = client.get(f"/api/v1/desk/streets/{DEMO_STREET}/topics", headers=h).json()
    assert [t["id"] for t in listed] == [topic["id"]] and listed[0]["unresolved"] == 3
    r = client.post(f"/api/v1/desk/topics/{topic['id']}/close", headers=h,
                    json={"conclusion": "分类桶已补齐"})
    assert r.status_code == 200 and r.json()["state"] == "closed"
    assert client.post(f"/api/v1/desk/topics/{topic['id']}/close", headers=h,
                       json={"conclusion": "again"}).status_code == 409


def test_pages_one_language_at_a_time_and_only_in_scope(desk):
    svc, client, tokens, ids = desk
    with TestClient(create_app(svc.settings), base_url="http://testserver") as browser:
        assert browser.post("/signin", data={"token": tokens["street"]},
                            follow_redirects=False).status_code == 303
        r = browser.get("/desk", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/desk/streets/{DEMO_STREET}"
        for path in ("", "/ranking", "/topics"):
            zh = browser.get(f"/desk/streets/{DEMO_STREET}{path}?lang=zh")
            en = browser.get(f"/desk/streets/{DEMO_STREET}{path}?lang=en")
            assert zh.status_code == en.status_code == 200
            assert "街道工作台" in zh.text and "Street desk" not in zh.text
            assert "Street desk" in en.text and "街道工作台" not in en.text
            assert "content-security-policy" in en.headers
        assert browser.get("/desk/streets/999999999").status_code == 403
        assert browser.get("/gis").status_code == 403  # a street office manages no boundaries
    with TestClient(create_app(svc.settings), base_url="http://testserver") as browser:
        browser.post("/signin", data={"token": tokens["grid_worker"]})
        assert browser.get(f"/desk/streets/{DEMO_STREET}").status_code == 403
