"""Boundary versions over time (边界版本): diff two versions, roll back, and place a point —
or an incident, which keeps the owners it was given — against any version.

Redistricting (村改居: nine villages become seven communities) is a new version; incidents placed
before it keep their old community, and :func:`placement_in` answers "where would it be now?"
without rewriting them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import shapely
import shapely.geometry
from geoalchemy2.shape import to_shape
from pyproj import CRS
from sqlalchemy import select
from sqlalchemy.orm import Session

from grid.db import STORAGE_SRID
from grid.errors import InvalidInput
from grid.hierarchy import store
from grid.hierarchy.levels import LEVELS, SPATIAL_LEVELS
from grid.hierarchy.models import BoundaryVersion, Unit


@dataclass
class LevelDiff:
    """How one level differs between two versions."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: code → % of the old area that changed (symmetric difference / old area × 100)
    changed: dict[str, float] = field(default_factory=dict)
    unchanged: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"added": self.added, "removed": self.removed,
                "changed": {c: round(p, 2) for c, p in self.changed.items()},
                "unchanged": self.unchanged}


def _keys(session: Session, version_id: int) -> dict[str, tuple[int, str]]:
    """code → (row id, level) of every unit of a version, in one plain query (no ORM
    objects: a city's version has a million buildings)."""
    return {code: (uid, level) for code, uid, level in
            store.unit_rows(session, version_id, None, "code", "id", "level", by_code=False)}


@dataclass
class _Row:
    name: str
    parent_code: str | None
    attrs: Any
    geom: shapely.Geometry | None


def _details(session: Session, ids: list[int]) -> dict[int, _Row]:
    """Name, parent, attributes and shape of the rows ``ids`` (only the rows that differ
    between the versions are read whole)."""
    t = Unit.__table__.c
    found: dict[int, _Row] = {}
    for start in range(0, len(ids), store.IDS_PER_STATEMENT):
        rows = session.execute(
            select(t.id, t.name, t.parent_code, t.attrs, store.wkb(t.geom))
            .where(t.id.in_(ids[start:start + store.IDS_PER_STATEMENT]))).all()
        for row, geom in zip(rows, store.shapes([r[4] for r in rows]), strict=True):
            found[row[0]] = _Row(row[1], row[2], row[3], geom)
    return found


#: The CGCS2000 ellipsoid: areas are measured on it from lon/lat, in m², with no projection.
_GEOD = CRS.from_epsg(STORAGE_SRID).get_geod()


def _area(geom) -> float:
    return abs(_GEOD.geometry_area_perimeter(geom)[0])


def _area_change(old: _Row, new: _Row) -> float:
    if old.geom is None or new.geom is None:
        return 0.0
    a, b = old.geom, new.geom
    changed = shapely.symmetric_difference(a, b)
    return 0.0 if changed.is_empty else 100.0 * _area(changed) / max(_area(a), 1e-9)


def diff(session: Session, old_id: int, new_id: int) -> dict[str, LevelDiff]:
    """Units added, removed and changed (with % of area changed) from ``old_id`` to
    ``new_id``, by level. A carried-over row is unchanged without looking at it."""
    store.get_version(session, old_id)
    store.get_version(session, new_id)
    old, new = _keys(session, old_id), _keys(session, new_id)
    result = {level.value: LevelDiff() for level in LEVELS}
    differing = [(code, before[0], row[0]) for code, row in new.items()
                 if (before := old.get(code)) is not None and before[0] != row[0]]
    rows = _details(session, [i for _, a, b in differing for i in (a, b)])
    changed = {code: (rows[a], rows[b]) for code, a, b in differing}
    for code, (_, level) in sorted(new.items()):
        entry = result[level]
        if code not in old:
            entry.added.append(code)
        elif code not in changed:  # the same row, carried over
            entry.unchanged += 1
        else:
            before, unit = changed[code]
            area = _area_change(before, unit)
            if (before.name, before.parent_code, before.attrs) == (
                    unit.name, unit.parent_code, unit.attrs) and area == 0:
                entry.unchanged += 1
            else:
                entry.changed[code] = area
    for code, (_, level) in sorted(old.items()):
        if code not in new:
            result[level].removed.append(code)
    return result


