"""Exporting one level of one boundary version to GeoPackage, GeoJSON or shapefile.

Shapefiles get a ``.cpg`` naming their encoding: UTF-8 by default, GBK on request for older
desktop tools that cannot read UTF-8 attribute tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
from geoalchemy2 import functions as gfn
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import box, mapping
from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from grid.db import STORAGE_SRID
from grid.errors import InvalidInput
from grid.hierarchy import store
from grid.hierarchy.levels import SPATIAL_LEVELS, Level
from grid.hierarchy.models import Unit

if TYPE_CHECKING:
    from grid.scope import Scope

FORMATS = {"gpkg": "GPKG", "geojson": "GeoJSON", "shp": "ESRI Shapefile"}


def level_frame(session: Session, version_id: int, level: Level) -> gpd.GeoDataFrame:
    """The units of ``level`` in ``version_id`` as a frame: code, name, parent_code, geometry
    (one plain query, geometry parsed in one call: a city's level is a million rows)."""
    store.get_version(session, version_id)
    rows = store.unit_rows(session, version_id, level, "code", "name", "parent_code",
                           "geom").all()
    return gpd.GeoDataFrame(
        {"code": [r.code for r in rows], "name": [r.name for r in rows],
         "parent_code": [r.parent_code or "" for r in rows]},
        geometry=store.shapes([r.geom for r in rows]), crs=STORAGE_SRID,
    )


def export_level(session: Session, version_id: int, level: Level, path: str | Path,
                 fmt: str | None = None, encoding: str = "UTF-8") -> int:
    """Write ``level`` of ``version_id`` to ``path`` (format from ``fmt`` or the suffix);
    returns the number of units written."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise InvalidInput(f"未知格式 unknown format '{fmt}'; expected one of {', '.join(FORMATS)}")
    if level not in SPATIAL_LEVELS:
        raise InvalidInput(f"{level} 没有几何，不能导出 {level} has no geometry to export")
    frame = level_frame(session, version_id, level)
    options = {}
    if fmt == "shp":
        options["encoding"] = encoding.upper()  # GDAL writes the matching .cpg
        frame = frame.rename(columns={"parent_code": "parent_cod"})  # dBASE: 10 characters
    elif encoding.upper() not in ("UTF-8", "UTF8"):
        raise InvalidInput(f"{fmt} 只能是 UTF-8 {fmt} is always UTF-8; --encoding is for shp")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    frame.to_file(path, driver=FORMATS[fmt], layer=level.value if fmt == "gpkg" else None,
                  engine="pyogrio", **options)
    return len(frame)


# -- features for OGC API – Features --------------------------------------------------------

#: Incident fields published as feature properties (no reporter, contact or description:
#: those may name a resident).
INCIDENT_FIELDS = ("category", "state", "level", "source", "street_code", "community_code",
                   "grid_code", "building_code", "boundary_version")


@dataclass
class FeaturePage:
    """One page of features: GeoJSON Feature dicts and how many match in all."""

    features: list[dict[str, Any]]
    matched: int


def _bbox_filter(column, bbox: tuple[float, float, float, float] | None):
    if bbox is None:
        return true()
    envelope = from_shape(box(*bbox), srid=STORAGE_SRID)  # bound as EWKB: exact on both stores
    return gfn.ST_Intersects(column, envelope)


def unit_features(session: Session, version_id: int, level: Level,
                  bbox: tuple[float, float, float, float] | None = None, limit: int = 100,
                  offset: int = 0, code: str | None = None) -> FeaturePage:
    """Units of one level of a version as GeoJSON features (id = unit code), by code."""
    where = [store.alive_in(version_id), Unit.level == level.value,
             _bbox_filter(Unit.geom, bbox)]
    if code is not None:
        where.append(Unit.code == code)
    matched = session.scalar(select(func.count()).select_from(Unit).where(*where))
    rows = session.scalars(select(Unit).where(*where).order_by(Unit.code)
                           .limit(limit).offset(offset))
    return FeaturePage([
        {"type": "Feature", "id": u.code,
         "geometry": mapping(store.shape_of(u)),
         "properties": {"code": u.code, "name": u.name, "level": u.level,
                        "parent_code": u.parent_code, "version": version_id}}
        for u in rows], matched or 0)


def incident_features(session: Session, scope: Scope,
                      bbox: tuple[float, float, float, float] | None = None, limit: int = 100,
                      offset: int = 0, incident_id: int | None = None) -> FeaturePage:
    """Incidents as point features, those ``scope`` may see only (``grid.scope``)."""
    from grid.incidents.models import Incident  # the feature source reads incidents, once

    where = [_bbox_filter(Incident.geom, bbox), scope.incidents()]
    if incident_id is not None:
        where.append(Incident.id == incident_id)
    matched = session.scalar(select(func.count()).select_from(Incident).where(*where))
    rows = session.scalars(select(Incident).where(*where).order_by(Incident.id)
                           .limit(limit).offset(offset))
    return FeaturePage([
        {"type": "Feature", "id": i.id, "geometry": mapping(to_shape(i.geom)),
         "properties": {**{f: getattr(i, f) for f in INCIDENT_FIELDS},
                        "created_at": i.created_at.isoformat()}}
        for i in rows], matched or 0)


def level_extent(session: Session, version_id: int, level: Level) -> list[float] | None:
    """Bounding box (lon/lat) of a level in a version, or None when it is empty: one
    aggregate in the database (every collection listing asks for it)."""
    t = Unit.__table__.c
    where = (store.alive_in(version_id), t.level == level.value)
    if session.get_bind().dialect.name == "postgresql":
        box = select(func.ST_Extent(t.geom).label("e")).where(*where).subquery()
        corners = select(func.ST_XMin(box.c.e), func.ST_YMin(box.c.e), func.ST_XMax(box.c.e),
                         func.ST_YMax(box.c.e))
    else:  # SpatiaLite: each geometry's MBR, aggregated
        corners = select(func.min(func.MbrMinX(t.geom)), func.min(func.MbrMinY(t.geom)),
                         func.max(func.MbrMaxX(t.geom)), func.max(func.MbrMaxY(t.geom))
                         ).where(*where)
    found = session.execute(corners).one()
    if found[0] is None:
        return None
    return [round(float(v), 7) for v in found]
