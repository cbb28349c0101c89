"""The overlays' repository: every read and write of their tables, the same on both stores.

Validity: an overlay applies on ``day`` when ``valid_from <= day`` and (``valid_to`` is empty or
``day <= valid_to``) — both ends inclusive, in local dates (the work timezone), because a
branch "set up on 1 March and dissolved on 30 June" is meant to cover the whole of both days.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import shapely
import shapely.geometry
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from grid.db import STORAGE_SRID
from grid.errors import InvalidInput, NotFound
from grid.hierarchy.models import PartyOrg
from grid.orm import utcnow
from grid.overlays import local_day  # noqa: F401  (callers use store.local_day)
from grid.overlays.models import (
    CHIEF_TIERS,
    HEAD_ROLES,
    BuildingHead,
    SegmentChief,
    SegmentVersion,
    StationedUnit,
    StreetSegment,
    TemporaryBranch,
)


def is_valid(row, day: date) -> bool:
    """Whether an overlay row (anything with valid_from/valid_to) applies on ``day``."""
    return row.valid_from <= day and (row.valid_to is None or day <= row.valid_to)


def valid_on(model, day: date):
    """The SQL form of :func:`is_valid` for ``model``'s rows."""
    return (model.valid_from <= day) & or_(model.valid_to.is_(None), model.valid_to >= day)


def _period(valid_from: date, valid_to: date | None) -> None:
    if valid_to is not None and valid_to < valid_from:
        raise InvalidInput(f"有效期无效 valid_to {valid_to} is before valid_from {valid_from}")


def _multi(geom: BaseGeometry, kind: str) -> BaseGeometry:
    """``geom`` as the multi-geometry its column stores, checked."""
    if geom is None or geom.is_empty:
        raise InvalidInput("几何为空 the geometry is empty")
    if shapely.has_z(geom):
        geom = shapely.force_2d(geom)
    if kind == "polygon":
        if geom.geom_type == "Polygon":
            geom = shapely.MultiPolygon([geom])
        if geom.geom_type != "MultiPolygon":
            raise InvalidInput(f"需要面 a polygon is needed, not {geom.geom_type}")
        if not geom.is_valid:
            raise InvalidInput(f"面无效 invalid polygon: {shapely.is_valid_reason(geom)}")
    elif kind == "line":
        if geom.geom_type == "LineString":
            geom = shapely.MultiLineString([geom])
        if geom.geom_type != "MultiLineString":
            raise InvalidInput(f"需要线 a line is needed, not {geom.geom_type}")
    return geom


def from_geojson(geometry: dict) -> BaseGeometry:
    """A GeoJSON geometry (storage lon/lat) as shapely, or InvalidInput saying why not."""
    try:
        geom = shapely.geometry.shape(geometry)
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise InvalidInput(f"几何无效 invalid GeoJSON geometry: {exc}") from exc
    west, south, east, north = shapely.bounds(geom)
    if not (73 <= west <= east <= 136 and 3 <= south <= north <= 54):
        raise InvalidInput("几何不在中国境内 the geometry lies outside China (lon/lat CGCS2000)")
    return geom


def ewkb(geom: BaseGeometry):
    """A shapely geometry as the value of a storage geometry column."""
    return from_shape(geom, srid=STORAGE_SRID, extended=True)


def shape(row) -> BaseGeometry:
    """A row's geometry as shapely."""
    return to_shape(row.geom)


# -- temporary Party branches ------------------------------------------------------------


def add_branch(session: Session, *, code: str, name: str, parent_org_code: str,
               geom: BaseGeometry, valid_from: date, valid_to: date | None = None,
               purpose: str = "project", secretary: str = "", contact: str = ""
               ) -> TemporaryBranch:
    """Set up a temporary Party branch (临时党支部) under an existing Party organisation."""
    _period(valid_from, valid_to)
    if session.scalar(select(PartyOrg.id).where(PartyOrg.unit_code == parent_org_code)) is None:
        raise InvalidInput(f"上级党组织 {parent_org_code} 不存在 no Party organisation leads "
                           f"unit {parent_org_code}")
    if session.scalar(select(TemporaryBranch.id).where(TemporaryBranch.code == code)):
        raise InvalidInput(f"临时党支部编码 {code} 已存在 branch code {code} already exists")
    branch = TemporaryBranch(code=code, name=name, purpose=purpose,
                             parent_org_code=parent_org_code, secretary=secretary,
                             contact=contact, valid_from=valid_from, valid_to=valid_to,
                             created_at=utcnow(), geom=ewkb(_multi(geom, "polygon")))
    session.add(branch)
    session.flush()
    return branch


