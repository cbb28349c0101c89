"""网格员走访 through the API, on both stores: a round sent offline in three batches with one
batch sent twice (stored once), its coverage computed against the grid's buildings; a GPX
import in GCJ-02 with ``crs=gcj02``; a 民情日志 entry turned into an incident in one step; the
month's figures per community; and the refusals."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import geopandas as gpd
import pytest
import shapely

from grid.api.people_schemas import CoveragePublic, FiguresPublic, RoundPublic, VisitPublic
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.people.models import Round
from grid.people.rounds import PASS_M
from grid.spatial.chinacrs import wgs84_to_gcj02
from tests.helpers import people as helpers
from tests.helpers.people import auth

town = helpers.town  # fixtures: a fresh sample street per module and backend
api = helpers.api


def _month() -> str:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


def _expected_walked_past(town, track: list[tuple[float, float]]) -> set[str]:
    """Buildings of the grid within PASS_M of a track point, by geopandas in EPSG:4548 (the
    Beijing zone) — measured apart from the service's own code."""
    with town.svc.db.read() as session:
        version = store.require_active_version(session).id
        buildings = store.units(session, version, Level.building, parent_code=town.grid)
        frame = gpd.GeoDataFrame({"code": [b.code for b in buildings]},
                                 geometry=[store.shape_of(b) for b in buildings], crs=4490)
    points = gpd.GeoSeries(shapely.points(track), crs=4490).to_crs(4548).union_all()
    near = frame.to_crs(4548).distance(points) <= PASS_M
    return set(frame.loc[near, "code"])


@pytest.fixture(scope="module")
def walked(town, api) -> dict:
    """A round along three buildings' points, sent in three batches, batch 1 twice."""
    worker = auth(town.tokens["grid_worker"])
    key = uuid.uuid4().hex
    r = api.post("/api/v1/rounds", headers=worker, json={
        "grid_code": town.grid, "client_key": key, "started_at": datetime.now(UTC).isoformat()})
    assert r.status_code == 201, r.text
    round_id = r.json()["id"]
    again = api.post("/api/v1/rounds", headers=worker, json={
        "grid_code": town.grid, "client_key": key, "started_at": datetime.now(UTC).isoformat()})
    assert again.json()["id"] == round_id  # the phone's retry answers the same round
    now = datetime.now(UTC).timestamp()
    stops = [town.points[b] for b in town.buildings[:3]]
    batches = {seq: [[lon, lat, now + seq * 60 + i] for i, (lon, lat) in
                     enumerate([stop, (stop[0] + 1e-6, stop[1])])]
               for seq, stop in enumerate(stops)}
    stored = []
    for seq in (0, 1, 1, 2):  # batch 1 sent again after the network came back
        r = api.post(f"/api/v1/rounds/{round_id}/batches", headers=worker,
                     json={"seq": seq, "points": batches[seq]})
        assert r.status_code == 200, r.text
        stored.append(RoundPublic.model_validate(r.json()).stored)
    assert stored == [True, True, False, True]
    track = [tuple(p[:2]) for seq in batches for p in batches[seq]]
    return {"round_id": round_id, "track": track}


def test_batches_stored_once(town, api, walked):
    r = api.get(f"/api/v1/rounds/{walked['round_id']}", headers=auth(town.tokens["grid_worker"]))
    walk = RoundPublic.model_validate(r.json())
    assert walk.batches == [0, 1, 2] and walk.points == 6
    assert api.get(f"/api/v1/rounds/{walked['round_id']}",
                   headers=auth(town.tokens["other_community"])).status_code == 403


def test_coverage_against_the_grids_buildings(town, api, walked):
    """Walked past: the buildings near the track (checked apart by geopandas); plus one visited
    building far from it; the share is over the grid's buildings."""
    far = town.buildings[-1]
    r = api.post("/api/v1/visits", headers=auth(town.tokens["grid_worker"]), json={
        "building_code": far, "household": "2-301", "category": "elderly", "mood": "一般",
        "heard": "独居老人希望有人定期探望", "follow_up": "联系志愿者",
        "round_id": walked["round_id"]})
    assert r.status_code == 201, r.text
    expected_past = _expected_walked_past(town, walked["track"])
    assert set(town.buildings[:3]) <= expected_past
    r = api.get(f"/api/v1/rounds/coverage?unit={town.community}&month={_month()}",
                headers=auth(town.tokens["community"]))
    assert r.status_code == 200, r.text
    rows = {c.grid_code: c for c in map(CoveragePublic.model_validate, r.json())}
    mine = rows[town.grid]
    assert mine.buildings == len(town.buildings)
    assert mine.walked_past == len(expected_past)
    assert mine.covered == len(expected_past | {far})
    assert mine.share == pytest.approx(mine.covered / mine.buildings, abs=1e-4)
    assert mine.rounds >= 1 and mine.visits >= 1 and mine.workers == {"网格员甲": mine.visits}
    assert all(c.covered == 0 for code, c in rows.items() if code != town.grid)
    # The grid worker sees their own grid's coverage; another community's staff do not.
    assert api.get(f"/api/v1/rounds/coverage?unit={town.community}&month={_month()}",
                   headers=auth(town.tokens["other_community"])).status_code == 403
    assert api.get(f"/api/v1/rounds/coverage?unit={town.community}&month=2026-13x",
                   headers=auth(town.tokens["community"])).status_code == 422


