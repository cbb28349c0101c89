"""The street office's desk (街道工作台): the figures beside the street map, the three-rate
trend by month, and the communities with no complaint.

* **figures** — cases not yet resolved (``open`` or ``whistled``), of which past their deadline,
  by the level holding them and by category; this month's and last month's cases received and
  solved (local months of ``GRID_WORK_TIMEZONE``). Two grouped queries on the street's cases.
* **trend** — the three rates (``grid.incidents.rates``) of the street and of each of its
  communities for each of the last ``months`` months, one ranking per month. A rate with
  nothing to divide by is passed on as it comes (``None`` where the rates module says "no
  data"), and the pages show it as "—", never as 100 %.
* **quiet communities** — the street's communities of the active boundary version with no
  resident or hotline complaint in the month (零投诉社区).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.hierarchy.models import Unit
from grid.incidents import rates
from grid.incidents.hotspots import month_start
from grid.incidents.models import Incident
from grid.incidents.rates import COMPLAINT_SOURCES, SOLVED, month_bounds
from grid.orm import utcnow

UNRESOLVED = ("open", "whistled")
#: Most months a trend reaches back.
MAX_MONTHS = 24


@dataclass
class MonthCount:
    """Cases received in a month and how many of them are solved now."""

    month: str
    received: int = 0
    solved: int = 0


@dataclass
class DeskFigures:
    """The panel beside the street map."""

    street: str
    open: int = 0
    overdue: int = 0
    by_level: dict[str, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)
    this_month: MonthCount | None = None
    last_month: MonthCount | None = None

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def month_of(now: datetime, timezone: str) -> str:
    """``YYYY-MM`` of ``now`` in local time."""
    start, _ = month_bounds("2000-01", timezone)
    return now.astimezone(start.tzinfo).strftime("%Y-%m")


def shift_month(month: str, back: int, timezone: str) -> str:
    """The month ``back`` months before ``month`` (negative: after)."""
    start, _ = month_bounds(month, timezone)
    return month_start(start, back).strftime("%Y-%m")


def _month_count(session: Session, street: str, month: str, timezone: str) -> MonthCount:
    start, end = month_bounds(month, timezone)
    received, solved = session.execute(
        select(func.count(), func.coalesce(func.sum(case((Incident.state.in_(SOLVED), 1),
                                                         else_=0)), 0))
        .where(Incident.street_code == street, Incident.state != "merged",
               Incident.created_at >= start, Incident.created_at < end)).one()
    return MonthCount(month, int(received), int(solved))


def figures(session: Session, street: str, timezone: str,
            now: datetime | None = None) -> DeskFigures:
    """The street's open and overdue cases by level and category, and this month against
    last month."""
    now = now or utcnow()
    out = DeskFigures(street)
    overdue = case((Incident.due_at < now, 1), else_=0)
    rows = session.execute(
        select(Incident.level, Incident.category, func.count(), func.sum(overdue))
        .where(Incident.street_code == street, Incident.state.in_(UNRESOLVED))
        .group_by(Incident.level, Incident.category))
    for level, category, count, late in rows:
        out.open += count
        out.overdue += int(late or 0)
        out.by_level[level] = out.by_level.get(level, 0) + count
        out.by_category[category] = out.by_category.get(category, 0) + count
    out.by_category = dict(sorted(out.by_category.items(), key=lambda kv: (-kv[1], kv[0])))
    this = month_of(now, timezone)
    out.this_month = _month_count(session, street, this, timezone)
    out.last_month = _month_count(session, street, shift_month(this, 1, timezone), timezone)
    return out


def unit_names(session: Session, codes) -> dict[str, str]:
    """code → name in the active boundary version (codes it lacks are left out)."""
    codes = sorted({c for c in codes if c})
    version = store.active_version(session)
    if not codes or version is None:
        return {}
    rows = session.execute(select(Unit.code, Unit.name).where(
        store.alive_in(version.id), Unit.code.in_(codes)))
    return dict(rows.all())


def communities(session: Session, street: str) -> dict[str, str]:
    """The street's communities in the active version: code → name."""
    version = store.require_active_version(session).id
    return {u.code: u.name for u in store.units(session, version, Level.community,
                                                parent_code=street)}


def quiet_communities(session: Session, street: str, month: str,
                      timezone: str) -> list[dict[str, str]]:
    """The street's communities with no resident or hotline complaint in ``month``."""
    start, end = month_bounds(month, timezone)
    noisy = set(session.scalars(
        select(Incident.community_code).where(
            Incident.street_code == street, Incident.created_at >= start,
            Incident.created_at < end, Incident.state != "merged",
            Incident.source.in_(COMPLAINT_SOURCES)).distinct()))
    return [{"code": c, "name": n} for c, n in communities(session, street).items()
            if c not in noisy]


def _rate_row(unit: rates.UnitRates | None) -> dict:
    if unit is None:  # no case received: nothing to rate
        return {"received": 0, "response": None, "resolution": None, "satisfaction": None,
                "score": None}
    return {"received": unit.received, "response": unit.response,
            "resolution": unit.resolution, "satisfaction": unit.satisfaction,
            "score": unit.score}


def trend(session: Session, street: str, month: str, months: int, timezone: str,
          weights: dict[str, float]) -> dict:
    """The three rates of the street and of each of its communities, month by month, for
    the ``months`` months ending with ``month``. A unit with no case in a month has ``None``
    rates for it (not 100 %)."""
    months = max(1, min(months, MAX_MONTHS))
    labels = [shift_month(month, back, timezone) for back in range(months - 1, -1, -1)]
    names = communities(session, street)
    series: dict[str, list[dict]] = {street: []}
    series.update({code: [] for code in names})
    for label in labels:
        start, end = month_bounds(label, timezone)
        by_street = {u.code: u for u in rates.rates(session, "street", start, end, weights)}
        by_community = {u.code: u for u in rates.rates(session, "community", start, end,
                                                       weights)}
        series[street].append({"month": label, **_rate_row(by_street.get(street))})
        for code in names:
            series[code].append({"month": label, **_rate_row(by_community.get(code))})
    return {"street": street, "months": labels, "series": series}
