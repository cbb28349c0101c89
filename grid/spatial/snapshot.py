"""The locate snapshot (定位快照): one boundary version's cell indexes as flat arrays on disk,
memory-mapped by every server process and by ``grid place``.

A city's cell index (about 4 M cells a level, the boundary cells' candidate lists, the small
polygons' vertex table, a million codes) costs seconds to build and ~1–2 GB as Python objects
per process. Written once as ``.npy`` files and opened with ``np.load(mmap_mode="r")``, the
arrays live in the page cache once, however many processes map them. Polygons are flat arrays
(vertices and offsets) that the compiled kernel reads in place; no shapely geometry is made per
process (the rare pairs left to GEOS get polygons made from the arrays for that call).

Layout under the configured directory::

    current -> v7-1733223344123456789     (a symlink: the snapshot in use)
    v7-1733223344123456789/
        meta.json                          version, and per level the raster's origin, size, shape
        street.cells.npy  street.codes.npy  street.cand.npy  ...

A snapshot is written into a hidden temporary directory, renamed into place, and only then
published by replacing the ``current`` symlink with ``os.replace`` (atomic on POSIX). A reader
resolves ``current`` once and opens every file from the directory it names, so it sees an
old or a new snapshot whole, never a half-written one; a directory replaced while a process
still maps its files stays readable to that process (Linux keeps unlinked mapped files).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from grid.errors import InvalidInput
from grid.hierarchy.levels import Level
from grid.spatial.bulk import BulkLocator, CellIndex
from grid.spatial.locator import LevelIndex, Locator, Nearest, check_coordinates

POINTER = "current"
FORMAT = 2  # 2: the compiled kernel's flat polygon arrays (no WKB)
_ARRAYS = ("codes", *CellIndex.ARRAYS)
#: Old snapshot directories kept besides the current one (a process may still map them).
KEEP = 2


def write(bulk: BulkLocator, directory: Path) -> Path:
    """Write ``bulk`` as a snapshot under ``directory`` and make it current; its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"v{bulk.version_id}-{time.time_ns()}"
    temporary = directory / f".tmp-{name}-{os.getpid()}"
    temporary.mkdir()
    meta = {"format": FORMAT, "version_id": bulk.version_id, "levels": {}}
    for level, index in bulk.indexes.items():
        meta["levels"][level.value] = {"x0": index.x0, "y0": index.y0, "size": index.size,
                                       "nx": index.nx, "ny": index.ny}
        for key, array in _arrays(index).items():
            np.save(temporary / f"{level.value}.{key}.npy", array, allow_pickle=False)
    (temporary / "meta.json").write_text(json.dumps(meta))
    _sync(temporary)
    final = directory / name
    os.rename(temporary, final)
    link = directory / f".{POINTER}-{os.getpid()}-{time.time_ns()}"
    os.symlink(name, link)
    os.replace(link, directory / POINTER)  # the one atomic step readers can observe
    _prune(directory, keep={name})
    return final


def _arrays(index: CellIndex) -> dict[str, np.ndarray]:
    # Codes as fixed-width unicode: indexable in place, converted to str only when answered.
    codes = np.asarray([str(c) for c in index.codes], dtype=str) if len(index.codes) else (
        np.empty(0, dtype="<U1"))
    # Every polygon is its flat arrays (vertices, offsets): no shapely geometry is stored.
    return {"codes": codes, **{name: getattr(index, name) for name in CellIndex.ARRAYS}}


def current(directory: Path) -> Path | None:
    """The directory of the current snapshot under ``directory`` (None when there is none)."""
    try:
        name = os.readlink(Path(directory) / POINTER)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return Path(directory) / name


def open_current(directory: Path, version_id: int | None = None) -> BulkLocator | None:
    """The current snapshot, memory-mapped, or None when there is none (or it holds another
    version than ``version_id``)."""
    path = current(directory)
    if path is None:
        return None
    bulk = open_snapshot(path)
    if version_id is not None and bulk.version_id != version_id:
        return None
    return bulk


