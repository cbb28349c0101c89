"""议事协商 through the API, on both stores: Haidian's five steps and Ya'an's 五议 walked from the
configuration (``grid/data/people.yaml``) step by step — participants invited by kind, meetings
with minutes and an attachment, options, a decision with vote counts, tasks filed as an
incident and placed as an order, the residents' evaluation, the public notice; and every
refusal (a step that does not allow the move, a step not finished, wrong role, out of scope,
bad input)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from grid.api.people_schemas import TopicPublic
from grid.people.config import load_people
from grid.settings import PACKAGE_DATA
from tests.helpers import people as helpers
from tests.helpers.people import auth

town = helpers.town  # fixtures: a fresh sample street per module and backend
api = helpers.api
BOOK = load_people(PACKAGE_DATA / "people.yaml")
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")


def _post(api, token, path, body=None):
    return api.post(f"/api/v1/topics{path}", headers=auth(token), json=body or {})


def _act(api, town, topic: TopicPublic, action: str, step) -> TopicPublic:
    """Do ``action`` on the topic the way a community worker would at this step."""
    token = town.tokens["community"]
    tid = f"/{topic.id}"
    if action == "describe":
        r = _post(api, token, tid + "/describe", {"title": topic.title + "（修订）",
                                                  "description": "居民反映楼下空地闲置"})
    elif action == "invite":
        kinds = step.invite or ["resident"]
        r = _post(api, token, tid + "/invite", {"participants": [
            {"kind": k, "name": f"{k}代表张三", "unit_code": town.buildings[0]}
            for k in kinds]})
    elif action == "meeting":
        photo = api.post("/api/v1/incidents/attachments", headers=auth(token),
                         files={"file": ("minutes.png", PNG, "image/png")})
        assert photo.status_code == 201, photo.text
        r = _post(api, token, tid + "/meetings", {
            "held_at": datetime.now(UTC).isoformat(), "place": "社区议事厅",
            "minutes": "张三发言：建议改为停车位。李四：建议做口袋公园。", "attendees": 23,
            "attachments": [photo.json()["id"]]})
    elif action == "option":
        for text in ("改建口袋公园", "划为停车位"):
            r = _post(api, token, tid + "/options", {"text": text})
            assert r.status_code == 200, r.text
    elif action == "decide":
        if not topic.options:
            topic = _act(api, town, topic, "option", step)
        first, second = topic.options[:2]
        r = _post(api, token, tid + "/decide", {
            "votes": [{"option_id": first.id, "votes_for": 17, "votes_against": 4,
                       "abstentions": 2},
                      {"option_id": second.id, "votes_for": 5, "votes_against": 16}],
            "chosen": first.id, "decision": "空地改建口袋公园，物业负责日常维护"})
    elif action == "task":
        r = _post(api, token, tid + "/tasks", {"title": "清理空地建筑垃圾", "kind": "incident",
                                               "building_code": town.buildings[0],
                                               "category": "Z003"})
        assert r.status_code == 200, r.text
        r = _post(api, token, tid + "/tasks", {
            "title": "志愿者协助布置", "kind": "order", "building_code": town.buildings[0],
            "skills": ["cleaning"],
            "needed_at": (datetime.now(UTC) + timedelta(days=3)).isoformat()})
    elif action == "evaluate":
        r = _post(api, token, tid + "/evaluate", {"counts": {"满意": 31, "基本满意": 6,
                                                             "不满意": 2}, "note": "入户评议"})
    elif action == "publish":
        r = _post(api, token, tid + "/publish")
    assert r.status_code == 200, (action, r.text)
    return TopicPublic.model_validate(r.json())


@pytest.mark.parametrize("procedure", [p.code for p in BOOK.procedures])
def test_procedure_walked_from_configuration(town, api, procedure):
    """Every step of the configured procedure, in order: its required actions, then advance;
    a step's un-allowed action and an early advance are refused (409)."""
    r = _post(api, town.tokens["grid_worker"], "", {
        "title": "楼下闲置空地怎么用", "source": "residents", "procedure": procedure,
        "unit_codes": [town.buildings[0], town.buildings[1]]})
    assert r.status_code == 201, r.text
    topic = TopicPublic.model_validate(r.json())
    steps = BOOK.procedure(procedure).steps
    assert [s.code for s in topic.steps] == [s.code for s in steps]
    assert topic.community_code == town.community and topic.state == "open"
    for index, step in enumerate(steps):
        assert topic.step == index
        assert topic.missing == step.requires
        if step.requires:
            r = _post(api, town.tokens["community"], f"/{topic.id}/advance")
            assert r.status_code == 409 and r.json()["details"]["missing"] == step.requires
        forbidden = next((a for a in ("decide", "evaluate", "invite") if a not in step.does),
                         None)
        if forbidden:
            r = _post(api, town.tokens["community"], f"/{topic.id}/{forbidden}", {})
            assert r.status_code in (409, 422)
        extra = ["task"] if "task" in step.does and "task" not in step.requires else []
        for action in (step.requires or step.does[:1]) + extra:
            topic = _act(api, town, topic, action, step)
        assert topic.missing == [] and "advance" in topic.moves
        r = _post(api, town.tokens["grid_worker"], f"/{topic.id}/advance")
        assert r.status_code == 403  # a grid worker raises topics; the community runs them
        r = _post(api, town.tokens["community"], f"/{topic.id}/advance", {"note": step.code})
        assert r.status_code == 200, r.text
        topic = TopicPublic.model_validate(r.json())
    assert topic.state == "closed" and topic.moves == []
    assert all(s.done_at is not None for s in topic.steps)
    assert _post(api, town.tokens["community"], f"/{topic.id}/advance").status_code == 409
    # The record: votes, the decision, the tasks (an incident and an order), the evaluation.
    chosen = [o for o in topic.options if o.chosen]
    assert [(o.text, o.votes_for, o.votes_against) for o in chosen] == [("改建口袋公园", 17, 4)]
    assert topic.decision.startswith("空地改建口袋公园") and topic.published_at is not None
    assert topic.evaluation == {"满意": 31, "基本满意": 6, "不满意": 2}
    assert len(topic.meetings) >= 1 and topic.meetings[0].attachments
    if any("task" in s.does for s in steps):
        incident_task = next(t for t in topic.tasks if t.incident_id)
        order_task = next(t for t in topic.tasks if t.order_id)
        case = api.get(f"/api/v1/incidents/{incident_task.incident_id}",
                       headers=auth(town.tokens["community"])).json()
        assert case["category"] == "Z003" and f"#{topic.id}" in case["description"]
        assert incident_task.state == "open"
        order = api.get(f"/api/v1/orders/{order_task.order_id}",
                        headers=auth(town.tokens["community"])).json()
        assert order["topic_id"] == topic.id and order["source"] == "topic"
    # The log holds every move, each at its step.
    assert [e.move for e in topic.log].count("advance") == len(steps)


