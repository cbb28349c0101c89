"""Overlays: organisation that does not fit the tree street → community → grid → building.

* temporary Party branches (临时党支部) on projects, business districts and scenic areas — a
  polygon cutting across communities and grids, valid for a period;
* street and lane segments (街巷长制) — lines, loaded from files in versions like boundaries,
  each with a chief at each of three tiers;
* building heads (楼栋"两长": 楼栋长 and 单元长; 楼门院长 in courtyard housing);
* stationed units (驻区单位) — bodies stationed in a street with their own Party organisation,
  summoned with departments and offering resources.

Every overlay has a validity period (``valid_from`` … ``valid_to``, inclusive, local dates):
outside it, it is not matched, told or summoned. Incidents keep, at filing, the overlays that
applied then (``Incident.overlays``), so history survives a chief's replacement.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo


def local_day(at: datetime, timezone: str | ZoneInfo = "Asia/Shanghai") -> date:
    """The local calendar date of the instant ``at`` (overlays' validity is in local dates).
    Here, not in ``store``, so `grid place` can ask for today without the ORM models."""
    tz = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
    return at.astimezone(tz).date()
