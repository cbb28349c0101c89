"""The search behind duplicate suggestions (``grid.incidents.duplicates``): open cases of one
category and street, filed within the category's window, near a point.

Kept apart from ``duplicates`` (which merges through the ladder) so the report's INSERT
(``grid.incidents.inserts``) can carry the same search in its own statement on PostGIS.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import numpy as np
from sqlalchemy import Float, and_, bindparam, func, literal_column, or_, select

from grid.db import STORAGE_SRID
from grid.incidents.models import Incident
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
def nearby_query(dialect: str, exclude_self: bool = True):
    """Open cases of one category and street, filed since a time, inside a box: built once
    per dialect with bound parameters (it runs on every report). Columns: id, created_at,
    x, y. ``exclude_self=False`` drops the ``id`` parameter, for a search run in the same
    statement as the new case's INSERT (whose row that statement cannot see)."""
    t = Incident.__table__
    x, y = func.ST_X(t.c.geom), func.ST_Y(t.c.geom)
    box = [bindparam(name, type_=Float) for name in ("x0", "y0", "x1", "y1")]
    if dialect == "postgresql":
        # The box as ``&&``, which the GiST index on ``geom`` answers: the search stays a
        # handful of index pages however many cases the table holds.
        near = t.c.geom.intersects(
            func.ST_MakeEnvelope(*box, literal_column(str(STORAGE_SRID))))
    else:
        near = and_(x.between(box[0], box[2]), y.between(box[1], box[3]))
    conditions = [t.c.category == bindparam("category"),
                  # equalities with constants in the SQL, not IN (an IN list is re-rendered on
                  # every execution) nor parameters (psycopg caches its conversion of a
                  # statement with at most 50 parameters; the report's chained INSERT,
                  # which carries this query, stays under that)
                  or_(*(t.c.state == literal_column(f"'{state}'") for state in ACTIVE)),
                  t.c.created_at >= bindparam("since"),
                  t.c.street_code == bindparam("street"), near]
    if exclude_self:
        conditions.insert(0, t.c.id != bindparam("id"))
    return (select(t.c.id, t.c.created_at, x.label("x"), y.label("y"))
            .where(*conditions).order_by(t.c.id))


def search_params(rule, category: str, street: str | None, lon: float, lat: float,
                  now: datetime) -> dict:
    """``nearby_query``'s parameters (all but ``id``) for a case of ``category`` at
    ``lon``/``lat`` filed at ``now``, under the category's duplicate ``rule``.

    A cheap box in degrees (one degree of latitude ≥ 110 km; longitude shrinks with
    latitude, so the box is widened by 1/cos ≤ 2 below 60°N); ``rank`` then keeps exact
    metres."""
    pad = rule.radius_m / 55_000
    return {"category": category, "since": now - timedelta(hours=rule.window_hours),
            "street": street, "x0": lon - pad, "y0": lat - pad, "x1": lon + pad,
            "y1": lat + pad}


def rank(rule, lon: float, lat: float,
         candidates: Iterable[tuple[int, datetime, float, float]]) -> list[Suggestion]:
    """The candidates (id, created_at, x, y) within the rule's radius, nearest first."""
    candidates = list(candidates)
    if not candidates:
        return []
    # Every candidate projected in one call (a busy spot has dozens; one call each would
    # cost more than the query).
    lons = np.array([lon, *(c[2] for c in candidates)])
    lats = np.array([lat, *(c[3] for c in candidates)])
    xm, ym = to_metres(lon).transform(lons, lats)
    distances = np.hypot(xm[1:] - xm[0], ym[1:] - ym[0])
    found = [Suggestion(other_id, round(float(d), 1), created_at)
             for (other_id, created_at, _, _), d in zip(candidates, distances, strict=True)
             if d <= rule.radius_m]
    return sorted(found, key=lambda s: s.distance_m)
