"""The three rates (三率) and the monthly ranking of streets and communities.

For the cases *received* in a period (reported in it, merged duplicates left out) of one unit:

* 响应率 response rate     = in_time / received, where a case is *in time* when no level's time
  limit ran out on it (it was never escalated by the sweep, ``actor_role = system``) and no
  summoned department reported in late (``逾期报到`` on its report-in step);
* 解决率 resolution rate   = solved / received, *solved* = now ``resolved``, ``closed`` or
  ``rated`` (a case reopened by a 不满意 callback is not solved until it is again);
* 满意率 satisfaction rate = satisfied / rated, over every callback (``rate`` step) on those cases:
  *satisfied* = 满意 or 基本满意, *rated* = all callbacks (a 不满意 callback stays counted after
  the case is reopened and rated again);
* composite score = 100 × (w_r × response + w_s × resolution + w_m × satisfaction) with the
  weights of ``GRID_RATE_WEIGHTS`` (normalised to sum 1). A rate with nothing to divide by
  counts as 1 (no complaints is no failure).

The ranking sorts units by score, lowest first named (排名靠后). Communities with no complaints
(resident or hotline cases) in the period, or at most ``low_threshold``, are counted too.
Everything is one grouped SQL query per rate, so it runs in the database on either backend.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from grid.errors import InvalidInput
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.incidents.models import Incident, IncidentStep

SOLVED = ("resolved", "closed", "rated")
COMPLAINT_SOURCES = ("hotline", "resident")


@dataclass
class UnitRates:
    """One unit's figures for the period."""

    code: str
    received: int
    in_time: int
    solved: int
    rated: int
    satisfied: int
    complaints: int
    response: float = 1.0
    resolution: float = 1.0
    satisfaction: float = 1.0
    score: float = 100.0
    rank: int = 0

    def as_row(self) -> dict:
        """A flat dict for tables and exports."""
        return asdict(self)


def month_bounds(month: str, timezone: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of ``YYYY-MM`` in local time."""
    try:
        year, mon = (int(x) for x in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=ZoneInfo(timezone))
    except ValueError:
        raise InvalidInput(f"月份格式应为 YYYY-MM month must look like 2026-10, not '{month}'"
                           ) from None
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=start.tzinfo)
    return start, end


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 1.0


def rates(session: Session, level: str, start: datetime, end: datetime,
          weights: dict[str, float]) -> list[UnitRates]:
    """The three rates per street or community for cases received in [start, end), ranked
    (rank 1 = best; the last is the lowest, named in the monthly report)."""
    key = {"street": Incident.street_code, "community": Incident.community_code}[level]
    period = and_(Incident.created_at >= start, Incident.created_at < end,
                  Incident.state != "merged")
    late = (select(IncidentStep.incident_id).where(
        (and_(IncidentStep.action == "escalate", IncidentStep.actor_role == "system"))
        | (and_(IncidentStep.action == "report_in", IncidentStep.reason.startswith("逾期报到"))))
        .distinct().subquery())
    base = (select(
        key.label("code"), func.count().label("received"),
        func.sum(case((late.c.incident_id.is_(None), 1), else_=0)).label("in_time"),
        func.sum(case((Incident.state.in_(SOLVED), 1), else_=0)).label("solved"),
        func.sum(case((Incident.source.in_(COMPLAINT_SOURCES), 1), else_=0)).label("complaints"))
        .outerjoin(late, late.c.incident_id == Incident.id)
        .where(period).group_by(key))
    out = {row.code: UnitRates(row.code, row.received, int(row.in_time), int(row.solved), 0, 0,
                               int(row.complaints))
           for row in session.execute(base)}
    callbacks = (select(
        key.label("code"), func.count().label("rated"),
        func.sum(case((IncidentStep.reason.startswith("不满意"), 0), else_=1)).label("satisfied"))
        .join(IncidentStep, IncidentStep.incident_id == Incident.id)
        .where(period, IncidentStep.action == "rate").group_by(key))
    for row in session.execute(callbacks):
        if row.code in out:
            out[row.code].rated, out[row.code].satisfied = row.rated, int(row.satisfied)
    total = sum(weights.values()) or 1.0
    for unit in out.values():
        unit.response = _ratio(unit.in_time, unit.received)
        unit.resolution = _ratio(unit.solved, unit.received)
        unit.satisfaction = _ratio(unit.satisfied, unit.rated)
        unit.score = round(100 * (weights.get("response", 0) * unit.response
                                  + weights.get("resolution", 0) * unit.resolution
                                  + weights.get("satisfaction", 0) * unit.satisfaction) / total, 2)
    ranked = sorted(out.values(), key=lambda u: (-u.score, u.code))
    for i, unit in enumerate(ranked, 1):
        unit.rank = i
    return ranked


@dataclass
class MonthlyRanking:
    """The month's ranking at one level, its lowest unit, and the quiet communities."""

    level: str
    units: list[UnitRates]
    lowest: str | None
    zero_complaint_communities: int
    low_complaint_communities: int


def monthly_ranking(session: Session, level: str, start: datetime, end: datetime,
                    weights: dict[str, float], low_threshold: int = 2) -> MonthlyRanking:
    """Rank streets or communities; count the communities of the active boundary version with
    no complaints, and with at most ``low_threshold``."""
    ranked = rates(session, level, start, end, weights)
    per_community = {u.code: u.complaints
                     for u in (ranked if level == "community"
                               else rates(session, "community", start, end, weights))}
    version = store.require_active_version(session).id
    communities = [u.code for u in store.units(session, version, Level.community)]
    zero = sum(1 for c in communities if per_community.get(c, 0) == 0)
    low = sum(1 for c in communities if per_community.get(c, 0) <= low_threshold)
    return MonthlyRanking(level, ranked, ranked[-1].code if ranked else None, zero, low)
