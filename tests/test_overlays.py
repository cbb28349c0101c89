"""Overlays in the domain (issue 13), on both stores: temporary branches in and out of their
period, the street chief within 50 m and not at 80 m, the documented tie rule, a lane across
a community boundary, a stationed unit whistled and reporting in late, expired overlays
receiving nothing, and history kept on the incident."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from shapely.geometry import MultiLineString
from sqlalchemy import select

from grid.demo import DEMO_STREET, load_sample
from grid.errors import InvalidInput
from grid.hierarchy import store as hierarchy
from grid.hierarchy.levels import Level
from grid.incidents.ladder import LATE_REPORT_IN, SYSTEM
from grid.incidents.models import Notification
from grid.overlays import store
from grid.overlays.match import OverlayIndex
from grid.users import add_user
from tests.conftest import DATA
from tests.overlay_setup import TO_DEG, TO_M, site, to_deg

#: 10:00 on a working day in Beijing, inside the periods the tests set.
DURING = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
AFTER = datetime(2026, 7, 10, 2, 0, tzinfo=UTC)


@pytest.fixture
def svc(empty):
    load_sample(empty, DATA, say=lambda _line: None)
    return empty


def _site(svc, index=0):
    with svc.db.read() as session:
        return site(session, hierarchy.require_active_version(session).id, index)


def _segments(svc, rows, activate=True):
    with svc.db.write() as session:
        version = store.create_segment_version(session, "test lanes")
        store.add_segments(session, version.id, rows)
        if activate:
            store.activate_segment_version(session, version.id)
    svc.overlays.invalidate()
    return version.id


def _index(svc) -> OverlayIndex:
    svc.overlays.invalidate()
    return svc.overlays.index()


def test_temporary_branch_applies_only_during_its_period(svc):
    here = _site(svc)
    with svc.db.write() as session:
        store.add_branch(session, code="TB001", name="望京SOHO二期项目临时党支部",
                         parent_org_code=DEMO_STREET, geom=here.area(200),
                         valid_from=date(2026, 3, 1), valid_to=date(2026, 6, 30),
                         secretary="赵建国", contact="13800000001")
    index = _index(svc)
    lon, lat = here.lonlat()
    during = index.match(lon, lat, date(2026, 6, 30))  # the last day counts
    assert [b["code"] for b in during.temporary_branches] == ["TB001"]
    assert during.temporary_branches[0]["parent_org"].endswith("党工委")
    assert index.match(lon, lat, date(2026, 7, 1)).temporary_branches == []
    assert index.match(lon, lat, date(2026, 2, 28)).temporary_branches == []
    # outside its area, even during the period
    far = index.match(*here.lonlat(dx=400), date(2026, 4, 1))
    assert far.temporary_branches == []


def test_street_chief_within_threshold_only(svc):
    here = _site(svc)
    _segments(svc, [("XX-001", "安定门东大街", "街", {}, here.lane(dy=20))])
    with svc.db.write() as session:
        for tier, name in ((1, "王区长"), (2, "李主任"), (3, "张书记")):
            store.add_chief(session, segment_code="XX-001", tier=tier, name=name,
                            valid_from=date(2026, 1, 1))
    index = _index(svc)
    assert svc.settings.street_chief_distance_m == 50
    near = index.match(*here.lonlat(), date(2026, 3, 1))
    assert near.street_chief is not None and near.street_chief.code == "XX-001"
    assert abs(near.street_chief.distance_m - 20) < 0.05, near.street_chief.distance_m
    assert [c["name"] for c in near.street_chief.chiefs] == ["王区长", "李主任", "张书记"]
    far = index.match(*here.lonlat(dy=-60), date(2026, 3, 1))  # 80 m from the lane
    assert far.street_chief is None


def test_two_equally_near_segments_lowest_code_wins(svc):
    here = _site(svc)
    # written higher code first, so insertion order cannot be what decides
    _segments(svc, [("LANE-B", "北巷", "巷", {}, here.lane(dy=30)),
                    ("LANE-A", "南巷", "巷", {}, here.lane(dy=-30))])
    index = _index(svc)
    hit = index.match(*here.lonlat(), date(2026, 3, 1)).street_chief
    assert hit.code == "LANE-A" and abs(hit.distance_m - 30) < 0.05
    # 1 m nearer the higher code: no longer a tie, the nearer one wins
    assert index.match(*here.lonlat(dy=1), date(2026, 3, 1)).street_chief.code == "LANE-B"
    # the vectorised form agrees point by point
    lons, lats = zip(here.lonlat(), here.lonlat(dy=1), here.lonlat(dy=-1), strict=True)
    codes = [m.street_chief.code for m in index.match_many(lons, lats, date(2026, 3, 1))]
    assert codes == ["LANE-A", "LANE-B", "LANE-A"]


def test_lane_crossing_a_community_boundary_has_one_chief_on_both_sides(svc):
    with svc.db.read() as session:
        version = hierarchy.require_active_version(session).id
        communities = hierarchy.units(session, version, Level.community)
        shapes = {c.code: hierarchy.shape_of(c) for c in communities}
    a, b = next((a, b) for a in shapes for b in shapes
                if a < b and shapes[a].touches(shapes[b])
                and shapes[a].intersection(shapes[b]).length > 0.002)
    edge = shapes[a].intersection(shapes[b])
    mid = TO_M.transform(*edge.interpolate(0.5, normalized=True).coords[0])
    # a lane 300 m long crossing the shared edge at its middle, at right angles to it
    ex, ey = TO_M.transform(*edge.coords[0]) if edge.geom_type == "LineString" else \
        TO_M.transform(*edge.geoms[0].coords[0])
    dx, dy = mid[0] - ex, mid[1] - ey
    norm = (dx * dx + dy * dy) ** 0.5
    nx, ny = -dy / norm, dx / norm
    from shapely.geometry import LineString
    lane = to_deg(LineString([(mid[0] - 150 * nx, mid[1] - 150 * ny),
                              (mid[0] + 150 * nx, mid[1] + 150 * ny)]))
    _segments(svc, [("CROSS-1", "跨社区胡同", "巷", {}, lane)])
    with svc.db.write() as session:
        store.add_chief(session, segment_code="CROSS-1", tier=3, name="孙巷长",
                        valid_from=date(2026, 1, 1))
    index = _index(svc)
    sides = []
    for sign in (-1, 1):
        x, y = mid[0] + sign * 100 * nx + 10 * dx / norm, mid[1] + sign * 100 * ny + 10 * dy / norm
        lon, lat = TO_DEG.transform(x, y)
        hit = index.match(lon, lat, date(2026, 3, 1)).street_chief
        assert hit is not None and hit.code == "CROSS-1" and abs(hit.distance_m - 10) < 0.1
        assert [c["name"] for c in hit.chiefs] == ["孙巷长"]
        located = svc.places.locate(lon, lat)
        sides.append(located.codes[Level.community])
    assert set(sides) == {a, b}, sides


def _street_incident(svc, here, category="Z011", now=DURING):
    ladder = svc.ladder
    with svc.db.write() as session:
        admin = add_user(session, f"admin-{category}-{now:%m%d}", "admin", "")[0]
    with svc.db.write() as session:
        incident = ladder.report(session, admin, lon=here.lonlat()[0], lat=here.lonlat()[1],
                                 category=category, description="夜间施工", now=now)
        for _ in range(2):
            incident = ladder.escalate(session, SYSTEM, incident.id, "超时", now=now)
    return incident.id, admin


def test_whistle_stationed_unit_late_report_in(svc):
    here = _site(svc)
    with svc.db.write() as session:
        store.add_stationed_unit(session, code="ZQ001", name="和平里医院", kind="医院",
                                 street_code=DEMO_STREET, geom=here.area(50),
                                 valid_from=date(2026, 1, 1), party_org="和平里医院党委",
                                 contact="周院长", phone="13800000002",
                                 resources=["义诊", "急救培训"],
                                 departments=svc.categories.departments)
        unit_user = add_user(session, "医院值班", "department", DEMO_STREET[:6], "和平里医院")[0]
    incident_id, admin = _street_incident(svc, here)
    with svc.db.write() as session:
        incident = svc.ladder.whistle(session, admin, incident_id, ["住建"], "联合处置",
                                      now=DURING, stationed_units=["ZQ001"])
        summons = {s.department: s for s in incident.summonses}
        assert set(summons) == {"住建", "和平里医院"}
        assert summons["和平里医院"].report_in_due_at == DURING + timedelta(minutes=30)
        assert summons["和平里医院"].done_due_at == summons["住建"].done_due_at
    with svc.db.write() as session:
        overdue = svc.ladder.overdue_report_ins(session, DURING + timedelta(minutes=31))
        assert [(i.id, s.department) for i, s in overdue] == [
            (incident_id, "住建"), (incident_id, "和平里医院")]
        incident = svc.ladder.report_in(session, unit_user, incident_id, note="已到现场",
                                        now=DURING + timedelta(minutes=45))
        assert incident.steps[-1].reason.startswith(LATE_REPORT_IN)
        assert incident.steps[-1].department == "和平里医院"
        assert incident.late
        incident = svc.ladder.finish(session, unit_user, incident_id, note="完成",
                                     now=DURING + timedelta(hours=1))
        assert incident.state == "whistled"  # 住建 has not finished yet


def test_stationed_unit_refused_when_expired_or_category_forbids(svc):
    here = _site(svc)
    with svc.db.write() as session:
        store.add_stationed_unit(session, code="ZQ002", name="和平中学", kind="学校",
                                 street_code=DEMO_STREET, geom=here.area(40).centroid,
                                 valid_from=date(2025, 1, 1), valid_to=date(2026, 2, 28))
        with pytest.raises(InvalidInput, match="部门重名"):
            store.add_stationed_unit(session, code="ZQ003", name="住建",
                                     street_code=DEMO_STREET, geom=here.area(40).centroid,
                                     valid_from=date(2025, 1, 1),
                                     departments=svc.categories.departments)
    incident_id, admin = _street_incident(svc, here)
    with svc.db.write() as session, pytest.raises(InvalidInput, match="有效期"):
        svc.ladder.whistle(session, admin, incident_id, [], "x", now=DURING,
                           stationed_units=["ZQ002"])
    svc.categories.get("Z011").overlays.summon = []
    try:
        with svc.db.write() as session, pytest.raises(InvalidInput, match="不能召集"):
            svc.ladder.whistle(session, admin, incident_id, [], "x", now=DURING,
                               stationed_units=["ZQ002"])
    finally:
        svc.categories.get("Z011").overlays.summon = ["stationed_unit"]


def _notified(svc, incident_id):
    with svc.db.read() as session:
        return {(n.recipient_kind, n.recipient) for n in session.scalars(
            select(Notification).where(Notification.incident_id == incident_id))}


def test_filed_case_names_and_tells_overlays_expired_ones_nothing(svc):
    here = _site(svc)
    _segments(svc, [("HP-XJ-01", "和平西街", "街", {}, here.lane(dy=20))])
    with svc.db.write() as session:
        store.add_branch(session, code="TB002", name="和平里地铁站项目临时党支部",
                         parent_org_code=DEMO_STREET, geom=here.area(200),
                         valid_from=date(2026, 3, 1), valid_to=date(2026, 6, 30))
        store.add_chief(session, segment_code="HP-XJ-01", tier=3, name="钱巷长",
                        valid_from=date(2026, 1, 1), valid_to=date(2026, 6, 30))
        store.add_chief(session, segment_code="HP-XJ-01", tier=3, name="吴巷长",
                        valid_from=date(2026, 7, 1))
        store.add_chief(session, segment_code="HP-XJ-01", tier=2, name="郑主任",
                        valid_from=date(2026, 1, 1))
    svc.overlays.invalidate()
    during, _ = _street_incident(svc, here, "Z011", DURING)
    after, _ = _street_incident(svc, here, "Z011", AFTER)
    with svc.db.read() as session:
        from grid.incidents.models import Incident
        first, second = session.get(Incident, during), session.get(Incident, after)
        kept = first.overlays
        assert [b["code"] for b in kept["temporary_branches"]] == ["TB002"]
        assert kept["temporary_branches"][0]["told"] is True
        assert kept["street_chief"]["segment_code"] == "HP-XJ-01"
        told = {c["name"]: c["told"] for c in kept["street_chief"]["chiefs"]}
        assert told == {"郑主任": False, "钱巷长": True}  # tier 3 for a grid-level start
        # after the branch expired and the chief changed: nothing to the old ones
        assert second.overlays["temporary_branches"] == []
        assert [c["name"] for c in second.overlays["street_chief"]["chiefs"]] == [
            "郑主任", "吴巷长"]
        # history: the first case still names who was responsible then
        assert first.overlays["street_chief"]["chiefs"][1]["name"] == "钱巷长"
    assert {("temporary_branch", "和平里地铁站项目临时党支部"),
            ("street_chief", "钱巷长")} <= _notified(svc, during)
    late = _notified(svc, after)
    assert not any(kind == "temporary_branch" for kind, _ in late)
    assert ("street_chief", "吴巷长") in late and ("street_chief", "钱巷长") not in late


def test_category_without_tell_records_but_tells_nobody(svc):
    here = _site(svc)
    _segments(svc, [("HP-XJ-02", "和平东街", "街", {}, here.lane(dy=-15))])
    with svc.db.write() as session:
        store.add_chief(session, segment_code="HP-XJ-02", tier=3, name="冯巷长",
                        valid_from=date(2026, 1, 1))
    incident_id, _ = _street_incident(svc, here, "Z004", DURING)  # 垃圾分类: tells nobody
    with svc.db.read() as session:
        from grid.incidents.models import Incident
        kept = session.get(Incident, incident_id).overlays
    assert kept["street_chief"]["chiefs"][0] == {**kept["street_chief"]["chiefs"][0],
                                                 "name": "冯巷长", "told": False}
    assert not any(kind == "street_chief" for kind, _ in _notified(svc, incident_id))


def test_inactive_segment_version_is_not_matched(svc):
    here = _site(svc)
    _segments(svc, [("OLD-1", "旧街", "街", {}, MultiLineString([here.lane(dy=10)]))])
    _segments(svc, [("NEW-1", "新街", "街", {}, here.lane(dy=40))], activate=False)
    hit = _index(svc).match(*here.lonlat(), date(2026, 3, 1)).street_chief
    assert hit.code == "OLD-1"


def test_sample_overlays_load_and_apply(svc):
    from pathlib import Path

    from grid.overlays.files import load_sample_overlays

    folder = Path(DATA).parent / "overlays"
    assert load_sample_overlays(svc.db, folder, svc.categories.departments, say=lambda _: None)
    assert not load_sample_overlays(svc.db, folder, svc.categories.departments,
                                    say=lambda _: None)  # once only
    index = _index(svc)
    with svc.db.read() as session:
        lanes = {s.code: store.shape(s) for s in store.segments(session)}
        assert len(store.branches(session, date(2026, 6, 1))) == 2  # one expired in 2024
        assert [u.name for u in store.stationed_units(session, DEMO_STREET)] == [
            "和平里医院", "和平里第一中学", "安贞电力公司"]
    # the crossing of the two main roads: inside the metro project's branch, on both roads
    crossing = lanes["HPL-001"].intersection(lanes["HPL-002"])
    found = index.match(crossing.x, crossing.y, date(2026, 6, 1))
    assert [b["code"] for b in found.temporary_branches] == ["LSDZB-001"]
    assert found.street_chief.code == "HPL-001"  # both at 0 m: the lower code
    assert [c["tier"] for c in found.street_chief.chiefs] == [1, 2, 3]
    assert index.match(crossing.x, crossing.y, date(2027, 7, 1)).temporary_branches == []
