"""Loading street and lane centrelines (街巷中心线) into a segment version.

Read like boundaries — shapefile (.shp, folder or .zip), GeoPackage layer or GeoJSON through
``grid.spatial.loader.read_source``, so the same rules hold: GBK/GB18030 attributes detected
when there is no ``.cpg``, the ``.prj`` honoured (or ``--crs``), coordinates checked against
their CRS and against China's extent, reprojected to CGCS2000. A dry run unless ``commit``;
a commit writes a new, inactive segment version (all or nothing), activated with ``activate``
or later by ``grid overlays activate-segments``.

The validation report (校验报告), in metres in the data's Gauss-Krüger zone:

* ``not_a_line`` (error): empty, or not a (multi)linestring;
* ``duplicate_code`` (error): two rows with one code — chiefs are keyed by code;
* ``self_crossing`` (error): a line crossing itself (``is_simple`` false), with where;
* ``garbled_name`` (error): a name that still looks like mojibake (wrong encoding);
* ``dangling_end`` (warning): an end touching no other segment (within ``TOUCH_M``). Within
  ``snap_m`` of one it is a *near miss* — most likely an undershoot to fix — otherwise a
  dead end (死胡同 exist, so it stays a warning).

Segments may cross community and grid boundaries (a lane is one lane on both sides); the
report lists the communities each one runs through (``crossings``), stored in its attributes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely
from pyproj import Transformer

from grid.db import STORAGE_SRID, Database
from grid.errors import LoadError
from grid.hierarchy import store as hierarchy
from grid.hierarchy.levels import Level
from grid.overlays import store
from grid.overlays.match import DENSIFY_DEG
from grid.spatial.crs import gauss_kruger_epsg
from grid.spatial.encoding import looks_garbled
from grid.spatial.inputs import readable
from grid.spatial.loader import read_source
from grid.spatial.validate import ERROR, WARNING, Problem

#: Two ends closer than this (metres) touch.
TOUCH_M = 0.05
#: Column names tried for the code, name and kind (道路编码/名称, 街巷编码/名称, 等级).
CODE_FIELDS = ("DLBM", "JXBM", "LDBM", "code", "编码")
NAME_FIELDS = ("DLMC", "JXMC", "LDMC", "name", "名称")
KIND_FIELDS = ("DLDJ", "JXLX", "kind", "类型", "等级")


@dataclass
class SegmentReport:
    """What a segment load did (or, dry, would do)."""

    source: str
    encoding: str = ""
    crs: str = ""
    fields: str = ""
    rows: int = 0
    version_id: int | None = None
    committed: bool = False
    activated: bool = False
    problems: list[Problem] = field(default_factory=list)
    crossings: dict[str, list[str]] = field(default_factory=dict)

    @property
    def errors(self) -> list[str]:
        """Error lines (any blocks a commit)."""
        return [p.message for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[str]:
        """Warning lines."""
        return [p.message for p in self.problems if p.severity == WARNING]

    def kinds(self) -> Counter:
        """How many problems of each kind."""
        return Counter(p.kind for p in self.problems)

    def as_json(self) -> dict[str, Any]:
        """The whole report."""
        return {"source": self.source, "encoding": self.encoding, "crs": self.crs,
                "fields": self.fields, "rows": self.rows, "version": self.version_id,
                "committed": self.committed, "activated": self.activated,
                "errors": len(self.errors), "warnings": len(self.warnings),
                "problems": [p.as_dict() for p in self.problems],
                "crossings": self.crossings}


def _pick(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    return next((lower[w.lower()] for w in wanted if w.lower() in lower), None)


def _columns(path: Path, layer: str | None) -> list[str]:
    try:
        return [str(c) for c in pyogrio.read_info(path, layer=layer)["fields"]]
    except Exception as exc:  # GDAL's errors are many and untyped; report the reason
        raise LoadError(f"无法读取 cannot read {path.name}: {exc}") from exc


def _crossing_point(line) -> tuple[float, float] | None:
    """Where a non-simple line crosses or touches itself (storage lon/lat)."""
    noded = shapely.node(line)
    ends = Counter()
    for part in shapely.get_parts(noded):
        coords = shapely.get_coordinates(part)
        ends[tuple(np.round(coords[0], 9))] += 1
        ends[tuple(np.round(coords[-1], 9))] += 1
    own = {tuple(np.round(shapely.get_coordinates(p)[i], 9))
           for p in shapely.get_parts(line) for i in (0, -1)}
    nodes = [pt for pt, n in ends.items() if n >= 3 or (n >= 2 and pt not in own)]
    return (float(nodes[0][0]), float(nodes[0][1])) if nodes else None


def validate(codes: list[str], names: list[str], geoms: np.ndarray,
             snap_m: float = 5.0) -> list[Problem]:
    """The validation report of a set of centrelines (see the module doc)."""
    problems: list[Problem] = []
    for code, n in Counter(codes).items():
        if n > 1:
            first = geoms[codes.index(code)]
            where = shapely.get_coordinates(first)[0] if first is not None and not \
                shapely.is_empty(first) else None
            problems.append(Problem("duplicate_code", ERROR, [code],
                                    f"重复编码 duplicate code {code} ({n}×)", None,
                                    None if where is None else (float(where[0]),
                                                                float(where[1]))))
    lines = np.array([g is not None and not shapely.is_empty(g)
                      and g.geom_type in ("LineString", "MultiLineString") for g in geoms])
    for i in np.flatnonzero(~lines):
        kind = "empty" if geoms[i] is None or shapely.is_empty(geoms[i]) else geoms[i].geom_type
        problems.append(Problem("not_a_line", ERROR, [codes[i]],
                                f"{codes[i]}: 不是线 not a line ({kind})"))
    for i, name in enumerate(names):
        if looks_garbled(str(name)):
            problems.append(Problem("garbled_name", ERROR, [codes[i]],
                                    f"{codes[i]}: 名称疑似乱码 name '{name}' looks garbled "
                                    "(pass --encoding GB18030 or UTF-8)"))
    ok = np.flatnonzero(lines)
    if not len(ok):
        return problems
    for i in ok[~shapely.is_simple(geoms[ok])]:
        at = _crossing_point(geoms[i])
        where = f" at {at[0]:.6f} {at[1]:.6f}" if at else ""
        problems.append(Problem("self_crossing", ERROR, [codes[i]],
                                f"{codes[i]}: 线自相交 line crosses itself{where}", None, at))
    problems += _dangles(codes, geoms, ok, snap_m)
    return problems


def _dangles(codes: list[str], geoms: np.ndarray, ok: np.ndarray, snap_m: float
             ) -> list[Problem]:
    """Ends that touch no other segment, in metres in the data's Gauss-Krüger zone."""
    bounds = shapely.total_bounds(geoms[ok])
    epsg = gauss_kruger_epsg(float((bounds[0] + bounds[2]) / 2))
    forward = Transformer.from_crs(STORAGE_SRID, epsg, always_xy=True)
    metric = shapely.transform(shapely.segmentize(geoms[ok], DENSIFY_DEG),
                               lambda xy: np.column_stack(
                                   forward.transform(xy[:, 0], xy[:, 1])))
    tree = shapely.STRtree(metric)
    problems = []
    for k, i in enumerate(ok):
        for part_m, part in zip(shapely.get_parts(metric[k]), shapely.get_parts(geoms[i]),
                                strict=True):
            for end_ix in (0, -1):
                end = shapely.get_point(part_m, end_ix)
                near = [j for j in tree.query(end, predicate="dwithin", distance=snap_m)
                        if j != k]
                gap = shapely.distance(end, metric[near]) if near else np.array([])
                if len(gap) and gap.min() <= TOUCH_M:
                    continue  # joined
                if len(gap):
                    j = near[int(np.argmin(gap))]
                    what = (f"near miss: {gap.min():.1f} m from {codes[ok[j]]}, "
                            f"距 {codes[ok[j]]} {gap.min():.1f} 米未接上")
                else:
                    what = "dead end 尽端"
                x, y = shapely.get_coordinates(part)[end_ix]
                problems.append(Problem("dangling_end", WARNING, [codes[i]],
                                        f"{codes[i]}: 悬挂端点 dangling end ({what})", None,
                                        (float(x), float(y))))
    return problems


