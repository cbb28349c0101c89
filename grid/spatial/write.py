"""Writing one level's units into a boundary version, in bulk (the loader's last step).

A load compares the file with the level as the version holds it, in whole columns: a unit whose
name, parent, attributes and geometry are all the same keeps its row (carried over, not
rewritten); a changed or removed unit's row is detached from the version; new and changed
units get new rows. On PostGIS the new rows go in by one ``COPY`` streamed from a thread, so the
server builds rows and index entries while the validator, in the calling thread, checks them:
the write happens inside the load's transaction, which only commits if the report has no error.
On SpatiaLite the rows are inserted by one ``executemany`` after validation.
"""

from __future__ import annotations

import binascii
import json
import operator
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from sqlalchemy import (
    Integer,
    String,
    Text,
    bindparam,
    cast,
    delete,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session

from grid.db import STORAGE_SRID
from grid.errors import LoadError
from grid.hierarchy.levels import Level
from grid.hierarchy.models import BoundaryVersion, Unit
from grid.hierarchy.store import IDS_PER_STATEMENT, alive_in, shapes, wkb

#: Columns a new unit row is written with, in COPY order.
COLUMNS = ("code", "name", "level", "parent_code", "version_low", "version_high", "attrs", "geom")
#: Rows validated, compared and handed to the writer at a time: the first chunk reaches the
#: server after a fraction of a second, and the server works while later chunks are made.
CHUNK_ROWS = 25_000
#: Chunks of COPY text made but not yet sent, at most.
_QUEUED_CHUNKS = 2
#: Bytes per COPY write.
_CHUNK_BYTES = 1 << 22


def attrs_json(frame: pd.DataFrame, skip: Sequence[str]) -> np.ndarray:
    """Each row's other attributes as JSON text (``{}`` when there are none), leaving out
    empty values; the text is what ``json.dumps`` of the row's dict gives.

    Column by column, in C-level maps: integers, booleans, floats and text each have their
    JSON form without a ``json.dumps`` call per value (a city's 200,000 buildings with two
    extra columns took two seconds that way); other values go through ``json.dumps``. The
    present pieces of each row are joined by Arrow (adding object arrays, as before, made a
    new Python string per column and row: 0.26 s against 0.09 s for 200,000 rows)."""
    extra = [c for c in frame.columns if c not in skip]
    if not extra:
        return np.full(len(frame), "{}", dtype=object)
    pieces = []
    for column in extra:
        key = ", " + json.dumps(_plain(str(column)), ensure_ascii=False) + ": "
        piece = _json_arrow(frame[column], key)
        if piece is None:
            text = _json_values(frame[column])
            present = np.flatnonzero(text != "")  # a present value's JSON is never empty
            text[present] = list(map(key.__add__, text[present]))
            piece = pa.array(text, type=pa.string())
        pieces.append(piece)
    # every present piece begins with ", ": the row's text without its first two characters
    # (no nulls: this pyarrow's join drops a row whose pieces are all null)
    rows = pc.utf8_slice_codeunits(pc.binary_join_element_wise(*pieces, ""), 2)
    return pc.binary_join_element_wise("{", rows, "}", "").to_numpy(zero_copy_only=False)


#: Characters ``json.dumps`` escapes in text (with ``ensure_ascii=False``).
_JSON_ESCAPED = r'["\\\x00-\x1f]'


def _json_arrow(series: pd.Series, key: str) -> pa.Array | None:
    """``key`` and the JSON text of each value, "" where missing, made by Arrow for a column
    of integers or of text that needs no escaping (nearly every file's columns); None for
    any other column. No Python string is made per value."""
    if series.dtype.kind not in "iuOT":
        return None
    try:
        values = pa.array(series)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):  # mixed objects
        return None
    if pa.types.is_integer(values.type):
        text = pc.binary_join_element_wise(key, pc.cast(values, pa.string()), "")
    elif pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        if pc.any(pc.match_substring_regex(values, _JSON_ESCAPED)).as_py():
            return None  # quotes, backslashes or control characters: json's own escaping
        text = pc.binary_join_element_wise(key + '"', values.cast(pa.string()), '"', "")
    else:
        return None
    return pc.fill_null(text, "").cast(pa.string())


