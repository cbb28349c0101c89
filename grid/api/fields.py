"""The field half of the scope rule (``grid.scope``), applied to response models: which
contact numbers an answer keeps for its caller.

A Party secretary's contact is a personal phone: kept only where ``Scope.shows_party_contact``
says so (roles that work with residents, units in their line), blanked otherwise. A grid
worker's phone is the number posted for residents and is kept for every signed-in caller.
"""

from __future__ import annotations

from collections.abc import Iterable

from grid.api.schemas import ChainLinkPublic, LocationPublic, OwnerChainPublic, UnitPublic
from grid.scope import Scope


def _blank(scope: Scope, code: str, holder) -> None:
    org = holder.party_org
    if org is not None and org.contact and not scope.shows_party_contact(code):
        holder.party_org = org.model_copy(update={"contact": ""})


def units(scope: Scope, found: Iterable[UnitPublic]) -> list[UnitPublic]:
    """Units with the secretaries' contacts the caller may not see blanked."""
    out = list(found)
    for unit in out:
        _blank(scope, unit.code, unit)
    return out


def chain(scope: Scope, owners: OwnerChainPublic) -> OwnerChainPublic:
    """An owner chain (locate, incident detail) with contacts blanked by the same rule."""
    links: list[ChainLinkPublic] = [*owners.chain, *owners.resident_groups]
    for link in links:
        _blank(scope, link.code, link)
    return owners


def location(scope: Scope, found: LocationPublic) -> LocationPublic:
    """A locate answer as the caller may see it."""
    chain(scope, found.owners)
    return found
