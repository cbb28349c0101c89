"""Locate without the database: the answer to "whose is this place?" from memory.

``GET /locate`` is the hottest read of the service (every phone report, every hotline case).
``locate_point`` asks the database for the active version, the units' names, their Party
organisations and the grid's workers on every call; this directory holds all of that for the
active version beside the locator, so a locate is a few dictionary look-ups:

* unit names and each building's resident groups belong to a boundary version and never
  change within it: they are read once per version;
* Party organisations and grid workers change without a new version (``grid load-orgs``,
  ``grid load-workers``), and which version is active changes on activation: once the snapshot
  is older than ``fresh_seconds`` these are checked in the background (the answer meanwhile
  comes from the current snapshot). So a change made elsewhere shows within about
  ``fresh_seconds`` plus one re-read; ``invalidate()`` (called on activation through this
  process) makes the next calls ask the database until a new snapshot is ready.

The check must not stall requests: re-reading 100,000 organisations in Python holds the GIL
for a large fraction of a second. On PostgreSQL a fingerprint of both tables (row count and a
sum of row hashes, computed by the server) is compared first, so the tables are re-read only
when they changed; SpatiaLite, the small embedded store, re-reads them. The snapshot's objects
are frozen out of the cyclic garbage collector (``gc.freeze``): a million long-lived names
would otherwise make every full collection a pause of hundreds of milliseconds.

With ``fresh_seconds=0`` the directory is off and every call goes to ``locate_point``.
"""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select, text

from grid.db import STORAGE_SRID, Database
from grid.hierarchy import store
from grid.hierarchy.chain import ChainLink, OwnerChain, PartyOrgInfo, WorkerInfo
from grid.hierarchy.levels import LEVELS, Level
from grid.hierarchy.models import GridWorker, PartyOrg
from grid.spatial.locate import Location, NearestGrid, locate_point
from grid.spatial.locator import Locator, LocatorCache


@dataclass
class _Snapshot:
    """Everything a locate answer needs, for one version, read at ``read_at``."""

    locator: Locator
    names: dict[str, tuple[str, str]]  # code → (level, name), spatial levels and groups
    groups: dict[str, list[str]]  # building code → its resident groups' codes, in code order
    orgs: dict[str, PartyOrgInfo]
    workers: dict[str, list[WorkerInfo]]
    fingerprint: tuple | None  # of the organisation and worker tables, PostgreSQL only
    read_at: float

    @property
    def version_id(self) -> int:
        """The boundary version this snapshot describes."""
        return self.locator.version_id