def open_snapshot(path: Path) -> BulkLocator:
    """Open one snapshot directory: arrays memory-mapped."""
    path = Path(path)
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("format") != FORMAT:
        raise InvalidInput(f"定位快照格式不符 snapshot {path} has format {meta.get('format')}, "
                           f"expected {FORMAT}: delete it and run grid activate again")
    indexes = {}
    for value, raster in meta["levels"].items():
        arrays = {key: _load(path / f"{value}.{key}.npy") for key in _ARRAYS}
        index = CellIndex(arrays["codes"], None, raster["x0"], raster["y0"], raster["size"],
                          raster["nx"], raster["ny"],
                          *(arrays[name] for name in CellIndex.ARRAYS))
        indexes[Level(value)] = index
    return BulkLocator(meta["version_id"], indexes)


def _load(file: Path) -> np.ndarray:
    try:
        # A plain ndarray view of the map: numpy's memmap subclass re-wraps every slice.
        return np.load(file, mmap_mode="r", allow_pickle=False).view(np.ndarray)
    except ValueError:  # an empty array cannot be mapped (a level without units)
        return np.load(file, allow_pickle=False)


class SnapshotLocator:
    """What the server's requests ask of a locator (``locate``, ``nearest``), answered from a
    memory-mapped snapshot; the same answers as ``Locator`` (covers, lowest code)."""

    def __init__(self, bulk: BulkLocator) -> None:
        self.bulk = bulk
        self.version_id = bulk.version_id
        self._nearest: dict[Level, LevelIndex] = {}
        self._lock = threading.Lock()

    def locate(self, lon: float, lat: float) -> dict[Level, str | None]:
        """Codes of the units holding one point, per level."""
        check_coordinates(np.asarray([lon], dtype=float), np.asarray([lat], dtype=float))
        found = {}
        for level, index in self.bulk.indexes.items():
            i = index.locate_one(float(lon), float(lat))
            found[level] = str(index.codes[i]) if i >= 0 else None
        return found

    def locate_many(self, lons, lats) -> dict[Level, np.ndarray]:
        """Codes of the units holding each point, per level (None where no unit does)."""
        lons = np.asarray(lons, dtype=float)
        lats = np.asarray(lats, dtype=float)
        check_coordinates(lons, lats)
        return self.bulk.locate_many(lons, lats)

    def nearest(self, level: Level, lon: float, lat: float) -> Nearest | None:
        """As ``Locator.nearest``; the level's polygons and tree are made on first use (only
        points outside coverage ask), in this process."""
        with self._lock:
            index = self._nearest.get(level)
            if index is None:
                cell_index = self.bulk.indexes[level]
                index = self._nearest[level] = LevelIndex(
                    [str(c) for c in cell_index.codes], polygons(cell_index))
        return Locator(self.version_id, {level: index}).nearest(level, lon, lat)


def polygons(index: CellIndex) -> np.ndarray:
    """Every polygon of a cell index as a shapely geometry, made from its arrays."""
    return index.polygons()


@contextmanager
def building_lock(directory: Path):
    """Hold the snapshot directory's build lock: one process builds, the others wait and then
    find the snapshot it wrote."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure(directory: Path, version_id: int, build) -> BulkLocator:
    """The snapshot of ``version_id`` under ``directory``, made current: opened if it is
    already current, else built by ``build()`` (a BulkLocator) and written, under the lock."""
    bulk = open_current(directory, version_id)
    if bulk is not None:
        return bulk
    with building_lock(directory):
        bulk = open_current(directory, version_id)  # another process may have just built it
        if bulk is None:
            write(build(), directory)
            bulk = open_current(directory, version_id)
    return bulk


def _sync(directory: Path) -> None:
    for entry in directory.iterdir():
        fd = os.open(entry, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _prune(directory: Path, keep: set[str]) -> None:
    """Remove snapshot directories beyond the newest ``KEEP`` besides ``keep``, and stale
    temporaries (a build that died midway)."""
    snapshots = sorted((p for p in directory.iterdir() if p.is_dir() and p.name[:1] == "v"
                        and p.name not in keep), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in snapshots[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
    hour_ago = time.time() - 3600
    for stale in directory.glob(".tmp-*"):
        if stale.stat().st_mtime < hour_ago:
            shutil.rmtree(stale, ignore_errors=True)
