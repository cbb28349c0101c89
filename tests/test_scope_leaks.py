"""Each scope leak of issue 11, one test apiece, on both stores: every test fails on the code
before the fix (the matrix in ``test_scope_matrix.py`` catches most of them too; these say
exactly what the rule is, and show the same call succeeding where it should)."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from grid.api import gis as gis_api
from grid.api.app import create_app
from grid.migrate import upgrade
from grid.redact import MASK, scrub
from grid.services import Services
from grid.users import add_user
from tests.helpers.scope_world import (
    JPEG,
    TYPED_PHONE,
    auth,
    build,
    new_key,
    register_csv,
)


@pytest.fixture(scope="module")
def world(databases, backend, tmp_path_factory):
    settings = databases.new(backend).model_copy(update={
        "pii_key": new_key(), "attachments_dir": tmp_path_factory.mktemp("attachments")})
    svc = Services(settings)
    upgrade(svc.db)
    made = build(svc, lambda: TestClient(create_app(settings)))
    with svc.db.write() as session:  # a GIS user whose scope covers the whole (sample) city
        made.tokens["city_gis"] = add_user(session, "scope-city-gis", "gis", made.street)[1]
    with TestClient(create_app(settings)) as client:
        yield svc, made, client
    svc.close()


def _get(client, token, url, **params):
    return client.get(url, params=params, headers=auth(token))


def test_ogc_incidents_only_those_the_caller_may_see(world):
    _, w, client = world
    for role, expected in (("department", {w.ids["a_dept"]}),
                           ("community", {w.ids["a_dept"], w.ids["a_zhujian"], w.ids["a_near"]}),
                           ("admin", set(w.ids[k] for k in ("a_dept", "a_zhujian", "a_near",
                                                              "b_case", "b_near")))):
        page = _get(client, w.tokens[role], "/ogc/collections/incidents/items", limit=1000)
        assert page.status_code == 200, page.text
        assert {f["id"] for f in page.json()["features"]} >= expected
        shown = {f["id"] for f in page.json()["features"]}
        if role != "admin":
            assert w.ids["b_case"] not in shown and w.ids["b_near"] not in shown, role
    token = w.tokens["department"]
    assert _get(client, token, f"/ogc/collections/incidents/items/{w.ids['a_zhujian']}"
                ).status_code == 404
    assert _get(client, token, f"/api/v1/incidents/{w.ids['a_zhujian']}").status_code == 403
    assert _get(client, token, f"/ogc/collections/incidents/items/{w.ids['a_dept']}"
                ).status_code == 200


def test_placement_follows_the_incident_rule(world):
    _, w, client = world
    token = w.tokens["department"]
    url = "/api/v1/gis/incidents/{}/placement"
    assert _get(client, token, url.format(w.ids["a_zhujian"]), version=w.version
                ).status_code == 404
    assert _get(client, token, url.format(w.ids["a_dept"]), version=w.version).status_code == 200
    assert _get(client, w.tokens["gis"], url.format(w.ids["b_case"]), version=w.version
                ).status_code == 404


def test_duplicates_name_no_case_across_the_line(world):
    _, w, client = world
    url = f"/api/v1/incidents/{w.ids['a_near']}/duplicates"
    everyone = {d["incident_id"] for d in _get(client, w.tokens["admin"], url).json()}
    assert w.ids["b_near"] in everyone  # the two cases are duplicates across A and B's line
    mine = _get(client, w.tokens["community"], url)
    assert mine.status_code == 200
    assert w.ids["b_near"] not in {d["incident_id"] for d in mine.json()}
    # A new report beside them is told of none on the other side either.
    new = client.post("/api/v1/incidents", headers=auth(w.tokens["grid_worker"]), json={
        "lon": w.near_a[0], "lat": w.near_a[1], "category": w.category, "crs": "cgcs2000"})
    assert new.status_code == 201, new.text
    suggested = {d["incident_id"] for d in new.json()["possible_duplicates"]}
    assert w.ids["a_near"] in suggested and w.ids["b_near"] not in suggested


def test_hotline_queue_lists_only_addresses_in_scope(world):
    _, w, client = world
    token = w.tokens["community"]
    placed = _get(client, token, "/api/v1/hotline/queue", status="placed").json()
    assert w.ids["b_placed"] not in {r["id"] for r in placed}
    assert w.ids["b_placed"] in {r["id"] for r in _get(
        client, w.tokens["admin"], "/api/v1/hotline/queue", status="placed").json()}
    queued = {r["id"] for r in _get(client, token, "/api/v1/hotline/queue").json()}
    assert w.ids["a_queued"] in queued and w.ids["b_queued"] not in queued
    resolve = client.post(f"/api/v1/hotline/queue/{w.ids['b_queued']}/resolve",
                          headers=auth(token), json={"building_code": None})
    assert resolve.status_code == 404


def _score(html: str, code: str) -> str:
    match = re.search(r'"code": "' + code + r'"[^}]*?"score": "([^"]*)"', html)
    assert match, f"no score for {code} on the page"
    return json.loads(f'"{match.group(1)}"')  # folium writes non-ASCII as \\uXXXX


def test_street_map_scores_only_for_units_in_scope(world):
    _, w, client = world
    url = f"/maps/streets/{w.street}"
    everyone = _get(client, w.tokens["admin"], url, shade="score")
    assert everyone.status_code == 200
    assert _score(everyone.text, w.b) != "—"  # B has cases this month: a score
    mine = _get(client, w.tokens["community"], url, shade="score")
    assert mine.status_code == 200
    assert _score(mine.text, w.a) != "—"
    assert _score(mine.text, w.b) == "—"


def test_an_unlinked_attachment_is_its_uploader_s(world):
    svc, w, client = world
    uploaded = client.post("/api/v1/incidents/attachments", headers=auth(w.tokens["b_worker"]),
                           files={"file": ("p.jpg", JPEG, "image/jpeg")})
    assert uploaded.status_code == 201, uploaded.text
    photo = uploaded.json()["id"]
    claim = client.post("/api/v1/incidents", headers=auth(w.tokens["grid_worker"]), json={
        "lon": w.a_point[0], "lat": w.a_point[1], "category": w.category, "attachments": [photo]})
    assert claim.status_code == 422, claim.text
    move = client.post(f"/api/v1/incidents/{w.ids['a_near']}/escalate",
                       headers=auth(w.tokens["grid_worker"]),
                       json={"reason": "x", "attachments": [photo]})
    assert move.status_code == 422, move.text
    assert _get(client, w.tokens["grid_worker"], f"/api/v1/incidents/attachments/{photo}"
                ).status_code == 404
    # Still its uploader's: they link it to their own report and read it back.
    own = client.post("/api/v1/incidents", headers=auth(w.tokens["b_worker"]), json={
        "lon": w.b_point[0], "lat": w.b_point[1], "category": w.category, "attachments": [photo]})
    assert own.status_code == 201, own.text
    assert _get(client, w.tokens["b_worker"], f"/api/v1/incidents/attachments/{photo}"
                ).content == JPEG


def test_residents_dry_run_is_no_oracle(world):
    _, w, client = world
    token = w.tokens["community"]

    def dry_run(building: str, id_number: str, commit: bool = False):
        return client.post("/api/v1/residents/imports", headers=auth(token),
                           data={"commit": str(commit).lower()},
                           files={"file": ("r.csv", register_csv(building, id_number),
                                           "text/csv")})

    elsewhere = dry_run(w.a_building, w.b_resident_id_number)
    assert elsewhere.status_code == 200, elsewhere.text
    assert elsewhere.json()["problems"] == [] and elsewhere.json()["accepted"] == 1
    # The same check names a registration inside the caller's scope …
    mine = client.get("/api/v1/residents/export.csv", params={"unit": w.a, "clear": "true"},
                      headers=auth(token)).text.splitlines()[1].split(",")[1]
    here = dry_run(w.a_building, mine)
    assert "already registered" in here.json()["problems"][0]["reason"]
    # … and a commit meeting one elsewhere writes nothing and says nothing of where.
    commit = dry_run(w.a_building, w.b_resident_id_number, commit=True)
    assert commit.status_code == 422
    reason = commit.json()["details"]["problems"][0]["reason"]
    assert "already registered" not in reason and w.b not in reason


def test_boundaries_need_a_city_scope(world):
    _, w, client = world
    gis = auth(w.tokens["gis"])
    assert client.post(f"/api/v1/versions/{w.version}/activate", headers=gis).status_code == 403
    assert client.post("/api/v1/gis/versions/rollback", headers=gis).status_code == 403
    commit = client.post(f"/api/v1/gis/uploads/{w.upload_id}/commit", headers=gis, json={})
    assert commit.status_code == 403
    assert (gis_api.UPLOAD_ROOT / w.upload_id).exists()  # still there for its owner
    assert client.delete(f"/api/v1/gis/uploads/{w.upload_id}", headers=gis).status_code == 404
    # A GIS user whose scope covers every street may.
    city = auth(w.tokens["city_gis"])
    assert client.post(f"/api/v1/versions/{w.version}/activate", headers=city).status_code == 200
    for _ in range(2):  # there and back
        assert client.post("/api/v1/gis/versions/rollback", headers=city).status_code == 200


def test_open311_public_read_shows_no_personal_data(world, tmp_path):
    svc, w, client = world
    answer = client.get("/open311/v2/requests.json")
    assert answer.status_code == 200
    assert TYPED_PHONE not in answer.text and "REPORTER" not in answer.text
    described = [r["description"] for r in answer.json() if r["description"]]
    assert described and all(MASK in d for d in described)
    withheld = svc.settings.model_copy(update={"open311_descriptions": "withheld"})
    with TestClient(create_app(withheld)) as other:
        rows = other.get("/open311/v2/requests.json").json()
    assert rows and all(r["description"] is None for r in rows)
    assert all(r["status_notes"] is None or ":" not in r["status_notes"] for r in rows)


def test_scrub_removes_numbers_people_are_reached_by():
    text = "3号楼1203室门口 王先生138 0013 8000，身份证11010519491231002X，电话010-65123456"
    assert scrub(text) == f"3号楼1203室门口 王先生{MASK}，身份证{MASK}，电话{MASK}"
    assert scrub("１３９００００８７７０ a@b.cn") == f"{MASK} {MASK}"


def test_contacts_follow_the_policy(world):
    _, w, client = world
    contact = w.contacts

    def orgs(role, **params):
        return {u["code"]: u["party_org"]["contact"]
                for u in _get(client, w.tokens[role], "/api/v1/units", **params).json()
                if u["party_org"]}

    community = orgs("community", level="community")
    assert community[w.a] == contact[w.a] and community[w.b] == ""
    assert orgs("community", level="street")[w.street] == contact[w.street]  # their line
    assert set(orgs("gis", level="community").values()) == {""}
    assert orgs("admin", level="community")[w.b] == contact[w.b]
    # Locate: the same rule on the owner chain; grid workers' phones for everyone.
    for role, street_shown in (("community", True), ("gis", False)):
        found = _get(client, w.tokens[role], "/api/v1/locate", lon=w.b_point[0],
                     lat=w.b_point[1]).json()["owners"]
        shown = {link["code"]: link["party_org"]["contact"] for link in found["chain"]
                 if link["party_org"]}
        assert shown.get(w.b, "") == ""
        assert (shown[w.street] == contact[w.street]) is street_shown
        assert found["grid_workers"] and all(g["phone"] for g in found["grid_workers"])
