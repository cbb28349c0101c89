"""The pages in a real headless Chromium (Debian's, driven by Playwright): layers switch, markers
cluster, popups name the Party branch, filters filter, the incident page draws the ladder, a grid
worker reports from a phone (also offline, as a draft sent later), Amap shifts overlays to
GCJ-02 — and no request leaves the machine. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import math
import socket
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from playwright.sync_api import sync_playwright
from sqlalchemy import func, select

from grid.api.app import create_app
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.incidents.models import Incident
from grid.spatial.chinacrs import wgs84_to_gcj02
from tests.conftest import auth, sign_in

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
STREET = "110105001"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}


def _serve(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    return srv, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def server(demo):
    """The app served by uvicorn on a free local port (basemap "none", the default)."""
    srv, thread, url = _serve(demo.settings)
    yield url
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def reported(demo, client, tokens) -> list[int]:
    """Three incidents in three grids, the first in a building, moved up to the street and
    whistled, and one of its two departments reported in."""
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        grids = store.units(session, version, Level.grid)[::13][:3]
        building = store.units(session, version, Level.building, parent_code=grids[0].code)[0]
        points = [store.shape_of(building).representative_point()] + \
            [store.shape_of(g).representative_point() for g in grids[1:]]
    ids = []
    for p, category in zip(points, ("Z003", "Z003", "Z004"), strict=True):
        r = client.post("/api/v1/incidents", headers=auth(tokens["street"]),
                        json={"lon": p.x, "lat": p.y, "category": category})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    for move, body in (("escalate", {"reason": "社区呼叫"}), ("escalate", {"reason": "街道"}),
                       ("whistle", {"departments": ["城管执法", "住建"]})):
        r = client.post(f"/api/v1/incidents/{ids[0]}/{move}", headers=auth(tokens["street"]),
                        json=body)
        assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/incidents/{ids[0]}/report-in", headers=auth(tokens["城管执法"]),
                    json={"department": "城管执法", "note": "到场"})
    assert r.status_code == 200, r.text
    return ids


def _page(browser, **context_options):
    context = browser.new_context(**({"viewport": {"width": 1280, "height": 900}}
                                     | context_options))
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return context, page, requests, errors


def _local_only(requests: list[str], base: str) -> None:
    host = urlparse(base).netloc
    outside = [u for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
               and urlparse(u).netloc != host]
    assert requests and not outside, outside


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _open_marker_popup(page, incident_id: int) -> None:
    """Zoom until the incident's marker is out of its cluster, then click it."""
    page.evaluate("""id => new Promise(done => {
        const m = gridIncidents.markers.find(m => m.row[0] === id);
        gridIncidents.cluster.zoomToShowLayer(m, () => {
            m._icon.classList.add('under-test'); done(); });
    })""", incident_id)
    page.locator(".incident-marker.under-test").click()


def _shown(page) -> int:
    return int(page.locator("body").get_attribute("data-shown"))


def _work_day(demo, days: int) -> str:
    """The date ``days`` from now on the street office's clock, as a date input wants it."""
    return (datetime.now(ZoneInfo(demo.settings.work_timezone)) + timedelta(days=days)) \
        .date().isoformat()


