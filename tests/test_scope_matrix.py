"""Role × scope matrix, generated from the app itself: every route declares a scope dependency,
and every operation of the OpenAPI document is called by every role scoped to community A —
with its ids, codes and bodies pointing into A ("in") and into B ("out"), and for a department
also at a case in A it was not summoned to — and by a caller without a token. Nothing is listed
by hand: a new endpoint is called as soon as it exists, and a parameter this file cannot fill
fails the test until a value is added to ``VALUES``.

A read leak is a marker of B (a case's text, a resident's name, a hotline address, a Secretary's
contact outside the caller's line, an id of a case the caller may not see) in any answer of a
scoped route; on public routes, any personal datum. A write leak is any change to B's rows, to
the boundary versions, or to the admin's pending upload by anyone but the admin.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from grid.api.app import create_app
from grid.api.deps import SCOPE_DEPENDENCIES, api_scope, page_scope, public_scope
from grid.migrate import upgrade
from grid.services import Services
from tests.helpers.scope_world import (
    DEPARTMENT,
    JPEG,
    ROLES,
    World,
    auth,
    build,
    fingerprint,
    new_key,
    register_csv,
)

METHODS = ("get", "post", "put", "patch", "delete")


def api_routes(app) -> list:
    """Every API route of ``app`` with its full path, methods and dependencies (FastAPI 0.165
    keeps included routers as lazy wrappers in ``app.routes``)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: included routes are copied into app.routes
        return [r for r in app.routes if isinstance(r, APIRoute)]
    return [c for c in iter_route_contexts(app.routes) if isinstance(c.original_route, APIRoute)]


def scope_kind(route) -> set:
    """The scope dependencies anywhere in a route's dependency tree."""
    found, todo = set(), [route.dependant]
    while todo:
        dependant = todo.pop()
        if dependant.call in SCOPE_DEPENDENCIES:
            found.add(dependant.call)
        todo.extend(dependant.dependencies)
    return found


def routes_without_scope(app) -> list[str]:
    """Routes (path and methods) that declare none of the scope dependencies."""
    return [f"{sorted(r.methods)} {r.path}" for r in api_routes(app) if not scope_kind(r)]


# -- the static half: every route declares where its caller stands ---------------------------


def test_every_route_declares_a_scope_dependency(tmp_path):
    app = create_app(_settings(tmp_path))
    assert len(api_routes(app)) > 50
    assert routes_without_scope(app) == []


def test_a_route_without_the_scope_dependency_is_caught(tmp_path):
    app = create_app(_settings(tmp_path))

    @app.get("/api/v1/forgot-the-scope")
    def forgot() -> dict:
        return {}

    assert routes_without_scope(app) == ["['GET'] /api/v1/forgot-the-scope"]


def _settings(tmp_path):
    from grid.settings import Settings
    return Settings(database_url=f"sqlite:///{tmp_path}/x.db")


# -- the live half ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(databases, backend, tmp_path_factory):
    settings = databases.new(backend).model_copy(update={
        "pii_key": new_key(), "attachments_dir": tmp_path_factory.mktemp("attachments")})
    svc = Services(settings)
    upgrade(svc.db)
    made = build(svc, lambda: TestClient(create_app(settings)))
    with TestClient(create_app(settings)) as client:
        yield svc, made, client
    svc.close()


def _sides(role: str) -> tuple[str, ...]:
    if role == "admin":
        return ("in",)
    return ("in", "out", "unsummoned") if role == "department" else ("in", "out")


