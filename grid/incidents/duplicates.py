"""Duplicates (重复工单): the same problem reported twice.

A new report is compared with the open cases of the same category filed within the category's
``duplicates.window_hours`` and ``duplicates.radius_m`` metres (measured in the Gauss–Krüger
zone of the new point, as elsewhere in ``grid.spatial``). Merging keeps the surviving case and
moves every reporter of the duplicate to it, so each is still called back and rates.
"""

from __future__ import annotations

from datetime import datetime

from geoalchemy2.shape import to_shape
from sqlalchemy.orm import Session

from grid.errors import Forbidden, InvalidInput, MoveNotAllowed
from grid.incidents.ladder import ROLE_RANK, Actor, Ladder
from grid.incidents.models import Incident
from grid.incidents.nearby import ACTIVE, Suggestion, nearby_query, rank, search_params
from grid.orm import utcnow

__all__ = ["ACTIVE", "Suggestion", "merge", "suggest"]


def suggest(session: Session, ladder: Ladder, incident: Incident,
            now: datetime | None = None) -> list[Suggestion]:
    """Open cases of ``incident``'s category near it in space and time, nearest first (a new
    report gets them from ``Ladder.file_suggesting``, in its own statement on PostGIS)."""
    rule = ladder.categories.get(incident.category).duplicates
    here = to_shape(incident.geom)
    # Only the columns needed are read: loading whole incidents (with their steps) would
    # cost the report path more than everything else together.
    conn = session.connection()
    params = search_params(rule, incident.category, incident.street_code, here.x, here.y,
                           now or incident.created_at or utcnow())
    candidates = conn.execute(nearby_query(conn.dialect.name), {"id": incident.id, **params})
    return rank(rule, here.x, here.y, candidates)


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