def test_street_map_layers_clusters_popups_and_filters(server, browser, tokens, reported,
                                                       backend, client, demo):
    # A browser on another continent still reads the street office's clock.
    context, page, requests, errors = _page(browser, timezone_id="America/Los_Angeles")
    page.goto(sign_in(page, server, tokens["street"], f"/maps/streets/{STREET}"),
              wait_until="networkidle")
    grid_paths = page.locator('path[stroke="#2c7fb8"]')
    assert grid_paths.count() == 40
    listed = client.get("/api/v1/incidents", params={"unit": STREET, "limit": 1000},
                        headers=auth(tokens["street"])).json()
    assert _shown(page) == len(listed)
    assert len(listed) >= 3
    drawn = page.locator(".incident-marker, .marker-cluster")
    assert drawn.count() >= 1
    assert page.locator("#legend .legend-overdue").count() == 1
    assert "> " in page.locator("#legend").inner_text()  # the choropleth's top class
    _shot(page, f"street-map-{backend}")

    # Switch the grid layer off and on again in the layer control.
    grid_toggle = page.locator(".leaflet-control-layers-overlays label", has_text="网格")
    grid_toggle.locator("input").uncheck()
    assert page.locator('path[stroke="#2c7fb8"]').count() == 0
    grid_toggle.locator("input").check()
    assert page.locator('path[stroke="#2c7fb8"]').count() == 40
    # Buildings are not in the page: switched on and zoomed in, they come by bounding box.
    page.locator(".leaflet-control-layers-overlays label", has_text="楼栋") \
        .locator("input").check()
    assert page.locator('path[stroke="#636363"]').count() == 0  # street zoom: too small
    page.evaluate("Object.values(window).find(v => v instanceof L.Map).setZoom(16)")
    page.wait_for_function("() => document.body.dataset.lazyUnits > 0", timeout=10000)
    assert page.locator('path[stroke="#636363"]').count() > 0
    assert any("/buildings.geojson?" in u and "bbox=" in u for u in requests)
    page.locator(".leaflet-control-layers-overlays label", has_text="楼栋") \
        .locator("input").uncheck()
    page.evaluate("Object.values(window).find(v => v instanceof L.Map).setZoom(14)")
    # The heat layer is a layer like the others.
    page.locator(".leaflet-control-layers-overlays label", has_text="热力图") \
        .locator("input").check()
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 1

    # Click the whistled incident's marker and read its Party chain in the popup.
    _open_marker_popup(page, reported[0])
    popup = page.locator(".leaflet-popup-content .incident-popup")
    popup.wait_for(timeout=5000)
    assert popup.locator(".party-branch").inner_text().endswith("党支部")
    chain = popup.locator(".party-chain").inner_text().split(" → ")
    assert len(chain) == 3 and chain[0].endswith("党支部") and chain[2].endswith("党工委")
    text = popup.inner_text()
    assert "已吹哨" in text and "街道吹哨" in text and "部门报到" in text  # the steps so far
    assert "网格员" in text and "办理时限" in text
    got = client.get(f"/api/v1/incidents/{reported[0]}", headers=auth(tokens["street"])).json()
    tz = ZoneInfo(demo.settings.work_timezone)
    first = datetime.fromisoformat(got["steps"][0]["at"]).astimezone(tz)
    assert popup.locator("ol li").first.inner_text().startswith(f"{first:%Y-%m-%d %H:%M} ")
    due = datetime.fromisoformat(got["due_at"]).astimezone(tz)
    assert f"办理时限: {due:%Y-%m-%d %H:%M}" in text
    assert popup.locator("a.incident-link").get_attribute("href").startswith(
        f"/work/incidents/{reported[0]}")
    page.wait_for_function(  # Leaflet fades popups in; photograph the finished one
        "() => getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1'")
    _shot(page, f"street-map-popup-{backend}")
    page.locator(".leaflet-popup-close-button").click()

    # Filters, each against the API's own answer; the URL carries them (never the token).
    page.select_option(".grid-filters select[name=state]", "whistled")
    assert _shown(page) == len([i for i in listed if i["state"] == "whistled"]) >= 1
    assert "state=whistled" in page.url and "token=" not in page.url
    page.select_option(".grid-filters select[name=state]", "")
    page.select_option(".grid-filters select[name=level]", "street")
    assert _shown(page) == len([i for i in listed if i["level"] == "street"]) >= 1
    page.select_option(".grid-filters select[name=level]", "")
    categories = {i["category"] for i in listed}
    assert len(categories) >= 2, categories  # else the category filter proves nothing
    page.select_option(".grid-filters select[name=category]", "Z003")
    assert _shown(page) == len([i for i in listed if i["category"] == "Z003"]) < len(listed)
    page.select_option(".grid-filters select[name=category]", "")
    page.fill(".grid-filters input[name=from]", _work_day(demo, 1))  # the period: tomorrow on
    assert _shown(page) == 0
    page.fill(".grid-filters input[name=from]", _work_day(demo, -1))
    page.fill(".grid-filters input[name=to]", _work_day(demo, -1))  # yesterday only
    assert _shown(page) == 0
    page.fill(".grid-filters input[name=to]", _work_day(demo, 0))  # yesterday and today
    assert _shown(page) == len(listed)
    assert f"from={_work_day(demo, -1)}" in page.url
    page.fill(".grid-filters input[name=from]", "")
    page.fill(".grid-filters input[name=to]", "")
    page.locator(".grid-filters input[name=overdue]").check()
    assert _shown(page) == 0  # nothing due yet
    page.locator(".grid-filters input[name=overdue]").uncheck()
    assert _shown(page) == len(listed)

    # Search a grid by code, and one by name: picking it opens its popup.
    grid_code = listed[0]["grid_code"]
    search = page.locator(".leaflet-control-search input")
    search.press_sequentially(grid_code, delay=10)
    page.locator(".leaflet-control-search .search-tip").first.wait_for(timeout=5000)
    assert grid_code in page.locator(".leaflet-control-search .search-tooltip").inner_text()
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        other = store.units(session, version, Level.grid)[7]
    search.fill(other.name)
    search.dispatch_event("keyup")  # what an IME's composition ends with
    tip = page.locator(".leaflet-control-search .search-tip", has_text=other.code)
    tip.wait_for(timeout=5000)
    tip.click()
    found = page.locator(".leaflet-popup-content", has_text=other.code)
    found.wait_for(timeout=5000)
    assert other.name in found.inner_text()
    _local_only(requests, server)
    assert not errors, errors
    context.close()


