"""The validation report of a boundary load (校验报告).

Every check is one shapely 2 call over arrays (an STRtree for sibling pairs, one difference per
child for spill-over, one union per parent for coverage), in metres in the CGCS2000 Gauss-Krüger
zone of the file, so a city's 200,000 buildings validate in seconds. Each problem carries its
kind, severity, unit code(s), an area in m² and a point (lon/lat, CGCS2000) to look at.
Errors block a commit; warnings do not.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer

from grid.db import STORAGE_SRID
from grid.hierarchy.codes import CodeScheme
from grid.hierarchy.levels import Level
from grid.spatial.crs import gauss_kruger_epsg
from grid.spatial.encoding import looks_garbled

ERROR, WARNING = "error", "warning"
#: Levels whose units are meant to tile their parent (a gap is a hole nobody is responsible
#: for). Buildings are footprints: the space between them is streets and yards, not a gap.
TILING_LEVELS = frozenset({Level.community, Level.grid})

_WHERE = re.compile(r"\[\s*([-+\d.eE]+)\s+([-+\d.eE]+)")


@dataclass
class Problem:
    """One finding of the validator."""

    kind: str
    severity: str
    codes: list[str]
    message: str
    area_m2: float | None = None
    point: tuple[float, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        if self.area_m2 is not None:
            out["area_m2"] = round(float(self.area_m2), 2)
        if self.point is not None:
            out["point"] = [round(float(self.point[0]), 7), round(float(self.point[1]), 7)]
        return out


@dataclass
class Tolerances:
    """Areas (m²) below which overlaps, gaps and spill-over are noise, and the width (m) of
    a sliver that is noise however long it is: two files that share an edge but were rounded
    differently (GeoJSON keeps 1e-7°, about 1 cm) leave 1 cm slivers kilometres long."""

    overlap_m2: float = 1.0
    gap_m2: float = 1.0
    outside_m2: float = 1.0
    sliver_m: float = 0.1


@dataclass
class Validation:
    """The outcome: the (possibly repaired) geometries, spatial parents, and the problems."""

    geometry: np.ndarray
    parents: list[str | None]
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        """Problems that block a commit."""
        return [p for p in self.problems if p.severity == ERROR]


class _Metric:
    """Storage lon/lat ↔ the Gauss-Krüger zone of the data, for areas in m²."""

    def __init__(self, geoms: np.ndarray):
        bounds = shapely.total_bounds(geoms)
        lon = (bounds[0] + bounds[2]) / 2 if np.isfinite(bounds).all() else 117.0
        epsg = gauss_kruger_epsg(float(lon))
        self.forward = Transformer.from_crs(STORAGE_SRID, epsg, always_xy=True)

    def to_m(self, geoms: np.ndarray) -> np.ndarray:
        return shapely.transform(geoms, lambda xy: np.column_stack(
            self.forward.transform(xy[:, 0], xy[:, 1])))

    def areas(self, pieces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The pieces in metres and their areas in m²."""
        metric = self.to_m(pieces) if len(pieces) else pieces
        return metric, shapely.area(metric)


def _points(pieces: np.ndarray) -> list[tuple[float, float]]:
    xy = shapely.get_coordinates(shapely.point_on_surface(pieces))
    return [(float(x), float(y)) for x, y in xy]


def _point(geom) -> tuple[float, float] | None:
    if geom is None or shapely.is_empty(geom):
        return None
    p = shapely.point_on_surface(geom)
    return (p.x, p.y)


