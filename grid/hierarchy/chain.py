"""The owner chain of a place: street → community → grid → building, each with its Party
organisation, the building's resident groups, and the grid's workers."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from grid.hierarchy.levels import LEVELS, Level
from grid.hierarchy.models import GridWorker, PartyOrg, Unit


@dataclass(frozen=True)
class PartyOrgInfo:
    """A unit's Party organisation (党组织) as shown to users."""

    org_type: str
    name: str
    secretary: str
    contact: str


@dataclass(frozen=True)
class ChainLink:
    """One unit of the chain (frozen: ``grid.spatial.places`` hands the same link to every
    answer that passes through the unit)."""

    level: str
    code: str
    name: str
    party_org: PartyOrgInfo | None


@dataclass
class WorkerInfo:
    """A grid worker (网格员)."""

    name: str
    phone: str
    role: str


@dataclass
class OwnerChain:
    """Everything that owns a place, top to bottom."""

    chain: list[ChainLink] = field(default_factory=list)
    resident_groups: list[ChainLink] = field(default_factory=list)
    grid_workers: list[WorkerInfo] = field(default_factory=list)

    def link(self, level: Level) -> ChainLink | None:
        """The chain's unit at ``level``, if any."""
        return next((c for c in self.chain if c.level == level.value), None)


_UNITS, _ORGS, _WORKERS = Unit.__table__, PartyOrg.__table__, GridWorker.__table__
#: The chain, the building's resident groups (its children: ``ix_unit_parent``) and their
#: Party organisations in one query, names only — a unit's polygon (a street's runs to
#: megabytes) is not needed to describe it. Built once with bound parameters: every incident
#: report and read builds a chain, so this is on the hot path.
_CHAIN = (
    select(_UNITS.c.level, _UNITS.c.code, _UNITS.c.name, _ORGS.c.id, _ORGS.c.org_type,
           _ORGS.c.name, _ORGS.c.secretary, _ORGS.c.contact)
    .select_from(_UNITS.outerjoin(_ORGS, _ORGS.c.unit_code == _UNITS.c.code))
    .where(_UNITS.c.version_low <= bindparam("version"),
           _UNITS.c.version_high >= bindparam("version"),
           or_(_UNITS.c.code.in_(bindparam("codes", expanding=True)),
               _UNITS.c.parent_code == bindparam("building")))
    .order_by(_UNITS.c.code))
_GRID_WORKERS = (select(_WORKERS.c.name, _WORKERS.c.phone, _WORKERS.c.role)
                 .where(_WORKERS.c.grid_code == bindparam("grid")).order_by(_WORKERS.c.id))


def owner_chain(session: Session, version_id: int, codes: dict[Level, str | None]) -> OwnerChain:
    """Describe the units named by ``codes`` (one per level) in ``version_id``."""
    present = [codes[level] for level in LEVELS if codes.get(level)]
    conn = session.connection()
    rows = conn.execute(_CHAIN, {"version": version_id, "codes": present,
                                 "building": codes.get(Level.building)}).all()
    units = {r[1]: r for r in rows if r[1] in present}
    groups = [r for r in rows if r[0] == Level.resident_group.value and r[1] not in units]

    def link(row) -> ChainLink:
        level, code, name, org_id, org_type, org_name, secretary, contact = row
        info = None if org_id is None else PartyOrgInfo(org_type, org_name, secretary, contact)
        return ChainLink(level, code, name, info)

    result = OwnerChain(
        chain=[link(units[c]) for c in present if c in units],
        resident_groups=[link(g) for g in groups],
    )
    grid = codes.get(Level.grid)
    if grid:
        result.grid_workers = [WorkerInfo(*w) for w in conn.execute(_GRID_WORKERS,
                                                                    {"grid": grid})]
    return result