def _crossings(db: Database, codes: list[str], geoms: np.ndarray) -> dict[str, list[str]]:
    """Communities of the active boundary version each segment runs through."""
    with db.read() as session:
        active = hierarchy.active_version(session)
        if active is None:
            return {}
        found = hierarchy.level_shapes(session, active.id, Level.community)
    community_codes, shapes = found[0], found[1]
    if not len(shapes):
        return {}
    tree = shapely.STRtree(shapes)
    out: dict[str, list[str]] = {}
    seg_ix, com_ix = tree.query(geoms, predicate="intersects")
    for s, c in zip(seg_ix.tolist(), com_ix.tolist(), strict=True):
        out.setdefault(codes[s], []).append(str(community_codes[c]))
    return {k: sorted(v) for k, v in out.items()}


def load_segments(db: Database, path: str | Path, *, commit: bool = False,
                  label: str | None = None, activate: bool = False,
                  code_field: str | None = None, name_field: str | None = None,
                  kind_field: str | None = None, crs: str | None = None,
                  encoding: str | None = None, layer: str | None = None,
                  snap_m: float = 5.0) -> SegmentReport:
    """Read, validate and (with ``commit``, when there is no error) write centrelines as a
    new segment version; see the module doc."""
    path = Path(path)
    if not path.exists():
        raise LoadError(f"文件不存在 file not found: {path}")
    # the hostile-file gate every boundary load passes (kind by content, zip sizes and
    # ratios checked before inflating, shapefile parts present)
    with readable(path, max_bytes=db.settings.load_max_bytes,
                  max_ratio=db.settings.load_max_ratio) as where:
        columns = _columns(where, layer)
        code_field = code_field or _pick(columns, CODE_FIELDS)
        name_field = name_field or _pick(columns, NAME_FIELDS)
        kind_field = kind_field or _pick(columns, KIND_FIELDS)
        frame, source = read_source(where, Level.street, code_field=code_field,
                                    name_field=name_field, crs=crs, layer=layer,
                                    encoding=encoding)
    codes = [str(c) for c in frame["code"]]
    names = [str(n) for n in frame["name"]]
    kinds = [str(k) if k is not None else "" for k in frame[kind_field]] \
        if kind_field and kind_field in frame.columns else [""] * len(codes)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    if len(geoms) and shapely.has_z(geoms[~shapely.is_missing(geoms)]).any():
        geoms = shapely.force_2d(geoms)
    report = SegmentReport(str(path), source.encoding, source.crs, source.fields, len(codes))
    report.problems = validate(codes, names, geoms, snap_m)
    lines = [g is not None and not shapely.is_empty(g) and g.geom_type in (
        "LineString", "MultiLineString") for g in geoms]
    good = np.asarray(geoms, dtype=object)[np.array(lines, dtype=bool)] if len(geoms) else geoms
    report.crossings = _crossings(db, [c for c, ok in zip(codes, lines, strict=True) if ok],
                                  good) if len(good) else {}
    if report.errors or not commit:
        return report
    skip = {"code", "name", "geometry", kind_field}
    with db.write() as session:
        version = store.create_segment_version(session, label or path.name, str(path))
        rows = []
        for i, code in enumerate(codes):
            attrs = {k: _plain(frame[k].iat[i]) for k in frame.columns if k not in skip}
            attrs["communities"] = report.crossings.get(code, [])
            rows.append((code, names[i], kinds[i], attrs, geoms[i]))
        store.add_segments(session, version.id, rows)
        if activate:
            store.activate_segment_version(session, version.id)
        report.version_id, report.committed, report.activated = version.id, True, activate
    return report


def _plain(value: Any) -> Any:
    """A cell as a JSON value."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, int | float | bool | str) else str(value)
