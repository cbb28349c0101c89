"""Loading boundary files into a boundary version (one module behind the CLI and the API).

A load is a dry run unless told to commit: the very same code runs inside a transaction that is
rolled back, so the report shows exactly what a commit would do. A commit is all or nothing.
Parents are found by ``point_on_surface`` (always inside the child, unlike the centroid) in the
parent level of the target version; where several parents cover it, the lowest code wins — the
same rule as locate.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import pyproj
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from grid.db import STORAGE_SRID, Database
from grid.errors import LoadError
from grid.hierarchy import store
from grid.hierarchy.codes import CodeScheme
from grid.hierarchy.levels import PARENT_LEVEL, SPATIAL_LEVELS, Level
from grid.hierarchy.models import BoundaryVersion, GridWorker, PartyOrg, Unit
from grid.spatial.encoding import choose_encoding
from grid.spatial.fields import FieldMap, guess_fields, read_field_yaml
from grid.spatial.inputs import readable
from grid.spatial.validate import (
    ERROR,
    WARNING,
    Problem,
    Tolerances,
    attach_shapes,
    attribute_problems,
    check_geometries,
    parents_and_inside,
    prefix_problems,
    relational_problems,
    spatial_parents,
)
from grid.spatial.write import (
    CHUNK_ROWS,
    Existing,
    Plan,
    UnitWriter,
    attrs_json,
    reparent_rows,
)

#: Parent-code columns accepted for resident groups, which have no polygon to place.
PARENT_FIELDS = ("parent_code", "building_code")


@dataclass(frozen=True)
class ValidateOptions:
    """How strictly and how helpfully to validate."""

    repair: bool = False
    tolerances: Tolerances | None = None
    intended_gaps: list = field(default_factory=list)


@dataclass
class LoadReport:
    """What a load did (or, in a dry run, would do)."""

    level: str
    source: str
    version_id: int | None
    committed: bool
    rows: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    encoding: str = ""
    crs: str = ""
    fields: str = ""
    #: The field map and encoding as editable values (see :class:`Source`).
    guess: dict[str, Any] = field(default_factory=dict)
    #: code → polygon of the units the problems name (for maps; not in :meth:`as_json`).
    unit_shapes: dict[str, Any] = field(default_factory=dict, repr=False)

    def record(self, problems: list[Problem]) -> None:
        """Add validator findings: errors and warnings as lines, and the problems themselves."""
        self.problems += problems
        for p in problems:
            (self.errors if p.severity == ERROR else self.warnings).append(p.message)

    def as_json(self) -> dict[str, Any]:
        """The whole report: summary, every problem, and the error and warning lines."""
        return {**self.summary(), "problems": [p.as_dict() for p in self.problems],
                "error_list": self.errors, "warning_list": self.warnings,
                "guess": self.guess}

    def summary(self) -> dict[str, Any]:
        """Counts, for printing and for the API."""
        return {
            "level": self.level,
            "source": self.source,
            "encoding": self.encoding,
            "crs": self.crs,
            "fields": self.fields,
            "version": self.version_id,
            "committed": self.committed,
            "rows": self.rows,
            "added": len(self.added),
            "changed": len(self.changed),
            "unchanged": len(self.unchanged),
            "removed": len(self.removed),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
        }


@dataclass(frozen=True)
class Source:
    """How a file was read: encoding, CRS and field map, each with how it was chosen."""

    encoding: str = ""
    crs: str = ""
    fields: str = ""
    #: The same, as values a page can offer for editing: the columns chosen for code, name
    #: and parent code, how they were chosen, the encoding and the file's columns.
    guess: dict[str, Any] = field(default_factory=dict, compare=False)


def _guess(fields: FieldMap, columns, encoding: str | None, how: str) -> dict[str, Any]:
    return {"code_field": fields.code, "name_field": fields.name,
            "parent_field": fields.parent_code, "fields_how": fields.how,
            "encoding": encoding or "UTF-8", "encoding_how": how,
            "columns": [str(c) for c in columns if str(c) != "geometry"]}


#: Where coordinates in storage CRS may lie: China's extent with a margin (lon, lat).
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)


def read_source(
    path: str | Path,
    level: Level,
    code_field: str | None = None,
    name_field: str | None = None,
    crs: str | None = None,
    layer: str | None = None,
    encoding: str | None = None,
    parent_field: str | None = None,
    fields_file: str | Path | None = None,
    raw: bool = False,
) -> tuple[gpd.GeoDataFrame | pd.DataFrame, Source]:
    """Read a boundary file (shapefile as .shp, folder or .zip; GeoPackage layer; GeoJSON) — or,
    for resident groups, a CSV — into columns ``code``, ``name``, ``parent_code`` (when the file
    has one), attributes and geometry in storage CRS, and say how it was read. With ``raw``
    (not for resident groups), the geometries are left as read: the frame's geometry column
    holds their WKB and a third value, the :class:`RawGeometry`, makes them."""
    path = Path(path)
    if not path.exists():
        raise LoadError(f"文件不存在 file not found: {path}")
    mapping = {"code": code_field, "name": name_field, "parent_code": parent_field}
    how = "given"
    if fields_file is not None:
        mapping = {**read_field_yaml(fields_file), **{k: v for k, v in mapping.items() if v}}
        how = "yaml"
    if level == Level.resident_group:
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False,
                                encoding=encoding or "utf-8")
        except (UnicodeDecodeError, LookupError, ValueError, pd.errors.ParserError) as exc:
            # EmptyDataError is a ValueError; LookupError: an unknown --encoding
            raise LoadError(f"无法读取 cannot read {path.name}: {exc}") from exc
        fields = guess_fields(list(frame.columns), level, how=how, **mapping)
        return _rename(frame, fields), Source(
            "UTF-8", "", fields.describe(),
            _guess(fields, frame.columns, encoding, "override" if encoding else "format"))
    frame, geometry_raw, source = _read_raw(path, level, mapping, how, crs, layer, encoding)
    if raw:
        return frame, source, geometry_raw
    geometry = gpd.array.GeometryArray(geometry_raw.check_all(), crs=STORAGE_SRID)
    return gpd.GeoDataFrame(frame.drop(columns="geometry"), geometry=geometry), source


def _read_raw(path: Path, level: Level, mapping: dict, how: str, crs: str | None,
              layer: str | None, encoding: str | None
              ) -> tuple[pd.DataFrame, RawGeometry, Source]:
    """The attributes of a boundary file, renamed, with its geometries still as read
    (:class:`RawGeometry`): a load parses, checks and reprojects them chunk by chunk."""
    chosen = choose_encoding(path, encoding)
    try:
        # Arrow, in one pass over the file: columns come over in bulk, the geometries as
        # WKB, parsed later, a chunk at a time, while the rows stream in.
        meta, table = pyogrio.read_arrow(path, layer=layer, encoding=chosen.encoding)
        geometry_name = meta["geometry_name"] or "wkb_geometry"
        wkb_column = table.column(geometry_name) \
            if geometry_name in table.column_names else None
        if wkb_column is not None:
            table = table.drop_columns([geometry_name])
        # Bytes that are not text in the chosen encoding fail here, with a message, and not
        # in the middle of the checks: Arrow validates its text columns as UTF-8 in place
        # (turning them into Python strings and back, as before, was 0.3 s for 200,000 rows,
        # and pandas 3 keeps text in Arrow anyway); any other column not numbers becomes
        # Python objects, which decodes it.
        text = {name for name, column in zip(table.column_names, table.columns, strict=True)
                if _is_text(column.type)}
        for name in text:
            table.column(name).validate(full=True)
        frame = table.to_pandas()
        del table
        for column in frame.columns:
            if column not in text and not pd.api.types.is_numeric_dtype(frame[column]):
                frame[column] = frame[column].to_numpy(dtype=object)
    except (UnicodeDecodeError, pa.ArrowException) as exc:
        raise LoadError(
            f"{path.name}: 属性不是 {chosen.encoding or 'UTF-8'} 编码 the attributes cannot be "
            f"decoded as {chosen.encoding or 'UTF-8'}: pass --encoding GB18030 (or UTF-8)"
        ) from exc
    except Exception as exc:  # GDAL's errors are many and untyped; report the reason
        raise LoadError(f"无法读取 cannot read {path.name}: {exc}") from exc
    if wkb_column is None:
        blobs = np.full(len(frame), None, dtype=object)
    else:
        chunks = [(c.storage if isinstance(c, pa.ExtensionArray) else c)
                  .to_numpy(zero_copy_only=False) for c in wkb_column.chunks]
        del wkb_column
        blobs = np.empty(len(frame), dtype=object)
        if chunks:
            blobs[:] = np.concatenate(chunks)
    file_crs = None if meta["crs"] is None else pyproj.CRS.from_user_input(meta["crs"])
    if file_crs is None and crs is None:
        raise LoadError(f"{path.name} 没有坐标系 has no CRS (.prj): pass --crs, e.g. EPSG:4490 "
                        "or EPSG:4548")
    if crs is not None:
        file_crs = pyproj.CRS.from_user_input(crs)
    crs_used = f"{file_crs.to_string()} ({'--crs' if crs else '.prj'})"
    frame["geometry"] = blobs
    fields = guess_fields(list(frame.columns), level, how=how, **mapping)
    guess = _guess(fields, frame.columns, chosen.encoding, chosen.how)
    return (_rename(frame, fields), RawGeometry(blobs, file_crs, path, crs_used),
            Source(chosen.describe(), crs_used, fields.describe(), guess))


def _is_text(kind: pa.DataType) -> bool:
    """Whether an Arrow column holds UTF-8 text (which ``validate(full=True)`` checks)."""
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) \
        or getattr(pa.types, "is_string_view", lambda _: False)(kind)


class RawGeometry:
    """A file's geometries as read (WKB in the file's CRS), turned into shapely geometries
    in storage CRS chunk by chunk, so the first rows are written while the rest is parsed.

    The file-wide checks of the coordinates (numbers that cannot be in the CRS the file
    claims; a file outside China) are made on each chunk as it comes, and the one that needs
    the whole file (metres that all look like degrees) at :meth:`finish`. Whenever a chunk
    fails one, or the load stops for any other reason, :meth:`check_all` makes the checks on
    the whole file, exactly as before anything was written: the error the file deserves is
    the one raised (the load's transaction is rolled back in any case)."""

    def __init__(self, blobs: np.ndarray, crs: pyproj.CRS, path: Path, crs_used: str) -> None:
        self.blobs, self.crs, self.path, self.crs_used = blobs, crs, path, crs_used
        self.full: np.ndarray | None = None  # once checked as a whole: every geometry
        self.error: LoadError | None = None
        self.low = np.array([np.inf, np.inf])
        self.high = np.array([-np.inf, -np.inf])
        # already in storage CRS: the geometries are not reprojected, so the file's own WKB
        # is what they are, and can be written as it is (see :meth:`blobs_of`)
        self.stored_as_is = crs.is_exact_same(pyproj.CRS.from_epsg(STORAGE_SRID))
        #: Geometries that came with heights (Z) or measures (M), stored flat (2-D).
        self.flattened = 0
        self._flat_full: np.ndarray | None = None

    def _parse(self, blobs: np.ndarray) -> gpd.array.GeometryArray:
        try:
            return gpd.array.from_wkb(blobs, crs=self.crs)
        except Exception as exc:  # GEOS's reason, as a read error
            raise LoadError(f"无法读取 cannot read {self.path.name}: {exc}") from exc

    def check_all(self) -> np.ndarray:
        """Every geometry in storage CRS, after the whole-file checks (which raise)."""
        if self.error is not None:
            raise self.error
        if self.full is None:
            try:
                geoms = self._parse(self.blobs)
                self._flat_full = _has_zm(np.asarray(geoms))
                _check_coordinates(geoms, self.path)
                geoms = geoms.to_crs(epsg=STORAGE_SRID)
                _check_in_china(geoms, self.path, self.crs_used)
            except LoadError as exc:
                self.error = exc
                raise
            self.full = np.asarray(geoms, dtype=object)
        return self.full

    def chunk(self, part: slice) -> np.ndarray:
        """The geometries of rows ``part`` in storage CRS (2-D), checked."""
        if self.full is None:
            geoms = self._parse(self.blobs[part])
            flat = _has_zm(np.asarray(geoms))
            bounds = shapely.total_bounds(np.asarray(geoms))
            self.low = np.fmin(self.low, bounds[:2])
            self.high = np.fmax(self.high, bounds[2:])
            try:
                _check_coordinates(geoms, self.path, whole=False)
                geoms = geoms.to_crs(epsg=STORAGE_SRID)
                _check_in_china(geoms, self.path, self.crs_used)
                found = np.asarray(geoms, dtype=object)
            except LoadError:
                found = self.check_all()[part]  # raises, but for a chunk-only doubt
        else:
            found, flat = self.full[part], self._flat_full[part]
        self.flattened += int(flat.sum())
        if flat.any() or shapely.has_z(found).any():
            found = shapely.force_2d(found)
        return found

    def blobs_of(self, part: slice) -> np.ndarray | None:
        """The file's WKB of rows ``part`` when it is exactly the geometries :meth:`chunk`
        gives (no reprojection), else None."""
        return self.blobs[part] if self.stored_as_is else None

    def finish(self) -> None:
        """The check that needs the whole file: a projected CRS whose numbers all look like
        degrees."""
        if self.full is None and self.crs.is_projected:
            bounds = np.r_[self.low, self.high]
            if np.isfinite(bounds).all() and np.abs(bounds).max() <= 360:
                self.check_all()


def _has_zm(geoms: np.ndarray) -> np.ndarray:
    """Where a geometry has heights (Z) or measures (M), which units do not keep."""
    return shapely.has_z(geoms) | shapely.has_m(geoms)


def flattened_problem(count: int) -> Problem:
    """The report's warning that ``count`` geometries lost their Z/M values."""
    return Problem("flattened_z_m", WARNING, [],
                   f"{count} 个几何带高程(Z)或量测值(M)，已去掉，按二维保存 {count} geometries "
                   "had heights (Z) or measures (M): dropped, stored as 2-D")


def _check_coordinates(geoms: gpd.array.GeometryArray, path: Path, whole: bool = True) -> None:
    """Refuse numbers that cannot be in the CRS the file claims (metres labelled as degrees and
    the other way round): reprojecting them would put every unit somewhere absurd. Degrees
    that all look like degrees can only be told from the ``whole`` file."""
    crs = geoms.crs
    bounds = shapely.total_bounds(np.asarray(geoms))
    if not np.isfinite(bounds).all():
        return  # no geometry at all: the validator reports the empties
    big = max(abs(bounds[0]), abs(bounds[2]), abs(bounds[1]), abs(bounds[3]))
    if crs.is_geographic and big > 180:
        raise LoadError(
            f"{path.name}: 坐标 {bounds[0]:.0f}, {bounds[1]:.0f} 不是经纬度 coordinates look like "
            f"metres but the CRS {crs.to_string()} is in degrees; pass the projected CRS, "
            "e.g. --crs EPSG:4548"
        )
    if whole and crs.is_projected and big <= 360:
        raise LoadError(
            f"{path.name}: 坐标 {bounds[0]:.4f}, {bounds[1]:.4f} 像经纬度 coordinates look like "
            f"degrees but the CRS {crs.to_string()} is in metres; pass --crs EPSG:4490"
        )


def _check_in_china(geoms: gpd.array.GeometryArray, path: Path, crs_used: str) -> None:
    bounds = shapely.total_bounds(np.asarray(geoms))
    if not np.isfinite(bounds).all():
        shapes = np.asarray(geoms)
        if (shapely.is_missing(shapes) | shapely.is_empty(shapes)).all():
            return  # nothing to place: the validator reports the empty rows
        raise LoadError(f"{path.name}: 坐标无法转换 coordinates cannot be transformed from "
                        f"{crs_used}")
    west, south, east, north = CHINA_BOUNDS
    if bounds[0] < west or bounds[2] > east or bounds[1] < south or bounds[3] > north:
        raise LoadError(
            f"{path.name}: 范围 {bounds[0]:.3f},{bounds[1]:.3f} – {bounds[2]:.3f},{bounds[3]:.3f} "
            f"不在中国境内 lies outside China in {crs_used}: is the CRS (or the Gauss-Krüger "
            "zone) right?"
        )


def _rename(frame: pd.DataFrame, fields: FieldMap) -> pd.DataFrame:
    renames = {fields.code: "code", fields.name: "name"}
    if fields.parent_code and fields.parent_code != "parent_code":
        frame = frame.drop(columns=[c for c in PARENT_FIELDS
                                    if c in frame.columns and c != fields.parent_code])
        renames[fields.parent_code] = "parent_code"
    # a column already called code/name that is not the mapped one keeps its data, renamed
    clashes = {t: f"{t}_orig" for s, t in renames.items() if t in frame.columns and s != t}
    frame = frame.rename(columns=clashes).rename(columns=renames)
    frame["code"] = frame["code"].astype(str).str.strip()
    frame["name"] = frame["name"].astype(str).str.strip()
    return frame


def _texts(column: pd.Series) -> np.ndarray:
    """A text column as an object array of str (missing → empty)."""
    values = column.to_numpy(dtype=object)
    missing = pd.isna(values)
    if missing.any():
        values = values.copy()
        values[missing] = ""
    return values


def _attr_parents(frame: pd.DataFrame) -> np.ndarray | None:
    """The parent codes a file states (None where empty), or None without such a column."""
    if "parent_code" not in frame.columns:
        return None
    given = pd.Series(frame["parent_code"].to_numpy(dtype=object), dtype=object)
    text = given.where(pd.notna(given), "").astype(str).str.strip()
    return np.where(text == "", None, text.to_numpy(dtype=object))


def apply_units(
    session: Session,
    frame: pd.DataFrame,
    level: Level,
    version: BoundaryVersion,
    scheme: CodeScheme,
    report: LoadReport,
    options: ValidateOptions | None = None,
    raw: RawGeometry | None = None,
    partition_rows: int | None = None,
) -> None:
    """Replace ``level`` in ``version`` by the units of ``frame``; unchanged units stay as they
    are (their rows carry over), changed ones get new rows, missing ones leave the version.

    Chunk by chunk, the geometries are checked, their parents found and the new and changed
    rows handed to the writer, which on PostGIS streams them by COPY while the next chunk and
    then the rest of the report (codes, names, overlaps, spill-over, gaps) are computed. Once
    an error shows, nothing more is written; the caller's transaction decides in the end: a
    report with errors rolls it back, so a commit stays all or nothing. A load of at least
    ``partition_rows`` rows gets a partition of its own on PostGIS (see :class:`UnitWriter`).
    """
    report.rows = len(frame)
    options = options or ValidateOptions()
    codes, names = _texts(frame["code"]), _texts(frame["name"])
    skip = ("code", "name", "geometry", *PARENT_FIELDS)
    if "geometry" not in frame:
        _apply_groups(session, frame, codes, names, attrs_json(frame, skip), level, version,
                      scheme, report)
        return
    parent_level = PARENT_LEVEL[level]
    parent_codes, parent_geoms = [], np.empty(0, dtype=object)
    if parent_level is not None:
        parent_codes, parent_geoms = store.level_shapes(session, version.id, parent_level)
        if not parent_codes:
            raise LoadError(
                f"版本 {version.id} 中没有上级层级 {parent_level} 的单元 version {version.id} "
                f"has no {parent_level} units to place {level} units in: load {parent_level} "
                "first")
    flattened = 0
    if raw is not None:
        geoms = np.full(len(frame), None, dtype=object)
    else:
        geoms = np.asarray(frame.geometry.to_numpy(), dtype=object)
        flattened = int(_has_zm(geoms).sum())
        if flattened:
            geoms = shapely.force_2d(geoms)
    existing = Existing(session, version.id, level)
    writer = UnitWriter(session, level, version.id, len(frame),
                        partition_rows).start()
    try:
        problems, ok, parents, inside, match, same = _check_and_write(
            writer, existing, codes, names, partial(_chunk_attrs, frame, skip), geoms,
            parent_level is not None,
            parent_codes, parent_geoms, options.repair, raw)
        writer.close()
        problems += relational_problems(
            codes, names, geoms, ok, parents, level, scheme, parent_codes, parent_geoms,
            _attr_parents(frame), tolerances=options.tolerances,
            intended_gaps=options.intended_gaps, inside=inside)
        report.unit_shapes = attach_shapes(problems, codes, geoms)
    except BaseException:
        writer.finish(errors=True)  # the session's connection is the writer's until then
        raise
    flattened += raw.flattened if raw is not None else 0
    if flattened:
        problems.append(flattened_problem(flattened))
    report.record(problems)
    writer.finish(errors=bool(report.errors))
    if not report.errors:
        _settle(report, existing.settle(session, version.id, codes, match, same))


def _chunk_attrs(frame: pd.DataFrame, skip: tuple[str, ...], part: slice) -> np.ndarray:
    """The attributes' JSON of rows ``part``: made chunk by chunk, as the rows are written,
    so a load never holds the whole file's (about 290 bytes a building)."""
    return attrs_json(frame.iloc[part], skip)


def _check_and_write(writer: UnitWriter, existing: Existing, codes: np.ndarray,
                     names: np.ndarray, attrs_of: Callable[[slice], np.ndarray],
                     geoms: np.ndarray,
                     needs_parent: bool, parent_codes: list[str], parent_geoms: np.ndarray,
                     repair: bool, raw: RawGeometry | None = None
                     ) -> tuple[list[Problem], np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                np.ndarray]:
    """Check the geometries and find the parents chunk by chunk, handing each chunk's new
    and changed rows to the writer at once (``geoms`` is repaired in place). After the first
    error nothing more is written: the load will not commit. ``attrs_of(part)`` gives the
    attributes' JSON of rows ``part``."""
    problems: list[Problem] = []
    ok = np.zeros(len(codes), dtype=bool)
    parents = np.full(len(codes), None, dtype=object)
    inside = np.zeros(len(codes), dtype=bool)
    match = np.full(len(codes), -1, dtype=np.int64)
    same = np.zeros(len(codes), dtype=bool)
    for start in range(0, len(codes), CHUNK_ROWS):
        part = slice(start, start + CHUNK_ROWS)
        blobs = None
        if raw is not None:
            geoms[part] = raw.chunk(part)
            blobs = raw.blobs_of(part)
        read = geoms[part]
        checked, ok[part], found = check_geometries(codes[part], read, repair)
        if checked is not read and blobs is not None:  # repaired: the file's WKB is not it
            blobs = np.where(_is_not(checked, read).astype(bool), None, blobs)
        geoms[part] = checked
        parents[part], inside[part] = parents_and_inside(geoms[part], ok[part], parent_codes,
                                                         parent_geoms)
        problems += found
        if any(p.severity == ERROR for p in found) or (
                needs_parent and pd.isna(parents[part][ok[part]]).any()):
            writer.close()  # an error already: the rest is checked, not written
        if writer.closed:
            continue
        attrs = attrs_of(part)
        match[part], same[part] = existing.compare(codes[part], names[part], parents[part],
                                                   attrs, geoms[part])
        new = ~same[part]
        writer.add(codes[part][new], names[part][new], parents[part][new], attrs[new],
                   geoms[part][new], None if blobs is None else blobs[new])
    if raw is not None:
        raw.finish()
    return problems, ok, parents, inside, match, same


#: Whether two objects are not the same object, element by element.
_is_not = np.frompyfunc(lambda a, b: a is not b, 2, 1)


def _settle(report: LoadReport, plan: Plan) -> None:
    report.added, report.changed = plan.added, plan.changed
    report.unchanged, report.removed = plan.unchanged, plan.removed


def _apply_groups(session: Session, frame: pd.DataFrame, codes: np.ndarray, names: np.ndarray,
                  attrs: np.ndarray, level: Level, version: BoundaryVersion,
                  scheme: CodeScheme, report: LoadReport) -> None:
    """Resident groups: no polygon, so the parent is the building code the file states."""
    column = next((f for f in PARENT_FIELDS if f in frame.columns), None)
    if column is None:
        raise LoadError(f"居民小组需要楼栋编码列 resident groups need a column {PARENT_FIELDS}")
    given = _texts(frame[column].astype(object).where(pd.notna(frame[column]), ""))
    buildings = session.scalars(select(Unit.code).where(
        store.alive_in(version.id), Unit.level == Level.building.value)).all()
    known = pd.Series(given, dtype=object).isin(set(buildings)).to_numpy()
    parents = np.where(known, given, None)
    nowhere = np.full(len(codes), None, dtype=object)
    problems = attribute_problems(codes, names, level, scheme, nowhere)
    problems += [Problem("no_parent", ERROR, [codes[i]],
                         f"{codes[i]} {names[i]}: 找不到上级楼栋 {given[i]} no building "
                         f"{given[i]} in version {version.id}")
                 for i in np.flatnonzero(~known)]
    problems += prefix_problems(codes, parents, level, scheme, nowhere)
    report.record(problems)
    if report.errors:
        return
    existing = Existing(session, version.id, level)
    match, same = existing.compare(codes, names, parents, attrs, None)
    writer = UnitWriter(session, level, version.id).start()
    try:
        new = ~same
        writer.add(codes[new], names[new], parents[new], attrs[new], None)
    finally:
        writer.finish(errors=False)
    _settle(report, existing.settle(session, version.id, codes, match, same))


def load_boundaries(
    db: Database,
    path: str | Path,
    level: Level,
    *,
    commit: bool = False,
    version_id: int | None = None,
    label: str | None = None,
    repair: bool = False,
    tolerances: Tolerances | None = None,
    intended_gaps: str | Path | None = None,
    **read_options: Any,
) -> LoadReport:
    """Load one level from a file into a new version (or an existing inactive one).

    Dry run unless ``commit``; on commit, errors abort the whole load and nothing is written.
    ``repair`` fixes invalid polygons with ``make_valid`` (and reports each repair);
    ``intended_gaps`` is a polygon file of places meant to be outside every child (parks,
    rivers), so their gaps in the parent's coverage are not reported.
    """
    settings = db.settings
    with _cycles_left_alone():
        with readable(path, max_bytes=settings.load_max_bytes,
                      max_ratio=settings.load_max_ratio,
                      tabular=level == Level.resident_group) as where:
            frame, source, raw = _read_for_load(where, level, **read_options)
        if raw is not None:
            raw.path = Path(path)  # messages name the file given, not its unpacked parts
        try:
            return _load(db, path, level, frame, source, raw, commit, version_id, label,
                         ValidateOptions(repair, tolerances, _read_gaps(intended_gaps)))
        except Exception:
            # the file's own faults (CRS, coordinates) come first, as when the whole file was
            # checked before anything else: raised here if it has one
            if raw is not None:
                raw.check_all()
            raise


@contextmanager
def _cycles_left_alone() -> Iterator[None]:
    """Pause Python's cycle collector for the load. A load makes millions of objects that
    live until it ends (geometries, strings): each batch of them set off a collection that
    walked all the others, about half the time of parsing the geometries. Reference counting
    still frees everything; the collector resumes (as it was) when the load ends."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _read_for_load(path: str | Path, level: Level, **read_options: Any
                   ) -> tuple[pd.DataFrame, Source, RawGeometry | None]:
    """:func:`read_source` with the geometries left as read, for :func:`apply_units`."""
    if level == Level.resident_group:
        return (*read_source(path, level, **read_options), None)
    return read_source(path, level, raw=True, **read_options)


def _load(db: Database, path: str | Path, level: Level, frame: pd.DataFrame, source: Source,
          raw: RawGeometry | None, commit: bool, version_id: int | None, label: str | None,
          options: ValidateOptions) -> LoadReport:
    scheme = CodeScheme(db.settings.code_widths)
    with db.write(commit=commit) as session:
        if version_id is None:
            version = store.create_version(session, label or f"load {Path(path).name}")
        else:
            version = store.get_version(session, version_id)
            if version.is_active:
                raise LoadError(
                    f"版本 {version_id} 正在生效，不能直接修改 version {version_id} is active; "
                    "load into a new version and activate it"
                )
        report = LoadReport(level.value, str(path), version.id, committed=commit,
                            encoding=source.encoding, crs=source.crs, fields=source.fields,
                            guess=dict(source.guess))
        apply_units(session, frame, level, version, scheme, report, options, raw,
                    db.settings.load_partition_rows)
        if not report.errors and (report.added or report.changed or report.removed):
            _reparent_children(session, level, version, report)
        if report.errors and commit:
            raise LoadError(
                f"{len(report.errors)} 个错误，未写入 {len(report.errors)} error(s); nothing "
                "was written", details=report.errors[:50],
            )
    return report


def _reparent_children(session: Session, level: Level, version: BoundaryVersion,
                       report: LoadReport) -> None:
    """Give the next level down the parents it has in the redrawn level (loading only new
    communities must not leave grids pointing at communities that are gone); a child that no
    new unit covers is an error, so such a load cannot be committed."""
    child = next((c for c, p in PARENT_LEVEL.items() if p == level), None)
    if child is None or child not in SPATIAL_LEVELS:
        return
    rows = store.unit_rows(session, version.id, child, "id", "code", "name", "parent_code",
                           "version_low", "geom").all()
    if not rows:
        return
    ids, codes, names, before, lows, elements = (
        np.asarray(column, dtype=object) for column in zip(*rows, strict=True))
    geoms = store.shapes(elements)
    parent_codes, parent_geoms = store.level_shapes(session, version.id, level)
    found = spatial_parents(geoms, ~shapely.is_missing(geoms), parent_codes, parent_geoms)
    moved = found != before
    orphan = moved & pd.isna(found)
    problems = [Problem(
        "orphaned_child", ERROR, [codes[i]], f"{codes[i]} {names[i]}: 新的{level}中没有覆盖它"
        f"的单元 no {level} of the new boundaries covers this {child}", None,
        _point(geoms[i])) for i in np.flatnonzero(orphan)]
    moved &= ~orphan
    problems += [Problem(
        "reparented", WARNING, [codes[i], before[i] or "", found[i]],
        f"{codes[i]}: 上级由 {before[i]} 改为 {found[i]} parent changes from {before[i]} to "
        f"{found[i]}") for i in np.flatnonzero(moved)]
    reparent_rows(session, version.id, ids[moved].astype(np.int64),
                  lows[moved].astype(np.int64), found[moved])
    report.record(problems)


def _point(geom) -> tuple[float, float] | None:
    if geom is None:
        return None
    p = shapely.point_on_surface(geom)
    return (p.x, p.y)


def _read_gaps(path: str | Path | None) -> list:
    if path is None:
        return []
    try:
        frame = gpd.read_file(path, engine="pyogrio")
    except Exception as exc:  # GDAL's errors are many and untyped; report the reason
        raise LoadError(f"无法读取 cannot read intended gaps {path}: {exc}") from exc
    if frame.crs is None:
        raise LoadError(f"{Path(path).name} 没有坐标系 has no CRS (.prj)")
    return list(frame.to_crs(epsg=STORAGE_SRID).geometry.values)


def load_party_orgs(db: Database, path: str | Path, *, commit: bool = False) -> int:
    """Insert or update the Party organisations of a CSV (unit_code, level, org_type, name,
    secretary, contact), keyed by unit code. Returns the row count."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    columns = ["unit_code", "level", "org_type", "name", "secretary", "contact"]
    _require_columns(frame, columns, path)
    with db.write(commit=commit) as session:
        known = store.party_orgs(session, frame["unit_code"])
        for row in frame[columns].to_dict("records"):
            org = known.get(row["unit_code"]) or PartyOrg(unit_code=row["unit_code"])
            for key, value in row.items():
                setattr(org, key, value)
            session.add(org)
    return len(frame)


def load_grid_workers(db: Database, path: str | Path, *, commit: bool = False) -> int:
    """Replace the grid workers of every grid named in a CSV (grid_code, name, phone, role)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    columns = ["grid_code", "name", "phone", "role"]
    _require_columns(frame, columns, path)
    with db.write(commit=commit) as session:
        for workers in store.grid_workers(session, set(frame["grid_code"])).values():
            for worker in workers:
                session.delete(worker)
        session.flush()
        session.add_all(GridWorker(**row) for row in frame[columns].to_dict("records"))
    return len(frame)


def _require_columns(frame: pd.DataFrame, columns: list[str], path: str | Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise LoadError(f"{Path(path).name} 缺少列 lacks column(s): {', '.join(missing)}")
