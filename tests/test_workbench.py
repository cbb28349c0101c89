"""The workbench's JSON and pages without a browser: queues per role, the moves the table
allows, the incident page's buttons, exports, one language at a time."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient

from grid.api.app import create_app
from grid.hierarchy import store
from tests.conftest import auth


@pytest.fixture(scope="module")
def case(demo, client, tokens) -> int:
    """A fresh case in the first grid (at grid level)."""
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        p = store.shape_of(store.get_unit(session, version, tokens["first_grid"])) \
            .representative_point()
    r = client.post("/api/v1/incidents", headers=auth(tokens["grid_worker"]),
                    json={"lon": p.x, "lat": p.y, "category": "Z003",
                          "description": "工作台测试 workbench"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _queue(client, token, **params):
    r = client.get("/api/v1/work/queue", params=params, headers=auth(token))
    assert r.status_code == 200, r.text
    return r.json()


def _moves(client, token, incident):
    r = client.get(f"/api/v1/work/incidents/{incident}/moves", headers=auth(token))
    assert r.status_code == 200, r.text
    return r.json()["moves"]


def test_queues_follow_the_case_up_the_ladder(client, tokens, case):
    grid = _queue(client, tokens["grid_worker"], q=str(case))
    assert [i["id"] for i in grid["items"]] == [case] and grid["items"][0]["box"] == "act"
    assert set(grid["counts"]) == {"act"} and grid["counts"]["act"] >= 1
    assert _moves(client, tokens["grid_worker"], case) == ["escalate", "resolve"]
    assert case not in [i["id"] for i in _queue(client, tokens["community"], q=str(case))["items"]]
    r = client.post(f"/api/v1/incidents/{case}/escalate", json={"reason": "社区呼叫"},
                    headers=auth(tokens["grid_worker"]))
    assert r.status_code == 200
    assert _moves(client, tokens["grid_worker"], case) == []
    community = _queue(client, tokens["community"], box="act")
    assert case in [i["id"] for i in community["items"]]
    assert set(community["counts"]) == {"act", "verify", "callback"}
    assert _moves(client, tokens["community"], case) == ["escalate", "send_back", "resolve",
                                                         "merge"]
    r = client.post(f"/api/v1/incidents/{case}/escalate", json={"reason": "街道"},
                    headers=auth(tokens["community"]))
    assert r.status_code == 200
    assert "whistle" in _moves(client, tokens["street"], case)
    r = client.post(f"/api/v1/incidents/{case}/whistle", headers=auth(tokens["street"]),
                    json={"departments": ["城管执法", "住建"], "reason": "吹哨"})
    assert r.status_code == 200
    dept = _queue(client, tokens["城管执法"], box="report_in")
    assert case in [i["id"] for i in dept["items"]]
    assert _moves(client, tokens["城管执法"], case) == ["report_in"]
    assert client.post(f"/api/v1/incidents/{case}/finish", json={},
                       headers=auth(tokens["城管执法"])).status_code == 409
    assert client.post(f"/api/v1/incidents/{case}/report-in", json={},
                       headers=auth(tokens["城管执法"])).status_code == 200
    assert _moves(client, tokens["城管执法"], case) == ["finish"]
    finish = _queue(client, tokens["城管执法"], box="finish")
    assert case in [i["id"] for i in finish["items"]]


def test_queue_filters_paging_and_export(client, tokens, case):
    everything = _queue(client, tokens["street"], limit=500)
    assert everything["total"] == len(everything["items"])
    if everything["total"] >= 2:
        first = _queue(client, tokens["street"], limit=1)
        second = _queue(client, tokens["street"], limit=1, offset=1)
        assert first["items"][0]["id"] != second["items"][0]["id"]
        assert first["total"] == everything["total"]
    dues = [i["due_at"] for i in everything["items"] if i["due_at"]]
    assert dues == sorted(dues)  # the nearest deadline first (none are overdue here)
    none = _queue(client, tokens["street"], q="没有这样的说明xyz")
    assert none["total"] == 0 and none["items"] == []
    r = client.get("/api/v1/work/queue", params={"format": "csv"}, headers=auth(tokens["street"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert sorted(int(row["id"]) for row in rows) == sorted(i["id"] for i in everything["items"])
    assert client.get("/api/v1/work/queue", params={"box": "report_in"},
                      headers=auth(tokens["street"])).status_code == 422


def test_my_reports(client, tokens, case):
    r = client.get("/api/v1/work/mine", headers=auth(tokens["grid_worker"]))
    assert r.status_code == 200
    assert case in [i["id"] for i in r.json()["items"]]
    worker = r.json()["items"][0]["created_by"]
    assert {i["created_by"] for i in r.json()["items"]} == {worker}
    street = client.get("/api/v1/work/mine", headers=auth(tokens["street"])).json()
    assert case not in [i["id"] for i in street["items"]]
    assert worker not in {i["created_by"] for i in street["items"]}


def test_move_errors_in_one_language(client, tokens, case):
    path = f"/api/v1/incidents/{case}/close"
    both = client.post(path, json={}, headers=auth(tokens["street"])).json()["message"]
    zh = client.post(path, json={}, headers={**auth(tokens["street"]), "X-Grid-Lang": "zh"})
    en = client.post(path, json={}, headers={**auth(tokens["street"]), "X-Grid-Lang": "en"})
    assert zh.status_code == en.status_code == 409
    assert zh.json()["message"] in both and en.json()["message"] in both
    assert not re.search("[A-Za-z]", zh.json()["message"])
    assert not re.search("[\u4e00-\u9fff]", en.json()["message"])
    bad = client.post(f"/api/v1/incidents/{case}/rate", json={"rating": "好"},
                      headers={**auth(tokens["street"]), "X-Grid-Lang": "en"})
    assert bad.status_code == 422 and bad.json()["message"].startswith("Invalid request")


def test_pages_render_for_every_role(demo, tokens, case):
    for role in ("grid_worker", "community", "street", "城管执法", "admin"):
        with TestClient(create_app(demo.settings)) as c:
            assert c.post("/signin", data={"token": tokens[role]},
                          follow_redirects=False).status_code == 303
            queue = c.get("/work")
            assert queue.status_code == 200, (role, queue.text[:500])
            assert 'id="counts"' in queue.text
            page = c.get(f"/work/incidents/{case}")
            assert page.status_code == 200, (role, page.text[:500])
            offered = re.findall(r'data-move="(\w+)" id="move-', page.text)
            moves = c.get(f"/api/v1/work/incidents/{case}/moves").json()["moves"]
            assert offered == moves, role
            assert c.get("/work?lang=en").text.count("To-do queue") >= 1
