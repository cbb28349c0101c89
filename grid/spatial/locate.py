"""Locate a point: the owner chain of the place, or "outside coverage" with the nearest grid."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from grid.db import STORAGE_SRID
from grid.hierarchy import store
from grid.hierarchy.chain import OwnerChain, owner_chain
from grid.hierarchy.levels import Level
from grid.spatial.locator import LocatorCache, Nearest


@dataclass
class NearestGrid:
    """The grid nearest to a point outside coverage."""

    code: str
    name: str
    distance_m: float


@dataclass
class Location:
    """The answer to "whose is this place?"."""

    lon: float
    lat: float
    crs: str
    version: int
    covered: bool
    owners: OwnerChain
    nearest_grid: NearestGrid | None
    codes: dict[Level, str | None]

    @property
    def message(self) -> str:
        """A one-line summary for people, Chinese first."""
        if self.covered:
            grid = self.owners.link(Level.grid)
            return f"属于 {grid.name} ({grid.code})" if grid else ""
        if self.nearest_grid is None:
            return "不在任何网格内 outside coverage"
        n = self.nearest_grid
        return (
            f"不在任何网格内，最近的网格为 {n.name} ({n.code})，距离 {n.distance_m:.0f} 米 — "
            f"outside coverage; nearest grid {n.code} is {n.distance_m:.0f} m away"
        )


def locate_point(
    session: Session, cache: LocatorCache, lon: float, lat: float, version_id: int | None = None
) -> Location:
    """Place one point (CGCS2000/WGS 84 lon/lat) in the active version, or in ``version_id``."""
    locator = cache.get(session, version_id)
    codes = locator.locate(lon, lat)
    covered = codes[Level.grid] is not None
    nearest_grid = None
    if not covered:
        nearest: Nearest | None = locator.nearest(Level.grid, lon, lat)
        if nearest is not None:
            unit = store.get_unit(session, locator.version_id, nearest.code)
            nearest_grid = NearestGrid(unit.code, unit.name, round(nearest.distance_m, 1))
    return Location(
        lon=lon, lat=lat, crs=f"EPSG:{STORAGE_SRID}", version=locator.version_id,
        covered=covered, owners=owner_chain(session, locator.version_id, codes),
        nearest_grid=nearest_grid, codes=codes,
    )
