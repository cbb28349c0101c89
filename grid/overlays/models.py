"""Tables of the overlays (see the package docstring); migration 0015 creates them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from grid.db import STORAGE_SRID
from grid.orm import Base, UTCDateTime, utcnow

#: The kinds of overlay, as named in category rules, incident records and API answers.
TEMPORARY_BRANCH = "temporary_branch"
STREET_CHIEF = "street_chief"
BUILDING_HEAD = "building_head"
STATIONED_UNIT = "stationed_unit"
KINDS = (TEMPORARY_BRANCH, STREET_CHIEF, BUILDING_HEAD, STATIONED_UNIT)

#: Roles of building heads: 楼栋长 (building head), 单元长 (unit/floor head), 楼门院长 (head of a
#: courtyard's gate, in hutong courtyard housing).
HEAD_ROLES = ("楼栋长", "单元长", "楼门院长")
#: Tiers of street chiefs (Ya'an's 三级街巷长): 1 county leaders, 2 street leaders,
#: 3 community cadres walking the lane.
CHIEF_TIERS = (1, 2, 3)


class TemporaryBranch(Base):
    """临时党支部: a Party branch set up for a project, business district or scenic area."""

    __tablename__ = "temporary_branch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: project 项目 / business_district 商圈 / scenic_area 景区 / other
    purpose: Mapped[str] = mapped_column(String(40), default="project")
    #: Unit code of the Party organisation it reports to (e.g. the street's 党工委).
    parent_org_code: Mapped[str] = mapped_column(String(32))
    secretary: Mapped[str] = mapped_column(String(100), default="")
    contact: Mapped[str] = mapped_column(String(100), default="")
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=STORAGE_SRID, spatial_index=True))


class SegmentVersion(Base):
    """One generation of street/lane segments (街巷版本); exactly one is active at a time."""

    __tablename__ = "segment_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)


class StreetSegment(Base):
    """A road or lane segment (路段/街巷) of one segment version: a line, not a polygon."""

    __tablename__ = "street_segment"
    __table_args__ = (Index("ix_street_segment_version_code", "version_id", "code",
                            unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("segment_version.id"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    #: street 街 / lane 巷 / road 路 (free text from the file)
    kind: Mapped[str] = mapped_column(String(20), default="")
    attrs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    geom = mapped_column(Geometry("MULTILINESTRING", srid=STORAGE_SRID, spatial_index=True))


class SegmentChief(Base):
    """A street or lane chief (街长/巷长) answerable for a segment at one tier; keyed by the
    segment's code, so a redrawn centreline keeps its chiefs."""

    __tablename__ = "segment_chief"
    __table_args__ = (Index("ix_segment_chief_code", "segment_code", "tier"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    segment_code: Mapped[str] = mapped_column(String(40))
    tier: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)


class BuildingHead(Base):
    """楼栋长 / 单元长 / 楼门院长 of a building (by building code)."""

    __tablename__ = "building_head"
    __table_args__ = (Index("ix_building_head_building", "building_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building_code: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(20))
    #: The unit (单元) or floor a 单元长 leads, e.g. "2单元"; empty for the whole building.
    part: Mapped[str] = mapped_column(String(40), default="")
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(40), default="")
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)


class StationedUnit(Base):
    """驻区单位: a body stationed in a street (government, company, school, hospital), with its
    own Party organisation and the resources it offers (资源清单). Summoned like a department:
    ``name`` is what a summons and the unit's department account carry, so it is unique."""

    __tablename__ = "stationed_unit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    kind: Mapped[str] = mapped_column(String(40), default="")
    street_code: Mapped[str] = mapped_column(String(32))
    party_org: Mapped[str] = mapped_column(String(200), default="")
    contact: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    resources: Mapped[list[str]] = mapped_column(JSON, default=list)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: A point (the gate) or a polygon (the campus).
    geom = mapped_column(Geometry("GEOMETRY", srid=STORAGE_SRID, spatial_index=True))
