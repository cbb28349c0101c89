"""Shared helpers of the overlay tests: geometry built in metres around the sample street's
grids (EPSG:4548, the sample's Gauss-Krüger zone) and turned into storage lon/lat."""

from __future__ import annotations

from dataclasses import dataclass

import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Point

from grid.hierarchy import store
from grid.hierarchy.levels import Level

TO_M = Transformer.from_crs(4490, 4548, always_xy=True)
TO_DEG = Transformer.from_crs(4548, 4490, always_xy=True)


def to_deg(geom):
    """A geometry in EPSG:4548 metres as storage lon/lat."""
    return shapely.transform(geom, lambda xy: __import__("numpy").column_stack(
        TO_DEG.transform(xy[:, 0], xy[:, 1])))


def to_m(geom):
    """A storage lon/lat geometry in EPSG:4548 metres."""
    return shapely.transform(geom, lambda xy: __import__("numpy").column_stack(
        TO_M.transform(xy[:, 0], xy[:, 1])))


@dataclass
class Site:
    """A point inside a grid's building-free ground, in metres and degrees, with its owners."""

    grid_code: str
    x: float
    y: float

    def lonlat(self, dx: float = 0.0, dy: float = 0.0) -> tuple[float, float]:
        """The point moved by (dx, dy) metres, as lon/lat."""
        lon, lat = TO_DEG.transform(self.x + dx, self.y + dy)
        return float(lon), float(lat)

    def lane(self, dy: float, half: float = 150.0) -> LineString:
        """A west-east lane ``dy`` metres north of the point, as lon/lat."""
        return to_deg(LineString([(self.x - half, self.y + dy), (self.x + half, self.y + dy)]))

    def area(self, radius: float) -> shapely.Polygon:
        """A disc around the point, as lon/lat."""
        return to_deg(Point(self.x, self.y).buffer(radius, 64))


def site(session, version_id: int, index: int = 0) -> Site:
    """A point in the ``index``-th grid, 120 m from every building and from the grid's edge
    when the grid allows (else as far as it does): a place no building claims."""
    grid = store.units(session, version_id, Level.grid)[index]
    shape = to_m(store.shape_of(grid))
    buildings = [to_m(store.shape_of(b)) for b in
                 store.units(session, version_id, Level.building, parent_code=grid.code)]
    free = shape.buffer(-10)
    if buildings:
        free = free.difference(shapely.union_all(buildings).buffer(8))
    point = shapely.point_on_surface(free if not free.is_empty else shape)
    return Site(grid.code, point.x, point.y)