def test_topic_refusals(town, api):
    """Wrong role, out of scope, bad input."""
    body = {"title": "电梯加装", "source": "residents", "procedure": "haidian",
            "unit_codes": [town.buildings[0]]}
    assert _post(api, town.tokens["other_community"], "", body).status_code == 403
    assert _post(api, town.tokens["party_org"], "", body).status_code == 403
    assert _post(api, town.tokens["department"], "", body).status_code == 403
    assert _post(api, town.tokens["community"], "", body | {"procedure": "nope"}
                 ).status_code == 422
    assert _post(api, town.tokens["community"], "", body | {"source": "gossip"}
                 ).status_code == 422
    assert _post(api, town.tokens["community"], "", body | {"unit_codes": []}).status_code == 422
    assert _post(api, town.tokens["community"], "", body | {"unit_codes": ["000"]}
                 ).status_code == 422
    assert _post(api, town.tokens["street"], "", body | {
        "unit_codes": [town.buildings[0], town.other_community]}).status_code == 422
    assert _post(api, town.tokens["community"], "", body | {"source": "incidents"}
                 ).status_code == 422  # a cluster names its incidents
    r = _post(api, town.tokens["community"], "", body)
    assert r.status_code == 201
    tid = r.json()["id"]
    assert api.get(f"/api/v1/topics/{tid}",
                   headers=auth(town.tokens["other_community"])).status_code == 403
    assert _post(api, town.tokens["community"], f"/{tid}/options", {"text": ""}
                 ).status_code == 422
    assert _post(api, town.tokens["community"], f"/{tid}/decide", {
        "votes": [{"option_id": 1, "votes_for": -1}], "chosen": 1, "decision": "x"}
    ).status_code == 422
    assert _post(api, town.tokens["community"], f"/{tid}/publish").status_code == 409
    assert api.get("/api/v1/topics/999999",
                   headers=auth(town.tokens["community"])).status_code == 404


def test_topic_from_an_incident_cluster(town, api):
    """A topic raised from a cluster of incidents records them as its source."""
    lon, lat = town.points[town.buildings[2]]
    ids = []
    for note in ("夜间噪音", "夜间噪音又来了"):
        r = api.post("/api/v1/incidents", headers=auth(town.tokens["grid_worker"]),
                     json={"lon": lon, "lat": lat, "category": "Z003", "description": note})
        ids.append(r.json()["id"])
    r = _post(api, town.tokens["community"], "", {
        "title": "夜间噪音公约", "source": "incidents", "procedure": "yaan",
        "unit_codes": [town.buildings[2]], "incident_ids": ids})
    assert r.status_code == 201, r.text
    assert r.json()["source_ref"] == ",".join(map(str, ids))
    r = _post(api, town.tokens["other_community"], "", {
        "title": "x", "source": "incidents", "procedure": "yaan",
        "unit_codes": [town.buildings[2]], "incident_ids": ids})
    assert r.status_code == 403


def test_public_notice_only_once_published_and_escaped(town, api):
    """The public page answers 404 until the decision is published; what it shows is
    escaped (a title with markup stays text) and carries no participant or minutes."""
    r = _post(api, town.tokens["community"], "", {
        "title": "<script>alert(1)</script>停车", "source": "monthly", "procedure": "yaan",
        "source_ref": "停车难", "unit_codes": [town.buildings[1]]})
    topic = TopicPublic.model_validate(r.json())
    assert api.get(f"/public/topics/{topic.id}").status_code == 404
    steps = BOOK.procedure("yaan").steps
    for step in steps[:4]:
        extra = ["task"] if "task" in step.does and "task" not in step.requires else []
        for action in (step.requires or step.does[:1]) + extra:
            topic = _act(api, town, topic, action, step)
        topic = TopicPublic.model_validate(
            _post(api, town.tokens["community"], f"/{topic.id}/advance").json())
    page = api.get(f"/public/topics/{topic.id}")  # no token, no cookie
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    html = page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;停车" in html and "<script>alert" not in html
    assert "空地改建口袋公园，物业负责日常维护" in html
    assert "代表张三" not in html and "李四" not in html  # participants and minutes stay out
