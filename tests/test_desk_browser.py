"""The street office's monthly review and the GIS staff's boundary work, done by clicking in a
real headless Chromium (Debian's, driven by Playwright) on both stores, at desk size
(1440×900) and phone size (390×844), with no request leaving the machine; and the
``grid load --map`` file opened from disk. Screenshots go to build/screenshots/."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlparse

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect, sync_playwright
from typer.testing import CliRunner

from grid.api.app import create_app
from grid.cli import app as cli
from grid.demo import DEMO_STREET, demo_users, load_sample
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.migrate import upgrade
from grid.services import Services
from grid.users import add_user
from tests.conftest import DATA, auth, served, sign_in

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "build" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]
DESK = {"viewport": {"width": 1440, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}
SIZES = {"desk": DESK, "phone": PHONE}
#: A name that would run script if any page put it into HTML unescaped.
HOSTILE = '<img src=x onerror="window.__pwned=1">网格</b><br>'


def _world(databases, backend) -> tuple[Services, dict[str, str]]:
    """A database of its own with the sample street, the demo users and a GIS user."""
    svc = Services(databases.new(backend))
    upgrade(svc.db)
    load_sample(svc, DATA, say=lambda _line: None)
    with svc.db.read() as session:
        version = store.require_active_version(session).id
        first_grid = store.units(session, version, Level.grid)[0].code
    users = demo_users(svc, first_grid)
    tokens = {u.role if u.role != "department" else u.department: u.token for u in users}
    with svc.db.write() as session:
        _, tokens["gis"] = add_user(session, "gis-staff", "gis", DEMO_STREET[:6])
    return svc, tokens


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def street_world(databases, backend):
    """The sample street with cases in four categories in two communities, served."""
    svc, tokens = _world(databases, backend)
    with svc.db.read() as session:
        version = store.require_active_version(session).id
        communities = store.units(session, version, Level.community)[:2]
        grids = [store.units(session, version, Level.grid, parent_code=c.code)[0]
                 for c in communities]
        points = [store.shape_of(g).representative_point() for g in grids]
    ids = []
    with TestClient(create_app(svc.settings)) as client:
        for point, category in ((points[0], "Z004"), (points[1], "Z004"), (points[1], "Z004"),
                                (points[0], "Z003"), (points[1], "Z006")):
            r = client.post("/api/v1/incidents", headers=auth(tokens["street"]),
                            json={"lon": point.x, "lat": point.y, "category": category,
                                  "source": "resident"})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
    with served(svc.settings) as url:
        yield svc, tokens, url, ids
    svc.close()


def _context(browser, size: str):
    context = browser.new_context(**SIZES[size])
    page = context.new_page()
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return context, page, requests, errors


def _local_only(requests: list[str], base: str) -> None:
    host = urlparse(base).netloc
    outside = [u for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
               and urlparse(u).netloc != host]
    assert requests and not outside, outside


def _shot(page, name: str, size: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=True)


def _fits(page) -> None:
    """Nothing wider than the window (no sideways scrolling of the page)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate("""w => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > w + 1)
        .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)""",
                         page.viewport_size["width"])
    assert width <= page.viewport_size["width"] + 1, (width, wide)


