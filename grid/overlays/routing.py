"""Routing a new case to its overlays: what an incident stores about them at filing, and
who is told (通知).

A category's ``overlays.tell`` names the kinds told when a case is filed (占道经营 → the
street chief; a construction-site complaint → the project's temporary branch). Every overlay
that applies is *recorded* on the incident either way (who was responsible then); only those
of the told kinds get a message in the outbox. The street chief told is the one of the tier
matching the level the case starts at — grid → tier 3 (the community cadre walking the
lane), community → tier 2 (street leader), street → tier 1 — or, without one at that tier,
the nearest tier below it (the lowest-ranking chief there is).
"""

from __future__ import annotations

from typing import Any

from grid.overlays.match import OverlayMatch
from grid.overlays.models import BUILDING_HEAD, STREET_CHIEF, TEMPORARY_BRANCH

#: The chief tier told for a case starting at each ladder level.
TIER_FOR_LEVEL = {"grid": 3, "community": 2, "street": 1}


def _told_chief(chiefs: list[dict[str, Any]], level: str) -> dict[str, Any] | None:
    wanted = TIER_FOR_LEVEL.get(level, 3)
    at_or_below = [c for c in chiefs if c["tier"] >= wanted]
    if at_or_below:
        return min(at_or_below, key=lambda c: c["tier"])
    return max(chiefs, key=lambda c: c["tier"]) if chiefs else None


def route(match: OverlayMatch, tell: list[str], start_level: str, label: str
          ) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    """The incident's overlay record (``Incident.overlays``) and the outbox messages
    (kind, recipient, text) for the told ones."""
    record = match.as_dict()
    messages: list[tuple[str, str, str]] = []
    where = f"「{label}」"
    for branch in record["temporary_branches"]:
        branch["told"] = TEMPORARY_BRANCH in tell
        if branch["told"]:
            messages.append((TEMPORARY_BRANCH, branch["name"][:100],
                             f"{where}位于临时党支部 {branch['name']} 范围内，请知悉 "
                             "inside your temporary branch's area"))
    hit = record["street_chief"]
    if hit is not None:
        told = _told_chief(hit["chiefs"], start_level) if STREET_CHIEF in tell else None
        for chief in hit["chiefs"]:
            chief["told"] = chief is told
        if told is not None:
            messages.append((STREET_CHIEF, told["name"][:100],
                             f"{where}距 {hit['segment_name']} {hit['distance_m']:.0f} 米，"
                             "请街巷长知悉 near your street/lane segment"))
    for head in record["building_heads"]:
        head["told"] = BUILDING_HEAD in tell
        if head["told"]:
            messages.append((BUILDING_HEAD, head["name"][:100],
                             f"{where}在您负责的楼栋，请知悉 in your building"))
    record["told"] = [f"{kind}:{recipient}" for kind, recipient, _ in messages]
    return record, messages