def _values(w: World, role: str, side: str) -> dict[str, Any]:
    """Parameter and body-field values by name for one role and side."""
    out = side != "in"
    case = {"in": w.ids["a_dept"] if role == "department" else w.ids["a_near"],
            "out": w.ids["b_case"], "unsummoned": w.ids["a_zhujian"]}[side]
    # A merge's other case: B's beside a_near when out, another case of A when in.
    into = w.ids["b_near"] if out else (
        w.ids["a_dept"] if case == w.ids["a_near"] else w.ids["a_near"])
    point = w.b_point if out else w.a_point
    community = w.b if out else w.a
    building = w.b_building if out else w.a_building
    return {
        "incident_id": case, "fid": str(case), "request_id": str(case), "into": into,
        "code": w.street if not out else w.b, "unit": community, "parent": community,
        "street": w.street, "cid": "incidents", "fmt": "json",
        "service_code": w.category, "category": w.category, "month":
            datetime.now().strftime("%Y-%m"), "version": w.version, "version_id": w.version,
        "old": w.version, "new": w.version, "upload_id": w.upload_id,
        "attachment_id": w.ids["b_attachment"], "attachments":
            [w.ids["b_attachment"]] if out else [],
        "address_id": w.ids["b_queued"] if out else w.ids["a_queued"],
        "building_code": building, "lon": point[0], "lat": point[1],
        "service_request_id": str(case),
        "reason": "scope test", "instructions": "scope test", "note": "scope test",
        "description": "scope test", "departments": [DEPARTMENT], "department": DEPARTMENT,
        "rating": "满意", "address": "scope test 地址", "ref": "", "level": "community",
        "commit": False, "label": "scope", "source": "patrol",
        "lead": "scope test", "title": "scope test", "conclusion": "scope test", "topic_id": 1,
        "alias_id": 1, "aliases": [], "keep_alias": False,
        # overlays (temporary branches, street chiefs, building heads, stationed units)
        "valid_from": "2026-01-01", "valid_to": None, "purpose": "project",
        "parent_org_code": community, "secretary": "scope test", "contact": "scope test",
        "geometry": {"type": "Polygon", "coordinates": [[
            [point[0] - 1e-4, point[1] - 1e-4], [point[0] + 1e-4, point[1] - 1e-4],
            [point[0] + 1e-4, point[1] + 1e-4], [point[0] - 1e-4, point[1] + 1e-4],
            [point[0] - 1e-4, point[1] - 1e-4]]]},
        "segment_code": "S001", "tier": 3, "name": "scope test", "phone": "12345678",
        "role": "楼栋长", "part": "", "kind": "", "party_org": "", "resources": [],
        "stationed_units": [], "on": None, "street_code": w.street,
        # people in the loop (members, orders, deliberation, grid rounds)
        "workplace_org": "scope test org", "member_id": 1, "move": "confirm",
        "needed_at": "2026-12-10T09:00:00+08:00", "order_id": 1, "hours": 1.0, "radius_m": 1000,
        "procedure": "haidian", "unit_codes": [community], "participants": [],
        "held_at": "2026-12-03T10:00:00+08:00", "minutes": "scope test", "text": "scope test",
        "votes": [], "chosen": 1, "decision": "scope test", "counts": {"满意": 1},
        "grid_code": community + "001", "client_key": "scopetest01",
        "started_at": "2026-12-03T09:00:00+08:00", "round_id": 1, "seq": 0, "points": [],
        "heard": "scope test", "visit_id": 1,
    }


def _path(template: str, values: dict[str, Any], params: list[dict]) -> str:
    path = template
    for p in params:
        if p["in"] == "path":
            assert p["name"] in values, f"add a value for path parameter {p['name']!r}"
            path = path.replace("{" + p["name"] + "}", str(values[p["name"]]))
    return path


def _query(values: dict[str, Any], params: list[dict]) -> dict[str, Any]:
    query = {}
    for p in params:
        if p["in"] != "query":
            continue
        if p["name"] in values and p["name"] not in ("level", "version") or p.get("required"):
            assert p["name"] in values, f"add a value for query parameter {p['name']!r}"
            query[p["name"]] = values[p["name"]]
    return query


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return schema


def _json_body(spec: dict, schema: dict, values: dict[str, Any]) -> dict:
    body = {}
    schema = _resolve(spec, schema)
    for name in schema.get("properties", {}):
        if name in values:
            body[name] = values[name]
        elif name in schema.get("required", []):
            raise AssertionError(f"add a value for body field {name!r}")
    return body


def _multipart(path: str, w: World, values: dict[str, Any], out: bool) -> dict[str, Any]:
    """Files and form fields for the multipart operations, by what they take."""
    if path.endswith("/attachments"):
        return {"files": {"file": ("p.jpg", JPEG, "image/jpeg")}}
    if path.endswith("/imports"):  # a B resident's ID number, in A (in) or B (out)
        data = register_csv(w.b_building if out else w.a_building, w.b_resident_id_number)
        return {"files": {"file": ("r.csv", data, "text/csv")}, "data": {"commit": "false"}}
    if path.endswith("/uploads"):
        from tests.helpers.scope_world import DATA
        return {"files": {"file": ("c.geojson", (DATA / "community.geojson").read_bytes(),
                                   "application/geo+json")}, "data": {"level": "community"}}
    if path.endswith("/segments/load"):  # a dry run of one centreline in the caller's area
        lon, lat = w.b_point if out else w.a_point
        line = {"type": "FeatureCollection", "features": [{
            "type": "Feature", "properties": {"code": "S001", "name": "scope lane"},
            "geometry": {"type": "LineString",
                         "coordinates": [[lon - 1e-4, lat], [lon + 1e-4, lat]]}}]}
        return {"files": {"file": ("s.geojson", json.dumps(line).encode(),
                                   "application/geo+json")}, "data": {"commit": "false"}}
    if path.endswith("/rounds/gpx"):  # a one-point track in the caller's area
        lon, lat = w.b_point if out else w.a_point
        gpx = (f'<?xml version="1.0"?><gpx version="1.1" creator="t" '
               f'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
               f'<trkpt lat="{lat}" lon="{lon}"><time>2026-12-03T01:00:00Z</time></trkpt>'
               f'</trkseg></trk></gpx>').encode()
        return {"files": {"file": ("r.gpx", gpx, "application/gpx+xml")},
                "data": {"grid_code": (w.b if out else w.a) + "001"}}
    raise AssertionError(f"add a multipart body for {path}")


