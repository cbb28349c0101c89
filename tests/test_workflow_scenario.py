"""One case through every step, on both backends, with deadlines checked against the working-time
calendar: filed on the last working afternoon before National Day 2026 (1–7 October off,
Saturday 10 October an adjusted working day), swept up, sent back, escalated, whistled to two
departments (one late to report in), resolved, closed, rated 不满意, reopened, closed again.

Working hours are the default 09:00–12:00 and 13:30–17:30 Beijing time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from grid.errors import MoveNotAllowed
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.incidents.ladder import SYSTEM
from grid.incidents.models import Incident, Notification
from grid.incidents.notify import OutboxChannel, deliver
from grid.users import User

BJ = ZoneInfo("Asia/Shanghai")


def bj(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """An instant given in Beijing time, as UTC (how the store keeps it)."""
    return datetime(2026, month, day, hour, minute, tzinfo=BJ).astimezone(UTC)


@pytest.fixture
def people(demo) -> dict[str, User]:
    """Unsaved users (the ladder only needs name, role, scope and department)."""
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        grid = store.units(session, version, Level.grid)[1]
        point = store.shape_of(grid).representative_point()
    community, street = grid.code[:-3], grid.code[:-6]
    return {
        "point": point,
        "grid_worker": User(name="王网格", role="grid_worker", scope_code=grid.code),
        "community": User(name="李社区", role="community", scope_code=community),
        "street": User(name="赵街道", role="street", scope_code=street),
        "城管执法": User(name="城管队", role="department", scope_code=street,
                     department="城管执法"),
        "住建": User(name="住建委", role="department", scope_code=street,
                   department="住建"),
    }


def _do(demo, move, *args, **kwargs) -> Incident:
    with demo.db.write() as session:
        incident = move(session, *args, **kwargs)
        session.expunge_all()
        return incident


def test_case_filed_before_national_day_through_every_step(demo, people):
    ladder, p = demo.ladder, people
    # Wednesday 30 September 16:00: Z003 starts at grid with 4 working hours — 1.5 h that day,
    # then nothing until Thursday 8 October (holiday week), 2.5 h more: due 8 Oct 11:30.
    case = _do(demo, ladder.report, p["grid_worker"], lon=p["point"].x, lat=p["point"].y,
               category="Z003", description="一层商铺开墙打洞", reporter="居民甲",
               contact="13800000000", now=bj(9, 30, 16))
    assert case.due_at == bj(10, 8, 11, 30)
    cid = case.id

    # The sweep before the deadline does nothing to it; after it, grid → community, whose
    # 1 working day (7 h) runs 13:30–17:30 on the 8th and 09:00–12:00 on the 9th.
    assert cid not in ladder.escalate_due(demo.db, now=bj(10, 8, 11))
    assert cid in ladder.escalate_due(demo.db, now=bj(10, 8, 12))
    case = _do(demo, ladder.get, SYSTEM, cid)
    assert (case.level, case.due_at) == ("community", bj(10, 9, 12))

    # 退回: the community sends it back with instructions; the grid's 4 h restart at 10:00.
    case = _do(demo, ladder.send_back, p["community"], cid, "请先核实是否有施工许可",
               now=bj(10, 9, 10))
    assert (case.level, case.due_at) == ("grid", bj(10, 9, 15, 30))
    with pytest.raises(MoveNotAllowed, match="退回"):
        _do(demo, ladder.send_back, p["community"], cid, "再退", now=bj(10, 9, 10, 5))

    # Escalated again by hand at 15:00: 7 working hours = 2.5 h on Friday the 9th, then
    # Saturday the 10th is an adjusted working day (调休上班): 09:00–12:00 and 13:30–15:00.
    case = _do(demo, ladder.escalate, p["grid_worker"], cid, "无施工许可，需社区协调",
               now=bj(10, 9, 15))
    assert (case.level, case.due_at) == ("community", bj(10, 10, 15))
    case = _do(demo, ladder.escalate, p["community"], cid, "需执法部门", now=bj(10, 10, 10))
    assert case.level == "street"

    # The whistle at 11:00 on Saturday: report in within 30 minutes (elapsed), finish within
    # the street's 5 working days (35 h: the rest of the 10th, then 12, 13, 14, 15, 16 Oct).
    case = _do(demo, ladder.whistle, p["street"], cid, ["城管执法", "住建"], "联合执法",
               now=bj(10, 10, 11))
    assert case.state == "whistled"
    summons = {s.department: s for s in case.summonses}
    assert all(s.report_in_due_at == bj(10, 10, 11, 30) for s in summons.values())
    assert summons["住建"].done_due_at == demo.calendar.add(bj(10, 10, 11),
                                                          demo.categories.get("Z003").limit(
                                                              "street"))
    assert summons["住建"].done_due_at == bj(10, 16, 11)  # Sunday the 11th is not counted
    assert case.due_at == summons["住建"].done_due_at

    _do(demo, ladder.report_in, p["城管执法"], cid, note="已到场", now=bj(10, 10, 11, 10))
    with demo.db.read() as session:
        late = ladder.overdue_report_ins(session, now=bj(10, 10, 11, 45))
        assert [(i.id, s.department) for i, s in late if i.id == cid] == [(cid, "住建")]
    case = _do(demo, ladder.report_in, p["住建"], cid, note="到场", now=bj(10, 10, 12, 5))
    flags = {s.department: s.is_report_in_late(bj(10, 10, 13)) for s in case.summonses}
    assert flags == {"城管执法": False, "住建": True}
    case = _do(demo, ladder.finish, p["城管执法"], cid, note="已封堵", now=bj(10, 12, 10))
    assert case.state == "whistled"  # 住建 still working: not solved until all are done
    case = _do(demo, ladder.finish, p["住建"], cid, note="已恢复原状", now=bj(10, 12, 16))
    assert (case.state, case.due_at) == ("resolved", None)

    # Verification, closure, callback 不满意 → reopened at street level with a fresh limit.
    _do(demo, ladder.close, p["street"], cid, "现场核查", now=bj(10, 13, 9))
    case = _do(demo, ladder.rate, p["community"], cid, "不满意", "墙面未修补", now=bj(10, 13, 10))
    assert (case.state, case.level, case.reopen_count) == ("open", "street", 1)
    assert case.due_at == demo.calendar.add(bj(10, 13, 10),
                                            demo.categories.get("Z003").limit("street"))
    assert case.reporters[0].rating is None  # a new round: the reporter is called back again

    case = _do(demo, ladder.resolve, p["street"], cid, "已修补墙面", now=bj(10, 14, 9))
    _do(demo, ladder.close, p["street"], cid, "复查通过", now=bj(10, 14, 15))
    case = _do(demo, ladder.rate, p["community"], cid, "满意", now=bj(10, 15, 10))
    assert (case.state, case.rating, case.due_at) == ("rated", "满意", None)
    assert case.reporters[0].rating == "满意"

    # The audit trail: every step, in order, with actor, role, from → to and reason.
    actions = [(s.action, s.actor_role, s.from_state, s.to_state, s.from_level, s.to_level)
               for s in case.steps]
    assert actions == [
        ("report", "grid_worker", None, "open", None, "grid"),
        ("escalate", "system", "open", "open", "grid", "community"),
        ("send_back", "community", "open", "open", "community", "grid"),
        ("escalate", "grid_worker", "open", "open", "grid", "community"),
        ("escalate", "community", "open", "open", "community", "street"),
        ("whistle", "street", "open", "whistled", "street", "street"),
        ("report_in", "department", "whistled", "whistled", "street", "street"),
        ("report_in", "department", "whistled", "whistled", "street", "street"),
        ("finish", "department", "whistled", "whistled", "street", "street"),
        ("finish", "department", "whistled", "resolved", "street", "street"),
        ("close", "street", "resolved", "closed", "street", "street"),
        ("rate", "community", "closed", "rated", "street", "street"),
        ("reopen", "community", "rated", "open", "street", "street"),
        ("resolve", "street", "open", "resolved", "street", "street"),
        ("close", "street", "resolved", "closed", "street", "street"),
        ("rate", "community", "closed", "rated", "street", "street"),
    ]
    assert case.steps[2].reason == "请先核实是否有施工许可"
    assert case.steps[7].reason.startswith("逾期报到")  # 住建's late report-in is on record
    assert [s.at for s in case.steps] == sorted(s.at for s in case.steps)

    # Notifications: each party due to act was queued once; delivering twice sends once.
    with demo.db.read() as session:
        rows = session.scalars(select(Notification).where(Notification.incident_id == cid)
                               ).all()
        kinds = {(n.recipient_kind, n.recipient) for n in rows}
    assert {("department", "城管执法"), ("department", "住建"),
            ("leader", demo.categories.get("Z003").leader)} <= kinds
    assert ("grid", case.grid_code) in kinds and ("community", case.community_code) in kinds
    sent, failed = deliver(demo.db, OutboxChannel(), batch=10_000)
    assert failed == 0 and sent >= len(rows)
    assert deliver(demo.db, OutboxChannel(), batch=10_000) == (0, 0)
    with demo.db.read() as session:
        unsent = session.scalar(select(func.count()).select_from(Notification).where(
            Notification.incident_id == cid, Notification.sent_at.is_(None)))
    assert unsent == 0
