"""Overlays as GeoJSON feature pages (the OGC API collections and the maps read these):
temporary branches, the active version's street/lane segments with their chiefs, stationed
units. Filtered by bbox in the database (``geoalchemy2.functions``, same on both stores)."""

from __future__ import annotations

from datetime import date
from typing import Any

from geoalchemy2 import functions as gfn
from geoalchemy2.shape import from_shape
from shapely.geometry import box, mapping
from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from grid.db import STORAGE_SRID
from grid.overlays import store
from grid.overlays.models import StationedUnit, StreetSegment, TemporaryBranch
from grid.spatial.export import FeaturePage

#: OGC collection id → the overlay it serves.
COLLECTIONS = {
    "temporary_branches": ("临时党支部 temporary Party branches", TemporaryBranch),
    "street_segments": ("街巷及街巷长 street/lane segments and chiefs", StreetSegment),
    "stationed_units": ("驻区单位 stationed units", StationedUnit),
}


def _bbox(column, bbox):
    if bbox is None:
        return true()
    return gfn.ST_Intersects(column, from_shape(box(*bbox), srid=STORAGE_SRID))


def _period(row) -> dict[str, str | None]:
    return {"valid_from": row.valid_from.isoformat(),
            "valid_to": row.valid_to.isoformat() if row.valid_to else None}


def _properties(session: Session, model, rows: list, day: date) -> list[dict[str, Any]]:
    if model is TemporaryBranch:
        return [{"code": b.code, "name": b.name, "purpose": b.purpose,
                 "parent_org_code": b.parent_org_code, "secretary": b.secretary,
                 "contact": b.contact, **_period(b), "active": store.is_valid(b, day)}
                for b in rows]
    if model is StationedUnit:
        return [{"code": u.code, "name": u.name, "kind": u.kind, "street_code": u.street_code,
                 "party_org": u.party_org, "contact": u.contact, "phone": u.phone,
                 "resources": list(u.resources or []), **_period(u),
                 "active": store.is_valid(u, day)} for u in rows]
    chiefs: dict[str, list[dict]] = {}
    for c in store.chiefs(session, [s.code for s in rows]):
        if store.is_valid(c, day):
            chiefs.setdefault(c.segment_code, []).append(
                {"tier": c.tier, "name": c.name, "title": c.title, "phone": c.phone})
    return [{"code": s.code, "name": s.name, "kind": s.kind, "version": s.version_id,
             "communities": list((s.attrs or {}).get("communities", [])),
             "chiefs": chiefs.get(s.code, [])} for s in rows]


def overlay_features(session: Session, collection: str, day: date,
                     bbox: tuple[float, float, float, float] | None = None, limit: int = 100,
                     offset: int = 0, code: str | None = None) -> FeaturePage:
    """One page of an overlay collection, by code (segments: the active version's)."""
    model = COLLECTIONS[collection][1]
    where = [_bbox(model.geom, bbox)]
    if model is StreetSegment:
        active = store.active_segment_version(session)
        where.append(StreetSegment.version_id == (active.id if active else -1))
    if code is not None:
        where.append(model.code == code)
    matched = session.scalar(select(func.count()).select_from(model).where(*where))
    rows = list(session.scalars(select(model).where(*where).order_by(model.code)
                                .limit(limit).offset(offset)))
    return FeaturePage([
        {"type": "Feature", "id": row.code, "geometry": mapping(store.shape(row)),
         "properties": props}
        for row, props in zip(rows, _properties(session, model, rows, day), strict=True)],
        matched or 0)
