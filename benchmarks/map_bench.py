"""Street map with many incidents: our page vs a naive Folium page, same data, same run.

Ours is the service's own ``/maps/streets/{code}`` (one JSON payload, markers and clusters built
in the browser). The naive page draws the same polygons (every level) and one ``folium.Marker``
with a popup per incident — what a first Folium version of this map looks like (the target peer).
A second peer, ``naive+cluster``, puts those same per-incident Markers into
``folium.plugins.MarkerCluster``: a stronger peer, reported so the ratio is not flattered.
All use the vendored assets, and all are loaded by headless Chromium from an in-process
router (no network, no server noise).

Measured per page: HTML bytes, total bytes the browser fetched (HTML + scripts + styles), the
Python time to build the page, and the time from navigation start to the first complete render
(the ``load`` event, after which two animation frames have been painted) — median of
``--repeat`` loads, each in a fresh browser context (cold cache).

    .venv/bin/python benchmarks/map_bench.py                  # 10,000 incidents (the target)
    .venv/bin/python benchmarks/map_bench.py --incidents 2000 --repeat 3

Output also goes to benchmarks/out/map_bench/ (the two HTML pages and a results.json).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import folium  # noqa: E402
import numpy as np  # noqa: E402
from folium.plugins import MarkerCluster  # noqa: E402
from geoalchemy2.shape import from_shape, to_shape  # noqa: E402
from shapely.geometry import Point, mapping  # noqa: E402

from grid.db import STORAGE_SRID  # noqa: E402
from grid.demo import demo_users, load_sample  # noqa: E402
from grid.hierarchy import store  # noqa: E402
from grid.hierarchy.levels import Level  # noqa: E402
from grid.incidents.models import Incident, IncidentStep  # noqa: E402
from grid.migrate import upgrade  # noqa: E402
from grid.orm import utcnow  # noqa: E402
from grid.services import Services  # noqa: E402
from grid.settings import Settings  # noqa: E402
from maps.assets import STATIC_DIR, render_localized  # noqa: E402
from maps.text import UNIT_STYLES  # noqa: E402

OUT = ROOT / "benchmarks" / "out" / "map_bench"
STREET = "110105001"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
HOST = "http://bench.local"
STATES = ["open", "open", "open", "whistled", "resolved", "closed"]
LEVELS = ["grid", "grid", "community", "street"]


def build_database(n: int, seed: int = 7) -> tuple[Services, str]:
    """A fresh SpatiaLite file with the sample street and ``n`` incidents inside its grids."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "bench.db"
    path.unlink(missing_ok=True)
    svc = Services(Settings(database_url=f"sqlite:///{path}"))
    upgrade(svc.db)
    load_sample(svc, ROOT / "data" / "boundaries", say=lambda _line: None)
    rng = np.random.default_rng(seed)
    with svc.db.write() as session:
        version = store.require_active_version(session).id
        street = store.shape_of(store.get_unit(session, version, STREET))
        locator = svc.locators.get(session)
        minx, miny, maxx, maxy = street.bounds
        lons, lats = np.empty(0), np.empty(0)
        codes: dict = {}
        while lons.size < n:  # rejection sampling: keep the points that fall in a grid
            x = rng.uniform(minx, maxx, 2 * n)
            y = rng.uniform(miny, maxy, 2 * n)
            found = locator.locate_many(x, y)
            keep = np.array([c is not None for c in found[Level.grid]])
            lons, lats = np.r_[lons, x[keep]], np.r_[lats, y[keep]]
            for level, values in found.items():
                codes[level] = np.r_[codes.get(level, np.empty(0, dtype=object)), values[keep]]
        now = utcnow()
        categories = [c.code for c in svc.categories.categories][:8]
        for k in range(n):
            state, level = STATES[k % len(STATES)], LEVELS[k % len(LEVELS)]
            incident = Incident(
                category=categories[k % len(categories)], description="", reporter="bench",
                source="patrol", geom=from_shape(Point(lons[k], lats[k]), srid=STORAGE_SRID),
                boundary_version=locator.version_id, street_code=codes[Level.street][k],
                community_code=codes[Level.community][k], grid_code=codes[Level.grid][k],
                building_code=codes[Level.building][k], state=state, level=level,
                created_by="bench", created_at=now, updated_at=now, due_at=now,
            )
            incident.steps.append(IncidentStep(at=now, action="report", actor="bench",
                                               actor_role="grid_worker", to_state="open",
                                               to_level="grid"))
            session.add(incident)
    with svc.db.read() as session:
        first_grid = store.units(session, version, Level.grid)[0].code
    token = next(u.token for u in demo_users(svc, first_grid) if u.role == "street")
    return svc, token


def ours(svc: Services, token: str) -> str:
    """The service's street page, through the real app."""
    from fastapi.testclient import TestClient

    from grid.api.app import create_app

    with TestClient(create_app(svc.settings)) as client:
        r = client.get(f"/maps/streets/{STREET}", headers={"Authorization": f"Bearer {token}"})
        r.raise_for_status()
        return r.text


