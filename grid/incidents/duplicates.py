"""Duplicates (重复工单): the same problem reported twice.

A new report is compared with the open cases of the same category filed within the category's
``duplicates.window_hours`` and ``duplicates.radius_m`` metres (measured in the Gauss–Krüger
zone of the new point, as elsewhere in ``grid.spatial``). Merging keeps the surviving case and
moves every reporter of the duplicate to it, so each is still called back and rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import numpy as np
from geoalchemy2.shape import to_shape
from sqlalchemy import Float, and_, bindparam, func, or_, select
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


@cache
def _nearby(dialect: str):
    """Open cases of one category and street, filed since a time, inside a box: built once
    per dialect with bound parameters (it runs on every report)."""
    t = Incident.__table__
    x, y = func.ST_X(t.c.geom), func.ST_Y(t.c.geom)
    box = [bindparam(name, type_=Float) for name in ("x0", "y0", "x1", "y1")]
    if dialect == "postgresql":
        # The box as ``&&``, which the GiST index on ``geom`` answers: the search stays a
        # handful of index pages however many cases the table holds.
        near = t.c.geom.intersects(func.ST_MakeEnvelope(*box, STORAGE_SRID))
    else:
        near = and_(x.between(box[0], box[2]), y.between(box[1], box[3]))
    return (select(t.c.id, t.c.created_at, x, y)
            .where(t.c.id != bindparam("id"), t.c.category == bindparam("category"),
                   # equalities, not IN: an IN list is re-rendered on every execution
                   or_(*(t.c.state == state for state in ACTIVE)),
                   t.c.created_at >= bindparam("since"),
                   t.c.street_code == bindparam("street"), near)
            .order_by(t.c.id))


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
    conn = session.connection()
    candidates = conn.execute(_nearby(conn.dialect.name), {
        "id": incident.id, "category": incident.category, "since": since,
        "street": incident.street_code, "x0": here.x - pad, "y0": here.y - pad,
        "x1": here.x + pad, "y1": here.y + pad}).all()
    if not candidates:
        return []
    # Every candidate projected in one call (a busy spot has dozens; one call each would
    # cost more than the query).
    lons = np.array([here.x, *(c[2] for c in candidates)])
    lats = np.array([here.y, *(c[3] for c in candidates)])
    xm, ym = to_metres(here.x).transform(lons, lats)
    distances = np.hypot(xm[1:] - xm[0], ym[1:] - ym[0])
    found = [Suggestion(other_id, round(float(d), 1), created_at)
             for (other_id, created_at, _, _), d in zip(candidates, distances, strict=True)
             if d <= rule.radius_m]
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
