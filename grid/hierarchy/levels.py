"""The five levels of the hierarchy and the Party organisation that leads each."""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    """A level of the hierarchy, top to bottom."""

    street = "street"  # 街道
    community = "community"  # 社区
    grid = "grid"  # 小区网格
    building = "building"  # 楼栋
    resident_group = "resident_group"  # 居民小组 (no geometry: belongs to a building)


LEVELS: tuple[Level, ...] = tuple(Level)
#: Levels that carry a polygon of their own.
SPATIAL_LEVELS: tuple[Level, ...] = LEVELS[:-1]

PARENT_LEVEL: dict[Level, Level | None] = {
    level: (LEVELS[i - 1] if i else None) for i, level in enumerate(LEVELS)
}

#: Chinese and English names of each level, and of the Party organisation leading it.
LEVEL_NAMES: dict[Level, dict[str, str]] = {
    Level.street: {"zh": "街道", "en": "street"},
    Level.community: {"zh": "社区", "en": "community"},
    Level.grid: {"zh": "网格", "en": "grid"},
    Level.building: {"zh": "楼栋", "en": "building"},
    Level.resident_group: {"zh": "居民小组", "en": "resident group"},
}

PARTY_ORG_TYPES: dict[Level, dict[str, str]] = {
    Level.street: {"zh": "街道党工委", "en": "street Party working committee"},
    Level.community: {"zh": "社区党委", "en": "community Party committee"},
    Level.grid: {"zh": "网格党支部", "en": "grid Party branch"},
    Level.building: {"zh": "楼栋党小组", "en": "building Party group"},
    Level.resident_group: {"zh": "居民小组", "en": "resident group"},
}


def parse_level(value: str) -> Level:
    """The level named by ``value`` (English code name), or a clear error."""
    from grid.errors import InvalidInput

    try:
        return Level(value)
    except ValueError:
        raise InvalidInput(
            f"未知层级 unknown level '{value}'; expected one of: {', '.join(LEVELS)}"
        ) from None