def naive(svc: Services, clustered: bool = False) -> str:
    """The same polygons and incidents, one folium.Marker (with popup) per incident."""
    with svc.db.read() as session:
        version = store.require_active_version(session).id
        street = store.get_unit(session, version, STREET)
        communities = store.units(session, version, Level.community, parent_code=STREET)
        grids = [g for c in communities
                 for g in store.units(session, version, Level.grid, parent_code=c.code)]
        buildings = [b for g in grids
                     for b in store.units(session, version, Level.building, parent_code=g.code)]
        fmap = folium.Map(tiles=None)
        fmap.options["maxZoom"] = 20
        minx, miny, maxx, maxy = store.shape_of(street).bounds
        fmap.fit_bounds([[miny, minx], [maxy, maxx]])
        for level, units in (("street", [street]), ("community", communities), ("grid", grids),
                             ("building", buildings)):
            group = folium.FeatureGroup(name=level, show=level != "building").add_to(fmap)
            folium.GeoJson({"type": "FeatureCollection", "features": [
                {"type": "Feature", "geometry": mapping(store.shape_of(u)),
                 "properties": {"name": u.name, "code": u.code}} for u in units]},
                style_function=lambda _f, s=UNIT_STYLES[level]: s,
                popup=folium.GeoJsonPopup(fields=["name", "code"])).add_to(group)
        cluster = MarkerCluster(name="incidents").add_to(fmap) if clustered \
            else folium.FeatureGroup(name="incidents").add_to(fmap)
        orgs = store.party_orgs(session, [g.code for g in grids])
        for incident in session.query(Incident).filter(Incident.street_code == STREET):
            p = to_shape(incident.geom)
            org = orgs.get(incident.grid_code)
            folium.Marker(
                [p.y, p.x], tooltip=f"#{incident.id}",
                popup=folium.Popup(f"<b>#{incident.id} {incident.category}</b><br>"
                                   f"{incident.state} · {incident.level}<br>"
                                   f"{org.name if org else ''}", max_width=300),
            ).add_to(cluster)
        folium.LayerControl().add_to(fmap)
        return render_localized(fmap, svc.settings.static_url)


def measure(browser, html: str, repeat: int) -> dict:
    """Median time to first complete render and the bytes fetched, cold cache each time."""
    times, fetched = [], 0
    for _ in range(repeat):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        sizes: list[int] = []

        def serve(route, request, sizes=sizes):
            path = request.url.removeprefix(HOST)
            if path.startswith("/static/"):
                body = (STATIC_DIR / path.removeprefix("/static/").split("?")[0]).read_bytes()
                kind = "text/css" if path.endswith(".css") else "application/javascript"
            elif path == "/page.html":
                body, kind = html.encode(), "text/html; charset=utf-8"
            else:
                route.fulfill(status=404, body=b"")
                return
            sizes.append(len(body))
            route.fulfill(status=200, body=body, content_type=kind)

        page.route(f"{HOST}/**", serve)
        page.goto(f"{HOST}/page.html", wait_until="load", timeout=300_000)
        times.append(page.evaluate(
            "new Promise(r => requestAnimationFrame(() => requestAnimationFrame("
            "() => r(performance.now()))))"))
        drawn = page.evaluate("document.querySelectorAll("
                              "'.leaflet-marker-icon, .marker-cluster').length")
        assert drawn > 0, "nothing drawn"
        fetched = sum(sizes)
        context.close()
    return {"render_ms": statistics.median(times), "render_all_ms": times,
            "html_bytes": len(html.encode()), "fetched_bytes": fetched}


def main() -> None:
    """Build the data, render both pages, load each in Chromium, print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    t = time.perf_counter()
    svc, token = build_database(args.incidents)
    print(f"data: sample street (6 communities, 40 grids, 600 buildings), "
          f"{args.incidents} incidents, built in {time.perf_counter() - t:.1f} s")
    pages, build = {}, {}
    for name, make in (("ours", lambda: ours(svc, token)), ("naive", lambda: naive(svc)),
                       ("naive+cluster", lambda: naive(svc, clustered=True))):
        t = time.perf_counter()
        pages[name] = make()
        build[name] = time.perf_counter() - t
        (OUT / f"{name.replace('+', '_')}.html").write_text(pages[name])
    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for name, html in pages.items():
            results[name] = measure(browser, html, args.repeat) | {"build_s": build[name]}
        browser.close()
    for name, r in results.items():
        print(f"{name:13s} build {r['build_s']:6.2f} s  html {r['html_bytes'] / 1e6:6.2f} MB  "
              f"fetched {r['fetched_bytes'] / 1e6:6.2f} MB  first render "
              f"{r['render_ms'] / 1000:6.2f} s (median of {args.repeat}: "
              f"{', '.join(f'{x / 1000:.2f}' for x in r['render_all_ms'])})")
    o, n = results["ours"], results["naive"]
    for peer in ("naive", "naive+cluster"):
        p = results[peer]
        print(f"ratio {peer}/ours: first render {p['render_ms'] / o['render_ms']:.1f}x, "
              f"page weight {p['fetched_bytes'] / o['fetched_bytes']:.1f}x, "
              f"build {p['build_s'] / o['build_s']:.1f}x")
    print(f"targets: first render <= 1.5 s: {'met' if o['render_ms'] <= 1500 else 'NOT met'}; "
          f">= 5x faster: {'met' if n['render_ms'] >= 5 * o['render_ms'] else 'NOT met'}")
    (OUT / "results.json").write_text(json.dumps(
        {"incidents": args.incidents, "repeat": args.repeat, **results}, indent=2))
    svc.close()


if __name__ == "__main__":
    main()