def test_street_map_in_english(server, browser, tokens, reported, backend):
    context, page, requests, errors = _page(browser)
    page.goto(sign_in(page, server, tokens["street"], f"/maps/streets/{STREET}?lang=en"),
              wait_until="networkidle")
    layers = page.locator(".leaflet-control-layers-overlays").inner_text()
    assert "Grids" in layers and "Heat map" in layers and "网格" not in layers
    filters = page.locator(".grid-filters").inner_text()
    assert "Filters" in filters and "Overdue only" in filters
    assert "whistled" in page.locator(".grid-filters select[name=state]").inner_text()
    assert "Legend" in page.locator("#legend").inner_text()
    _open_marker_popup(page, reported[0])
    popup = page.locator(".leaflet-popup-content .incident-popup")
    popup.wait_for(timeout=5000)
    assert "Party chain" in popup.inner_text() and "whistle blown" in popup.inner_text()
    assert page.locator(".leaflet-control-search input").get_attribute("placeholder") == \
        "Search code or name"
    _shot(page, f"street-map-en-{backend}")
    _local_only(requests, server)
    assert not errors, errors
    context.close()


def test_city_overview_links_streets(server, browser, tokens, reported, backend, demo):
    context, page, requests, errors = _page(browser)
    page.goto(sign_in(page, server, tokens["admin"], "/maps/city?lang=en"),
              wait_until="networkidle")
    assert page.locator(".leaflet-control-layers-overlays").inner_text().count("Grids") == 1
    assert int(page.locator("body").get_attribute("data-shown")) >= 3
    _shot(page, f"city-{backend}")
    # Find the street by name; its popup links to its own map.
    with demo.db.read() as session:
        name = store.get_unit(session, store.require_active_version(session).id, STREET).name
    search = page.locator(".leaflet-control-search input")
    search.fill(name)
    search.dispatch_event("keyup")
    page.locator(".leaflet-control-search .search-tip", has_text=f"{STREET} {name}").click()
    page.locator(".leaflet-popup-content a", has_text="Open street map").click()
    page.wait_for_url(f"**/maps/streets/{STREET}?lang=en*")
    page.wait_for_load_state("networkidle")
    assert page.title() == name
    # The same street shaded by this month's three-rate score instead of open cases.
    page.goto(f"{server}/maps/streets/{STREET}?lang=en&shade=score", wait_until="networkidle")
    assert "Three-rate score (month)" in page.locator("#legend").inner_text()
    grids = page.locator('path[stroke="#2c7fb8"]')  # grids have no rates: left clear
    assert grids.count() == 40 and grids.first.get_attribute("fill-opacity") == "0.05"
    assert page.locator('path[stroke="#e66101"][fill-opacity="0.25"]').count() == 6
    _shot(page, f"street-map-score-{backend}")
    _local_only(requests, server)
    assert not errors, errors
    context.close()