class PlaceDirectory:
    """The active version's locate answers from memory, refreshed in the background."""

    def __init__(self, db: Database, locators: LocatorCache, fresh_seconds: float) -> None:
        self.db = db
        self.locators = locators
        self.fresh_seconds = fresh_seconds
        self._snapshot: _Snapshot | None = None
        self._refreshing = threading.Lock()

    def locate(self, lon: float, lat: float) -> Location:
        """Place one point (storage CRS) in the active version: from memory when a snapshot
        is ready, else from the database (and a snapshot is made in the background)."""
        found = self.from_memory(lon, lat)
        if found is not None:
            return found
        with self.db.read() as session:
            return locate_point(session, self.locators, lon, lat)

    def from_memory(self, lon: float, lat: float) -> Location | None:
        """``locate`` when a snapshot can answer (never a database call: safe on an event
        loop); None otherwise, and a snapshot is made in the background."""
        snapshot = self._snapshot
        if self.fresh_seconds <= 0 or snapshot is None:
            if self.fresh_seconds > 0:
                self._refresh_soon()
            return None
        if time.monotonic() - snapshot.read_at > self.fresh_seconds:
            self._refresh_soon()
        return _answer(snapshot, lon, lat)

    @property
    def ready(self) -> bool:
        """True when the next ``locate`` is answered from memory (no database call)."""
        return self.fresh_seconds > 0 and self._snapshot is not None

    def invalidate(self) -> None:
        """Forget the snapshot (the active version changed in this process)."""
        self._snapshot = None

    def refresh(self) -> None:
        """Re-read now what changed: names and groups when the active version did, Party
        organisations and workers when their tables did."""
        with self.db.read() as session:
            version_id = store.active_version_id(session)
            fingerprint = None if self.db.is_spatialite else tuple(
                session.execute(text(_FINGERPRINT)).one())
            old = self._snapshot
            if old is not None and old.version_id == version_id:
                if fingerprint is not None and fingerprint == old.fingerprint:
                    self._snapshot = _Snapshot(**{**old.__dict__, "read_at": time.monotonic()})
                    return
                locator, names, groups = old.locator, old.names, old.groups
            else:
                locator = self.locators.get(session, version_id)
                names, groups = _names(session, version_id)
            orgs = {row.unit_code: PartyOrgInfo(row.org_type, row.name, row.secretary,
                                                row.contact)
                    for row in session.execute(select(
                        PartyOrg.unit_code, PartyOrg.org_type, PartyOrg.name,
                        PartyOrg.secretary, PartyOrg.contact))}
            workers: dict[str, list[WorkerInfo]] = {}
            for row in session.execute(select(GridWorker.grid_code, GridWorker.name,
                                              GridWorker.phone, GridWorker.role)
                                       .order_by(GridWorker.id)):
                workers.setdefault(row.grid_code, []).append(
                    WorkerInfo(row.name, row.phone, row.role))
        self._snapshot = _Snapshot(locator, names, groups, orgs, workers, fingerprint,
                                   time.monotonic())
        gc.freeze()

    def _refresh_soon(self) -> None:
        # One refresh at a time, in a daemon thread: requests never wait for it.
        if not self._refreshing.acquire(blocking=False):
            return

        def run() -> None:
            try:
                self.refresh()
            finally:
                self._refreshing.release()

        threading.Thread(target=run, name="place-directory", daemon=True).start()


# Row count and a sum of row hashes per table, computed by the server in one round trip.
_FINGERPRINT = """
SELECT (SELECT count(*) FROM party_org),
       (SELECT coalesce(sum(hashtext(concat_ws('|', unit_code, level, org_type, name, secretary,
                                                 contact))::bigint), 0) FROM party_org),
       (SELECT count(*) FROM grid_worker),
       (SELECT coalesce(sum(hashtext(concat_ws('|', id, grid_code, name, phone, role))::bigint),
                        0) FROM grid_worker)
"""


def _names(session, version_id: int) -> tuple[dict[str, tuple[str, str]], dict[str, list[str]]]:
    """Names of every unit of ``version_id`` (no geometry) and each building's groups."""
    names: dict[str, tuple[str, str]] = {}
    groups: dict[str, list[str]] = {}
    for level, code, name, parent in store.unit_rows(session, version_id, None, "level",
                                                     "code", "name", "parent_code"):
        names[code] = (level, name)
        if level == Level.resident_group.value and parent:
            groups.setdefault(parent, []).append(code)
    return names, groups


def _answer(snapshot: _Snapshot, lon: float, lat: float) -> Location:
    """The same answer as ``locate_point`` would give, from the snapshot."""
    locator = snapshot.locator
    codes = locator.locate(lon, lat)

    def link(code: str) -> ChainLink:
        level, name = snapshot.names[code]
        return ChainLink(level, code, name, snapshot.orgs.get(code))

    present = [codes[level] for level in LEVELS if codes.get(level)]
    owners = OwnerChain(chain=[link(c) for c in present if c in snapshot.names])
    building = codes.get(Level.building)
    if building:
        owners.resident_groups = [link(g) for g in snapshot.groups.get(building, [])]
    grid = codes.get(Level.grid)
    if grid:
        owners.grid_workers = list(snapshot.workers.get(grid, []))
    nearest_grid = None
    if grid is None:
        nearest = locator.nearest(Level.grid, lon, lat)
        if nearest is not None:
            nearest_grid = NearestGrid(nearest.code, snapshot.names[nearest.code][1],
                                       round(nearest.distance_m, 1))
    return Location(lon=lon, lat=lat, crs=f"EPSG:{STORAGE_SRID}", version=locator.version_id,
                    covered=grid is not None, owners=owners, nearest_grid=nearest_grid,
                    codes=codes)