def test_gpx_import_in_gcj02(town, api):
    """A GPX track written by a phone app in GCJ-02: stored in CGCS2000 (the shift undone to
    within a few centimetres), the same file imported twice is one round."""
    building = town.buildings[5]
    lon, lat = town.points[building]
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert abs(glon - lon) > 1e-3  # the offset is real: hundreds of metres
    gpx = f"""<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>
<trkpt lat="{glat:.8f}" lon="{glon:.8f}"><time>2026-12-01T02:00:00Z</time></trkpt>
<trkpt lat="{glat + 1e-6:.8f}" lon="{glon:.8f}"><time>2026-12-01T02:00:05Z</time></trkpt>
</trkseg></trk></gpx>""".encode()
    worker = auth(town.tokens["grid_worker"])
    r = api.post("/api/v1/rounds/gpx", headers=worker, files={"file": ("walk.gpx", gpx)},
                 data={"grid_code": town.grid, "crs": "gcj02"})
    assert r.status_code == 201, r.text
    walk = RoundPublic.model_validate(r.json())
    assert walk.points == 2
    with town.svc.db.read() as session:
        stored = session.get(Round, walk.id).batches[0].points
    assert stored[0][0] == pytest.approx(lon, abs=1e-6)
    assert stored[0][1] == pytest.approx(lat, abs=1e-6)
    r = api.post("/api/v1/rounds/gpx", headers=worker, files={"file": ("walk.gpx", gpx)},
                 data={"grid_code": town.grid, "crs": "gcj02"})
    assert r.json()["id"] == walk.id and r.json()["points"] == 2
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<gpx><trk><trkseg><trkpt lat='1' lon='2'><name>&b;</name></trkpt></trkseg></trk>"
            b"</gpx>")
    r = api.post("/api/v1/rounds/gpx", headers=worker, files={"file": ("x.gpx", bomb)},
                 data={"grid_code": town.grid})
    assert r.status_code == 422
    r = api.post("/api/v1/rounds/gpx", headers=worker, files={"file": ("x.gpx", b"<gpx/>")},
                 data={"grid_code": town.grid})
    assert r.status_code == 422
    r = api.post("/api/v1/rounds/gpx", headers=worker, files={"file": ("walk.gpx", gpx)},
                 data={"grid_code": town.grid, "crs": "martian"})
    assert r.status_code == 422


def test_visit_entry_becomes_an_incident(town, api):
    """民情日志 → incident in one step, at the entry's building; a second call answers the
    same case."""
    worker = auth(town.tokens["grid_worker"])
    r = api.post("/api/v1/visits", headers=worker, json={
        "building_code": town.buildings[3], "household": "1-502", "category": "safety",
        "heard": "楼道堆放电动车电池", "follow_up": "请物业清理"})
    entry = VisitPublic.model_validate(r.json())
    assert entry.incident_id is None
    r = api.post(f"/api/v1/visits/{entry.id}/incident", headers=worker,
                 json={"category": "Z003"})
    assert r.status_code == 200, r.text
    filed = VisitPublic.model_validate(r.json())
    case = api.get(f"/api/v1/incidents/{filed.incident_id}", headers=worker).json()
    assert case["building_code"] == town.buildings[3] and "电动车电池" in case["description"]
    assert case["source"] == "patrol" and case["state"] == "open"
    again = api.post(f"/api/v1/visits/{entry.id}/incident", headers=worker,
                     json={"category": "Z003"})
    assert again.json()["incident_id"] == filed.incident_id


