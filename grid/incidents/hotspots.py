"""每月一题 (the month's one problem) and 未诉先办 (act before the complaint).

``top_categories`` ranks a street's categories in a month by count and by growth over the
``baseline_months`` before it: growth = (count − mean of the previous months) / max(mean, 1).

``hotspots`` finds places where a category clusters beyond its usual rate: cases are binned into
square cells of ``cell_m`` metres (Gauss–Krüger coordinates of the street's zone); a cell is hot
for a category when this month's count is at least ``min_count`` and at least ``factor`` × (the
cell's monthly mean over the baseline months + 1). The +1 keeps a first case in a quiet cell
from counting as infinite growth.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime

from geoalchemy2.shape import to_shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grid.incidents.models import Incident
from grid.spatial.crs import to_metres


def month_start(start: datetime, back: int) -> datetime:
    """The first instant of the month ``back`` months before ``start`` (same time zone)."""
    index = start.year * 12 + start.month - 1 - back
    return start.replace(year=index // 12, month=index % 12 + 1, day=1)


@dataclass
class CategoryTrend:
    """A category's count this month and its growth over the baseline."""

    category: str
    count: int
    baseline_mean: float
    growth: float
    rank_by_count: int = 0
    rank_by_growth: int = 0

    def as_row(self) -> dict:
        """A flat dict for tables and exports."""
        return asdict(self)


def _counts(session: Session, street: str, start: datetime, end: datetime) -> Counter:
    rows = session.execute(
        select(Incident.category, func.count())
        .where(Incident.street_code == street, Incident.created_at >= start,
               Incident.created_at < end, Incident.state != "merged")
        .group_by(Incident.category))
    return Counter(dict(rows.all()))


def top_categories(session: Session, street: str, start: datetime, end: datetime,
                   baseline_months: int = 3) -> list[CategoryTrend]:
    """Categories of the month, ranked by count and by growth (the candidates for 每月一题)."""
    now = _counts(session, street, start, end)
    before = _counts(session, street, month_start(start, baseline_months), start)
    trends = []
    for category in set(now) | set(before):
        mean = before[category] / baseline_months
        trends.append(CategoryTrend(category, now[category], round(mean, 3),
                                    round((now[category] - mean) / max(mean, 1.0), 3)))
    for i, t in enumerate(sorted(trends, key=lambda t: (-t.count, t.category)), 1):
        t.rank_by_count = i
    for i, t in enumerate(sorted(trends, key=lambda t: (-t.growth, t.category)), 1):
        t.rank_by_growth = i
    return sorted(trends, key=lambda t: t.rank_by_count)


@dataclass
class Hotspot:
    """A cell where a category clusters beyond its usual rate this month."""

    category: str
    lon: float
    lat: float
    cell_m: float
    count: int
    baseline_mean: float
    incident_ids: list[int]

    def as_row(self) -> dict:
        """A flat dict for tables and exports (ids joined by commas)."""
        row = asdict(self)
        row["incident_ids"] = ",".join(map(str, self.incident_ids))
        return row


def hotspots(session: Session, street: str, start: datetime, end: datetime, *,
             baseline_months: int = 3, cell_m: float = 200, min_count: int = 3,
             factor: float = 2.0) -> list[Hotspot]:
    """Hot (category, cell) pairs of the month, most cases first (未诉先办 candidates)."""
    rows = session.execute(
        select(Incident.id, Incident.category, Incident.created_at, Incident.geom)
        .where(Incident.street_code == street, Incident.state != "merged",
               Incident.created_at >= month_start(start, baseline_months),
               Incident.created_at < end)).all()
    if not rows:
        return []
    points = [to_shape(r.geom) for r in rows]
    project = to_metres(points[0].x)
    xs, ys = project.transform([p.x for p in points], [p.y for p in points])
    current: dict[tuple, list[int]] = {}
    past: Counter = Counter()
    for row, x, y in zip(rows, xs, ys, strict=True):
        key = (row.category, int(x // cell_m), int(y // cell_m))
        if row.created_at >= start:
            current.setdefault(key, []).append(row.id)
        else:
            past[key] += 1
    found = []
    for key, ids in current.items():
        mean = past[key] / baseline_months
        if len(ids) >= min_count and len(ids) >= factor * (mean + 1):
            cx, cy = (key[1] + 0.5) * cell_m, (key[2] + 0.5) * cell_m
            lon, lat = project.transform(cx, cy, direction="INVERSE")
            found.append(Hotspot(key[0], round(lon, 6), round(lat, 6), cell_m, len(ids),
                                 round(mean, 3), sorted(ids)))
    return sorted(found, key=lambda h: (-h.count, h.category))
