"""No page offers a move its user may not make, and every move it offers goes through.

For cases in every state of the ladder and every role, the incident page's buttons are read;
each move not offered is then tried on the API (with a valid body) and must be refused
(403 / 404 / 409) without changing the case; each move offered is made, on a fresh case in
the same state, and must succeed."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from grid.api.app import create_app
from grid.hierarchy import store
from grid.incidents.moves import Move
from tests.conftest import auth

ROLES = ("grid_worker", "community", "street", "城管执法", "住建", "admin")
STAGES = ("open_grid", "open_community", "open_street", "whistled", "reported_in_half",
          "resolved", "closed", "rated")
PATHS = {Move.escalate: "escalate", Move.send_back: "send-back", Move.resolve: "resolve",
         Move.whistle: "whistle", Move.report_in: "report-in", Move.finish: "finish",
         Move.close: "close", Move.rate: "rate", Move.merge: "merge"}


class Walker:
    """Makes cases and walks them to a stage through the API."""

    def __init__(self, client, tokens, point) -> None:
        self.client, self.tokens, self.point = client, tokens, point

    def post(self, path: str, token: str, body: dict) -> int:
        return self.client.post(path, json=body, headers=auth(token)).status_code

    def new(self) -> int:
        r = self.client.post("/api/v1/incidents", headers=auth(self.tokens["street"]),
                             json={"lon": self.point[0], "lat": self.point[1],
                                   "category": "Z003", "description": "offered moves"})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def case_at(self, stage: str) -> int:
        i = self.new()
        s, admin = self.tokens["street"], self.tokens["admin"]
        steps = [("escalate", s, {"reason": "社区呼叫"})]
        steps += [("escalate", s, {"reason": "街道"})]
        steps += [("whistle", s, {"departments": ["城管执法", "住建"]})]
        steps += [("report-in", self.tokens["城管执法"], {})]
        steps += [("finish", self.tokens["城管执法"], {}), ("report-in", self.tokens["住建"], {}),
                  ("finish", self.tokens["住建"], {})]
        steps += [("close", admin, {"reason": "核查"})]
        steps += [("rate", admin, {"rating": "满意"})]
        upto = {"open_grid": 0, "open_community": 1, "open_street": 2, "whistled": 3,
                "reported_in_half": 4, "resolved": 7, "closed": 8, "rated": 9}[stage]
        for path, token, body in steps[:upto]:
            assert self.post(f"/api/v1/incidents/{i}/{path}", token, body) == 200, path
        return i

    def body(self, move: Move, role: str, twin: int) -> dict:
        return {Move.escalate: {"reason": "原因"}, Move.send_back: {"instructions": "意见"},
                Move.resolve: {"reason": "办结"}, Move.close: {"reason": "核查"},
                Move.whistle: {"departments": ["城管执法"], "reason": "吹哨"},
                Move.report_in: {"department": "住建"} if role == "admin" else {},
                Move.finish: {"department": "城管执法"} if role == "admin" else {},
                Move.rate: {"rating": "满意"}, Move.merge: {"into": twin}}[move]


@pytest.fixture(scope="module")
def walker(demo, client, tokens):
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        p = store.shape_of(store.get_unit(session, version, tokens["first_grid"])) \
            .representative_point()
    return Walker(client, tokens, (p.x, p.y))


@pytest.fixture(scope="module")
def browsers(demo, tokens):
    """One signed-in client (its own cookie jar) per role."""
    app = create_app(demo.settings)
    clients = {}
    with TestClient(app) as first:
        for role in ROLES:
            c = TestClient(app)
            c.post("/signin", data={"token": tokens[role]})
            clients[role] = c
        yield clients
        del first


def _offered(browser, incident: int) -> list[str] | None:
    """The move buttons on the user's incident page (None: the page is refused)."""
    page = browser.get(f"/work/incidents/{incident}")
    if page.status_code in (403, 404):
        return None
    assert page.status_code == 200, page.text[:300]
    return re.findall(r'<button type="button" class="move[^"]*" data-move="(\w+)"', page.text)


def test_pages_offer_exactly_the_moves_the_api_allows(client, tokens, walker, browsers):
    seen_offers = 0
    for stage in STAGES:
        case = walker.case_at(stage)
        twin = walker.case_at("open_grid")
        before = client.get(f"/api/v1/incidents/{case}", headers=auth(tokens["admin"])).json()
        offers = {}
        for role in ROLES:
            offered = _offered(browsers[role], case)
            offers[role] = offered or []
            for move in Move:
                if offered is not None and move.value in offered:
                    continue
                status = walker.post(f"/api/v1/incidents/{case}/{PATHS[move]}", tokens[role],
                                     walker.body(move, role, twin))
                assert status in (403, 404, 409), (stage, role, move, status)
        after = client.get(f"/api/v1/incidents/{case}", headers=auth(tokens["admin"])).json()
        assert after["steps"] == before["steps"] and after["state"] == before["state"], stage
        # Each offered move succeeds, made on a fresh case at the same stage.
        for role, offered in offers.items():
            for move in offered:
                fresh, fresh_twin = walker.case_at(stage), walker.case_at("open_grid")
                status = walker.post(f"/api/v1/incidents/{fresh}/{PATHS[Move(move)]}",
                                     tokens[role], walker.body(Move(move), role, fresh_twin))
                assert status == 200, (stage, role, move, status)
                seen_offers += 1
    assert seen_offers >= 20  # the table offers something at every stage to someone