def test_incident_page_highlights_grid_and_draws_the_ladder(server, browser, tokens, reported,
                                                            backend, client, demo):
    got = client.get(f"/api/v1/incidents/{reported[0]}", headers=auth(tokens["street"])).json()
    assert got["building_code"]  # reported inside a building
    context, page, requests, errors = _page(browser)
    page.goto(sign_in(page, server, tokens["street"], f"/maps/incidents/{reported[0]}"),
              wait_until="networkidle")
    assert page.locator("path.owning-grid").count() == 1
    assert page.locator("path.owning-building").count() == 1
    assert page.locator("path.ladder-path").count() == 1
    assert page.locator("path.ladder-stop").count() == 3  # grid → community → street
    assert page.locator("path.ladder-department").count() == 2
    # Each summoned department with its times, on the street office's clock.
    tz = ZoneInfo(demo.settings.work_timezone)
    labels = {s["department"]: page.locator(".department-label", has_text=s["department"])
              .inner_text() for s in got["summonses"]}
    for summons in got["summonses"]:
        summoned = datetime.fromisoformat(summons["summoned_at"]).astimezone(tz)
        assert f"吹哨 {summoned:%m-%d %H:%M}" in labels[summons["department"]]
    reported_in = datetime.fromisoformat(next(
        s["reported_in_at"] for s in got["summonses"] if s["department"] == "城管执法"))
    assert f"报到 {reported_in.astimezone(tz):%m-%d %H:%M}" in labels["城管执法"]
    assert "未报到" in labels["住建"]
    # The audit trail: report, 2 escalations, whistle, report in — who, when, why.
    audit = page.locator("#audit")
    assert audit.locator("tr.audit-step").count() == 5
    assert "说明" in audit.locator("th").all_inner_texts()
    assert "街道吹哨" in audit.inner_text() and "部门报到" in audit.inner_text()
    first = datetime.fromisoformat(got["steps"][0]["at"]).astimezone(tz)
    assert audit.locator("tr.audit-step td").first.inner_text() == f"{first:%Y-%m-%d %H:%M}"
    # The audit trail is beside the map, not over it.
    map_box = page.locator(".folium-map").bounding_box()
    audit_box = audit.bounding_box()
    assert map_box["x"] + map_box["width"] <= audit_box["x"]
    # Every department's label is inside the map's view.
    for label in page.locator(".department-label").all():
        box = label.bounding_box()
        assert map_box["x"] <= box["x"] and box["x"] + box["width"] <= map_box["x"] + \
            map_box["width"] and map_box["y"] <= box["y"] <= map_box["y"] + map_box["height"]
    _shot(page, f"incident-{backend}")

    page.goto(f"{server}/maps/incidents/{reported[0]}?lang=en", wait_until="networkidle")
    assert "Audit trail" in page.locator("#audit").inner_text()
    assert "whistle blown" in page.locator("#audit").inner_text()
    assert "reported in" in page.locator(".department-label", has_text="城管执法").inner_text()
    _shot(page, f"incident-en-{backend}")
    _local_only(requests, server)
    assert not errors, errors
    context.close()


def _grid_point(demo, code):
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        p = store.shape_of(store.get_unit(session, version, code)).representative_point()
    return p.x, p.y


def test_phone_report_online_and_offline(server, browser, tokens, demo, client, backend):
    lon, lat = _grid_point(demo, tokens["first_grid"])
    context, page, requests, errors = _page(
        browser, **PHONE, permissions=["geolocation"],
        geolocation={"longitude": lon, "latitude": lat})
    page.goto(sign_in(page, server, tokens["grid_worker"], "/report"), wait_until="networkidle")
    page.locator("#category option:nth-child(3)").wait_for(state="attached", timeout=10000)
    page.locator("#locate").click()
    branch = page.locator("#owner .owner-branch")
    branch.wait_for(timeout=5000)
    assert branch.inner_text().endswith("党支部")
    page.select_option("#category", "Z003")
    page.fill("#note", "楼道堆物 (browser test)")
    page.locator("#send").click()
    page.wait_for_function("() => document.body.dataset.sent", timeout=10000)
    first = int(page.locator("body").get_attribute("data-sent"))
    assert page.input_value("#note") == ""  # sent: the form is cleared for the next one
    page.wait_for_function("() => !document.getElementById('send').disabled", timeout=5000)
    got = client.get(f"/api/v1/incidents/{first}", headers=auth(tokens["street"])).json()
    assert got["grid_code"] == tokens["first_grid"] and got["description"].startswith("楼道堆物")
    _shot(page, f"report-{backend}")

    # The network drops: the report becomes a draft, and is sent when the network returns.
    context.set_offline(True)
    page.select_option("#category", "Z003")
    page.fill("#note", "离线草稿 (browser test)")
    page.locator("#send").click()
    page.wait_for_function("() => document.body.dataset.drafts === '1'", timeout=5000)
    _shot(page, f"report-offline-{backend}")
    draft = page.evaluate("gridReport.drafts().then(list => list[0])")
    assert len(draft["once"]) == 32  # its Idempotency-Key, kept with the draft
    context.set_offline(False)
    page.evaluate("gridReport.flush()")  # also fired by the 'online' event
    page.wait_for_function(f"() => document.body.dataset.sent > {first}", timeout=10000)
    second = int(page.locator("body").get_attribute("data-sent"))
    got = client.get(f"/api/v1/incidents/{second}", headers=auth(tokens["street"])).json()
    assert got["description"].startswith("离线草稿")
    assert page.evaluate("gridReport.drafts().then(list => list.length)") == 0
    # The page closed after the server had the report but before the draft was deleted: the
    # same draft sent again is answered with the case already filed, not filed twice.
    assert page.evaluate("d => gridReport.send(d).then(inc => inc.id)", draft) == second
    with demo.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Incident).where(
            Incident.client_key.like(f"%:{draft['once']}"))) == 1
    _local_only(requests, server)
    assert not errors, errors
    context.close()