@pytest.mark.parametrize("size", ["desk", "phone"])
def test_street_office_monthly_review_by_clicks(browser, street_world, size, backend):
    svc, tokens, base, ids = street_world
    context, page, requests, errors = _context(browser, size)
    api = context.request
    page.goto(sign_in(page, base, tokens["street"], "/work"))
    page.click("details.menu summary")
    page.click("#nav-desk")
    page.wait_for_url(f"**/desk/streets/{DEMO_STREET}")
    expect(page.locator("#figures")).to_have_attribute("data-state", "ready")
    figures = api.get(f"{base}/api/v1/desk/streets/{DEMO_STREET}/figures").json()
    assert page.locator("#fig-open").inner_text() == str(figures["open"])
    assert page.locator("#fig-overdue").inner_text() == str(figures["overdue"])
    assert page.locator("#fig-categories tbody tr").count() == 3
    expect(page.locator("#fig-categories tbody tr").first).to_contain_text("垃圾分类")
    expect(page.locator("#chart-categories svg")).to_have_count(1)
    frame = page.frame_locator("iframe.desk-map")
    expect(frame.locator(".leaflet-container")).to_have_count(1)
    _fits(page)
    _shot(page, f"desk-{backend}", size)

    page.click("#tab-ranking")
    rows = page.locator("#ranking tbody tr")
    expect(rows.first).to_be_visible()
    ranking = api.get(f"{base}/api/v1/desk/streets/{DEMO_STREET}/ranking").json()
    assert rows.count() == len(ranking["units"]) + len(ranking["unrated"])
    names = {u["code"]: u["name"] for u in ranking["units"] + ranking["unrated"]}
    for i in range(rows.count()):
        code = rows.nth(i).get_attribute("data-code")
        assert rows.nth(i).locator("td").nth(1).inner_text() == names[code] != code
    unrated = page.locator("#ranking tbody tr.unrated")
    assert unrated.count() == len(ranking["unrated"]) > 0
    assert unrated.first.locator("td").nth(6).inner_text() == "—"  # not 100
    expect(page.locator("#bottom li")).to_have_count(len(ranking["bottom"]))
    expect(page.locator("#quiet li")).to_have_count(len(ranking["quiet"]))
    expect(page.locator("#chart-trend svg")).to_have_count(1)
    expect(page.locator("#chart-trend svg path").first).to_be_attached()
    _fits(page)
    _shot(page, f"ranking-{backend}", size)

    page.click("#tab-topics")
    adopt = page.locator("#candidates button.adopt[data-category=Z004]")
    expect(adopt).to_be_visible()
    if size == "phone":  # the topic exists after the desk run: adopt the next category
        adopt = page.locator("#candidates button.adopt[data-category=Z006]")
    adopt.click()
    lead = page.locator("#adopt-lead")
    expect(lead).not_to_have_value("")  # the category's leader in charge, filled in
    lead.fill(f"王主任 ({size})")
    page.click("#adopt-submit")
    link = page.locator("#topics tbody a", has_text="垃圾分类" if size == "desk" else "停电")
    expect(link).to_be_visible()
    _fits(page)
    _shot(page, f"topics-{backend}", size)

    link.click()
    expect(page.locator("#topic-lead")).to_have_text(f"王主任 ({size})")
    expected = 3 if size == "desk" else 1
    expect(page.locator("#topic-cases tbody tr")).to_have_count(expected)
    expect(page.locator("#topic-total")).to_have_text(str(expected))
    expect(page.locator("#chart-topic svg")).to_have_count(1)
    _fits(page)
    _shot(page, f"topic-{backend}", size)
    case = page.locator("#topic-cases tbody a").first
    case_id = case.inner_text().lstrip("#")
    case.click()  # a topic's case opens on its incident page, where it is handled
    page.wait_for_url(f"**/work/incidents/{case_id}")
    assert not errors, errors
    _local_only(requests, base)
    context.close()


@pytest.fixture
def gis_world(databases, backend):
    svc, tokens = _world(databases, backend)
    with served(svc.settings) as url:
        yield svc, tokens, url
    svc.close()