def attribute_problems(codes: Sequence[str], names: Sequence[str], level: Level,
                      scheme: CodeScheme, geoms: np.ndarray) -> list[Problem]:
    problems = []
    reported: set[str] = set()
    counts = Counter(codes)
    want = scheme.length(level)
    for i, (code, name) in enumerate(zip(codes, names, strict=True)):
        if counts[code] > 1 and code not in reported:
            reported.add(code)  # once per duplicated code, at its first row
            problems.append(Problem("duplicate_code", ERROR, [code],
                                    f"重复编码 duplicate code {code} ({counts[code]}×)", None,
                                    _point(geoms[i])))
        # the scheme's own check only for codes that fail the quick one (200,000 buildings)
        problem = None if len(code) == want and code.isdigit() else scheme.problem(code, level)
        if problem:
            problems.append(Problem("code_scheme", ERROR, [code], problem, None,
                                    _point(geoms[i])))
        if looks_garbled(name):
            problems.append(Problem(
                "garbled_name", ERROR, [code],
                f"{code}: 名称疑似乱码 name '{name}' looks garbled (wrong encoding? "
                "pass --encoding GB18030 or UTF-8)", None, _point(geoms[i])))
    return problems


def _geometry_checks(codes: Sequence[str], geoms: np.ndarray, repair: bool
                     ) -> tuple[np.ndarray, list[Problem]]:
    problems = []
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for i in np.flatnonzero(empty):
        problems.append(Problem("empty_geometry", ERROR, [codes[i]],
                                f"{codes[i]}: 空几何 empty geometry"))
    invalid = ~empty & ~shapely.is_valid(geoms)
    geoms = geoms.copy()
    for i in np.flatnonzero(invalid):
        reason = shapely.is_valid_reason(geoms[i])
        where = _WHERE.search(reason)
        point = (float(where[1]), float(where[2])) if where else _point(shapely.envelope(geoms[i]))
        if repair:
            fixed = shapely.make_valid(geoms[i])
            polygons = [g for g in shapely.get_parts(fixed) if g.geom_type == "Polygon"]
            geoms[i] = shapely.multipolygons(polygons)
            problems.append(Problem(
                "invalid_geometry", WARNING, [codes[i]],
                f"{codes[i]}: 几何无效，已修复 invalid geometry repaired with make_valid "
                f"({reason})", None, point))
        else:
            problems.append(Problem(
                "invalid_geometry", ERROR, [codes[i]],
                f"{codes[i]}: 几何无效 invalid geometry ({reason}); pass --repair to fix it "
                "with make_valid", None, point))
    return geoms, problems


def _real(parts: np.ndarray, areas: np.ndarray, tolerance: float, sliver: float) -> np.ndarray:
    """Indexes of pieces above the area tolerance that are more than a sliver wide."""
    big = np.flatnonzero(areas > tolerance)
    if sliver > 0 and len(big):
        big = big[shapely.area(shapely.buffer(parts[big], -sliver / 2)) > 0]
    return big


def _sibling_overlaps(codes: Sequence[str], geoms: np.ndarray, ok: np.ndarray,
                      metric: _Metric, tolerance: float, sliver: float) -> list[Problem]:
    index = np.flatnonzero(ok)
    tree = shapely.STRtree(geoms[index])
    left, right = tree.query(geoms[index], predicate="intersects")
    keep = left < right
    left, right = index[left[keep]], index[right[keep]]
    if not len(left):
        return []
    overlap = shapely.intersection(geoms[left], geoms[right])
    overlap_m, areas = metric.areas(overlap)
    big = _real(overlap_m, areas, tolerance, sliver)
    points = _points(overlap[big])
    return [
        Problem("sibling_overlap", ERROR, [codes[left[k]], codes[right[k]]],
                f"{codes[left[k]]} 与 {codes[right[k]]} 重叠 overlap {areas[k]:.1f} m²",
                float(areas[k]), point)
        for k, point in zip(big, points, strict=True)
    ]


def spatial_parents(geoms: np.ndarray, ok: np.ndarray, parent_codes: Sequence[str],
                     parent_geoms: np.ndarray) -> list[str | None]:
    """Parent of each child by point_on_surface; lowest code wins on shared edges (the same
    rule as locate). ``parent_codes`` must be sorted."""
    found: list[str | None] = [None] * len(geoms)
    if not len(parent_geoms):
        return found
    index = np.flatnonzero(ok)
    tree = shapely.STRtree(parent_geoms)
    child, parent = tree.query(shapely.point_on_surface(geoms[index]), predicate="covered_by")
    for c, p in sorted(zip(index[child].tolist(), parent.tolist(), strict=True), reverse=True):
        found[c] = parent_codes[p]  # the last write per child is its lowest parent index
    return found


