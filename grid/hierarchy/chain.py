"""The owner chain of a place: street → community → grid → building, each with its Party
organisation, the building's resident groups, and the grid's workers."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from grid.hierarchy import store
from grid.hierarchy.levels import LEVELS, Level
from grid.hierarchy.models import PartyOrg, Unit


@dataclass
class PartyOrgInfo:
    """A unit's Party organisation (党组织) as shown to users."""

    org_type: str
    name: str
    secretary: str
    contact: str


@dataclass
class ChainLink:
    """One unit of the chain."""

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


def owner_chain(session: Session, version_id: int, codes: dict[Level, str | None]) -> OwnerChain:
    """Describe the units named by ``codes`` (one per level) in ``version_id``."""
    present = [codes[level] for level in LEVELS if codes.get(level)]
    building = codes.get(Level.building)
    # One query for the chain, the building's resident groups and their Party organisations,
    # names only: a unit's polygon (a street's runs to megabytes) is not needed to describe
    # it. Every incident report and read builds a chain, so this is on the hot path.
    wanted = Unit.code.in_(present)
    if building:
        wanted = or_(wanted, and_(Unit.level == Level.resident_group.value,
                                  Unit.parent_code == building))
    rows = session.execute(
        select(Unit.level, Unit.code, Unit.name, PartyOrg.id, PartyOrg.org_type,
               PartyOrg.name, PartyOrg.secretary, PartyOrg.contact)
        .outerjoin(PartyOrg, PartyOrg.unit_code == Unit.code)
        .where(store.alive_in(version_id), wanted).order_by(Unit.code)).all()
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
        workers = store.grid_workers(session, [grid]).get(grid, [])
        result.grid_workers = [WorkerInfo(w.name, w.phone, w.role) for w in workers]
    return result