def test_no_basemap_requests_no_tile(server, browser, tokens, reported):
    context, page, requests, errors = _page(browser)
    page.goto(sign_in(page, server, tokens["street"], f"/maps/streets/{STREET}"),
              wait_until="networkidle")
    assert page.locator("img.leaflet-tile").count() == 0
    assert not [u for u in requests if "tile" in u.lower()], requests
    _local_only(requests, server)
    context.close()


def _world_pixel(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Web Mercator pixel of a point at zoom ``z`` (the XYZ tile grid Amap's tiles use)."""
    size = 256 * 2 ** z
    s = math.sin(math.radians(lat))
    return (lon + 180) / 360 * size, (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * size


def test_amap_basemap_shifts_overlays_to_gcj02(demo, browser, tokens, reported, backend):
    """With Amap configured, a marker for a known WGS-84 point sits at its GCJ-02 spot. The
    tiles are pointed at the local server (a 404 is fine) so nothing leaves the machine."""
    probe, probe_thread, base = _serve(demo.settings)
    settings = demo.settings.model_copy(update={
        "basemap": "amap", "basemap_url": f"{base}/tiles/{{z}}/{{x}}/{{y}}.png?s={{s}}"})
    srv, thread, url = _serve(settings)
    try:
        context, page, requests, errors = _page(browser)
        page.goto(sign_in(page, url, tokens["street"], f"/maps/streets/{STREET}"),
                  wait_until="networkidle")
        for _ in range(100):  # the configured tile layer is drawn (events may lag the load)
            if [u for u in requests if "/tiles/" in u]:
                break
            page.wait_for_timeout(100)
        assert [u for u in requests if "/tiles/" in u], requests
        with demo.db.read() as session:
            from geoalchemy2.shape import to_shape

            from grid.incidents.models import Incident

            stored = to_shape(session.get(Incident, reported[1]).geom)
        want_lon, want_lat = wgs84_to_gcj02(stored.x, stored.y)
        drawn = page.evaluate("""id => {
            const m = gridIncidents.markers.find(m => m.row[0] === id);
            return [m.getLatLng().lng, m.getLatLng().lat]; }""", reported[1])
        assert drawn == pytest.approx([want_lon, want_lat], abs=2e-6)
        # The shift is real: hundreds of metres, tens of pixels at street zoom.
        offset = page.evaluate("""([a, b]) => {
            const p = map => map.latLngToContainerPoint(L.latLng(a[1], a[0]))
                .distanceTo(map.latLngToContainerPoint(L.latLng(b[1], b[0])));
            const map = Object.values(window).find(v => v instanceof L.Map);
            return p(map); }""", [[stored.x, stored.y], drawn])
        assert offset > 10
        # On the tile grid itself: at zoom 17 the marker sits on the tile, and at the pixel of
        # that tile, where Web Mercator puts the GCJ-02 point (the WGS-84 one is ~600 px off).
        z = 17
        page.evaluate("""([lat, lon, z]) => Object.values(window).find(v => v instanceof L.Map)
            .setView([lat, lon], z, {animate: false})""", [want_lat, want_lon, z])
        page.wait_for_function("""id => { const m = gridIncidents.markers.find(
            m => m.row[0] === id); return m._icon && m._map; }""", arg=reported[1])
        # The clusterer animates markers out of their cluster: wait until the icon stays put.
        page.wait_for_function("""id => { const r = gridIncidents.markers.find(
            m => m.row[0] === id)._icon.getBoundingClientRect(), at = r.x + ',' + r.y;
            window.stable = window.lastAt === at ? (window.stable || 0) + 1 : 0;
            window.lastAt = at; return window.stable >= 3; }""", arg=reported[1], polling=100)
        (gx, gy), (wx, wy) = _world_pixel(want_lon, want_lat, z), \
            _world_pixel(stored.x, stored.y, z)
        assert math.hypot(gx - wx, gy - wy) > 100
        tile = page.locator(f'img.leaflet-tile[src*="/tiles/{z}/{int(gx // 256)}/'
                            f'{int(gy // 256)}.png"]')
        tile.wait_for(state="attached", timeout=5000)
        tile_box = tile.bounding_box()
        icon_box = page.evaluate("""id => { const r = gridIncidents.markers.find(
            m => m.row[0] === id)._icon.getBoundingClientRect();
            return [r.x + r.width / 2, r.y + r.height / 2]; }""", reported[1])
        assert icon_box[0] == pytest.approx(tile_box["x"] + gx % 256, abs=1.5)
        assert icon_box[1] == pytest.approx(tile_box["y"] + gy % 256, abs=1.5)
        _shot(page, f"street-map-amap-{backend}")
        outside = [u for u in requests if urlparse(u).netloc not in (urlparse(url).netloc,
                                                                      urlparse(base).netloc)]
        assert not outside, outside
        context.close()
    finally:
        for s, th in ((srv, thread), (probe, probe_thread)):
            s.should_exit = True
            th.join(10)


def _jpeg(path: Path, colour: tuple[int, int, int]) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, format="JPEG")
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def test_phone_report_uploads_the_photo(demo, browser, tokens, client, backend, tmp_path):
    """The photo from the camera input goes to POST /attachments and the report names it;
    offline, the photo is kept with the draft (IndexedDB) and uploaded when it is sent."""
    import httpx

    photo, later = tmp_path / "photo.jpg", tmp_path / "later.jpg"
    _jpeg(photo, (200, 80, 40))
    later_bytes = _jpeg(later, (40, 80, 200))
    settings = demo.settings.model_copy(update={"attachments_dir": tmp_path / "attachments"})
    srv, thread, url = _serve(settings)
    try:
        lon, lat = _grid_point(demo, tokens["first_grid"])
        context, page, requests, errors = _page(
            browser, **PHONE, permissions=["geolocation"],
            geolocation={"longitude": lon, "latitude": lat})
        page.goto(sign_in(page, url, tokens["grid_worker"], "/report"), wait_until="networkidle")
        page.locator("#locate").click()
        page.locator("#owner .owner-branch").wait_for(timeout=5000)
        page.select_option("#category", "Z003")
        page.set_input_files("#photo", str(photo))
        page.fill("#note", "带照片 (browser test)")
        page.locator("#send").click()
        page.wait_for_function("() => document.body.dataset.sent", timeout=10000)
        sent = int(page.locator("body").get_attribute("data-sent"))
        got = client.get(f"/api/v1/incidents/{sent}", headers=auth(tokens["street"])).json()
        assert any(step.get("attachments") for step in got["steps"]), got["steps"]
        assert "照片已上传" in page.locator("#status").inner_text()
        assert list((tmp_path / "attachments").rglob("*"))  # the bytes are on disk
        _shot(page, f"report-photo-{backend}")

        # Offline: the draft keeps the photo, which goes up with it when the network returns.
        context.set_offline(True)
        page.select_option("#category", "Z003")
        page.set_input_files("#photo", str(later))
        page.fill("#note", "离线带照片 (browser test)")
        page.locator("#send").click()
        page.wait_for_function("() => document.body.dataset.drafts === '1'", timeout=5000)
        assert "照片随草稿保存" in page.locator("#status").inner_text()
        assert page.evaluate("gridReport.drafts().then(l => l[0].photo.data.byteLength)") == \
            len(later_bytes)
        context.set_offline(False)
        page.evaluate("gridReport.flush()")
        page.wait_for_function(f"() => document.body.dataset.sent > {sent}", timeout=10000)
        second = int(page.locator("body").get_attribute("data-sent"))
        got = client.get(f"/api/v1/incidents/{second}", headers=auth(tokens["street"])).json()
        assert got["description"].startswith("离线带照片")
        ids = [a for step in got["steps"] for a in step.get("attachments") or []]
        assert len(ids) == 1, got["steps"]
        r = httpx.get(f"{url}/api/v1/incidents/attachments/{ids[0]}",
                      headers=auth(tokens["street"]))
        assert r.status_code == 200 and r.content == later_bytes
        assert page.evaluate("gridReport.drafts().then(l => l.length)") == 0
        _local_only(requests, url)
        assert not errors, errors
        context.close()
    finally:
        srv.should_exit = True
        thread.join(10)