def _json_values(series: pd.Series) -> np.ndarray:
    """The JSON text of each value of a column, "" where it is missing."""
    text = np.full(len(series), "", dtype=object)
    values = series.to_numpy(dtype=object)
    present = np.flatnonzero(pd.notna(values))
    if not len(present):
        return text
    kind = series.dtype.kind
    if kind in "iu":
        text[present] = list(map(str, values[present].astype(
            np.int64 if kind == "i" else np.uint64).tolist()))
    elif kind == "b":
        text[present] = np.where(values[present].astype(bool), "true", "false")
    elif kind == "f":
        floats = values[present].astype(np.float64)
        out = np.asarray(list(map(float.__repr__, floats)), dtype=object)
        inf = np.isinf(floats)
        out[inf] = np.where(floats[inf] > 0, "Infinity", "-Infinity")
        text[present] = out
    else:
        items = values[present]
        if all(map(str.__instancecheck__, items)):
            joined = "".join(items)
            if "\x00" in joined:
                items = np.asarray([v.replace("\x00", "") for v in items], dtype=object)
            text[present] = list(map(_encode_text, items))
        else:
            text[present] = [json.dumps(_plain(v), ensure_ascii=False, default=str)
                             for v in items]
    return text


def _plain(value):
    # NUL goes: PostgreSQL's jsonb refuses \u0000 in text, and no attribute means one
    if isinstance(value, str):
        return value.replace("\x00", "")
    return value.item() if hasattr(value, "item") else value


#: ``json.dumps(text, ensure_ascii=False)`` of one string (the C function json uses).
_encode_text = json.encoder.encode_basestring


@dataclass
class Plan:
    """What writing a level changed: the codes added, changed, unchanged and removed."""

    added: list[str]
    changed: list[str]
    unchanged: list[str]
    removed: list[str]


