"""Duplicates (重复工单): the same problem reported twice.

A new report is compared with the open cases of the same category filed within the category's
``duplicates.window_hours`` and ``duplicates.radius_m`` metres (measured in the Gauss–Krüger
zone of the new point, as elsewhere in ``grid.spatial``). Merging keeps the surviving case and
moves every reporter of the duplicate to it, so each is still called back and rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from geoalchemy2.shape import to_shape
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from grid.db import STORAGE_SRID
from grid.errors import Forbidden, InvalidInput, MoveNotAllowed
from grid.incidents.ladder import ROLE_RANK, Actor, Ladder
from grid.incidents.models import Incident
from grid.orm import utcnow
from grid.spatial.crs import to_metres

#: States in which a case is still being handled and can absorb a duplicate.
ACTIVE = ("open", "whistled", "resolved")


@dataclass(frozen=True)
class Suggestion:
    """An open case that the new report probably repeats."""

    incident_id: int
    distance_m: float
    created_at: datetime


def suggest(session: Session, ladder: Ladder, incident: Incident,
            now: datetime | None = None) -> list[Suggestion]:
    """Open cases of ``incident``'s category near it in space and time, nearest first."""
    rule = ladder.categories.get(incident.category).duplicates
    since = (now or incident.created_at or utcnow()) - timedelta(hours=rule.window_hours)
    here = to_shape(incident.geom)
    # A cheap box in degrees first, in SQL (one degree of latitude ≥ 110 km; longitude shrinks
    # with latitude, so the box is widened by 1/cos ≤ 2 below 60°N), then exact metres. Only
    # the columns needed are read: loading whole incidents (with their steps) would cost the
    # report path more than everything else together.
    pad = rule.radius_m / 55_000
    x, y = func.ST_X(Incident.geom), func.ST_Y(Incident.geom)
    if session.get_bind().dialect.name == "postgresql":
        # The box as ``&&``, which the GiST index on ``geom`` answers: the search stays a
        # handful of index pages however many cases the table holds.
        near = Incident.geom.intersects(func.ST_MakeEnvelope(
            here.x - pad, here.y - pad, here.x + pad, here.y + pad, STORAGE_SRID))
    else:
        near = and_(x.between(here.x - pad, here.x + pad), y.between(here.y - pad, here.y + pad))
    candidates = session.execute(
        select(Incident.id, Incident.created_at, x, y).where(
            Incident.id != incident.id, Incident.category == incident.category,
            Incident.state.in_(ACTIVE), Incident.created_at >= since,
            Incident.street_code == incident.street_code, near,
        ).order_by(Incident.id)).all()
    project = to_metres(here.x)
    x0, y0 = project.transform(here.x, here.y)
    found = []
    for other_id, created_at, lon, lat in candidates:
        xm, ym = project.transform(lon, lat)
        distance = ((xm - x0) ** 2 + (ym - y0) ** 2) ** 0.5
        if distance <= rule.radius_m:
            found.append(Suggestion(other_id, round(distance, 1), created_at))
    return sorted(found, key=lambda s: s.distance_m)


def merge(session: Session, ladder: Ladder, actor: Actor, duplicate_id: int, into_id: int,
          reason: str = "", now: datetime | None = None) -> Incident:
    """合并: close ``duplicate_id`` as ``merged`` into ``into_id``; its reporters move over."""
    if duplicate_id == into_id:
        raise InvalidInput("不能与自身合并 cannot merge a case into itself")
    if ROLE_RANK.get(actor.role, -1) < 1:
        raise Forbidden("合并需要社区或街道 merging needs community or street staff")
    duplicate = ladder.get(session, actor, duplicate_id)
    target = ladder.get(session, actor, into_id)
    if duplicate.category != target.category:
        raise InvalidInput("只能合并同类事件 only cases of one category can be merged")
    for case in (duplicate, target):
        if case.state not in ACTIVE:
            raise MoveNotAllowed(f"事件 {case.id} 状态为 {case.state}，不能合并 incident is "
                                 f"{case.state}")
    now = now or utcnow()
    for reporter in list(duplicate.reporters):
        reporter.incident_id = target.id
        duplicate.reporters.remove(reporter)
        target.reporters.append(reporter)
    duplicate.merged_into = target.id
    ladder._move(session, duplicate, actor, "merge", state="merged",
                 reason=f"并入 merged into {target.id}. {reason}".strip(), now=now)
    ladder._move(session, target, actor, "absorb",
                 reason=f"合并重复工单 absorbed duplicate {duplicate.id}. {reason}".strip(),
                 now=now)
    return target