def _request(client, spec, path, method, op, values, token, w, out):
    params = op.get("parameters", [])
    url = _path(path, values, params)
    kwargs: dict[str, Any] = {"params": _query(values, params),
                              "headers": auth(token) if token else {}}
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        kwargs["json"] = _json_body(spec, content["application/json"]["schema"], values)
    elif "multipart/form-data" in content:
        kwargs.update(_multipart(path, w, values, out))
    client.cookies.clear()
    return client.request(method.upper(), url, follow_redirects=False, **kwargs)


def _incident_ids(node: Any) -> set[int]:
    """Ids of incidents named in a JSON answer: ``incident_id`` fields, incident-shaped
    objects, OGC incident features and Open311 requests."""
    found: set[int] = set()
    if isinstance(node, dict):
        if isinstance(node.get("incident_id"), int):
            found.add(node["incident_id"])
        if "category" in node and "state" in node and isinstance(node.get("id"), int):
            found.add(node["id"])
        props = node.get("properties")
        if node.get("type") == "Feature" and isinstance(props, dict) and "category" in props:
            found.add(int(node["id"]))
        for value in node.values():
            found |= _incident_ids(value)
    elif isinstance(node, list):
        for value in node:
            found |= _incident_ids(value)
    return found


def _forbidden_markers(w: World, role: str, public: bool) -> list[str]:
    if public:
        return [*w.public_markers, *w.contacts.values()]
    markers = list(w.b_markers)
    if role == "department":
        markers += w.unsummoned_markers
    for code, contact in w.contacts.items():
        line = code.startswith(w.a) or w.a.startswith(code)
        if not (role in ("street", "community", "grid_worker") and line):
            markers.append(contact)
    return markers


def _hidden_ids(w: World, role: str) -> set[int]:
    hidden = {w.ids["b_case"], w.ids["b_near"]}
    return hidden | ({w.ids["a_zhujian"]} if role == "department" else set())


def _operations(spec: dict):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method in METHODS:
                yield path, method, op


def test_role_scope_matrix(world):
    """Every operation × every role × in/out of scope (and no token): 0 read leaks, 0 write
    leaks, and every scoped route refuses a caller without a token."""
    svc, w, client = world
    app = client.app
    spec = app.openapi()
    kinds = {(m.lower(), r.path): scope_kind(r) for r in api_routes(app) for m in r.methods}
    operations = list(_operations(spec))
    assert len(operations) >= 50
    leaks: list[str] = []
    calls = 0
    for role in (None, *ROLES):
        for side in _sides(role) if role else ("in", "out"):
            values = _values(w, role or "anonymous", side)
            for path, method, op in operations:
                public = public_scope in kinds[(method, path)]
                before = fingerprint(svc, w, role or "anonymous")
                answer = _request(client, spec, path, method, op, values,
                                  w.tokens.get(role) if role else None, w, side != "in")
                calls += 1
                where = f"{role or 'anonymous'}/{side} {method.upper()} {path} → " \
                        f"{answer.status_code}"
                to_signin = answer.status_code == 303 and \
                    answer.headers.get("location", "").startswith("/signin")
                if role is None and not public and answer.status_code != 401 and not to_signin:
                    leaks.append(f"{where}: answered without a token")
                if role == "admin":
                    continue  # the admin's scope is the city: nothing of it is out of scope
                text = answer.text
                for marker in _forbidden_markers(w, role or "anonymous", public or not role):
                    if marker in text:
                        leaks.append(f"{where}: read leak {marker!r}")
                if not public and answer.headers.get("content-type", "").startswith(
                        ("application/json", "application/geo+json")):
                    shown = _incident_ids(answer.json()) & _hidden_ids(w, role)
                    if shown:
                        leaks.append(f"{where}: read leak of incident(s) {sorted(shown)}")
                if fingerprint(svc, w, role or "anonymous") != before:
                    leaks.append(f"{where}: write leak")
    assert calls >= len(operations) * 13
    assert leaks == [], "\n".join(leaks)


def test_scoped_routes_use_the_scope_of_their_kind(world):
    """API routes take the bearer scope, pages the page scope; only Open311, the root, the API
    docs pages, the health check, signing in and out, and the 阳光居务 notices (``/public/``)
    are public."""
    _, _, client = world
    routes = api_routes(client.app)
    public = sorted(r.path for r in routes if public_scope in scope_kind(r))
    assert public and all(p.startswith(("/open311/", "/signin", "/public/")) or
                          p in ("/", "/docs", "/redoc", "/health", "/signout")
                          for p in public), public
    for route in routes:
        if route.path.startswith(("/api/", "/ogc")):
            assert api_scope in scope_kind(route), route.path
        if route.path.startswith(("/maps/", "/report")):
            assert page_scope in scope_kind(route), route.path