def _parent_checks(codes, geoms, ok, parents, attr_parents, parent_index, parent_geoms,
                   metric, tolerance, sliver) -> list[Problem]:
    problems = []
    has = np.array([p is not None for p in parents]) & ok
    for i in np.flatnonzero(ok & ~has):
        problems.append(Problem("no_parent", ERROR, [codes[i]],
                                f"{codes[i]}: 找不到上级 no parent unit contains it", None,
                                _points(geoms[[i]])[0]))
    children = np.flatnonzero(has)
    if len(children):
        which = np.array([parent_index[parents[i]] for i in children])
        shapely.prepare(parent_geoms)
        # most children lie wholly inside: a prepared covered_by is far cheaper than a
        # difference, which is computed only for the rest
        out = ~shapely.covered_by(geoms[children], parent_geoms[which])
        children, which = children[out], which[out]
        spill = shapely.difference(geoms[children], parent_geoms[which])
        spill_m, areas = metric.areas(spill)
        big = _real(spill_m, areas, tolerance, sliver)
        points = _points(spill[big])
        for k, point in zip(big, points, strict=True):
            i = children[k]
            problems.append(Problem(
                "outside_parent", ERROR, [codes[i], parents[i]],
                f"{codes[i]} 超出上级 {parents[i]} spills {areas[k]:.1f} m² outside its parent",
                float(areas[k]), point))
    if attr_parents is not None:
        for i in np.flatnonzero(has):
            given = attr_parents[i]
            if given and given != parents[i]:
                problems.append(Problem(
                    "parent_mismatch", ERROR, [codes[i], given, parents[i]],
                    f"{codes[i]}: 属性上级 {given} 与空间上级 {parents[i]} 不符 attribute parent "
                    f"{given} differs from the spatial parent {parents[i]}", None,
                    _points(geoms[[i]])[0]))
    return problems


def _coverage_gaps(parents, ok, geoms, parent_codes, parent_geoms, metric, tolerance,
                   sliver, intended) -> list[Problem]:
    problems = []
    by_parent: dict[str, list[int]] = {}
    for i, p in enumerate(parents):
        if p is not None and ok[i]:
            by_parent.setdefault(p, []).append(i)
    for j, code in enumerate(parent_codes):
        members = by_parent.get(code)
        if not members:
            continue  # a parent with no child in this file is outside the file's scope
        gap = shapely.difference(parent_geoms[j], shapely.union_all(geoms[members]))
        if intended is not None:
            gap = shapely.difference(gap, intended)
        parts = shapely.get_parts(gap)
        parts_m, areas = metric.areas(parts)
        real = _real(parts_m, areas, tolerance, sliver)
        for k, point in zip(real, _points(parts[real]), strict=True):
            area = float(areas[k])
            problems.append(Problem(
                "coverage_gap", WARNING, [code],
                f"{code} 内有 {area:.1f} m² 未被下级覆盖 gap of {area:.1f} m² in its coverage",
                area, point))
    return problems


