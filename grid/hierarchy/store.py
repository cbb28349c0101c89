"""The hierarchy's repository: versions, units, Party organisations, grid workers.

Every query that touches geometry is built with ``geoalchemy2.functions`` here, so SpatiaLite
and PostGIS run the same code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import shapely
from geoalchemy2 import functions as gfn
from geoalchemy2.shape import from_shape, to_shape
from shapely import Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Integer, LargeBinary, Result, and_, func, insert, literal, select, update
from sqlalchemy.orm import Session

from grid.db import STORAGE_SRID
from grid.errors import InvalidInput, NotFound
from grid.hierarchy.levels import Level
from grid.hierarchy.models import BoundaryVersion, GridWorker, PartyOrg, Unit
from grid.orm import utcnow

#: Ids per ``IN (…)`` list (SQLite binds at most 32,766 parameters).
IDS_PER_STATEMENT = 5_000
#: The unit table's plain columns. Conditions on them serve ORM queries and plain ones alike;
#: an ORM attribute in a plain ``select`` of columns would send its rows through the ORM.
_UNIT = Unit.__table__.c


def alive_in(version_id: int):
    """SQL condition: the unit row belongs to ``version_id``."""
    return and_(_UNIT.version_low <= version_id, _UNIT.version_high >= version_id)


def wkb(column):
    """A geometry column selected as plain WKB bytes (no wrapper object per row)."""
    return gfn.ST_AsBinary(column, type_=LargeBinary)


def shapes(blobs: Sequence) -> np.ndarray:
    """Shapely geometries of WKB values in one call (None stays None)."""
    raw = [None if b is None else bytes(b) for b in blobs]
    return np.asarray(shapely.from_wkb(raw), dtype=object) if raw else np.empty(0, object)


def unit_rows(session: Session, version_id: int, level: Level | None, *columns: str,
              by_code: bool = True) -> Result:
    """Plain rows of the named ``unit`` columns (``geom`` as WKB bytes) of a version's units,
    of one level or all, by code unless ``by_code`` is false: no ORM object per row — a
    city's level is a million. A result to iterate once (``.all()`` for a list: holding a
    million rows in a list costs more than reading them)."""
    chosen = [wkb(_UNIT.geom).label("geom") if c == "geom" else _UNIT[c] for c in columns]
    query = select(*chosen).where(alive_in(version_id))
    if by_code:
        query = query.order_by(_UNIT.code)
    if level is not None:
        query = query.where(_UNIT.level == level.value)
    return session.execute(query)


def level_shapes(session: Session, version_id: int, level: Level
                 ) -> tuple[list[str], np.ndarray]:
    """Codes (sorted) and geometries of one level of a version, read in one query."""
    rows = unit_rows(session, version_id, level, "code", "geom").all()
    return [r.code for r in rows], shapes([r.geom for r in rows])


# -- versions ---------------------------------------------------------------------------------


def active_version(session: Session) -> BoundaryVersion | None:
    """The active boundary version, or None before the first activation."""
    return session.scalar(select(BoundaryVersion).where(BoundaryVersion.is_active))


def require_active_version(session: Session) -> BoundaryVersion:
    """The active version, or a clear error telling how to get one."""
    version = active_version(session)
    if version is None:
        raise NotFound(
            "尚无生效的边界版本 no boundary version is active yet: "
            "load boundaries with `grid load … --commit`, then `grid activate VERSION`"
        )
    return version


_ACTIVE_ID = select(BoundaryVersion.__table__.c.id).where(BoundaryVersion.__table__.c.is_active)


def active_version_id(session: Session) -> int:
    """The active version's id alone (asked on every locate and report, so a Core statement
    built once), or the same clear error as ``require_active_version``."""
    version_id = session.connection().execute(_ACTIVE_ID).scalar()
    return require_active_version(session).id if version_id is None else version_id


def get_version(session: Session, version_id: int) -> BoundaryVersion:
    """One version by id, or NotFound."""
    version = session.get(BoundaryVersion, version_id)
    if version is None:
        raise NotFound(f"边界版本 {version_id} 不存在 boundary version {version_id} not found")
    return version


def list_versions(session: Session) -> Sequence[BoundaryVersion]:
    """Every version, oldest first."""
    return session.scalars(select(BoundaryVersion).order_by(BoundaryVersion.id)).all()


def unit_counts(session: Session, version_id: int) -> dict[str, int]:
    """How many units of each level the version holds."""
    rows = session.execute(
        select(Unit.level, func.count()).where(alive_in(version_id)).group_by(Unit.level)
    )
    return {level: count for level, count in rows}


def create_version(session: Session, label: str, note: str = "") -> BoundaryVersion:
    """A new inactive version carrying over every unit of the active one.

    Rows whose range ends just before the new version are extended (MapIt's generation_high);
    rows of an active version that is older than the newest (after a rollback) are copied
    instead, so that no version in between gains units it never had.
    """
    base = active_version(session)
    version = BoundaryVersion(label=label, note=note, is_active=False)
    session.add(version)
    session.flush()
    if base is not None:
        new = version.id
        copied = [c for c in Unit.__table__.columns if c.name not in ("id", "version_low",
                                                                        "version_high")]
        session.execute(
            insert(Unit).from_select(
                [c.name for c in copied] + ["version_low", "version_high"],
                select(*copied, literal(new, Integer), literal(new, Integer))
                .where(alive_in(base.id), Unit.version_high < new - 1),
            )
        )
        session.execute(
            update(Unit).where(alive_in(base.id), Unit.version_high == new - 1)
            .values(version_high=new)
        )
    return version


def activate(session: Session, version_id: int) -> BoundaryVersion:
    """Make ``version_id`` the one active version, in one transaction."""
    version = get_version(session, version_id)
    if not unit_counts(session, version_id):
        raise InvalidInput(f"边界版本 {version_id} 为空 version {version_id} holds no units")
    session.execute(update(BoundaryVersion).where(BoundaryVersion.is_active).values(
        is_active=False))
    version.is_active = True
    version.activated_at = utcnow()
    session.flush()
    return version


def detach(session: Session, unit: Unit, version_id: int) -> None:
    """Remove a unit row from ``version_id`` (the newest version it is in)."""
    if unit.version_low == version_id:
        session.delete(unit)
    else:
        unit.version_high = version_id - 1


# -- units ------------------------------------------------------------------------------------


def units(
    session: Session,
    version_id: int,
    level: Level | None = None,
    parent_code: str | None = None,
    codes: Iterable[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Sequence[Unit]:
    """Units of a version, filtered by level, parent or codes, ordered by code; ``limit``
    and ``offset`` page through them."""
    query = select(Unit).where(alive_in(version_id)).order_by(Unit.code).limit(limit) \
        .offset(offset or None)
    if level is not None:
        query = query.where(Unit.level == level.value)
    if parent_code is not None:
        query = query.where(Unit.parent_code == parent_code)
    if codes is not None:
        query = query.where(Unit.code.in_(list(codes)))
    return session.scalars(query).all()


def get_unit(session: Session, version_id: int, code: str) -> Unit:
    """One unit by code in a version, or NotFound."""
    unit = session.scalar(select(Unit).where(alive_in(version_id), Unit.code == code))
    if unit is None:
        raise NotFound(f"单元 {code} 不存在 unit {code} not found in version {version_id}")
    return unit


def covering_codes(
    session: Session, version_id: int, level: Level, lon: float, lat: float
) -> list[str]:
    """Codes of the units at ``level`` whose polygon covers the point, by the database's own
    ``ST_Covers`` (boundary included), lowest code first. The reference for the in-memory
    locator."""
    point = from_shape(Point(lon, lat), srid=STORAGE_SRID)  # bound as EWKB: exact on both
    query = (
        select(Unit.code)
        .where(alive_in(version_id), Unit.level == level.value, gfn.ST_Covers(Unit.geom, point))
        .order_by(Unit.code)
    )
    return list(session.scalars(query))


def shape_of(unit: Unit) -> BaseGeometry | None:
    """The unit's geometry as a shapely object (None for resident groups)."""
    return None if unit.geom is None else to_shape(unit.geom)


# -- organisations and people -----------------------------------------------------------------


def party_orgs(session: Session, codes: Iterable[str]) -> dict[str, PartyOrg]:
    """The Party organisation of each unit code that has one."""
    rows = session.scalars(select(PartyOrg).where(PartyOrg.unit_code.in_(list(codes))))
    return {org.unit_code: org for org in rows}


def grid_workers(session: Session, grid_codes: Iterable[str]) -> dict[str, list[GridWorker]]:
    """The grid workers of each grid code."""
    result: dict[str, list[GridWorker]] = {}
    query = select(GridWorker).where(GridWorker.grid_code.in_(list(grid_codes)))
    for worker in session.scalars(query.order_by(GridWorker.id)):
        result.setdefault(worker.grid_code, []).append(worker)
    return result
