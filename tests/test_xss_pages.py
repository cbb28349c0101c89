"""Hostile unit names (issue 11, item 3) in a real Chromium: no script runs on any page.

Street, community, grid, Party organisation and grid worker names are set to payloads that
would each set ``window.__xss`` (or call ``__xss()``) if a page inserted them as HTML or into a
JavaScript template literal. Every page is opened twice: with the Content-Security-Policy
bypassed (so the test proves the escaping itself, not the CSP), opening every tooltip and popup;
and with the CSP on, where no violation may be reported. The names must still be readable as
text. The loader warns about such names."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from grid.demo import demo_users, load_sample
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.migrate import upgrade
from grid.services import Services
from grid.spatial.loader import load_boundaries
from tests.conftest import CHROMIUM, CHROMIUM_FLAGS, DATA, auth, served, sign_in

pytestmark = pytest.mark.browser

PAYLOADS = [
    '<img src=x onerror="window.__xss=1">',
    "</script><script>window.__xss=2</script>",
    "`+(window.__xss=3)+`",
    "${window.__xss=4}",
    "'\"><svg onload=window.__xss=5>",
    "<iframe srcdoc=\"<script>parent.__xss=6</script>\"></iframe>",
]


def _hostile_copy(tmp: Path) -> Path:
    """The sample street with hostile names on the street, a community, its grids, their
    Party organisations and grid workers."""
    folder = tmp / "hostile"
    shutil.copytree(DATA, folder)
    for level in ("street", "community", "grid"):
        path = folder / f"{level}.geojson"
        data = json.loads(path.read_text(encoding="utf-8"))
        for i, feature in enumerate(data["features"]):
            code = feature["properties"]["code"]
            if level != "grid" or code.startswith("110105001001"):
                feature["properties"]["name"] = f"{PAYLOADS[i % len(PAYLOADS)]}{level}{i}"
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    for name, column in (("party_orgs.csv", "name"), ("grid_workers.csv", "name")):
        path = folder / name
        rows = list(csv.DictReader(path.open(encoding="utf-8")))
        for i, row in enumerate(rows):
            row[column] = PAYLOADS[i % len(PAYLOADS)] + str(i)
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return folder


@pytest.fixture(scope="module")
def hostile(databases, backend, tmp_path_factory):
    folder = _hostile_copy(tmp_path_factory.mktemp("xss"))
    svc = Services(databases.new(backend))
    upgrade(svc.db)
    load_sample(svc, folder, say=lambda _line: None)
    with svc.db.read() as session:
        version = store.require_active_version(session).id
        grid = store.units(session, version, Level.grid)[0]
        point = store.shape_of(grid).representative_point()
    users = {u.role if u.role != "department" else u.department: u.token
             for u in demo_users(svc, grid.code)}
    yield svc, folder, users, grid.code, (point.x, point.y)
    svc.close()


def test_loader_warns_about_names_with_markup(hostile):
    svc, folder, *_ = hostile
    report = load_boundaries(svc.db, folder / "community.geojson", Level.community,
                             commit=False)
    warned = [p for p in report.problems if p.kind == "name_markup"]
    assert len(warned) == 6 and all(p.severity == "warning" for p in warned)
    assert "<img src=x" in warned[0].message


def _open_everything(page) -> str:
    """Hover and click every feature of every Leaflet map on the page, as a user would (the
    events reach the layer groups that hold Folium's tooltips and popups, which build their
    HTML then); returns the text every tooltip and popup showed on the way."""
    return page.evaluate("""() => {
        const seen = [];
        const grab = () => document.querySelectorAll('.leaflet-tooltip, .leaflet-popup-content')
            .forEach(e => seen.push(e.textContent));
        const visit = layer => {
            if (layer.eachLayer && !layer.getLatLng) { layer.eachLayer(visit); return; }
            const at = layer.getBounds ? layer.getBounds().getCenter()
                : (layer.getLatLng ? layer.getLatLng() : null);
            if (!at || !layer._map) { return; }
            layer.fire('mouseover', {latlng: at}, true);
            layer.fire('click', {latlng: at}, true);
            grab();
            layer.fire('mouseout', {latlng: at}, true);
        };
        Object.values(window).filter(v => v instanceof L.Map).forEach(map => {
            map.eachLayer(visit);
            // Hidden layers too (grids on the city map, the building layer).
            Object.values(window).filter(v => v instanceof L.LayerGroup && !v._map)
                .forEach(g => { g.addTo(map); g.eachLayer(visit); });
        });
        return seen.join(' ');
    }""")


def test_hostile_names_run_no_script(hostile, backend, client):
    svc, _, users, grid_code, (lon, lat) = hostile
    from fastapi.testclient import TestClient

    from grid.api.app import create_app

    with TestClient(create_app(svc.settings)) as api:
        r = api.post("/api/v1/incidents", headers=auth(users["street"]),
                     json={"lon": lon, "lat": lat, "category": "Z003", "description": "堆物"})
        assert r.status_code == 201, r.text
        incident = r.json()["id"]
        for move, body in (("escalate", {"reason": "社区呼叫"}), ("escalate", {"reason": "街道"}),
                           ("whistle", {"departments": ["城管执法", "住建"]})):
            assert api.post(f"/api/v1/incidents/{incident}/{move}", json=body,
                            headers=auth(users["street"])).status_code == 200
    pages = [f"/maps/incidents/{incident}", "/maps/streets/110105001", "/maps/city",
             "/report", "/work", f"/work/incidents/{incident}"]
    with served(svc.settings) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            for bypass in (True, False):
                context = browser.new_context(bypass_csp=bypass,
                                              viewport={"width": 1440, "height": 900})
                page = context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                page.add_init_script("""
                    window.__violations = [];
                    document.addEventListener('securitypolicyviolation', e =>
                        window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
                    window.__xss = undefined;""")
                first = sign_in(page, base, users["admin"], pages[0])
                for path in pages:
                    page.goto(first if path == pages[0] else base + path,
                              wait_until="networkidle")
                    shown = ""
                    if page.evaluate("() => typeof L !== 'undefined'"):
                        shown = _open_everything(page)
                        page.wait_for_timeout(200)  # an <img onerror> fires asynchronously
                    assert page.evaluate("() => window.__xss") is None, (path, bypass)
                    assert page.evaluate("() => window.__violations") == [], (path, bypass)
                    if path.startswith("/maps/"):
                        # The names are there, as text, in the tooltips and popups.
                        assert "<img src=x" in shown or "</script>" in shown, path
                assert not [e for e in errors if "__xss" in e], errors
                context.close()
        finally:
            browser.close()