def test_visit_refusals(town, api):
    body = {"building_code": town.buildings[0], "category": "safety", "heard": "x"}
    for who in ("party_org", "department", "other_community"):
        r = api.post("/api/v1/visits", headers=auth(town.tokens[who]), json=body)
        assert r.status_code == 403, who
    worker = auth(town.tokens["grid_worker"])
    assert api.post("/api/v1/visits", headers=worker, json=body | {"heard": ""}
                    ).status_code == 422
    assert api.post("/api/v1/visits", headers=worker, json=body | {"category": "gossip"}
                    ).status_code == 422
    assert api.post("/api/v1/visits", headers=worker, json=body | {"mood": "愤怒!"}
                    ).status_code == 422
    assert api.post("/api/v1/rounds", headers=worker, json={
        "grid_code": town.grid, "client_key": "short", "started_at": "2026-12-01T00:00:00Z"}
    ).status_code == 422
    r = api.post("/api/v1/visits", headers=worker, json=body)
    assert api.post(f"/api/v1/visits/{r.json()['id']}/incident",
                    headers=auth(town.tokens["other_community"]),
                    json={"category": "Z003"}).status_code == 403


def test_monthly_figures(town, api, walked):
    """The street's month, per community: rounds and coverage counted; only staff see it."""
    r = api.get(f"/api/v1/people/figures?unit={helpers.STREET}&month={_month()}",
                headers=auth(town.tokens["street"]))
    assert r.status_code == 200, r.text
    rows = {f.community_code: f for f in map(FiguresPublic.model_validate, r.json())}
    mine = rows[town.community]
    assert mine.rounds >= 1 and mine.visits >= 1 and mine.buildings_covered >= 3
    assert mine.coverage == pytest.approx(mine.buildings_covered / mine.buildings, abs=1e-4)
    assert api.get(f"/api/v1/people/figures?unit={helpers.STREET}&month={_month()}",
                   headers=auth(town.tokens["grid_worker"])).status_code == 403


def test_monthly_review_puts_people_beside_the_three_rates(town, api, walked):
    """The review row of the community holds its three rates (it has cases this month:
    the visit filed one) and its people figures; the XLSX opens."""
    import io

    from openpyxl import load_workbook

    params = f"unit={helpers.STREET}&month={_month()}"
    r = api.get(f"/api/v1/people/review?{params}", headers=auth(town.tokens["street"]))
    assert r.status_code == 200, r.text
    rows = {row["community_code"]: row for row in r.json()}
    mine = rows[town.community]
    assert mine["rates_received"] >= 1 and 0 <= mine["rates_response"] <= 1
    assert mine["rounds"] >= 1 and mine["buildings_covered"] >= 3
    r = api.get(f"/api/v1/people/review?{params}&format=xlsx",
                headers=auth(town.tokens["street"]))
    sheet = load_workbook(io.BytesIO(r.content)).active
    headings = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert "rates_score" in headings and "coverage" in headings
    assert api.get(f"/api/v1/people/review?{params}",
                   headers=auth(town.tokens["party_org"])).status_code == 403


def test_street_map_shows_coverage(town, api, walked):
    """The street map carries a 本月走访覆盖 layer whose grid popup counts what the coverage
    API counts."""
    params = f"unit={town.community}&month={_month()}"
    row = next(r for r in api.get(f"/api/v1/rounds/coverage?{params}",
                                  headers=auth(town.tokens["community"])).json()
               if r["grid_code"] == town.grid)
    page = api.get(f"/maps/streets/{helpers.STREET}", headers=auth(town.tokens["street"]))
    assert page.status_code == 200, page.text[:300]
    # Folium writes the layer's name and properties as JSON (non-ASCII as \\u escapes).
    for shown in ("本月走访覆盖", f"{row['covered']} / {row['buildings']}"):
        assert shown in page.text or json.dumps(shown)[1:-1] in page.text, shown


def test_monthly_table_per_grid_worker(town, api, walked):
    """The month per grid worker: their rounds and track points, visits, buildings and
    households, incidents filed from the log; the coverage page shows it."""
    params = f"unit={town.community}&month={_month()}"
    r = api.get(f"/api/v1/rounds/workers?{params}", headers=auth(town.tokens["community"]))
    assert r.status_code == 200, r.text
    rows = {w["worker"]: w for w in r.json()}
    mine = rows["网格员甲"]
    visits = api.get(f"/api/v1/visits?{params}", headers=auth(town.tokens["community"])).json()
    assert mine["visits"] == len([v for v in visits if v["worker"] == "网格员甲"])
    assert mine["rounds"] >= 1 and mine["track_points"] >= 6 and mine["grids"] == [town.grid]
    assert api.get(f"/api/v1/rounds/workers?{params}",
                   headers=auth(town.tokens["grid_worker"])).status_code == 403
    page = api.get(f"/people/coverage?month={_month()}", headers=auth(town.tokens["community"]))
    assert page.status_code == 200 and "网格员甲" in page.text
