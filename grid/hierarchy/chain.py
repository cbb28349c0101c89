"""The owner chain of a place: street → community → grid → building, each with its Party
organisation, the building's resident groups, and the grid's workers."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from grid.hierarchy import store
from grid.hierarchy.levels import LEVELS, Level


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
    units = {u.code: u for u in store.units(session, version_id, codes=present)}
    groups = []
    building = codes.get(Level.building)
    if building:
        groups = list(store.units(session, version_id, Level.resident_group, parent_code=building))
    orgs = store.party_orgs(session, [*present, *(g.code for g in groups)])

    def link(unit) -> ChainLink:
        org = orgs.get(unit.code)
        info = org and PartyOrgInfo(org.org_type, org.name, org.secretary, org.contact)
        return ChainLink(unit.level, unit.code, unit.name, info)

    result = OwnerChain(
        chain=[link(units[c]) for c in present if c in units],
        resident_groups=[link(g) for g in groups],
    )
    grid = codes.get(Level.grid)
    if grid:
        workers = store.grid_workers(session, [grid]).get(grid, [])
        result.grid_workers = [WorkerInfo(w.name, w.phone, w.role) for w in workers]
    return result
