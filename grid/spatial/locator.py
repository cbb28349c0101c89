"""The in-memory locator: which unit of each level holds a point.

Edge rule (documented, deterministic): a point is placed in a unit whose polygon *covers* it —
boundary included, so no point on an edge falls between two units — and when several units of
one level cover it (it lies on their shared edge or vertex), it belongs to the one with the
lowest code. The database reference query (``store.covering_codes``) applies the same rule.

The index is built once per active version from prepared shapely geometries in an STRtree, and
answers arrays of points in one vectorised call; requests reuse it until activation changes.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy.orm import Session

from grid.errors import InvalidInput
from grid.hierarchy.levels import SPATIAL_LEVELS, Level
from grid.spatial.crs import to_metres


@dataclass(frozen=True)
class Nearest:
    """The nearest unit to a point outside coverage, and its distance in metres."""

    code: str
    distance_m: float


class LevelIndex:
    """One level's polygons, sorted by code so that tree index order is code order."""

    def __init__(self, codes: list[str], geoms: list[shapely.Geometry]) -> None:
        order = np.argsort(np.asarray(codes, dtype=object))
        self.codes = np.asarray(codes, dtype=object)[order]
        self.geoms = np.asarray(geoms, dtype=object)[order]
        shapely.prepare(self.geoms)
        self.tree = shapely.STRtree(self.geoms)

    def locate(self, points: np.ndarray) -> np.ndarray:
        """For each point, the lowest code among the polygons covering it, or None."""
        result = np.full(len(points), None, dtype=object)
        if len(self.codes) == 0 or len(points) == 0:
            return result
        point_idx, unit_idx = self.tree.query(points, predicate="covered_by")
        if len(point_idx):
            # lexsort by (unit index, then point): the first hit of each point is its lowest code
            order = np.lexsort((unit_idx, point_idx))
            point_idx, unit_idx = point_idx[order], unit_idx[order]
            first = np.r_[True, point_idx[1:] != point_idx[:-1]]
            result[point_idx[first]] = self.codes[unit_idx[first]]
        return result


    def locate_one(self, point: shapely.Geometry) -> str | None:
        """``locate`` for a single point: the lowest code covering it, or None (tree index
        order is code order, so the smallest hit is the lowest code)."""
        if len(self.codes) == 0:
            return None
        hits = self.tree.query(point, predicate="covered_by")
        return self.codes[hits.min()] if len(hits) else None


def check_coordinates(lons: np.ndarray, lats: np.ndarray) -> None:
    """Refuse coordinates that cannot be longitude/latitude."""
    bad = ~(np.isfinite(lons) & np.isfinite(lats) & (np.abs(lons) <= 180) & (np.abs(lats) <= 90))
    if bad.any():
        i = int(np.argmax(bad))
        raise InvalidInput(
            f"坐标无效 invalid coordinate lon={lons[i]}, lat={lats[i]}: longitude must be within "
            "±180 and latitude within ±90 (degrees, lon first)"
        )


def check_coordinate(lon: float, lat: float) -> None:
    """``check_coordinates`` for one point, without building arrays (every report and
    locate checks one)."""
    if not (math.isfinite(lon) and math.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 90):
        check_coordinates(np.asarray([lon], dtype=float), np.asarray([lat], dtype=float))


