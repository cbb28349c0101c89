"""``grid place``: put every row of a CSV, GeoPackage or Parquet file in its street, community,
grid and building, streaming in chunks so memory stays bounded whatever the file's size.

Every input row comes out, in order, with its original columns plus:

* ``street_code``, ``community_code``, ``grid_code``, ``building_code`` (empty where none);
* ``grid_party_branch`` — the grid's Party branch (网格党支部) name;
* ``lon_cgcs2000``, ``lat_cgcs2000`` — the coordinates actually placed, in storage CRS
  (EPSG:4490), so the output states its CRS whatever the input's was;
* ``outside`` (no grid covers the point), ``on_edge`` (the point lies on its grid's boundary,
  decided by the lowest-code rule) and ``problem`` — why a coordinate is unusable (empty when
  it is fine). Bad rows are reported here and counted, never dropped;
* with overlays (the default of ``grid place``; ``grid.overlays.match``): ``temporary_branch``,
  ``street_segment``, ``street_chief``, ``street_chief_distance_m`` and ``building_head`` —
  the overlays valid on the placement day (``--on``, default today).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import column, select, table

from grid.errors import InvalidInput
from grid.hierarchy.levels import SPATIAL_LEVELS, Level
from grid.overlays.match import OverlayIndex
from grid.spatial.bulk import BulkLocator, coordinate_problems
from grid.spatial.chinacrs import normalise_crs, to_storage

FORMATS = {".csv": "csv", ".txt": "csv", ".gpkg": "gpkg", ".parquet": "parquet",
           ".pq": "parquet"}
CODE_COLUMNS = {level: f"{level.value}_code" for level in SPATIAL_LEVELS}
ADDED_COLUMNS = [*CODE_COLUMNS.values(), "grid_party_branch", "lon_cgcs2000", "lat_cgcs2000",
                 "outside", "on_edge", "problem"]
if TYPE_CHECKING:  # pandas is imported where a frame is made: Parquet in and out needs none
    import pandas as pd

OVERLAY_COLUMNS = ["temporary_branch", "street_segment", "street_chief",
                   "street_chief_distance_m", "building_head"]


@dataclass
class Placer:
    """A bulk locator plus what a placed row reports besides codes (the grid's Party branch)."""

    bulk: BulkLocator
    grid_branches: np.ndarray  # aligned with bulk.indexes[Level.grid].codes
    threads: int = 1  # threads sharing each frame's chunks (see BulkLocator.place)
    overlays: OverlayIndex | None = None  # adds OVERLAY_COLUMNS, valid on ``day``
    day: date | None = None

    @classmethod
    def from_db(cls, session, version_id: int | None = None, threads: int = 1,
                overlays_within_m: float | None = None, day: date | None = None,
                snapshot_dir: Path | None = None, **options) -> Placer:
        """Build for ``version_id`` (default: the active version); with
        ``overlays_within_m`` (the street chief distance), the overlay columns too, valid on
        ``day``.

        With ``snapshot_dir``, the active version's cell indexes come from the memory-mapped
        locate snapshot there (written now if there is none), not built in this process.
        """
        # Bare tables, not the ORM models: opening a snapshot then imports no geoalchemy2.
        active = session.execute(select(column("id")).select_from(table("boundary_version"))
                                 .where(column("is_active"))).scalar()
        if version_id is None:
            if active is None:
                from grid.hierarchy import store

                store.require_active_version(session)  # raises the error that says what to do
            version_id = active
        if (snapshot_dir is not None and active is not None and version_id == active
                and not options):
            from grid.spatial import snapshot

            bulk = snapshot.ensure(snapshot_dir, session, version_id).bulk
        else:
            bulk = BulkLocator.from_db(session, version_id, **options)
        codes = bulk.indexes[Level.grid].codes
        # Every grid's branch in one plain query (no ORM object, no 50,000-code IN list).
        names = dict(session.execute(select(column("unit_code"), column("name")).select_from(
            table("party_org")).where(column("level") == Level.grid.value)).all())
        branches = np.array([names.get(str(c), "") for c in codes], dtype=object)
        overlays = None if overlays_within_m is None else \
            OverlayIndex.from_session(session, overlays_within_m)
        return cls(bulk, branches, threads, overlays, day)

    def place_frame(self, frame: pd.DataFrame, lon_col: str = "lon", lat_col: str = "lat",
                    crs: str | None = None) -> pd.DataFrame:
        """The rows of ``frame`` with the placement columns appended (see the module doc)."""
        import pandas as pd

        if lon_col not in frame.columns or lat_col not in frame.columns:
            raise InvalidInput(
                f"缺少坐标列 {lon_col!r}/{lat_col!r}；现有列 {list(frame.columns)} — "
                f"coordinate columns {lon_col!r}/{lat_col!r} not found: pass --lon/--lat",
                details={"columns": [str(c) for c in frame.columns]})
        raw_lon, raw_lat = frame[lon_col], frame[lat_col]
        lon = pd.to_numeric(raw_lon, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        lat = pd.to_numeric(raw_lat, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        text = _non_numeric(raw_lon, lon) | _non_numeric(raw_lat, lat)
        with np.errstate(invalid="ignore"):
            x, y = to_storage(lon, lat, crs)
        x, y = np.array(x, dtype=float), np.array(y, dtype=float)  # writable copies
        problem = coordinate_problems(x, y)
        problem[text] = "坐标不是数字 coordinate is not a number"
        bad = problem != None  # noqa: E711  (elementwise on an object array)
        x[bad], y[bad] = np.nan, np.nan
        found, on_edge = self.bulk.place(x, y, threads=self.threads)
        out = frame.copy()
        for level in SPATIAL_LEVELS:
            out[CODE_COLUMNS[level]] = _or_empty(self.bulk.codes(level, found[level]))
        grid = found[Level.grid]
        out["grid_party_branch"] = np.where(grid >= 0, self.grid_branches[np.maximum(grid, 0)],
                                            "")
        out["lon_cgcs2000"] = x
        out["lat_cgcs2000"] = y
        out["outside"] = (grid < 0) & ~bad
        out["on_edge"] = on_edge
        out["problem"] = _or_empty(problem)
        if self.overlays is not None:
            columns = self.overlays.columns(x, y, self.day or date.today(),
                                            out[CODE_COLUMNS[Level.building]].to_numpy())
            for name in OVERLAY_COLUMNS:
                out[name] = columns[name]
        return out


    def place_table(self, batch, lon_col: str = "lon", lat_col: str = "lat",
                    crs: str | None = None):
        """``place_frame`` for an Arrow record batch (or table) whose coordinate columns are
        numbers: the same columns and values as an Arrow table, the input's columns passed
        through as they are. None when a coordinate column holds text (``place_frame``
        reports which cells are not numbers).

        Codes are taken from Arrow arrays of each level's codes (made once per placer) by
        index, so no Python string is made per row — at millions of rows, making them and
        converting them back to Arrow cost more than placing the points. Arrays go to and
        from Arrow through their buffers: pyarrow's converters import pandas on first use,
        about half a second of the command's start-up.
        """
        import pyarrow as pa

        names = batch.schema.names
        if lon_col not in names or lat_col not in names:
            return None  # place_frame raises the error that names the columns
        columns = [batch.column(names.index(c)) for c in (lon_col, lat_col)]
        if not all(pa.types.is_floating(c.type) or pa.types.is_integer(c.type)
                   for c in columns):
            return None
        lon, lat = (_floats(c) for c in columns)
        with np.errstate(invalid="ignore"):
            x, y = to_storage(lon, lat, crs)
        x, y = np.array(x, dtype=float), np.array(y, dtype=float)  # writable copies
        with np.errstate(invalid="ignore"):
            # Exactly the rows coordinate_problems names (missing, |lon| > 180, |lat| > 90);
            # it words the reasons for those few only, not a None for each good row.
            bad = ~(np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90))
        reasons = coordinate_problems(x[bad], y[bad])
        x[bad], y[bad] = np.nan, np.nan
        found, on_edge = self.bulk.place(x, y, threads=self.threads)
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        added = {CODE_COLUMNS[level]: _gather(self._arrow_codes(level), found[level])
                 for level in SPATIAL_LEVELS}
        grid = found[Level.grid]
        added["grid_party_branch"] = _gather(self._arrow_codes("branch"), grid)
        added["lon_cgcs2000"] = _arrow(x, valid=~bad)  # NaN as null, as pandas writes
        added["lat_cgcs2000"] = _arrow(y, valid=~bad)
        added["outside"] = _arrow((grid < 0) & ~bad)
        added["on_edge"] = _arrow(on_edge)
        added["problem"] = _texts(reasons, bad)
        if self.overlays is not None:
            added.update(self._overlay_arrays(x, y, added[CODE_COLUMNS[Level.building]]))
        for name, values in added.items():
            table = table.append_column(name, values)
        return table

    def _arrow_codes(self, level):
        """The codes of ``level`` (or the grids' branch names, for "branch") as an Arrow text
        array with "" last (index -1, through ``_gather``, gives ""), made once."""
        cache = self.__dict__.setdefault("_utf8", {})
        if level not in cache:
            values = self.grid_branches if level == "branch" else self.bulk.indexes[level].codes
            offsets, data = _utf8(np.asarray(values))
            cache[level] = _texts_array(np.append(offsets, offsets[-1]), data)
        return cache[level]

    def _overlay_arrays(self, x: np.ndarray, y: np.ndarray, buildings) -> dict:
        import pyarrow as pa

        def arrow(values: np.ndarray):
            kind = TEXT() if values.dtype == object else None
            return pa.array(values, type=kind, from_pandas=True)

        day = self.day or date.today()
        overlays = self.overlays
        if len(x) and not (overlays.branches or len(overlays.segments) or overlays.heads):
            # No overlay at all: every row gets what a point matching nothing gets, one
            # value a column repeated (made from buffers, as the codes).
            one = overlays.columns(x[:1], y[:1], day,
                                   np.array([buildings[0].as_py()], dtype=object))
            return {name: _repeated(one[name], len(x)) for name in OVERLAY_COLUMNS}
        columns = overlays.columns(x, y, day, buildings.to_numpy(zero_copy_only=False))
        return {name: arrow(columns[name]) for name in OVERLAY_COLUMNS}


def TEXT():  # noqa: N802  (a type, as pyarrow's own factories are named)
    """The Arrow type of the text columns: ``large_string``, as pandas' ``str`` columns
    convert to, so a file placed through either path has one schema."""
    import pyarrow as pa

    return pa.large_string()


def _utf8(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Texts (a numpy ``str`` or object array of ``str``) as UTF-8 offsets (int64, one more
    than the texts) and bytes. ASCII codes in a fixed-width array (a snapshot's) are
    converted as arrays, without a Python string each."""
    if values.dtype.kind == "U" and values.dtype.itemsize:
        chars = values.view(np.uint32).reshape(len(values), -1)
        if len(values) and int(chars.max()) < 128:
            if chars[:, -1].all():  # every code the array's full width: no padding
                width = chars.shape[1]
                return (np.arange(len(values) + 1, dtype=np.int64) * width,
                        chars.astype(np.uint8).reshape(-1))
            present = chars != 0  # numpy pads with NUL, which no code holds
            offsets = np.zeros(len(values) + 1, dtype=np.int64)
            np.cumsum(present.sum(axis=1), out=offsets[1:])
            return offsets, chars[present].astype(np.uint8)
    encoded = [str(v).encode() for v in values.tolist()]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return offsets, np.frombuffer(b"".join(encoded), dtype=np.uint8)


def _texts_array(offsets: np.ndarray, data: np.ndarray):
    """An Arrow text column (``TEXT``, no nulls) over UTF-8 offsets and bytes."""
    import pyarrow as pa

    return pa.Array.from_buffers(TEXT(), len(offsets) - 1,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)],
                                 null_count=0)


def _gather(texts, idx: np.ndarray):
    """``texts[idx]`` as an Arrow text column, the last text ("") where ``idx`` is -1."""
    return texts.take(_arrow(np.where(idx >= 0, idx, len(texts) - 1).astype(np.int32)))


def _texts(reasons: np.ndarray, bad: np.ndarray):
    """The problem column: ``reasons`` (one per bad row, in order) at the bad rows, ""
    elsewhere."""
    if not len(reasons):
        return _texts_array(np.zeros(len(bad) + 1, dtype=np.int64), np.empty(0, np.uint8))
    messages: dict[str, int] = {}
    index = np.full(len(bad), -1, dtype=np.int32)
    index[bad] = [messages.setdefault(r, len(messages)) for r in reasons.tolist()]
    offsets, data = _utf8(np.array([*messages, ""], dtype=object))
    return _gather(_texts_array(offsets, data), index)


def _arrow(values: np.ndarray, valid: np.ndarray | None = None):
    """A numeric or boolean numpy array as an Arrow array (null where ``valid`` is False),
    made from its buffers (see ``Placer.place_table``)."""
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    if values.dtype == bool:
        kind, data = pa.bool_(), np.packbits(values, bitorder="little")
    else:
        kind, data = pa.from_numpy_dtype(values.dtype), values
    nulls = 0 if valid is None else len(valid) - int(np.count_nonzero(valid))
    mask = None if not nulls else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(kind, len(values), [mask, pa.py_buffer(data)],
                                 null_count=nulls)


def _floats(column) -> np.ndarray:
    """A numeric Arrow column as float64 numpy, NaN where null (from its buffers)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = pc.cast(column, pa.float64())
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    mask, data = column.buffers()
    n, start = len(column), column.offset
    values = np.frombuffer(data, dtype=np.float64, count=start + n)[start:].copy()
    if mask is not None and column.null_count:
        bits = np.unpackbits(np.frombuffer(mask, dtype=np.uint8), bitorder="little")
        values[~bits[start:start + n].astype(bool)] = np.nan
    return values


def _repeated(one: np.ndarray, n: int):
    """The one value of ``one`` (a text, None or a number) as an Arrow column of ``n``
    rows, as ``pa.array`` would convert ``n`` copies of it (None and NaN as null)."""
    import pyarrow as pa

    value = one[0]
    if one.dtype == object:
        if value is None or value != value:  # None or NaN
            return pa.nulls(n, TEXT())
        if not isinstance(value, str):
            return pa.array(one, type=TEXT(), from_pandas=True).take(np.zeros(n, np.int32))
        data = np.frombuffer(value.encode(), dtype=np.uint8)
        # n copies: offsets step by the text's length over its bytes repeated.
        return _texts_array(np.arange(n + 1, dtype=np.int64) * len(data), np.tile(data, n))
    values = np.full(n, value, dtype=one.dtype)
    valid = None if one.dtype.kind != "f" or not np.isnan(value) else np.zeros(n, dtype=bool)
    return _arrow(values, valid=valid)


def _non_numeric(raw: pd.Series, parsed: np.ndarray) -> np.ndarray:
    """Cells that hold text that is not a number (as opposed to empty cells)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(raw.dtype):
        return np.zeros(len(raw), dtype=bool)
    present = raw.notna().to_numpy() & (raw.astype("string").str.strip() != "").to_numpy(
        dtype=bool, na_value=False)
    return present & np.isnan(parsed)


def _or_empty(values: np.ndarray) -> np.ndarray:
    return np.where(values == None, "", values).astype(object)  # noqa: E711


def file_format(path: Path) -> str:
    """csv, gpkg or parquet, from the file name."""
    kind = FORMATS.get(Path(path).suffix.lower())
    if kind is None:
        raise InvalidInput(f"不支持的文件类型 {path} — use .csv, .gpkg or .parquet")
    return kind


def count_rows(path: Path, layer: str | None = None) -> int | None:
    """The number of rows when the format knows it cheaply (None for CSV)."""
    kind = file_format(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if kind == "gpkg":
        import pyogrio

        return int(pyogrio.read_info(path, layer=layer)["features"])
    return None


def read_chunks(path: Path, chunk_rows: int, layer: str | None = None) -> Iterator[pd.DataFrame]:
    """The file as DataFrames of at most ``chunk_rows`` rows, in file order.

    CSV cells are read as text, so a bad coordinate is kept and reported rather than failing
    the read; a GeoPackage's point geometry becomes ``lon``/``lat`` columns when it has none.
    """
    kind = file_format(path)
    if kind == "csv":
        import pandas as pd

        yield from pd.read_csv(path, chunksize=chunk_rows, dtype=str, keep_default_na=False)
    elif kind == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
    else:
        yield from _gpkg_chunks(path, chunk_rows, layer)


def _gpkg_chunks(path: Path, chunk_rows: int, layer: str | None) -> Iterator[pd.DataFrame]:
    import pyogrio
    import shapely

    with pyogrio.open_arrow(path, layer=layer, batch_size=chunk_rows, use_pyarrow=True) as (
            meta, reader):
        geometry = meta.get("geometry_name") or "wkb_geometry"
        for batch in reader:
            frame = batch.to_pandas()
            if geometry in frame.columns:
                wkb = frame.pop(geometry).to_numpy()
                yield points_to_lonlat(frame, shapely.from_wkb(wkb))
            else:
                yield frame


def points_to_lonlat(frame: pd.DataFrame, geoms: np.ndarray) -> pd.DataFrame:
    """Add ``lon``/``lat`` columns from point geometries (unless the frame has them already).

    Non-point or empty geometries give NaN, reported downstream as bad rows.
    """
    import shapely

    if "lon" in frame.columns or "lat" in frame.columns:
        return frame
    geoms = np.asarray(geoms, dtype=object)
    is_point = (shapely.get_type_id(geoms) == 0) & ~shapely.is_empty(geoms)
    xy = np.full((len(geoms), 2), np.nan)
    xy[is_point] = shapely.get_coordinates(geoms[is_point])[:, :2]
    frame["lon"], frame["lat"] = xy[:, 0], xy[:, 1]
    return frame


#: Rows per Parquet row group, however the rows arrive: the file's layout, and so its bytes,
#: depend on the rows alone, not on how the input was split (``grid place`` reads chunks of
#: ``--chunk-rows``, ``--scheduler`` dask's partitions; both write the same file).
PARQUET_ROW_GROUP = 100_000


class ChunkWriter:
    """Appends placed chunks to a CSV, GeoPackage (points in EPSG:4490) or Parquet file."""

    def __init__(self, path: Path, layer: str = "placed") -> None:
        self.path = Path(path)
        self.kind = file_format(self.path)
        self.layer = layer
        self._writer = None
        self._schema = None
        self._first = True
        self._pending: list = []  # Parquet rows not yet a whole row group
        if self.path.exists():
            self.path.unlink()

    def write(self, frame) -> None:
        """Append one chunk (a DataFrame, or an Arrow table from ``Placer.place_table``)."""
        import pyarrow as pa

        if isinstance(frame, pa.Table) and self.kind == "gpkg":
            frame = frame.to_pandas()
        if self.kind in ("csv", "parquet"):
            table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(
                frame, preserve_index=False)
            # No pandas metadata: a chunk placed as Arrow (Parquet input, one process) and one
            # placed as a DataFrame (a dask worker) then write the same bytes.
            table = table.replace_schema_metadata(None)
            if self._writer is None:
                self._schema = table.schema
                if self.kind == "csv":
                    # pyarrow's CSV writer, not pandas' to_csv, which dominated a placement.
                    import pyarrow.csv as pacsv

                    self._writer = pacsv.CSVWriter(self.path, table.schema,
                                                   write_options=pacsv.WriteOptions(
                                                       quoting_style="needed"))
                else:
                    import pyarrow.parquet as pq

                    # Plain encoding (snappy-compressed), not Parquet's default dictionary:
                    # building that dictionary hashes every value of every column — random
                    # coordinates and ids as much as codes — and was two thirds of the
                    # writing (1.9–2.0 s of CPU a million placed rows, 0.65 s plain), and
                    # the file is no smaller (59 MB a million rows, 57 MB plain).
                    self._writer = pq.ParquetWriter(self.path, table.schema,
                                                    use_dictionary=False)
            if self.kind == "parquet":
                self._pending.append(table.cast(self._schema))
                self._write_row_groups(final=False)
            else:
                self._writer.write_table(table.cast(self._schema))
        else:
            import geopandas as gpd
            import pyogrio

            points = gpd.points_from_xy(frame["lon_cgcs2000"], frame["lat_cgcs2000"],
                                        crs="EPSG:4490")
            gdf = gpd.GeoDataFrame(frame, geometry=points)
            pyogrio.write_dataframe(gdf, self.path, layer=self.layer, append=not self._first)
        self._first = False

    def _write_row_groups(self, final: bool) -> None:
        """Write the pending Parquet rows as whole row groups (and, when ``final``, the rest)."""
        import pyarrow as pa

        rows = sum(len(t) for t in self._pending)
        whole = rows if final else rows - rows % PARQUET_ROW_GROUP
        if whole == 0:
            return
        table = pa.concat_tables(self._pending)
        # Contiguous columns: the writer's pages (where a dictionary falls back to plain
        # encoding, for one) follow the arrays' own chunks, which follow the input's split.
        self._writer.write_table(table.slice(0, whole).combine_chunks(),
                                 row_group_size=PARQUET_ROW_GROUP)
        self._pending = [table.slice(whole)] if whole < rows else []

    def close(self) -> None:
        """Finish the file."""
        if self._writer is not None:
            if self.kind == "parquet":
                self._write_row_groups(final=True)
            self._writer.close()


@dataclass
class PlaceSummary:
    """What a placement run did, for the CLI to print."""

    rows: int = 0
    placed: int = 0
    outside: int = 0
    on_edge: int = 0
    bad: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)  # first few bad rows

    def add(self, placed, first_row: int) -> None:
        """Count one placed chunk (a DataFrame or an Arrow table; ``first_row`` is its 0-based
        row number in the file)."""
        import pyarrow as pa

        counts = _table_counts if isinstance(placed, pa.Table) else _frame_counts
        bad, outside, on_edge, in_grid, problems = counts(placed, max(0, 20 - len(self.problems)))
        self.rows += len(placed)
        self.bad += bad
        self.outside += outside
        self.on_edge += on_edge
        self.placed += in_grid
        self.problems.extend((first_row + i + 1, why) for i, why in problems)


def _table_counts(placed, first: int):
    """Bad, outside, on-edge and in-grid rows of a placed Arrow table, and its ``first``
    bad rows (position, problem); counted in Arrow (numpy conversions import pandas)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def filled(name: str):
        return pc.cast(pc.binary_length(placed.column(name)), pa.bool_())

    def count(mask) -> int:
        return int(pc.sum(mask).as_py() or 0)

    bad = filled("problem")
    rows = pc.indices_nonzero(bad.combine_chunks()).slice(0, first).to_pylist()
    problem = placed.column("problem")
    return (count(bad), count(placed.column("outside")), count(placed.column("on_edge")),
            count(filled("grid_code")), [(i, problem[i].as_py()) for i in rows])


def _frame_counts(placed, first: int):
    """``_table_counts`` of a placed DataFrame."""
    bad = placed["problem"].to_numpy() != ""
    rows = np.flatnonzero(bad)[:first].tolist()
    return (int(bad.sum()), int(placed["outside"].to_numpy(dtype=bool).sum()),
            int(placed["on_edge"].to_numpy(dtype=bool).sum()),
            int((placed["grid_code"].to_numpy() != "").sum()),
            [(i, str(placed["problem"].iat[i])) for i in rows])


def place_file(placer: Placer, source: Path, out: Path, *, lon_col: str = "lon",
               lat_col: str = "lat", crs: str | None = None, chunk_rows: int = 200_000,
               layer: str | None = None, progress: bool = True) -> PlaceSummary:
    """Place every row of ``source`` and write ``out``, one chunk at a time (see module doc)."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    normalise_crs(crs)  # refuse an unknown crs before reading anything
    summary = PlaceSummary()
    writer = ChunkWriter(out)
    # A chunk is written by a second thread while the next is placed (pyarrow's writers
    # release the GIL); one write at a time, so at most two placed chunks are held.
    with _progress(progress, count_rows(source, layer), source) as advance, \
            ThreadPoolExecutor(1) as background:
        pending = None
        try:
            for chunk in _chunks(source, chunk_rows, layer):
                placed = None
                if isinstance(chunk, pa.RecordBatch):  # Parquet input
                    placed = placer.place_table(chunk, lon_col, lat_col, crs)
                    if placed is None:  # text coordinates: the DataFrame path reports them
                        chunk = chunk.to_pandas()
                if placed is None:
                    placed = placer.place_frame(chunk, lon_col, lat_col, crs)
                if pending is not None:
                    pending.result()
                pending = background.submit(writer.write, placed)
                summary.add(placed, summary.rows)
                advance(len(placed))
            if pending is not None:
                pending.result()
        finally:
            if pending is not None:
                pending.exception()  # wait: the writer is closed only once it is idle
            writer.close()
    return summary


def _chunks(source: Path, chunk_rows: int, layer: str | None):
    """Parquet as Arrow record batches (no pandas on the way), other formats as
    ``read_chunks`` gives them."""
    if file_format(source) == "parquet":
        import pyarrow.parquet as pq

        yield from pq.ParquetFile(source).iter_batches(batch_size=chunk_rows)
    else:
        yield from read_chunks(source, chunk_rows, layer)


class _progress:
    """A Rich progress bar over rows (or a no-op), as a context manager yielding ``advance``."""

    def __init__(self, enabled: bool, total: int | None, source: Path) -> None:
        self.enabled, self.total, self.source = enabled, total, source
        self._bar = None

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(TextColumn("定位 placing {task.description}"), BarColumn(),
                             MofNCompleteColumn(), TimeElapsedColumn())
        self._bar.start()
        task = self._bar.add_task(Path(self.source).name, total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()


def summary_table(summary: PlaceSummary):
    """A Rich table of a run's counts and its first bad rows."""
    from rich.table import Table

    table = Table("行 rows", "已定位 placed", "范围外 outside", "边界上 on edge", "坐标错误 bad")
    table.add_row(*(str(n) for n in (summary.rows, summary.placed, summary.outside,
                                      summary.on_edge, summary.bad)))
    if summary.problems:
        table.caption = "; ".join(f"row {row}: {why}" for row, why in summary.problems[:5])
    return table
