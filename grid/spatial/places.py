"""Locate without the database: the answer to "whose is this place?" from memory.

``GET /locate`` is the hottest read of the service (every phone report, every hotline case).
``locate_point`` asks the database for the active version, the units' names, their Party
organisations and the grid's workers on every call; this directory holds all of that for the
active version beside the locator, so a locate is a few dictionary look-ups:

* unit names and each building's resident groups belong to a boundary version and never
  change within it: they are read once per version — from the locate snapshot's mapped arrays
  when there is one (``grid.spatial.snapshot.UnitNames``: every worker maps the same pages, a
  city's million names cost no worker a private copy), else into the same flat arrays in
  memory;
* Party organisations and grid workers change without a new version (``grid load-orgs``,
  ``grid load-workers``), and which version is active changes on activation: once the snapshot
  is older than ``fresh_seconds`` these are checked in the background (the answer meanwhile
  comes from the current snapshot). So a change made elsewhere shows within about
  ``fresh_seconds`` plus one re-read; ``invalidate()`` (called on activation through this
  process) makes the next calls ask the database until a new snapshot is ready.

The check must not stall requests: re-reading 100,000 organisations in Python holds the GIL
for a large fraction of a second. On PostgreSQL a fingerprint of both tables (row count and a
sum of row hashes, computed by the server) is compared first, so the tables are re-read only
when they changed; SpatiaLite, the small embedded store, re-reads them. Organisations and
workers are kept as flat arrays too (``_Records``: sorted byte keys, one UTF-8 blob): a city's
57,000 organisations as Python objects were ~40 MB a worker, as arrays ~5 MB, and no object
for the garbage collector to walk. An answer's strings are decoded when it is made.

With ``fresh_seconds=0`` the directory is off and every call goes to ``locate_point``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select, text

from grid.db import STORAGE_SRID, Database
from grid.hierarchy import store
from grid.hierarchy.chain import ChainLink, OwnerChain, PartyOrgInfo, WorkerInfo
from grid.hierarchy.levels import LEVELS, Level
from grid.hierarchy.models import GridWorker, PartyOrg
from grid.spatial.locate import Location, NearestGrid, locate_point
from grid.spatial.locator import Locator, LocatorCache
from grid.spatial.snapshot import UnitNames, key_range


class _Records:
    """Rows of a few text fields keyed by a code, as flat arrays: ``keys`` sorted (UTF-8
    bytes; a key's rows are contiguous, in the order given), field ``f`` of row ``r`` at
    ``blob[ptr[r * width + f]:ptr[r * width + f + 1]]``."""

    def __init__(self, rows: list[tuple[str, ...]], width: int) -> None:
        self.width = width
        keys = np.array([r[0].encode() for r in rows], dtype=bytes) if rows else (
            np.empty(0, dtype="S1"))
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        fields = [(value or "").encode() for i in order for value in rows[i][1:]]
        self.ptr = np.zeros(len(fields) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, fields), dtype=np.int64, count=len(fields)),
                  out=self.ptr[1:])
        self.blob = b"".join(fields)

    def rows(self, key: str) -> list[tuple[str, ...]]:
        """The rows of ``key`` (its fields after the key), in the order given."""
        lo, hi = key_range(self.keys, key.encode())
        ptr, blob, width = self.ptr, self.blob, self.width
        return [tuple(blob[ptr[r * width + f]:ptr[r * width + f + 1]].decode()
                      for f in range(width)) for r in range(lo, hi)]


@dataclass
class _Snapshot:
    """Everything a locate answer needs, for one version, read at ``read_at``."""

    locator: Locator
    units: UnitNames  # names and resident groups of the version's units
    orgs: _Records  # unit code → (org_type, name, secretary, contact)
    workers: _Records  # grid code → (name, phone, role), in id order
    fingerprint: tuple | None  # of the organisation and worker tables, PostgreSQL only
    read_at: float
    #: unit position → its ChainLink (name, Party organisation) as answers made it: the
    #: streets, communities and grids a city's reports fall in are few, and each link took
    #: a dozen array look-ups and decodes. Bounded (``LINK_CACHE``); valid as long as the
    #: snapshot's units and organisations, so a snapshot with new ones starts a new one.
    links: dict[int, ChainLink] = field(default_factory=dict)

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
                locator, units = old.locator, old.units
            else:
                locator = self.locators.get(session, version_id)
                units = getattr(locator, "units", None)  # the snapshot's mapped names
                if units is None:
                    units = UnitNames.from_rows(store.unit_rows(
                        session, version_id, None, "level", "code", "name", "parent_code"))
            orgs = _Records([tuple(row) for row in session.execute(select(
                PartyOrg.unit_code, PartyOrg.org_type, PartyOrg.name, PartyOrg.secretary,
                PartyOrg.contact))], 4)
            workers = _Records([tuple(row) for row in session.execute(
                select(GridWorker.grid_code, GridWorker.name, GridWorker.phone,
                       GridWorker.role).order_by(GridWorker.id))], 3)
        self._snapshot = _Snapshot(locator, units, orgs, workers, fingerprint,
                                   time.monotonic())

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


#: Most chain links a snapshot keeps (a few MB; a city has 57,000 streets, communities and
#: grids, and a million buildings, most of which a day's reports never name).
LINK_CACHE = 20_000


def _answer(snapshot: _Snapshot, lon: float, lat: float) -> Location:
    """The same answer as ``locate_point`` would give, from the snapshot."""
    locator, units = snapshot.locator, snapshot.units
    codes = locator.locate(lon, lat)

    links = snapshot.links

    def link(i: int) -> ChainLink:
        found = links.get(i)
        if found is None:
            code = units.code(i)
            org = snapshot.orgs.rows(code)
            found = ChainLink(units.level(i), code, units.name(i),
                              PartyOrgInfo(*org[0]) if org else None)
            if len(links) >= LINK_CACHE:
                links.clear()
            links[i] = found
        return found

    found = [units.find(codes[level]) for level in LEVELS if codes.get(level)]
    owners = OwnerChain(chain=[link(i) for i in found if i >= 0])
    building = codes.get(Level.building)
    if building:
        i = units.find(building)
        if i >= 0:
            owners.resident_groups = [link(int(g)) for g in units.groups(i)]
    grid = codes.get(Level.grid)
    if grid:
        owners.grid_workers = [WorkerInfo(*row) for row in snapshot.workers.rows(grid)]
    nearest_grid = None
    if grid is None:
        nearest = locator.nearest(Level.grid, lon, lat)
        if nearest is not None:
            nearest_grid = NearestGrid(nearest.code, units.name(units.find(nearest.code)),
                                       round(nearest.distance_m, 1))
    return Location(lon=lon, lat=lat, crs=f"EPSG:{STORAGE_SRID}", version=locator.version_id,
                    covered=grid is not None, owners=owners, nearest_grid=nearest_grid,
                    codes=codes)
