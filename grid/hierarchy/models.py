"""Tables of the hierarchy: boundary versions, units, Party organisations, grid workers.

Boundary versions follow MapIt's generations: a unit row lives in every version from
``version_low`` to ``version_high`` inclusive. A load creates a new inactive version; units whose
geometry and attributes did not change get their ``version_high`` extended, changed or new units
get new rows, and activation flips one flag — so the active version never sees a half-load.
Party organisations and grid workers are keyed by unit code, not by row: they are organisations,
and survive a redrawn boundary.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from grid.db import STORAGE_SRID
from grid.orm import Base, UTCDateTime, utcnow


class BoundaryVersion(Base):
    """One generation of boundaries (边界版本); exactly one is active at a time."""

    __tablename__ = "boundary_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)


class Unit(Base):
    """An area of one level (街道/社区/网格/楼栋) or a resident group, in a range of versions."""

    __tablename__ = "unit"
    __table_args__ = (
        Index("ix_unit_level_versions", "level", "version_low", "version_high"),
        Index("ix_unit_code_versions", "code", "version_low", "version_high"),
        Index("ix_unit_parent", "parent_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(20))
    parent_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Foreign keys on SpatiaLite; on PostGIS migration 0007 replaces them by one set-based
    # check per write (grid.spatial.write.require_versions) and a delete trigger.
    version_low: Mapped[int] = mapped_column(ForeignKey("boundary_version.id"))
    version_high: Mapped[int] = mapped_column(ForeignKey("boundary_version.id"))
    attrs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    geom = mapped_column(
        Geometry("MULTIPOLYGON", srid=STORAGE_SRID, spatial_index=True), nullable=True
    )


class PartyOrg(Base):
    """The Party organisation leading a unit (街道党工委 … 居民小组)."""

    __tablename__ = "party_org"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(32), unique=True)
    level: Mapped[str] = mapped_column(String(20))
    org_type: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    secretary: Mapped[str] = mapped_column(String(100), default="")
    contact: Mapped[str] = mapped_column(String(100), default="")


class GridWorker(Base):
    """A grid worker (网格员) assigned to a grid."""

    __tablename__ = "grid_worker"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_code: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(40), default="")
    role: Mapped[str] = mapped_column(String(40), default="")