def branches(session: Session, day: date | None = None) -> Sequence[TemporaryBranch]:
    """Temporary branches (valid on ``day`` when given), by code."""
    query = select(TemporaryBranch).order_by(TemporaryBranch.code)
    if day is not None:
        query = query.where(valid_on(TemporaryBranch, day))
    return session.scalars(query).all()


# -- segment versions, segments and chiefs -------------------------------------------------


def create_segment_version(session: Session, label: str, source: str = "") -> SegmentVersion:
    """A new, inactive segment version."""
    version = SegmentVersion(label=label, source=source, created_at=utcnow(), is_active=False)
    session.add(version)
    session.flush()
    return version


def segment_versions(session: Session) -> Sequence[SegmentVersion]:
    """Every segment version, oldest first."""
    return session.scalars(select(SegmentVersion).order_by(SegmentVersion.id)).all()


def active_segment_version(session: Session) -> SegmentVersion | None:
    """The active segment version, if any."""
    return session.scalar(select(SegmentVersion).where(SegmentVersion.is_active))


def activate_segment_version(session: Session, version_id: int) -> SegmentVersion:
    """Make ``version_id`` the active segment version, in one transaction."""
    version = session.get(SegmentVersion, version_id)
    if version is None:
        raise NotFound(f"街巷版本 {version_id} 不存在 segment version {version_id} not found")
    session.execute(update(SegmentVersion).where(SegmentVersion.is_active)
                    .values(is_active=False))
    version.is_active, version.activated_at = True, utcnow()
    session.flush()
    return version


def add_segments(session: Session, version_id: int,
                 rows: Iterable[tuple[str, str, str, dict, BaseGeometry]]) -> int:
    """Write (code, name, kind, attrs, line) rows into a segment version; returns the count."""
    objects = [StreetSegment(version_id=version_id, code=code, name=name, kind=kind or "",
                             attrs=attrs or {}, geom=ewkb(_multi(geom, "line")))
               for code, name, kind, attrs, geom in rows]
    session.add_all(objects)
    session.flush()
    return len(objects)


def segments(session: Session, version_id: int | None = None) -> Sequence[StreetSegment]:
    """The segments of ``version_id`` (default: the active version; none without one)."""
    if version_id is None:
        active = active_segment_version(session)
        if active is None:
            return []
        version_id = active.id
    return session.scalars(select(StreetSegment).where(StreetSegment.version_id == version_id)
                           .order_by(StreetSegment.code)).all()


def add_chief(session: Session, *, segment_code: str, tier: int, name: str, valid_from: date,
              valid_to: date | None = None, title: str = "", phone: str = "") -> SegmentChief:
    """Name a chief (街长/巷长) for a segment at one tier (1, 2 or 3)."""
    if tier not in CHIEF_TIERS:
        raise InvalidInput(f"街巷长层级须为 tier must be one of {CHIEF_TIERS}")
    _period(valid_from, valid_to)
    chief = SegmentChief(segment_code=segment_code, tier=tier, name=name, title=title,
                         phone=phone, valid_from=valid_from, valid_to=valid_to)
    session.add(chief)
    session.flush()
    return chief


def chiefs(session: Session, segment_codes: Iterable[str] | None = None
           ) -> Sequence[SegmentChief]:
    """Chiefs (of ``segment_codes`` when given), by segment, tier and start."""
    query = select(SegmentChief).order_by(SegmentChief.segment_code, SegmentChief.tier,
                                          SegmentChief.valid_from, SegmentChief.id)
    if segment_codes is not None:
        query = query.where(SegmentChief.segment_code.in_(list(segment_codes)))
    return session.scalars(query).all()


# -- building heads ----------------------------------------------------------------------