class Existing:
    """The level as the version holds it, read in one query, to compare a file with."""

    def __init__(self, session: Session, version_id: int, level: Level) -> None:
        # Plain columns (attributes as their JSON text, geometry as WKB bytes): no ORM
        # objects, JSON parsing or geometry wrappers for a level of 200,000 buildings.
        t = Unit.__table__.c
        rows = session.execute(
            select(t.id, t.code, t.name, t.parent_code, cast(t.attrs, Text), t.version_low,
                   wkb(t.geom))
            .where(alive_in(version_id), t.level == level.value)).all()
        # plain object columns: None stays None (a pandas frame would turn it into NaN)
        columns = [np.asarray(c, dtype=object) for c in zip(*rows, strict=True)] if rows \
            else [np.empty(0, dtype=object)] * 7
        self.ids, self.codes, self.names, self.parents, self.attrs, self.lows, blobs = columns
        self.geoms = shapes(blobs)
        self.index = pd.Index(self.codes, dtype=object)

    def compare(self, codes: np.ndarray, names: np.ndarray, parents: np.ndarray,
                attrs: np.ndarray, geoms: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Per row of the file: the index of the unit with its code (-1: none), and whether
        that unit is the same (name, parent, attributes and geometry)."""
        match = self.index.get_indexer(codes) if len(self.index) else \
            np.full(len(codes), -1, dtype=np.int64)
        found = np.flatnonzero(match >= 0)
        same = np.zeros(len(codes), dtype=bool)
        if len(found):
            at = match[found]
            same[found] = (
                (self.names[at] == names[found]) & (self.parents[at] == parents[found])
                & _same_attrs(self.attrs[at], attrs[found])
                & _same_shapes(self.geoms[at], geoms[found] if geoms is not None
                               else np.full(len(found), None, dtype=object)))
        return match, same

    def settle(self, session: Session, version_id: int, codes: np.ndarray, match: np.ndarray,
               same: np.ndarray) -> Plan:
        """Detach the rows of changed units and of units the file no longer has; say what
        changed."""
        found = np.flatnonzero(match >= 0)
        kept = np.zeros(len(self.codes), dtype=bool)
        kept[match[found]] = True
        changed = found[~same[found]]
        detach = np.r_[match[changed], np.flatnonzero(~kept)].astype(np.int64)
        detach_rows(session, self.ids[detach].astype(np.int64),
                    self.lows[detach].astype(np.int64), version_id)
        return Plan(added=codes[match < 0].tolist(), changed=codes[changed].tolist(),
                    unchanged=codes[found[same[found]]].tolist(),
                    removed=self.codes[~kept].tolist())


def _same_attrs(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Equal attributes: the same JSON text (as this writer stored it), else the same
    values once parsed (text written by another serialiser)."""
    same = old == new
    for i in np.flatnonzero(~same):
        same[i] = old[i] is not None and json.loads(old[i]) == json.loads(new[i])
    return same


def _same_shapes(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Equal geometries: the same coordinates, in the same order or once normalised."""
    missing_old, missing_new = shapely.is_missing(old), shapely.is_missing(new)
    both = np.flatnonzero(~missing_old & ~missing_new)
    same = missing_old & missing_new
    new = multipolygons(new[both])
    same[both] = shapely.equals_exact(old[both], new, tolerance=1e-9)
    if not same[both].all():
        redo = both[~same[both]]
        same[redo] = shapely.equals_exact(shapely.normalize(old[redo]),
                                          shapely.normalize(new[~same[both]]), tolerance=1e-9)
    return same


def multipolygons(geoms: np.ndarray) -> np.ndarray:
    """Polygons as one-part MultiPolygons (the column's type), in one call."""
    single = shapely.get_type_id(geoms) == 3
    if single.any():
        geoms = geoms.copy()
        geoms[single] = shapely.multipolygons(geoms[single], indices=np.arange(single.sum()))
    return geoms


def require_versions(session: Session, version_ids) -> None:
    """Refuse to write unit rows that name a boundary version that does not exist.

    On PostGIS the unit table has no foreign keys to ``boundary_version`` (migration 0007:
    two row-by-row checks cost a 200,000-building COPY over a second); every write of unit
    rows goes through this module and names only the versions checked here, once per
    statement. The versions found are locked ``FOR KEY SHARE`` until commit, as a foreign key
    check would lock them, and a trigger refuses to delete a version that rows still name.
    """
    wanted = sorted({int(v) for v in version_ids})
    t = BoundaryVersion.__table__
    query = select(t.c.id).where(t.c.id.in_(wanted))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(read=True, key_share=True)
    found = set(session.execute(query).scalars())
    missing = [v for v in wanted if v not in found]
    if missing:
        raise LoadError(f"边界版本 {missing} 不存在 boundary version(s) {missing} do not exist: "
                        "no unit row is written")


def detach_rows(session: Session, ids: np.ndarray, lows: np.ndarray, version_id: int) -> None:
    """Remove rows from ``version_id`` (the newest version they are in): a row born in it is
    deleted, an older one ends the version before (as :func:`store.detach`, in bulk)."""
    gone, ended = ids[lows == version_id].tolist(), ids[lows != version_id].tolist()
    if ended:
        require_versions(session, [version_id - 1])
    for start in range(0, len(gone), IDS_PER_STATEMENT):
        session.execute(delete(Unit).where(Unit.id.in_(gone[start:start + IDS_PER_STATEMENT]))
                        .execution_options(synchronize_session=False))
    for start in range(0, len(ended), IDS_PER_STATEMENT):
        session.execute(update(Unit).where(Unit.id.in_(ended[start:start + IDS_PER_STATEMENT]))
                        .values(version_high=version_id - 1)
                        .execution_options(synchronize_session=False))


class UnitWriter:
    """Inserts new unit rows, given chunk by chunk. On PostGIS one COPY runs in a thread from
    :meth:`start` to :meth:`finish`, fed each chunk as it is added; on SpatiaLite the rows are
    inserted by one executemany in :meth:`finish`.

    A PostGIS load of at least ``partition_rows`` rows (``rows``, the file's count) gets its own
    partition (migration 0009): the COPY goes into a new table ``unit_b<N>`` with no index, and
    the table is attached as partition ``batch = N`` when the COPY ends, so PostgreSQL builds
    its indexes once over all the rows instead of entry by entry — all inside the load's
    transaction, so a load rolled back leaves no table behind."""

    def __init__(self, session: Session, level: Level, version_id: int, rows: int = 0,
                 partition_rows: int | None = None) -> None:
        self.session = session
        self.level, self.version_id = level, version_id
        self.postgis = session.get_bind().dialect.name == "postgresql"
        self.own_partition = self.postgis and partition_rows is not None \
            and rows >= partition_rows
        self.abandoned = False
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        # bounded: a server slower than the checks holds the checks back rather than have
        # the whole file's COPY text wait in memory
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUED_CHUNKS)
        self.parts: list[tuple] = []
        self.closed = False

    def start(self) -> UnitWriter:
        """Begin writing. On PostGIS the session's connection belongs to the writer until
        :meth:`finish`: the caller must not use the session meanwhile."""
        require_versions(self.session, [self.version_id])
        if self.postgis:
            raw = self.session.connection().connection.driver_connection
            self.thread = threading.Thread(target=self._copy, args=(raw,), daemon=True)
            self.thread.start()
        return self

    def add(self, codes: np.ndarray, names: np.ndarray, parents: np.ndarray,
            attrs: np.ndarray, geoms: np.ndarray | None, blobs: np.ndarray | None = None
            ) -> None:
        """Rows to insert. On PostGIS their COPY text is made here, in the calling thread
        (the writer thread only sends it, never competing for the GIL); the server turns
        them into rows and index entries while the caller goes on. ``blobs``, where given
        (not None), is each geometry's WKB as read from the file, exactly that geometry in
        storage CRS: a 2-D polygon's is sent as it is rather than serialised again."""
        if not len(codes) or self.closed:
            return
        if self.postgis:
            self._send(self._lines(codes, names, parents, attrs, geoms, blobs))
        else:
            self.parts.append((codes, names, parents, attrs, geoms))

    def close(self) -> None:
        """No more rows (what was added is still written)."""
        if not self.closed:
            self.closed = True
            self._send(None)

    def _send(self, payload: bytes | None) -> None:
        """Queue COPY text for the writer thread (SpatiaLite: nothing to send); when the
        thread has stopped (its error is raised by :meth:`finish`) the text is dropped."""
        while self.thread is not None:
            try:
                self.queue.put(payload, timeout=0.2)
                return
            except queue.Full:
                if not self.thread.is_alive():
                    return

    def finish(self, errors: bool) -> None:
        """Wait for the COPY (PostGIS), or insert now (SpatiaLite) unless there are
        ``errors`` (the load will be rolled back anyway). A failed write with no validation
        error to explain it becomes a LoadError."""
        self.abandoned = errors  # rolled back anyway: no partition to attach
        self.close()
        if self.thread is not None:
            self.thread.join()
            self.thread = None
            if self.error is not None and not errors:
                raise LoadError(f"写入失败 writing the units failed: {_reason(self.error)}") \
                    from self.error
        elif not errors and self.parts:
            for part in self.parts:
                self._executemany(*part)

    def _copy(self, raw) -> None:
        try:
            first = self.queue.get()
            if first is None:
                return
            with raw.cursor() as cursor:
                table, batch = "unit", None
                if self.own_partition:
                    batch = int(cursor.execute("SELECT nextval('unit_batch_seq')").fetchone()[0])
                    table = f"unit_b{batch}"
                    cursor.execute(f"CREATE TABLE {table} (LIKE unit INCLUDING DEFAULTS "
                                   f"INCLUDING STORAGE, CHECK (batch = {batch}))")
                    cursor.execute(f"ALTER TABLE {table} ALTER batch SET DEFAULT {batch}")
                with cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    payload = first
                    while payload is not None:
                        view = memoryview(payload)
                        for start in range(0, len(view), _CHUNK_BYTES):
                            copy.write(view[start:start + _CHUNK_BYTES])
                        payload = self.queue.get()
                if batch is not None and not self.abandoned:
                    # the CHECK spares the scan; the indexes are built here, in bulk
                    cursor.execute(f"ALTER TABLE unit ATTACH PARTITION {table} "
                                   f"FOR VALUES IN ({batch})")
        except BaseException as exc:  # handed to finish(), in the calling thread
            self.error = exc

    def _lines(self, codes: np.ndarray, names: np.ndarray, parents: np.ndarray,
               attrs: np.ndarray, geoms: np.ndarray | None,
               blobs: np.ndarray | None = None) -> bytes:
        """COPY text rows, built as bytes column by column (C-level maps and joins, no
        Python code per row). Geometries go as ``SRID=4490;`` and hex WKB, which PostGIS
        reads as EWKB; a Polygon is sent as a one-part MultiPolygon by writing the
        MultiPolygon header before its own WKB, with no geometry built for it."""
        if geoms is None:
            shapes = repeat(rb"\N")
        else:
            kind = shapely.get_type_id(geoms)
            hexes = map(binascii.hexlify, _wkb(geoms, kind, blobs)[kind >= 0])
            srid = f"SRID={STORAGE_SRID};".encode()
            heads = np.where(kind[kind >= 0] == 3, srid + b"010600000001000000", srid)
            shapes = list(map(bytes.__add__, heads.astype(object), hexes))
            if (kind < 0).any():  # missing geometry: NULL
                full = np.full(len(kind), rb"\N", dtype=object)
                full[kind >= 0] = shapes
                shapes = full
        version = str(self.version_id).encode()
        return b"\n".join(map(b"\t".join, zip(
            _escape(codes), _escape(names), repeat(self.level.value.encode()),
            _escape(parents), repeat(version), repeat(version), _escape(attrs), shapes,
            strict=False))) + b"\n"

    def _executemany(self, codes: np.ndarray, names: np.ndarray, parents: np.ndarray,
                     attrs: np.ndarray, geoms: np.ndarray | None) -> None:
        from geoalchemy2.shape import from_shape

        rows = [{"code": c, "name": n, "level": self.level.value, "parent_code": p,
                 "version_low": self.version_id, "version_high": self.version_id,
                 "attrs": json.loads(a),
                 "geom": None if geoms is None or g is None
                 else from_shape(g, srid=STORAGE_SRID)}
                for c, n, p, a, g in zip(codes, names, parents, attrs,
                                         repeat(None) if geoms is None else multipolygons(geoms),
                                         strict=False)]
        self.session.execute(insert(Unit), rows)


#: WKB headers of a little-endian 2-D Polygon and MultiPolygon: such file WKB is sent as is.
_PLAIN_HEADS = frozenset((b"\x01\x03\x00\x00\x00", b"\x01\x06\x00\x00\x00"))
_HEAD = operator.itemgetter(slice(0, 5))


def _wkb(geoms: np.ndarray, kind: np.ndarray, blobs: np.ndarray | None) -> np.ndarray:
    """Little-endian WKB of each geometry (None where missing): the file's own where
    ``blobs`` has it and it is a plain 2-D Polygon or MultiPolygon, else from shapely."""
    out = np.full(len(geoms), None, dtype=object)
    todo = kind >= 0
    if blobs is not None:
        rows = np.flatnonzero(todo & np.not_equal(blobs, None))  # None: serialise again
        heads = map(_HEAD, blobs[rows])
        plain = rows[np.fromiter(map(_PLAIN_HEADS.__contains__, heads), dtype=bool,
                                 count=len(rows))]
        out[plain] = blobs[plain]
        todo[plain] = False
    if todo.any():
        out[todo] = shapely.to_wkb(geoms[todo], byte_order=1)
    return out


def _escape(values: np.ndarray) -> list[bytes]:
    """UTF-8 text for COPY: None as ``\\N``; backslash, tab, newline and carriage return
    escaped (looked for in the whole column at once, escaped only where present)."""
    missing = pd.isna(values)
    if missing.any():
        values = np.where(missing, None, values)
    encoded = [rb"\N" if v is None else v.encode() for v in values] if missing.any() \
        else list(map(str.encode, values))
    joined = b"".join(encoded)
    if not any(c in joined for c in (b"\\", b"\t", b"\n", b"\r")):
        return encoded
    return [v if m else v.replace(b"\\", b"\\\\").replace(b"\t", b"\\t")
            .replace(b"\n", b"\\n").replace(b"\r", b"\\r")
            for v, m in zip(encoded, missing, strict=True)]


def _reason(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    return getattr(diag, "message_primary", None) or type(exc).__name__


def reparent_rows(session: Session, version_id: int, ids: np.ndarray, lows: np.ndarray,
                  parents: np.ndarray) -> None:
    """Give rows new parents: a row born in ``version_id`` is updated in place; a carried-over
    row is copied into the version with its new parent and detached (older versions keep
    the parent they had)."""
    own = lows == version_id
    table = Unit.__table__
    if len(ids):
        require_versions(session, [version_id])
    if own.any():
        session.execute(
            update(table).where(table.c.id == bindparam("uid"))
            .values(parent_code=bindparam("parent")),
            [{"uid": int(i), "parent": p} for i, p in zip(ids[own], parents[own], strict=True)])
    if (~own).any():
        copied = [c for c in table.columns if c.name not in ("id", "parent_code", "version_low",
                                                               "version_high")]
        session.execute(
            insert(table).from_select(
                [c.name for c in copied] + ["parent_code", "version_low", "version_high"],
                select(*copied, bindparam("parent", type_=String), literal(version_id, Integer),
                       literal(version_id, Integer)).where(table.c.id == bindparam("uid"))),
            [{"uid": int(i), "parent": p} for i, p in zip(ids[~own], parents[~own],
                                                          strict=True)])
        detach_rows(session, ids[~own], lows[~own], version_id)
