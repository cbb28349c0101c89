"""The demo: load the sample street from ``data/boundaries/``, add users and incidents at
several stages of the ladder. Safe to run again: what exists is reused."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import shapely
from sqlalchemy import func, select

from grid.errors import CalendarNotCovered
from grid.hierarchy import store
from grid.hierarchy.levels import SPATIAL_LEVELS, Level
from grid.incidents.ladder import Ladder
from grid.incidents.models import Incident
from grid.services import Services
from grid.spatial.loader import load_boundaries, load_grid_workers, load_party_orgs
from grid.users import User, add_user, rotate_token

DEMO_STREET = "110105001"


@dataclass
class DemoUser:
    """A demo account and its freshly issued token."""

    name: str
    role: str
    scope: str
    department: str | None
    token: str = ""


def load_sample(svc: Services, data_dir: Path, say: Callable[[str], None] = print) -> int:
    """Load every level of the sample street into one new version and activate it."""
    version_id = None
    for level in SPATIAL_LEVELS:
        path = data_dir / f"{level}.geojson"
        report = load_boundaries(svc.db, path, level, commit=True, version_id=version_id,
                                 label="示例街道 demo street")
        version_id = report.version_id
        say(f"  {level}: +{len(report.added)} ({path.name})")
    report = load_boundaries(svc.db, data_dir / "resident_groups.csv", Level.resident_group,
                             commit=True, version_id=version_id)
    say(f"  resident_group: +{len(report.added)}")
    say(f"  party orgs: {load_party_orgs(svc.db, data_dir / 'party_orgs.csv', commit=True)}")
    say(f"  grid workers: {load_grid_workers(svc.db, data_dir / 'grid_workers.csv', commit=True)}")
    with svc.db.write() as session:
        store.activate(session, version_id)
    return version_id


def demo_users(svc: Services, grid_code: str) -> list[DemoUser]:
    """Create (or re-issue tokens for) the demo accounts."""
    with svc.db.read() as session:
        version = store.require_active_version(session).id
        community = store.get_unit(session, version, grid_code).parent_code
    wanted = [
        DemoUser("admin", "admin", "", None),
        DemoUser("和平街道办", "street", DEMO_STREET, None),
        DemoUser(f"社区{community[-3:]}", "community", community, None),
        DemoUser(f"网格员{grid_code[-3:]}", "grid_worker", grid_code, None),
        DemoUser("城管执法队", "department", DEMO_STREET[:6], "城管执法"),
        DemoUser("住建委", "department", DEMO_STREET[:6], "住建"),
        # issue 14: an in-service Party member living in the community, and a workplace
        # Party organisation stationed in the street (驻区单位).
        DemoUser("在职党员李明", "volunteer", community, None),
        DemoUser("区卫健委党委", "party_org", DEMO_STREET, "区卫健委党委"),
    ]
    with svc.db.write() as session:
        for user in wanted:
            if session.scalar(select(User).where(User.name == user.name)):
                user.token = rotate_token(session, user.name)
            else:
                user.token = add_user(session, user.name, user.role, user.scope,
                                      user.department)[1]
    return wanted


def sample_incidents(svc: Services, seed: int = 7) -> int:
    """Report a dozen incidents inside the sample grids and move them to various stages."""
    rng = random.Random(seed)
    ladder = svc.ladder
    with svc.db.write() as session:
        if session.scalar(select(func.count()).select_from(Incident)):
            return 0
        version = store.require_active_version(session).id
        buildings = store.units(session, version, Level.building)
        categories = [c.code for c in svc.categories.categories]
        ids = []
        for i in range(14):
            category = categories[i % 9]
            building = buildings[rng.randrange(len(buildings))]
            if _reachable(ladder, category) < 0:
                continue  # not even its first deadline can be computed (no holiday data)
            # a point just beside a building, inside its grid
            point = shapely.Point(store.shape_of(building).representative_point())
            lon, lat = point.x + rng.uniform(-2e-4, 2e-4), point.y + rng.uniform(-2e-4, 2e-4)
            incident = ladder.report(
                session, SYSTEM_REPORTER, lon=lon, lat=lat, category=category,
                description=f"示例事件 {i + 1}", reporter="示例网格员",
                source=("patrol", "hotline", "resident")[i % 3],
            )
            ids.append(incident.id)
        for n, incident_id in enumerate(ids):
            category = session.get(Incident, incident_id).category
            _advance(session, ladder, incident_id, min(n % 7, _reachable(ladder, category)))
        return len(ids)


def sample_residents(svc: Services, per_building: int = 2, seed: int = 2157) -> int | None:
    """Register made-up residents (``grid.residents.sample``), ``per_building`` in every
    building, about one in six a Party member; None without a PII key (nothing can be stored),
    0 when residents are already registered."""
    import csv
    import io

    from grid.residents.models import Resident
    from grid.residents.register import import_rows, parse_register
    from grid.residents.sample import HEADINGS, sample_rows

    if not svc.settings.pii_key:
        return None
    with svc.db.read() as session:
        if session.scalar(select(func.count()).select_from(Resident)):
            return 0
        version = store.require_active_version(session).id
        buildings = [{"code": b.code, "name": b.name, **b.attrs}
                     for b in store.units(session, version, Level.building)]
    # Through the same reader as an uploaded register, headings and all.
    text = io.StringIO()
    csv.writer(text).writerows([HEADINGS, *sample_rows(buildings, per_building * len(buildings),
                                                       seed=seed)])
    rows = parse_register(text.getvalue().encode(), "sample.csv")
    report = import_rows(svc.db, rows, svc.settings.pii_key, commit=True)
    return report.accepted if report.committed else 0


def _advance(session, ladder: Ladder, incident_id: int, stage: int) -> None:
    """Move one sample case ``stage`` steps along the ladder (0: left where it was reported)."""
    street = _Staff("和平街道办", "street", scope_code=DEMO_STREET)
    if stage >= 1 and session.get(Incident, incident_id).level == "grid":
        ladder.escalate(session, street, incident_id, "网格无法解决 社区呼叫")
    if stage >= 2 and session.get(Incident, incident_id).level == "community":
        ladder.escalate(session, street, incident_id, "社区需要街道协调")
    if stage >= 3:
        ladder.whistle(session, street, incident_id, ["城管执法", "住建"], "街道吹哨")
    if stage >= 4:
        for department in ("城管执法", "住建"):
            ladder.report_in(session, _Staff("admin", "admin"), incident_id, department)
    if stage >= 5:
        for department in ("城管执法", "住建"):
            ladder.finish(session, _Staff("admin", "admin"), incident_id, department, "已处置")
        ladder.close(session, street, incident_id, "核查通过")
    if stage >= 6:
        ladder.rate(session, street, incident_id, "满意", "回访")


def _reachable(ladder: Ladder, category: str) -> int:
    """The last demo stage whose deadlines can be computed now: -1 none, 1 up to the community,
    7 all. Near a year's end, before the next year's holidays are known (GRID_HOLIDAYS_FILE),
    a long street-level limit cannot be counted; the demo then stops its cases short of it."""
    now = datetime.now(UTC)
    for level, stage in (("grid", -1), ("community", 0), ("street", 1)):
        try:
            ladder.deadline(category, level, now)
        except CalendarNotCovered:
            return stage
    return 7


@dataclass(frozen=True)
class _Staff:
    name: str
    role: str
    department: str | None = None
    scope_code: str = ""

    def covers(self, code: str | None) -> bool:
        return True


SYSTEM_REPORTER = _Staff("示例网格员", "admin")