def add_building_head(session: Session, *, building_code: str, role: str, name: str,
                      valid_from: date, valid_to: date | None = None, part: str = "",
                      phone: str = "") -> BuildingHead:
    """Name a 楼栋长, 单元长 or 楼门院长 for a building."""
    if role not in HEAD_ROLES:
        raise InvalidInput(f"角色须为 role must be one of {', '.join(HEAD_ROLES)}")
    _period(valid_from, valid_to)
    head = BuildingHead(building_code=building_code, role=role, part=part, name=name,
                        phone=phone, valid_from=valid_from, valid_to=valid_to)
    session.add(head)
    session.flush()
    return head


def building_heads(session: Session, building_codes: Iterable[str] | None = None
                   ) -> Sequence[BuildingHead]:
    """Building heads (of ``building_codes`` when given), by building, role order, part."""
    query = select(BuildingHead).order_by(BuildingHead.building_code, BuildingHead.id)
    if building_codes is not None:
        query = query.where(BuildingHead.building_code.in_(list(building_codes)))
    return session.scalars(query).all()


# -- stationed units ---------------------------------------------------------------------


def add_stationed_unit(session: Session, *, code: str, name: str, street_code: str,
                       geom: BaseGeometry, valid_from: date, valid_to: date | None = None,
                       kind: str = "", party_org: str = "", contact: str = "", phone: str = "",
                       resources: Sequence[str] = (),
                       departments: Sequence[str] = ()) -> StationedUnit:
    """Register a stationed unit (驻区单位). Its name is what summonses carry, so it must not
    be taken by another unit or by a department (``departments``)."""
    _period(valid_from, valid_to)
    if geom is None or geom.is_empty or geom.geom_type not in (
            "Point", "Polygon", "MultiPolygon"):
        raise InvalidInput("驻区单位需要点或面 a stationed unit needs a point or a polygon")
    if geom.geom_type != "Point" and not geom.is_valid:
        raise InvalidInput(f"面无效 invalid polygon: {shapely.is_valid_reason(geom)}")
    if name in departments:
        raise InvalidInput(f"名称 {name} 与部门重名 the name is a department's")
    taken = session.scalar(select(StationedUnit.id).where(
        (StationedUnit.code == code) | (StationedUnit.name == name)))
    if taken:
        raise InvalidInput(f"驻区单位 {code} / {name} 已存在 already registered")
    unit = StationedUnit(code=code, name=name, kind=kind, street_code=street_code,
                         party_org=party_org, contact=contact, phone=phone,
                         resources=list(resources), valid_from=valid_from, valid_to=valid_to,
                         geom=ewkb(shapely.force_2d(geom)))
    session.add(unit)
    session.flush()
    return unit


def stationed_units(session: Session, street_code: str | None = None,
                    day: date | None = None) -> Sequence[StationedUnit]:
    """Stationed units (of a street, valid on ``day``, when given), by code."""
    query = select(StationedUnit).order_by(StationedUnit.code)
    if street_code is not None:
        query = query.where(StationedUnit.street_code == street_code)
    if day is not None:
        query = query.where(valid_on(StationedUnit, day))
    return session.scalars(query).all()


def summonable_units(session: Session, codes: Sequence[str], day: date,
                     street_code: str | None) -> list[StationedUnit]:
    """The stationed units ``codes`` a street may summon on ``day``: registered in the
    incident's street and not expired; otherwise InvalidInput naming the ones that are not."""
    found = {u.code: u for u in session.scalars(
        select(StationedUnit).where(StationedUnit.code.in_(list(codes))))}
    unknown = [c for c in codes if c not in found]
    if unknown:
        raise InvalidInput(f"未知驻区单位 unknown stationed unit(s): {', '.join(unknown)}")
    expired = [c for c in codes if not is_valid(found[c], day)]
    if expired:
        raise InvalidInput(f"驻区单位已不在有效期 stationed unit(s) not valid on {day}: "
                           f"{', '.join(expired)}")
    elsewhere = [c for c in codes if street_code and found[c].street_code != street_code]
    if elsewhere:
        raise InvalidInput(f"驻区单位不在本街道 stationed unit(s) not in street {street_code}: "
                           f"{', '.join(elsewhere)}")
    return [found[c] for c in codes]
