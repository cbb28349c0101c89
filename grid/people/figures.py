"""The month's figures of the people in the loop, per community, for the street office's
monthly review next to the three rates (``grid.incidents.rates``): orders placed, taken,
rated and the median time to take one; members registered and active; topics opened, decided
and evaluated; rounds, visits and building coverage. ``review`` puts them beside the three
rates in one row per community."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from statistics import median

from sqlalchemy import select
from sqlalchemy.orm import Session

from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.incidents.rates import month_bounds, monthly_ranking
from grid.people.common import STAFF, Actor, require_role, require_scope
from grid.people.members import MemberState
from grid.people.models import Member, Order, Topic
from grid.people.rounds import Rounds


@dataclass
class CommunityFigures:
    """One community's month."""

    community_code: str
    community_name: str
    orders_placed: int
    orders_taken: int
    orders_rated: int
    orders_escalated: int
    median_hours_to_take: float | None
    members_registered: int
    members_active: int
    service_hours: float
    topics_opened: int
    topics_decided: int
    topics_evaluated: int
    visits: int
    rounds: int
    buildings: int
    buildings_covered: int
    coverage: float


def monthly(session: Session, actor: Actor, rounds: Rounds, unit: str, month: str,
            timezone: str) -> list[CommunityFigures]:
    """Figures for every community under ``unit`` (a street or a community) in ``month``."""
    require_role(actor, STAFF, "查看月度数据 see the monthly figures")
    require_scope(actor, unit)
    start, end = month_bounds(month, timezone)
    version = store.require_active_version(session).id
    communities = [c for c in store.units(session, version, Level.community)
                   if c.code.startswith(unit) or unit.startswith(c.code)]
    codes = [c.code for c in communities]
    orders = session.scalars(select(Order).where(
        Order.community_code.in_(codes), Order.created_at >= start,
        Order.created_at < end)).all()
    members = session.scalars(select(Member).where(Member.community_code.in_(codes))).all()
    topics = session.scalars(select(Topic).where(Topic.community_code.in_(codes))).all()
    by = defaultdict(list)
    for order in orders:
        by[("o", order.community_code)].append(order)
    for member in members:
        by[("m", member.community_code)].append(member)
    for topic in topics:
        by[("t", topic.community_code)].append(topic)
    result = []
    for community in communities:
        placed = by[("o", community.code)]
        waits = [(o.taken_at - o.created_at).total_seconds() / 3600 for o in placed
                 if o.taken_at is not None]
        active = {o.taker_id for o in placed if o.taker_id is not None}
        mine = by[("t", community.code)]
        grids = rounds.coverage(session, actor, community.code, month)
        buildings = sum(g.buildings for g in grids)
        covered = sum(g.covered for g in grids)
        result.append(CommunityFigures(
            community_code=community.code, community_name=community.name,
            orders_placed=len(placed),
            orders_taken=sum(1 for o in placed if o.taken_at is not None),
            orders_rated=sum(1 for o in placed if o.rating is not None),
            orders_escalated=sum(1 for o in placed if any(s.move == "escalate"
                                                          for s in o.steps)),
            median_hours_to_take=round(median(waits), 2) if waits else None,
            members_registered=sum(1 for m in by[("m", community.code)]
                                   if m.state == MemberState.confirmed),
            members_active=len(active),
            service_hours=round(sum(o.hours or 0 for o in placed), 2),
            topics_opened=sum(1 for t in mine if start <= t.created_at < end),
            topics_decided=sum(1 for t in mine if t.decided_at and start <= t.decided_at < end),
            topics_evaluated=sum(1 for t in mine if t.evaluation and any(
                e.move == "evaluate" and start <= e.at < end for e in t.log)),
            visits=sum(g.visits for g in grids), rounds=sum(g.rounds for g in grids),
            buildings=buildings, buildings_covered=covered,
            coverage=round(covered / buildings, 4) if buildings else 0.0))
    return result


def review(session: Session, actor: Actor, rounds: Rounds, unit: str, month: str,
           timezone: str, weights: dict[str, float]) -> list[dict]:
    """The street office's monthly review per community: the three rates (响应率, 解决率,
    满意率, score and rank, ``grid.incidents.rates``) next to the people figures above, one
    row per community under ``unit``, in the ranking's order (communities with no case
    last)."""
    start, end = month_bounds(month, timezone)
    ranking = monthly_ranking(session, "community", start, end, weights)
    rated = {u.code: u.as_row() for u in ranking.units}
    order = {code: i for i, code in enumerate(rated)}
    rows = []
    for figures in monthly(session, actor, rounds, unit, month, timezone):
        three = rated.get(figures.community_code, {})
        rows.append({**{f"rates_{k}": v for k, v in three.items() if k != "code"},
                     **asdict(figures)})
    return sorted(rows, key=lambda r: order.get(r["community_code"], len(order)))