def test_gis_upload_map_commit_diff_activate_rollback_by_clicks(browser, gis_world, tmp_path,
                                                                backend):
    svc, tokens, base = gis_world
    grids = gpd.read_file(DATA / "grid.geojson")
    # a second name column: the loader guesses "name"; the GIS user picks "new_name"
    grids["new_name"] = grids["name"] + "（新）"
    path = tmp_path / "grids.geojson"
    grids.to_file(path)
    broken = grids.copy()
    broken.loc[0, "geometry"] = broken.loc[0, "geometry"].buffer(0.002)  # overlaps, spills
    bad = tmp_path / "bad.geojson"
    broken.to_file(bad)
    with svc.db.read() as session:
        first = store.require_active_version(session).id

    for size in ("desk", "phone"):
        context, page, requests, errors = _context(browser, size)
        page.goto(sign_in(page, base, tokens["gis"], "/gis"))
        page.click("details.menu summary")
        expect(page.locator("#nav-gis")).to_be_visible()
        expect(page.locator(f"#versions tr[data-version='{first}']")).to_be_visible()
        _fits(page)
        _shot(page, f"gis-{backend}", size)
        context.close()

    context, page, requests, errors = _context(browser, "desk")
    page.goto(sign_in(page, base, tokens["gis"], "/gis"))
    # a file with problems first: the report page draws them, and nothing can be committed
    page.set_input_files("#upload-file", str(bad))
    page.select_option("#upload-level", "grid")
    page.click("#upload-submit")
    expect(page.locator("#report-blocked")).to_be_visible()
    drawn = page.locator("#problems-map path.leaflet-interactive[fill='#c0392b']")
    expect(drawn.first).to_be_attached()
    assert drawn.count() == page.locator("#problems tbody tr.error").count()
    expect(page.locator("#commit-form")).to_be_hidden()
    _shot(page, f"gis-problems-{backend}", "desk")
    drawn.first.dispatch_event("click")
    expect(page.locator(".leaflet-popup-content")).to_contain_text(grids.loc[0, "code"])
    page.click(f"#problems a.unit-link[data-code='{grids.loc[0, 'code']}']")  # table → unit
    expect(page).to_have_url(re.compile(f"#unit-{grids.loc[0, 'code']}$"))
    highlighted = page.locator("#problems-map path.leaflet-interactive[stroke='#2980b9']")
    expect(highlighted).to_have_count(1)
    page.reload()
    page.set_input_files("#upload-file", str(path))
    page.select_option("#upload-level", "grid")
    page.click("#upload-submit")
    expect(page.locator("#count-rows")).to_have_text(str(len(grids)))
    expect(page.locator("#map-name")).to_have_value("name")  # the loader's guess, shown
    expect(page.locator("#map-encoding")).to_have_value("UTF-8")
    expect(page.locator("#report-source")).to_contain_text("name←name,")
    page.select_option("#map-name", "new_name")
    page.click("#upload-submit")  # checked again with the mapping edited
    expect(page.locator("#report-source")).to_contain_text("name←new_name")
    expect(page.locator("#count-changed")).to_have_text(str(len(grids)))
    expect(page.locator("#count-errors")).to_have_text("0")
    _shot(page, f"gis-report-{backend}", "desk")
    page.fill("#commit-label", "网格调整")
    page.click("#commit-submit")
    expect(page.locator("#committed")).to_be_visible()
    second = int(page.locator("#committed-version").inner_text())
    assert second != first
    page.click("#diff-link")
    page.wait_for_url(f"**/gis/diff/{first}/{second}")
    expect(page.locator("#diff-changed")).to_have_text(str(len(grids)))
    expect(page.locator("#diff-map path.leaflet-interactive")).to_have_count(len(grids))
    colours = page.eval_on_selector_all("#diff-map path.leaflet-interactive",
                                        "ps => [...new Set(ps.map(p => p.getAttribute('stroke')))]")
    assert colours == ["#f39c12"]  # changed
    _shot(page, f"gis-diff-{backend}", "desk")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#activate-new")
    expect(page.locator("#gis-message")).to_contain_text(str(second))
    with svc.db.read() as session:
        assert store.require_active_version(session).id == second
        grid = store.get_unit(session, second, grids.loc[0, "code"])
        assert grid.name == grids.loc[0, "new_name"]
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#rollback")
    expect(page.locator("#gis-message")).to_contain_text(str(first))
    with svc.db.read() as session:
        assert store.require_active_version(session).id == first
    _shot(page, f"gis-diff-after-rollback-{backend}", "desk")
    assert not errors, errors
    _local_only(requests, base)
    context.close()

    # the report and the diff map at phone size
    context, page, requests, errors = _context(browser, "phone")
    page.goto(sign_in(page, base, tokens["gis"], f"/gis/diff/{first}/{second}"))
    expect(page.locator("#diff-map path.leaflet-interactive")).to_have_count(len(grids))
    _fits(page)
    _shot(page, f"gis-diff-{backend}", "phone")
    page.goto(f"{base}/gis")
    page.set_input_files("#upload-file", str(bad))
    page.click("#upload-submit")
    expect(page.locator("#report-blocked")).to_be_visible()
    expect(page.locator("#problems-map path.leaflet-interactive").first).to_be_attached()
    _fits(page)
    _shot(page, f"gis-problems-{backend}", "phone")
    assert not errors, errors
    _local_only(requests, base)
    context.close()

    # a street user may not see the GIS pages, nor a GIS user the desk of a street
    context, page, requests, errors = _context(browser, "desk")
    response = page.goto(sign_in(page, base, tokens["street"], "/gis"))
    assert response.status == 403
    context.close()


def test_load_map_file_opens_from_disk_with_polygons_and_escaped_popups(
        browser, empty, tmp_path, monkeypatch):
    load_sample(empty, DATA, say=lambda _line: None)
    monkeypatch.setenv("GRID_DATABASE_URL", empty.settings.database_url)
    grids = gpd.read_file(DATA / "grid.geojson")
    grids.loc[0, "geometry"] = grids.loc[0, "geometry"].buffer(0.002)  # overlaps, spills
    grids.loc[0, "name"] = HOSTILE
    path = tmp_path / "bad.geojson"
    grids.to_file(path)
    out = tmp_path / "problems.html"
    result = CliRunner().invoke(cli, ["load", str(path), "--level", "grid", "--map", str(out),
                                      "--json"])
    assert result.exit_code == 1, result.output  # errors: nothing written
    report = json.loads(result.output[result.output.index("{"):result.output.rindex("}") + 1])
    problems = [p for p in report["problems"] if p["point"]]
    assert problems
    html = out.read_text("utf-8")
    assert "<img src=x" not in html  # the name is in the data only, escaped

    context = browser.new_context(**DESK)
    page = context.new_page()
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(out.as_uri())
    problem_paths = page.locator("#problems-map path.leaflet-interactive[fill='#c0392b']")
    expect(problem_paths.first).to_be_attached()
    assert problem_paths.count() == sum(p["severity"] == "error" for p in problems)
    assert page.locator(".problems-legend .legend-row").count() >= 2
    problem_paths.first.dispatch_event("click")
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_contain_text(grids.loc[0, "code"])
    link = popup.locator("a.unit-link").first
    link.click()
    assert page.evaluate("window.__pwned") is None
    _shot(page, "load-map-file", "desk")
    assert not errors, errors
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    context.close()