#: Most units a diff map draws per kind of change (a city's redraw can touch thousands).
DIFF_FEATURES = 5000


def _features(session: Session, version_id: int, codes: list[str], change: str,
              extra: dict[str, float] | None = None) -> list[dict[str, Any]]:
    out = []
    for start in range(0, len(codes), store.IDS_PER_STATEMENT):
        for unit in store.units(session, version_id,
                                codes=codes[start:start + store.IDS_PER_STATEMENT]):
            shape = store.shape_of(unit)
            if shape is None:
                continue
            props = {"code": unit.code, "name": unit.name, "level": unit.level,
                     "change": change}
            if extra is not None:
                props["area_changed_pct"] = round(extra.get(unit.code, 0.0), 2)
            out.append({"type": "Feature", "properties": props,
                        "geometry": shapely.geometry.mapping(
                            shapely.set_precision(shape, 1e-7, mode="pointwise"))})
    return out


def diff_features(session: Session, old_id: int, new_id: int,
                  levels: list[str] | None = None) -> dict[str, Any]:
    """:func:`diff` as a GeoJSON FeatureCollection to draw: added and changed units with
    their new shape, removed ones with their old shape, each with ``change`` set to added /
    removed / changed (at most ``DIFF_FEATURES`` of each kind, ``truncated`` says so)."""
    found = diff(session, old_id, new_id)
    features: list[dict[str, Any]] = []
    truncated = False
    added, removed, changed = [], [], {}
    for level, d in found.items():
        if levels and level not in levels:
            continue
        added += d.added
        removed += d.removed
        changed.update(d.changed)
    for codes, version, change, extra in (
            (added, new_id, "added", None), (removed, old_id, "removed", None),
            (sorted(changed), new_id, "changed", changed)):
        truncated |= len(codes) > DIFF_FEATURES
        features += _features(session, version, codes[:DIFF_FEATURES], change, extra)
    return {"type": "FeatureCollection", "features": features, "truncated": truncated,
            "counts": {"added": len(added), "removed": len(removed), "changed": len(changed)},
            "old": old_id, "new": new_id}


def previous_version(session: Session) -> BoundaryVersion:
    """The version activated before the active one (by activation time)."""
    active = store.require_active_version(session)
    earlier = session.scalars(
        select(BoundaryVersion)
        .where(BoundaryVersion.id != active.id, BoundaryVersion.activated_at.is_not(None))
        .order_by(BoundaryVersion.activated_at.desc(), BoundaryVersion.id.desc())
    ).first()
    if earlier is None:
        raise InvalidInput(
            f"版本 {active.id} 之前没有启用过的版本 no version was active before {active.id}"
        )
    return earlier


def rollback(session: Session) -> BoundaryVersion:
    """Re-activate the previously active version, in one transaction."""
    return store.activate(session, previous_version(session).id)


def place_in(session: Session, version_id: int, lon: float, lat: float
             ) -> dict[str, str | None]:
    """The owning unit of each spatial level for a point in ``version_id``, by the database's
    own ``ST_Covers`` (lowest code wins on shared edges, as everywhere)."""
    store.get_version(session, version_id)
    return {level.value: next(iter(store.covering_codes(session, version_id, level, lon, lat)),
                              None)
            for level in SPATIAL_LEVELS}


def placement_in(session: Session, incident: Any, version_id: int) -> dict[str, Any]:
    """Where ``incident`` (anything with a point ``geom``, ``boundary_version`` and owner
    codes) falls in ``version_id``, next to the owners it keeps. Nothing is written."""
    point = to_shape(incident.geom)
    kept = {level.value: getattr(incident, f"{level.value}_code", None)
            for level in SPATIAL_LEVELS}
    return {
        "id": incident.id,
        "lon": point.x,
        "lat": point.y,
        "original": {"version": incident.boundary_version, **kept},
        "placed": {"version": version_id, **place_in(session, version_id, point.x, point.y)},
    }