class Locator:
    """Placement of points in every spatial level of one boundary version."""

    def __init__(self, version_id: int, levels: dict[Level, LevelIndex]) -> None:
        self.version_id = version_id
        self.levels = levels

    @classmethod
    def from_db(cls, session: Session, version_id: int) -> Locator:
        """Build the index of every spatial level of ``version_id``."""
        from grid.hierarchy import store  # (the ORM models: not for a snapshot's reader)

        # Codes and WKB in one plain query per level, parsed in one call: loading Unit
        # objects through the ORM took most of the build time at city scale.
        levels = {level: LevelIndex(*store.level_shapes(session, version_id, level))
                  for level in SPATIAL_LEVELS}
        return cls(version_id, levels)

    def locate_many(self, lons, lats) -> dict[Level, np.ndarray]:
        """Codes of the units holding each point, per level (None where no unit does)."""
        lons = np.asarray(lons, dtype=float)
        lats = np.asarray(lats, dtype=float)
        check_coordinates(lons, lats)
        points = shapely.points(lons, lats)
        return {level: index.locate(points) for level, index in self.levels.items()}

    def locate(self, lon: float, lat: float) -> dict[Level, str | None]:
        """Codes of the units holding one point, per level (as ``locate_many`` answers, one
        tree query per level without the array bookkeeping: every report places one)."""
        check_coordinate(lon, lat)
        point = shapely.Point(lon, lat)
        return {level: index.locate_one(point) for level, index in self.levels.items()}

    def nearest(self, level: Level, lon: float, lat: float) -> Nearest | None:
        """The unit of ``level`` nearest to the point, with its distance in metres.

        Candidates are taken in degrees (cheap), then measured in the local Gauss-Krüger zone,
        because a degree of longitude is shorter than one of latitude away from the equator.
        """
        index = self.levels[level]
        if len(index.codes) == 0:
            return None
        point = shapely.Point(lon, lat)
        _, degrees = index.tree.query_nearest(point, return_distance=True)
        # Anything within √2 × the nearest degree-distance may be nearer in metres.
        reach = float(degrees[0]) * math.sqrt(2) / max(math.cos(math.radians(lat)), 0.1) + 1e-9
        candidates = index.tree.query(point, predicate="dwithin", distance=reach)
        transform = to_metres(lon).transform
        local_point = shapely.Point(transform(lon, lat))
        best = None
        for i in candidates:
            local = shapely.transform(index.geoms[i], lambda xy: np.column_stack(
                transform(xy[:, 0], xy[:, 1])))
            distance = local.distance(local_point)
            if best is None or (distance, index.codes[i]) < (best.distance_m, best.code):
                best = Nearest(str(index.codes[i]), float(distance))
        return best


class LocatorCache:
    """Holds the locator of the active version and rebuilds it when activation changes."""

    def __init__(self, snapshot_dir: Path | None = None) -> None:
        self._locator: Locator | None = None
        self._lock = threading.Lock()
        self.snapshot_dir = snapshot_dir

    def preload(self, nearest: bool = True) -> bool:
        """Open the current snapshot now, without asking the database which version is
        active (``get`` checks that, and replaces it if another version is active by then);
        with ``nearest``, build the grids' nearest-unit tree too. True when one was opened.

        ``grid serve`` calls this in its parent process before forking the workers: what it
        opens — the GEOS polygons rebuilt from the snapshot, the tree — is then one copy shared
        by every worker instead of one each.
        """
        if self.snapshot_dir is None:
            return False
        from grid.spatial import snapshot

        opened = snapshot.open_locator(self.snapshot_dir)
        if opened is None:
            return False
        if nearest:
            opened.prepare_nearest()
        # Load the compiled kernels (numba's on-disk cache) here too, by placing a few points
        # across each level: in a forking server's parent, so that workers share the loaded
        # code instead of each loading its own on its first report in a boundary cell.
        for index in opened.bulk.indexes.values():
            if index.nx:
                t = np.linspace(0.0, 1.0, 257)
                index.locate(index.x0 + t * index.nx * index.size,
                             index.y0 + t * index.ny * index.size)
        with self._lock:
            self._locator = opened
        return True

    def get(self, session: Session, version_id: int | None = None) -> Locator:
        """The locator for ``version_id`` (default: the active version).

        With a snapshot directory, the active version's locator is the memory-mapped snapshot
        (``grid.spatial.snapshot.SnapshotLocator``, same answers), built and written by the
        first process that finds none; other versions are built in memory as before.
        """
        from grid.hierarchy import store

        if version_id is None:
            version_id = store.active_version_id(session)
        locator = self._locator
        if locator is not None and locator.version_id == version_id:
            return locator
        with self._lock:
            if self._locator is None or self._locator.version_id != version_id:
                active = store.active_version(session)
                is_active = active is not None and active.id == version_id
                if is_active and self.snapshot_dir is not None:
                    from grid.spatial import snapshot

                    self._locator = snapshot.ensure(self.snapshot_dir, session, version_id)
                    return self._locator
                built = Locator.from_db(session, version_id)
                if is_active:
                    self._locator = built  # cache only the active version's index
                return built
            return self._locator