def validate_units(
    codes: Sequence[str],
    names: Sequence[str],
    geoms: Iterable,
    level: Level,
    scheme: CodeScheme,
    parent_codes: Sequence[str] = (),
    parent_geoms: Iterable = (),
    attr_parents: Sequence[str | None] | None = None,
    *,
    repair: bool = False,
    tolerances: Tolerances | None = None,
    intended_gaps: Iterable = (),
) -> Validation:
    """Check one level's units (storage CRS) against each other and their parent level.

    ``parent_codes`` must be sorted (lowest code wins on shared edges). ``intended_gaps`` are
    polygons (lon/lat) where a gap in the parent's coverage is expected (a park, a river).
    """
    tol = tolerances or Tolerances()
    codes, names = list(codes), list(names)
    geoms = np.asarray(list(geoms), dtype=object)
    problems = attribute_problems(codes, names, level, scheme, geoms)
    geoms, geometry_problems = _geometry_checks(codes, geoms, repair)
    problems += geometry_problems
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) & shapely.is_valid(geoms)
    if not ok.any():
        return Validation(geoms, [None] * len(geoms), problems)
    # Predicates run in lon/lat, as the database and the locator see the polygons (a straight
    # edge in degrees is not straight in metres); only the pieces found are measured in m².
    metric = _Metric(geoms[ok])
    problems += _sibling_overlaps(codes, geoms, ok, metric, tol.overlap_m2, tol.sliver_m)
    parent_geoms = np.asarray(list(parent_geoms), dtype=object)
    parents = spatial_parents(geoms, ok, parent_codes, parent_geoms)
    if len(parent_geoms):
        parent_index = {c: j for j, c in enumerate(parent_codes)}
        problems += _parent_checks(codes, geoms, ok, parents, attr_parents, parent_index,
                                   parent_geoms, metric, tol.outside_m2, tol.sliver_m)
        if level in TILING_LEVELS:
            intended = list(intended_gaps)
            intended_union = shapely.union_all(np.asarray(intended, dtype=object)) \
                if intended else None
            problems += _coverage_gaps(parents, ok, geoms, parent_codes, parent_geoms,
                                       metric, tol.gap_m2, tol.sliver_m, intended_union)
    return Validation(geoms, parents, problems)


def report_table(problems: Sequence[Problem]) -> list[list[str]]:
    """Rows for a readable table: severity, kind, codes, area m², point, message."""
    rows = []
    for p in problems:
        rows.append([
            "错误 error" if p.severity == ERROR else "警告 warning", p.kind, " ".join(p.codes),
            "" if p.area_m2 is None else f"{p.area_m2:.1f}",
            "" if p.point is None else f"{p.point[0]:.6f} {p.point[1]:.6f}", p.message,
        ])
    return rows


def problems_frame(problems: Sequence[Problem]) -> gpd.GeoDataFrame:
    """The problems as points (CGCS2000), for a map or a GeoPackage layer."""
    rows = [p.as_dict() for p in problems if p.point is not None]
    points = [shapely.Point(r["point"]) for r in rows]
    for r in rows:
        r["codes"] = " ".join(r["codes"])
        r.pop("point")
    return gpd.GeoDataFrame(rows, geometry=points, crs=STORAGE_SRID)


def problems_map(problems: Sequence[Problem], static_url: str = "/static"):
    """A Folium map of the problems that have a place (red: errors, orange: warnings), with no
    basemap and the vendored Leaflet assets, so it opens on an intranet."""
    import folium

    from maps.assets import localize

    placed = [p for p in problems if p.point is not None]
    fmap = folium.Map(tiles=None, control_scale=True)
    for p in placed:
        lon, lat = p.point
        folium.CircleMarker(
            [lat, lon], radius=7, weight=2, fill=True, fill_opacity=0.6,
            color="#c0392b" if p.severity == ERROR else "#e67e22",
            tooltip=f"{p.kind} {' '.join(p.codes)}",
            popup=folium.Popup(folium.Html(
                f"<b>{p.kind}</b> ({p.severity})<br>{' / '.join(p.codes)}<br>"
                + ("" if p.area_m2 is None else f"{p.area_m2:.1f} m²<br>") + p.message,
                script=False), max_width=360),
        ).add_to(fmap)
    if placed:
        lons = [p.point[0] for p in placed]
        lats = [p.point[1] for p in placed]
        fmap.fit_bounds([[min(lats), min(lons)], [max(lats), max(lons)]])
    localize(fmap, static_url)
    return fmap
