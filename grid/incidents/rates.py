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
  weights of ``GRID_RATE_WEIGHTS`` (normalised to sum 1).

A rate with nothing to divide by has no value (``None``; shown "—", ``null`` in the API): a unit
with no rated callback has no satisfaction rate, not 100 %. A unit lacking a rate that carries
weight has no score either: it is listed apart, after the ranked units, with no rank — never at
the top for having nothing to judge it by.

The ranking sorts the scored units, rank 1 the best; the last is named (排名靠后, 末位).
Communities with no complaints (resident or hotline cases) in the period, or at most
``low_threshold``, are counted too.

Every ladder move keeps three columns of the incident in step with its steps (``late``,
``callbacks``, ``satisfied_callbacks``; see ``grid.incidents.ladder._count_for_rates``), so
the figures are one grouped scan of the period's cases (``ix_incident_created``) by street and
community, on either backend — not a join with the step table, which grows several rows per
case for ever. A monthly ranking at Beijing scale (24 million cases a year) reads only the
month's two million rows (``benchmarks/workflow_rates_bench.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from grid.errors import InvalidInput
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.incidents.models import Incident

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
    response: float | None = None
    resolution: float | None = None
    satisfaction: float | None = None
    score: float | None = None
    #: 1 = best; None for a unit without a score (listed apart, after the ranked ones).
    rank: int | None = None

    def as_row(self) -> dict:
        """A flat dict for tables and exports."""
        return asdict(self)


def month_bounds(month: str, timezone: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of ``YYYY-MM`` in local time."""
    try:
        year, mon = (int(x) for x in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=ZoneInfo(timezone))
        end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=start.tzinfo)
    except ValueError:  # not a month, or the last one a datetime can hold (9999-12)
        raise InvalidInput(f"月份格式应为 YYYY-MM month must look like 2026-10, not '{month}'"
                           ) from None
    return start, end


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _score(unit: UnitRates, weights: dict[str, float]) -> float | None:
    """100 × the weighted mean of the three rates; None when a weighted rate has no value."""
    parts = {"response": unit.response, "resolution": unit.resolution,
             "satisfaction": unit.satisfaction}
    if any(parts[k] is None for k, w in weights.items() if w and k in parts):
        return None
    total = sum(w for k, w in weights.items() if k in parts) or 1.0
    return round(100 * sum(w * (parts[k] or 0) for k, w in weights.items() if k in parts)
                 / total, 2)


#: Level → the incident column holding its code.
_KEYS = {"street": 0, "community": 1}


def _figures(session: Session, start: datetime, end: datetime) -> list[tuple]:
    """(street, community, received, in_time, solved, rated, satisfied, complaints) for the
    cases received in [start, end), merged duplicates left out: one grouped scan."""
    # Grouped by community alone: its street comes along as an aggregate (a community's code
    # begins with its street's, so there is one), which halves the hashing of a 2-key group.
    query = (select(
        func.min(Incident.street_code), Incident.community_code, func.count(),
        func.sum(case((Incident.late, 0), else_=1)),
        func.sum(case((Incident.state.in_(SOLVED), 1), else_=0)),
        func.sum(Incident.callbacks), func.sum(Incident.satisfied_callbacks),
        func.sum(case((Incident.source.in_(COMPLAINT_SOURCES), 1), else_=0)))
        .where(Incident.created_at >= start, Incident.created_at < end,
               Incident.state != "merged")
        .group_by(Incident.community_code))
    return [tuple(row) for row in session.execute(query)]


def _ranked(figures: list[tuple], level: str, weights: dict[str, float]) -> list[UnitRates]:
    key = _KEYS[level]
    out: dict[str, UnitRates] = {}
    for row in figures:
        unit = out.setdefault(row[key], UnitRates(row[key], 0, 0, 0, 0, 0, 0))
        unit.received += row[2]
        unit.in_time += int(row[3])
        unit.solved += int(row[4])
        unit.rated += int(row[5])
        unit.satisfied += int(row[6])
        unit.complaints += int(row[7])
    for unit in out.values():
        unit.response = _ratio(unit.in_time, unit.received)
        unit.resolution = _ratio(unit.solved, unit.received)
        unit.satisfaction = _ratio(unit.satisfied, unit.rated)
        unit.score = _score(unit, weights)
    ranked = sorted((u for u in out.values() if u.score is not None),
                    key=lambda u: (-u.score, u.code))
    for i, unit in enumerate(ranked, 1):
        unit.rank = i
    return ranked + sorted((u for u in out.values() if u.score is None), key=lambda u: u.code)


def rates(session: Session, level: str, start: datetime, end: datetime,
          weights: dict[str, float]) -> list[UnitRates]:
    """The three rates per street or community for cases received in [start, end), ranked
    (rank 1 = best; the last ranked is the lowest, named in the monthly report), then the units
    without a score (no rank)."""
    if level not in _KEYS:
        raise InvalidInput(f"未知层级 level must be street or community, not '{level}'")
    return _ranked(_figures(session, start, end), level, weights)


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
    if level not in _KEYS:
        raise InvalidInput(f"未知层级 level must be street or community, not '{level}'")
    figures = _figures(session, start, end)
    ranked = _ranked(figures, level, weights)
    per_community: dict[str, int] = {}
    for row in figures:
        per_community[row[1]] = per_community.get(row[1], 0) + int(row[7])
    version = store.require_active_version(session).id
    communities = [u.code for u in store.units(session, version, Level.community)]
    zero = sum(1 for c in communities if per_community.get(c, 0) == 0)
    low = sum(1 for c in communities if per_community.get(c, 0) <= low_threshold)
    scored = [u for u in ranked if u.rank is not None]
    return MonthlyRanking(level, ranked, scored[-1].code if scored else None, zero, low)
