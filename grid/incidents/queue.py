"""待办: each user's to-do queue — the cases waiting for *them*, most urgent first.

Boxes (what a case is waiting for, and who is waited on):

========== =========================================================== =====================
box        cases                                                       whose queue
========== =========================================================== =====================
``act``    open at the user's own ladder level, in scope                grid worker (grid),
                                                                        community, street;
                                                                        admin: every level
``report_in`` whistled, the user's department summoned, not reported in department
``finish``    whistled, the department reported in, not done            department
``verify``    resolved, awaiting 核查结案                                 community, street, admin
``callback``  closed, awaiting 回访                                       community, street, admin
========== =========================================================== =====================

Every list is cut to the user's scope (a code prefix) and, for a department, to the cases it
was summoned to. Order: past the deadline first, then the nearest deadline, then the oldest
case. Filters (category, level, grid prefix, text, overdue or due soon only) narrow the
list; the counts per box come with every page, and ``export_rows`` gives the whole filtered
list for a download.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, false, func, or_, select
from sqlalchemy.orm import Session

from grid.errors import InvalidInput
from grid.incidents.models import Incident, Summons
from grid.incidents.moves import ROLE_RANK

#: A deadline this close counts as "due soon" (临期) in the counts and the soon-only filter.
DUE_SOON = timedelta(hours=24)
BOXES = ("act", "report_in", "finish", "verify", "callback")


def boxes_for(role: str) -> tuple[str, ...]:
    """The boxes in a role's queue."""
    if role == "department":
        return ("report_in", "finish")
    if role == "grid_worker":
        return ("act",)
    if ROLE_RANK.get(role, -1) >= 1:
        return ("act", "verify", "callback")
    return ()


def _own_level(role: str) -> str | None:
    return {"grid_worker": "grid", "community": "community", "street": "street"}.get(role)


def _box_condition(actor, box: str):
    """SQL: a case is in ``box`` for ``actor``."""
    if box == "act":
        level = _own_level(actor.role)
        cond = Incident.state == "open"
        return and_(cond, Incident.level == level) if level else cond
    if box in ("report_in", "finish"):
        mine = Summons.department == actor.department if actor.role == "department" \
            else Summons.department.is_not(None)
        waiting = Summons.reported_in_at.is_(None) if box == "report_in" else and_(
            Summons.reported_in_at.is_not(None), Summons.done_at.is_(None))
        return and_(Incident.state == "whistled", Incident.summonses.any(and_(mine, waiting)))
    if box == "verify":
        return Incident.state == "resolved"
    if box == "callback":
        return Incident.state == "closed"
    raise InvalidInput(f"未知待办类别 unknown box '{box}'; expected one of {', '.join(BOXES)}")


@dataclass(frozen=True)
class QueueFilter:
    """What the user narrowed the queue to (every field optional)."""

    box: str | None = None
    category: str | None = None
    level: str | None = None
    unit: str | None = None
    text: str | None = None
    due: str | None = None  # "overdue" | "soon"


@dataclass
class QueuePage:
    """One page of a queue, its total, and the counts of every box (unfiltered but scoped)."""

    items: Sequence[Incident]
    total: int
    counts: dict[str, int] = field(default_factory=dict)
    overdue: int = 0
    soon: int = 0


def _scoped(actor, query):
    if actor.role not in ("admin", "system"):
        query = query.where(Incident.grid_code.startswith(actor.scope_code or "\x00"))
    if actor.role == "department":
        query = query.where(Incident.summonses.any(Summons.department == actor.department))
    return query


def _filtered(actor, query, chosen: QueueFilter, now: datetime):
    mine = boxes_for(actor.role)
    if chosen.box:
        if chosen.box not in mine:
            raise InvalidInput(f"待办类别 {chosen.box} 不属于您的角色 box '{chosen.box}' is "
                               f"not in a {actor.role}'s queue")
        query = query.where(_box_condition(actor, chosen.box))
    else:
        query = query.where(or_(*(_box_condition(actor, b) for b in mine)) if mine else false())
    for column, value in ((Incident.category, chosen.category), (Incident.level, chosen.level)):
        if value:
            query = query.where(column == value)
    if chosen.unit:
        query = query.where(Incident.grid_code.startswith(chosen.unit))
    if chosen.text:
        words = chosen.text.strip()
        like = f"%{words.replace('%', '').replace('_', '')}%"
        conditions = [Incident.description.ilike(like), Incident.reporter.ilike(like),
                      Incident.category == words, Incident.grid_code.startswith(words)]
        if words.lstrip("#").isdigit() and len(words) <= 9:
            conditions.append(Incident.id == int(words.lstrip("#")))
        query = query.where(or_(*conditions))
    if chosen.due == "overdue":
        query = query.where(Incident.due_at < now)
    elif chosen.due == "soon":
        query = query.where(Incident.due_at >= now, Incident.due_at < now + DUE_SOON)
    return query


def todo(session: Session, actor, chosen: QueueFilter, *, limit: int = 50, offset: int = 0,
         now: datetime) -> QueuePage:
    """A page of ``actor``'s queue under ``chosen``, most urgent first, with its total and
    the counts of every box of the role (scoped, not filtered)."""
    base = _scoped(actor, select(Incident))
    query = _filtered(actor, base, chosen, now)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    overdue_first = case((Incident.due_at < now, 0), (Incident.due_at.is_(None), 2), else_=1)
    items = session.scalars(query.order_by(overdue_first, Incident.due_at, Incident.id)
                            .limit(limit).offset(offset)).all()
    counts = {}
    for box in boxes_for(actor.role):
        boxed = _scoped(actor, select(func.count()).select_from(Incident)).where(
            _box_condition(actor, box))
        counts[box] = session.scalar(boxed)
    every = _filtered(actor, base, QueueFilter(), now).subquery()
    overdue = session.scalar(select(func.count()).select_from(every)
                             .where(every.c.due_at < now))
    soon = session.scalar(select(func.count()).select_from(every).where(
        every.c.due_at >= now, every.c.due_at < now + DUE_SOON))
    return QueuePage(items, total or 0, counts, overdue or 0, soon or 0)


def mine(session: Session, actor, *, limit: int = 20, offset: int = 0
         ) -> tuple[Sequence[Incident], int]:
    """The cases ``actor`` reported, newest first, and how many there are ("my reports")."""
    query = select(Incident).where(Incident.created_by == actor.name)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    items = session.scalars(query.order_by(Incident.id.desc()).limit(limit).offset(offset)).all()
    return items, total or 0


def box_of(actor, incident: Incident) -> str | None:
    """Which of ``actor``'s boxes ``incident`` sits in (None: nothing awaits the actor)."""
    level = _own_level(actor.role)
    for box in boxes_for(actor.role):
        if box == "act" and incident.state == "open" and level in (None, incident.level):
            return box
        if box == "verify" and incident.state == "resolved":
            return box
        if box == "callback" and incident.state == "closed":
            return box
        if box in ("report_in", "finish") and incident.state == "whistled":
            for s in incident.summonses:
                if actor.role == "department" and s.department != actor.department:
                    continue
                if (box == "report_in") == (s.reported_in_at is None) and s.done_at is None:
                    return box
    return None
