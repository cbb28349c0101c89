"""The locate snapshot (定位快照): one boundary version's cell indexes as flat arrays on disk,
memory-mapped by every server process and by ``grid place``.

A city's cell index (about 4 M cells a level, the boundary cells' candidate lists, the small
polygons' vertex table, a million codes) costs seconds to build and ~1–2 GB as Python objects
per process. Written once as ``.npy`` files and opened with ``np.load(mmap_mode="r")``, the
arrays live in the page cache once, however many processes map them. Polygons are flat arrays
(vertices and offsets) that the compiled kernel reads in place; no shapely geometry is made per
process (the rare pairs left to GEOS get polygons made from the arrays for that call).

The snapshot also holds what a locate answer says about the units (``UnitNames``): every unit
of the version — code, level, name — and each building's resident groups, as sorted byte codes,
one UTF-8 blob of names with its offsets, and the groups as offsets into the codes. A server
worker answers from these mapped arrays (grid.spatial.places) instead of a million Python
strings of its own.

Layout under the configured directory::

    current -> v7-1733223344123456789     (a symlink: the snapshot in use)
    v7-1733223344123456789/
        meta.json                          version, and per level the raster's origin, size, shape
        street.cells.npy  street.codes.npy  street.cand.npy  ...
        units.codes.npy  units.levels.npy  units.name_ptr.npy  units.name_blob.npy  ...

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
from grid.hierarchy.levels import LEVELS, Level
from grid.spatial.bulk import BulkLocator, CellIndex
from grid.spatial.locator import LevelIndex, Locator, Nearest, check_coordinate, check_coordinates

POINTER = "current"
#: 2: unit names and groups (UnitNames); 3: the compiled kernel's flat polygon arrays, no WKB.
FORMAT = 3
_ARRAYS = ("codes", *CellIndex.ARRAYS)
#: Old snapshot directories kept besides the current one (a process may still map them).
KEEP = 2


def write(bulk: BulkLocator, directory: Path, units: UnitNames | None = None) -> Path:
    """Write ``bulk`` (and the version's ``units``, when given) as a snapshot under
    ``directory`` and make it current; its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"v{bulk.version_id}-{time.time_ns()}"
    temporary = directory / f".tmp-{name}-{os.getpid()}"
    temporary.mkdir()
    meta = {"format": FORMAT, "version_id": bulk.version_id, "levels": {},
            "units": units is not None}
    if units is not None:
        for key in UnitNames.FILES:
            np.save(temporary / f"units.{key}.npy", getattr(units, key), allow_pickle=False)
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
    opened = open_locator(directory, version_id)
    return None if opened is None else opened.bulk


def open_locator(directory: Path, version_id: int | None = None) -> SnapshotLocator | None:
    """The current snapshot as a locator with its units' names (both from the one directory
    ``current`` names when called), or None as ``open_current``."""
    path = current(directory)
    if path is None:
        return None
    meta = _meta(path)
    if meta.get("format") != FORMAT or (version_id is not None
                                        and meta.get("version_id") != version_id):
        # Checked before mapping anything: a stale snapshot costs no GEOS rebuild, and one of
        # an older format is rebuilt by ``ensure`` rather than refused.
        return None
    return SnapshotLocator(open_snapshot(path), open_units(path), path)


def _meta(path: Path) -> dict:
    try:
        return json.loads((path / "meta.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def open_units(path: Path) -> UnitNames | None:
    """The units' names of one snapshot directory, memory-mapped (None if it has none)."""
    path = Path(path)
    if not json.loads((path / "meta.json").read_text()).get("units"):
        return None
    return UnitNames(*(_load(path / f"units.{key}.npy") for key in UnitNames.FILES))


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


def key_range(keys: np.ndarray, key: bytes) -> tuple[int, int]:
    """Positions ``[lo, hi)`` of ``key`` in ``keys``, a sorted array of fixed-width bytes
    (``S`` dtype). The key is padded to the array's width first: numpy, given a key wider
    than the array's items, casts the whole array to the wider type — a copy of every key
    on every look-up (~60 µs for 5,700 Party organisations; a building's 18-byte code
    against the 15-byte codes of streets, communities and grids) — and a narrower one costs
    a cast of its own. A wider key equals none of them."""
    width = keys.dtype.itemsize
    if len(key) > width:
        return 0, 0
    if len(key) < width:
        key = key.ljust(width, b"\0")  # numpy compares S values as if padded with NUL
    return int(keys.searchsorted(key, "left")), int(keys.searchsorted(key, "right"))


class UnitNames:
    """Every unit of one boundary version by code — its level and name — and each building's
    resident groups, as flat arrays (memory-mapped from a snapshot, or built in memory).

    ``codes`` are the units' codes as UTF-8 bytes, sorted (byte order is code-point order, the
    order of Python's ``str``); unit ``i`` has level ``LEVELS[levels[i]]`` and name
    ``name_blob[name_ptr[i]:name_ptr[i + 1]]``; its resident groups (for a building) are
    units ``group_idx[group_ptr[i]:group_ptr[i + 1]]``, in code order. Nothing here is a Python
    object per unit, so a worker holds no private copy of a city's million names.
    """

    FILES = ("codes", "levels", "name_ptr", "name_blob", "group_ptr", "group_idx")

    def __init__(self, codes: np.ndarray, levels: np.ndarray, name_ptr: np.ndarray,
                 name_blob: np.ndarray, group_ptr: np.ndarray, group_idx: np.ndarray) -> None:
        self.codes, self.levels = codes, levels
        self.name_ptr, self.name_blob = name_ptr, name_blob
        self.group_ptr, self.group_idx = group_ptr, group_idx

    @classmethod
    def from_rows(cls, rows) -> UnitNames:
        """From ``(level, code, name, parent_code)`` rows (``store.unit_rows``), any order."""
        level_of = {level.value: i for i, level in enumerate(LEVELS)}
        codes, levels, names, parents = [], [], [], []
        for level, code, name, parent in rows:
            codes.append(code.encode())
            levels.append(level_of[level])
            names.append((name or "").encode())
            parents.append(parent if level == Level.resident_group.value else None)
        order = np.argsort(np.array(codes, dtype=object), kind="stable") if codes else (
            np.empty(0, np.int64))
        sorted_codes = np.array([codes[i] for i in order], dtype=bytes) if codes else (
            np.empty(0, dtype="S1"))
        lengths = np.fromiter((len(names[i]) for i in order), dtype=np.int64, count=len(order))
        name_ptr = np.zeros(len(order) + 1, dtype=np.int64)
        np.cumsum(lengths, out=name_ptr[1:])
        blob = b"".join(names[i] for i in order)
        name_blob = np.frombuffer(blob, dtype=np.uint8).copy() if blob else np.empty(0, np.uint8)
        # Groups: the rows whose parent is a unit of this version, by (parent, own code).
        group, parent = [], []
        for position, i in enumerate(order):
            if parents[i]:
                group.append(position)
                parent.append(parents[i].encode())
        parent_idx = np.searchsorted(sorted_codes, np.array(parent, dtype=bytes)) if parent \
            else np.empty(0, np.int64)
        group = np.asarray(group, dtype=np.int64)
        known = parent_idx < len(sorted_codes)
        known[known] = sorted_codes[parent_idx[known]] == np.array(parent, dtype=bytes)[known]
        group, parent_idx = group[known], parent_idx[known]
        by_parent = np.lexsort((group, parent_idx))  # group positions are code order
        group_ptr = np.zeros(len(order) + 1, dtype=np.int64)
        np.cumsum(np.bincount(parent_idx, minlength=len(order)), out=group_ptr[1:])
        return cls(sorted_codes, np.asarray(levels, dtype=np.int8)[order], name_ptr, name_blob,
                   group_ptr, group[by_parent].astype(np.int32))

    def __len__(self) -> int:
        return len(self.codes)

    def find(self, code: str) -> int:
        """The position of ``code``, or -1 when no unit of the version has it."""
        key = code.encode()
        i = key_range(self.codes, key)[0]
        return i if i < len(self.codes) and self.codes[i] == key else -1

    def code(self, i: int) -> str:
        """The code of unit ``i``."""
        return self.codes[i].decode()

    def level(self, i: int) -> str:
        """The level (its value, e.g. ``"grid"``) of unit ``i``."""
        return LEVELS[self.levels[i]].value

    def name(self, i: int) -> str:
        """The name of unit ``i``."""
        return bytes(self.name_blob[self.name_ptr[i]:self.name_ptr[i + 1]]).decode()

    def groups(self, i: int) -> np.ndarray:
        """Positions of the resident groups of unit ``i`` (a building), in code order."""
        return self.group_idx[self.group_ptr[i]:self.group_ptr[i + 1]]


class SnapshotLocator:
    """What the server's requests ask of a locator (``locate``, ``nearest``), answered from a
    memory-mapped snapshot; the same answers as ``Locator`` (covers, lowest code). ``units``
    are the version's names from the same snapshot (None for a snapshot written without)."""

    def __init__(self, bulk: BulkLocator, units: UnitNames | None = None,
                 path: Path | None = None) -> None:
        self.bulk = bulk
        self.units = units
        self.path = path
        self.version_id = bulk.version_id
        self._nearest: dict[Level, LevelIndex] = {}
        self._lock = threading.Lock()

    def locate(self, lon: float, lat: float) -> dict[Level, str | None]:
        """Codes of the units holding one point, per level."""
        check_coordinate(lon, lat)
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
        points outside coverage ask), in this process — or before, by ``prepare_nearest``."""
        return Locator(self.version_id, {level: self._nearest_index(level)}).nearest(
            level, lon, lat)

    def prepare_nearest(self, level: Level = Level.grid) -> None:
        """Build the level's nearest-unit tree now (a server's parent process does, before it
        forks its workers, so they share it)."""
        self._nearest_index(level)

    def _nearest_index(self, level: Level) -> LevelIndex:
        with self._lock:
            index = self._nearest.get(level)
            if index is None:
                cell_index = self.bulk.indexes[level]
                index = self._nearest[level] = LevelIndex(
                    [str(c) for c in cell_index.codes], polygons(cell_index))
            return index


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


def ensure(directory: Path, session, version_id: int, build=None) -> SnapshotLocator:
    """The snapshot of ``version_id`` under ``directory``, made current: opened if it is
    already current, else built from the store — ``build()`` (a BulkLocator; default
    ``BulkLocator.from_db``) and the version's unit names — and written, under the lock."""
    opened = open_locator(directory, version_id)
    if opened is not None and opened.units is not None:
        return opened
    with building_lock(directory):
        opened = open_locator(directory, version_id)  # another process may have just built it
        if opened is None or opened.units is None:
            from grid.hierarchy import store

            bulk = build() if build is not None else BulkLocator.from_db(session, version_id)
            units = UnitNames.from_rows(store.unit_rows(session, version_id, None, "level",
                                                        "code", "name", "parent_code"))
            write(bulk, directory, units)
            del bulk, units
            opened = open_locator(directory, version_id)
    return opened


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
