"""The validation report of a boundary load (校验报告).

Every check is one shapely 2 call over arrays (an STRtree for sibling pairs, one difference per
child for spill-over, one union per parent for coverage), in metres in the CGCS2000 Gauss-Krüger
zone of the file, so a city's 200,000 buildings validate in seconds. Each problem carries its
kind, severity, unit code(s), an area in m² and a point (lon/lat, CGCS2000) to look at.
Errors block a commit; warnings do not.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from grid.db import STORAGE_SRID
from grid.hierarchy.codes import CodeScheme
from grid.hierarchy.levels import Level
from grid.spatial.crs import gauss_kruger_epsg
from grid.spatial.encoding import MOJIBAKE, looks_garbled

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
    #: Where the problem is, as a shape (lon/lat): the overlap, spill-over or gap piece, else
    #: the unit's own polygon (:func:`attach_shapes`). Not part of :meth:`as_dict`; the
    #: problems map draws it (``maps.problems``).
    shape: Any = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the shape)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "shape"}
        out["codes"] = list(self.codes)
        if self.area_m2 is not None:
            out["area_m2"] = round(float(self.area_m2), 2)
        if self.point is not None:
            out["point"] = [round(float(self.point[0]), 7), round(float(self.point[1]), 7)]
        return out



def attach_shapes(problems: Sequence[Problem], codes: Sequence[str],
                  geoms: np.ndarray) -> dict[str, Any]:
    """Give each problem without a shape the polygon of its first unit (when the file has a
    usable one), so a map draws the problem as an area rather than a dot; returns code →
    polygon of every unit the problems name that the file holds (the map's unit layer)."""
    wanted = {c for p in problems for c in p.codes}
    if not wanted:
        return {}
    shapes: dict[str, Any] = {}
    for i in np.flatnonzero(pd.Series(np.asarray(codes, dtype=object)).isin(wanted)):
        geom = geoms[i]
        if codes[i] not in shapes and geom is not None and not shapely.is_empty(geom):
            shapes[codes[i]] = geom
    for p in problems:
        if p.shape is None and p.codes and p.codes[0] in shapes:
            p.shape = shapes[p.codes[0]]
    return shapes


@dataclass
class Tolerances:
    """Areas (m²) below which overlaps, gaps and spill-over are noise, and the width (m) of
    a sliver that is noise however long it is: two files that share an edge but were rounded
    differently (GeoJSON keeps 1e-7°, about 1 cm) leave 1 cm slivers kilometres long."""

    overlap_m2: float = 1.0
    gap_m2: float = 1.0
    outside_m2: float = 1.0
    sliver_m: float = 0.1


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


#: Longest name the unit table stores (``unit.name`` is VARCHAR(200)).
NAME_MAX = 200


def attribute_problems(codes: Sequence[str], names: Sequence[str], level: Level,
                       scheme: CodeScheme, geoms: np.ndarray) -> list[Problem]:
    """Duplicate codes, codes off the scheme, names too long to store, garbled names.

    Whole columns at once (a city's 200,000 buildings); only the rows found wanting are looked
    at one by one, to word their problem."""
    codes = pd.Series(np.asarray(codes, dtype=object), dtype=object)
    names = pd.Series(np.asarray(names, dtype=object), dtype=object).fillna("")
    problems = []
    duplicated = codes.duplicated(keep=False).to_numpy()
    if duplicated.any():
        counts = codes[duplicated].value_counts()
        for i in np.flatnonzero(duplicated & ~codes.duplicated().to_numpy()):
            code = codes.iat[i]  # once per duplicated code, at its first row
            problems.append(Problem("duplicate_code", ERROR, [code],
                                    f"重复编码 duplicate code {code} ({counts[code]}×)", None,
                                    _point(geoms[i])))
    want = scheme.length(level)
    for i in _off_scheme(codes.to_numpy(dtype=object), want):
        problem = scheme.problem(str(codes.iat[i]), level)  # the scheme words its complaint
        if problem:
            problems.append(Problem("code_scheme", ERROR, [codes.iat[i]], problem, None,
                                    _point(geoms[i])))
    plain = [n if isinstance(n, str) else str(n) for n in names.to_numpy(dtype=object)]
    lengths = np.fromiter(map(len, plain), dtype=np.int64, count=len(plain))
    for i in np.flatnonzero(lengths > NAME_MAX):
        problems.append(Problem(
            "name_too_long", ERROR, [codes.iat[i]],
            f"{codes.iat[i]}: 名称超过 {NAME_MAX} 字 name longer than {NAME_MAX} characters",
            None, _point(geoms[i])))
    joined = _SEPARATOR.join(plain)
    markup = _pieces_with(_MARKUP, joined, lengths) if _may_hold_markup(joined) \
        else np.zeros(len(plain), dtype=bool)
    for i in np.flatnonzero(markup):
        problems.append(Problem(
            "name_markup", WARNING, [codes.iat[i]],
            f"{codes.iat[i]}: 名称含有网页标记或脚本字符 name '{names.iat[i]}' contains markup "
            "or script characters (< > ` ${ &# javascript:); it is stored and shown as text",
            None, _point(geoms[i])))
    for i in np.flatnonzero(_pieces_with(_CONTROL, joined, lengths)):
        nul = "\x00" in names.iat[i]  # PostgreSQL cannot store it; tabs and breaks it can
        problems.append(Problem(
            "control_characters", ERROR if nul else WARNING, [codes.iat[i]],
            f"{codes.iat[i]}: 名称含控制字符 name holds control characters "
            f"({'NUL' if nul else 'tab, line break …'}): {names.iat[i][:60]!r}", None,
            _point(geoms[i])))
    for i in _garbled_rows(names):
        problems.append(Problem(
            "garbled_name", ERROR, [codes.iat[i]],
            f"{codes.iat[i]}: 名称疑似乱码 name '{names.iat[i]}' looks garbled (wrong encoding? "
            "pass --encoding GB18030 or UTF-8)", None, _point(geoms[i])))
    return problems


def _off_scheme(codes: np.ndarray, want: int) -> np.ndarray:
    """Rows whose code is not ``want`` ASCII digits (one test over all codes joined, when
    every code is fine, as in nearly every file)."""
    texts = [c if isinstance(c, str) else "" for c in codes]
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    joined = "".join(texts)
    if (lengths == want).all() and joined.isascii() and joined.isdigit():
        return np.empty(0, dtype=np.int64)
    fine = np.fromiter((t.isascii() and t.isdigit() for t in texts), dtype=bool,
                       count=len(texts))
    return np.flatnonzero(~(fine & (lengths == want)))


#: What makes a name look like markup or script. Pages show such a name as text (every page
#: escapes it), but GIS staff should hear that a file carries one: it is rarely an accident.
_MARKUP = re.compile(r"[<>`]|\$\{|&#|(?i:javascript:)")

#: Substrings every match of ``_MARKUP`` holds one of (``javascript:`` its colon).
_MARKUP_HINTS = ("<", ">", "`", "${", "&#", ":")


def _may_hold_markup(joined: str) -> bool:
    """Whether ``_MARKUP`` can match in ``joined``: a few substring searches over the names
    are a tenth of the regex's scan, and nearly every file has none of them."""
    return any(hint in joined for hint in _MARKUP_HINTS)


#: Characters no unit name holds (NUL is refused by PostgreSQL; the rest break lists).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Joins names for one regex pass over them all: neither pattern above matches it, and no
#: match of theirs can span it.
_SEPARATOR = "\uffff"
#: A character each MOJIBAKE match begins with.
_MOJIBAKE_FIRST = re.compile("[锟烫屯\ufffd\u00c0-\u00ff]")


def _pieces_with(pattern: re.Pattern, joined: str, lengths: np.ndarray) -> np.ndarray:
    """Which pieces of ``joined`` (pieces of ``lengths`` characters, each followed by one
    separator character) ``pattern`` finds something in; the pattern must not match the
    separator, nor a match span it."""
    found = np.zeros(len(lengths), dtype=bool)
    starts = [m.start() for m in pattern.finditer(joined)]
    if starts:
        ends = np.cumsum(lengths + 1)
        found[np.searchsorted(ends, starts, side="right")] = True
    return found


def _garbled_rows(names: pd.Series) -> np.ndarray:
    """Rows whose name :func:`looks_garbled`, asking it only about likely suspects.

    Mojibake is either a tell-tale sequence (one regex over all names) or UTF-8 bytes read as
    GBK, which re-encoding to GB18030 turns back into valid UTF-8. All distinct non-ASCII
    names are re-encoded and re-decoded as one string, joined by NUL (a byte that no
    multibyte sequence contains, so every name decodes on its own); only names that come
    back free of U+FFFD — almost never a real GBK name — are asked in full."""
    distinct = pd.unique(names.to_numpy(dtype=object))
    suspects = [s for s in distinct if s and not s.isascii() and "\x00" not in s]
    if not suspects:
        return np.empty(0, dtype=np.int64)
    joined = "\x00".join(suspects)
    # MOJIBAKE matches no NUL, so no match spans two names: one pass over the joined text
    # (none at all without a character a match can begin with) finds the names with one
    ask = np.zeros(len(suspects), dtype=bool)
    if _MOJIBAKE_FIRST.search(joined):
        ask |= _pieces_with(MOJIBAKE, joined, np.fromiter(
            map(len, suspects), dtype=np.int64, count=len(suspects)))
    try:
        again = joined.encode("gb18030").decode("utf-8", errors="replace").split("\x00")
    except UnicodeEncodeError:  # a lone surrogate: fall back to asking about every name
        again = []
    if len(again) != len(suspects):
        ask[:] = True
    else:  # clean: no U+FFFD but at the very end
        trimmed = map(str.rstrip, again, repeat("\ufffd"))
        ask |= ~np.fromiter(map(operator.contains, trimmed, repeat("\ufffd")), dtype=bool,
                            count=len(again))
    bad = [s for s, a in zip(suspects, ask, strict=True) if a and looks_garbled(s)]
    return np.flatnonzero(names.isin(bad).to_numpy()) if bad else np.empty(0, dtype=np.int64)


def check_geometries(codes: Sequence[str], geoms: np.ndarray, repair: bool
                     ) -> tuple[np.ndarray, np.ndarray, list[Problem]]:
    """Empty and invalid geometries (repaired with ``make_valid`` when asked, and reported);
    returns the geometries, the mask of usable ones and the problems."""
    problems = []
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for i in np.flatnonzero(empty):
        problems.append(Problem("empty_geometry", ERROR, [codes[i]],
                                f"{codes[i]}: 空几何 empty geometry"))
    # a line or point where a boundary was expected cannot be repaired into one
    wrong = ~empty & ~np.isin(shapely.get_type_id(geoms), (3, 6))
    for i in np.flatnonzero(wrong):
        problems.append(Problem(
            "invalid_geometry", ERROR, [codes[i]],
            f"{codes[i]}: 不是面 not a polygon but a {geoms[i].geom_type}", None,
            _point(geoms[i])))
    invalid = ~empty & ~wrong & ~shapely.is_valid(geoms)
    if invalid.any():
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
    ok = ~empty & ~wrong & ~invalid
    if repair and invalid.any():  # a repair may leave nothing (a polygon of zero area)
        fixed = np.flatnonzero(invalid)
        ok[fixed] = ~shapely.is_empty(geoms[fixed]) & shapely.is_valid(geoms[fixed])
    return geoms, ok, problems


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
                float(areas[k]), point, overlap[k])
        for k, point in zip(big, points, strict=True)
    ]


def spatial_parents(geoms: np.ndarray, ok: np.ndarray, parent_codes: Sequence[str],
                    parent_geoms: np.ndarray) -> np.ndarray:
    """Parent code of each child (None where no parent covers it) by point_on_surface; the
    lowest code wins on shared edges (the same rule as locate). ``parent_codes`` must be
    sorted."""
    return parents_and_inside(geoms, ok, parent_codes, parent_geoms)[0]


def parents_and_inside(geoms: np.ndarray, ok: np.ndarray, parent_codes: Sequence[str],
                       parent_geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`spatial_parents`, and whether each child is known to be covered by the parent
    found (False: not known, to be checked).

    A child whose bounding box meets only one parent's bounding box and which that parent
    covers has it as its parent: its point_on_surface lies in the child, so in that parent and
    in no other (no other parent's box reaches the child). Only the other children need a
    point_on_surface; the covered_by done here is also the spill-over check's."""
    found = np.full(len(geoms), None, dtype=object)
    inside = np.zeros(len(geoms), dtype=bool)
    index = np.flatnonzero(ok)
    if not len(parent_geoms) or not len(index):
        return found, inside
    codes = np.asarray(parent_codes, dtype=object)
    shapely.prepare(parent_geoms)
    tree = shapely.STRtree(parent_geoms)
    child, parent = tree.query(geoms[index])  # bounding boxes only
    count = np.bincount(child, minlength=len(index))
    alone = count[child] == 1
    one, its = child[alone], parent[alone]
    # the prepared geometry must be the predicate's first argument for GEOS to use it:
    # covers(parent, child), not covered_by(child, parent): the prepared parent is reused
    covered = shapely.covers(parent_geoms[its], geoms[index[one]])
    found[index[one[covered]]] = codes[its[covered]]
    inside[index[one[covered]]] = True
    rest = np.ones(len(index), dtype=bool)
    rest[one[covered]] = False
    rest &= count > 0  # no box met: no parent can cover any point of the child
    rest = index[rest]
    if len(rest):
        child, parent = tree.query(shapely.point_on_surface(geoms[rest]), predicate="covered_by")
        order = np.lexsort((parent, child))  # per child, its parents in code order
        child, parent = child[order], parent[order]
        first = np.r_[True, child[1:] != child[:-1]] if len(child) else np.empty(0, dtype=bool)
        found[rest[child[first]]] = codes[parent[first]]
    return found, inside


def prefix_problems(codes: Sequence[str], parents: np.ndarray, level: Level,
                    scheme: CodeScheme, geoms: np.ndarray) -> list[Problem]:
    """Warnings for codes that do not begin with their parent's code (the scheme nests
    codes; the parent found is kept, the code may be a typo)."""
    has = np.flatnonzero(pd.notna(parents))
    off = np.fromiter(map(str.startswith, np.asarray(codes, dtype=object)[has], parents[has]),
                      dtype=bool, count=len(has))
    return [Problem("code_prefix", WARNING, [codes[i], parents[i]],
                    scheme.problem(codes[i], level, parents[i]) or "", None, _point(geoms[i]))
            for i in has[~off]]


def _parent_checks(codes, geoms, ok, parents, attr_parents, parent_codes, parent_geoms,
                   level, scheme, metric, tolerance, sliver, inside=None) -> list[Problem]:
    problems = []
    has = ok & pd.notna(parents)
    for i in np.flatnonzero(ok & ~has):
        problems.append(Problem("no_parent", ERROR, [codes[i]],
                                f"{codes[i]}: 找不到上级 no parent unit contains it", None,
                                _points(geoms[[i]])[0]))
    children = np.flatnonzero(has if inside is None else has & ~inside)
    if len(children):
        which = pd.Index(parent_codes).get_indexer(parents[children])
        shapely.prepare(parent_geoms)
        # most children lie wholly inside: a prepared covers (the prepared parent first) is
        # far cheaper than a difference, which is computed only for the rest
        out = ~shapely.covers(parent_geoms[which], geoms[children])
        spilled, which = children[out], which[out]
        spill = shapely.difference(geoms[spilled], parent_geoms[which])
        spill_m, areas = metric.areas(spill)
        big = _real(spill_m, areas, tolerance, sliver)
        for k, point in zip(big, _points(spill[big]), strict=True):
            i = spilled[k]
            problems.append(Problem(
                "outside_parent", ERROR, [codes[i], parents[i]],
                f"{codes[i]} 超出上级 {parents[i]} spills {areas[k]:.1f} m² outside its parent",
                float(areas[k]), point, spill[k]))
    problems += prefix_problems(codes, parents, level, scheme, geoms)
    if attr_parents is not None:
        given = np.asarray(attr_parents, dtype=object)
        differs = has & pd.notna(given) & (given != "") & (given != parents)
        for i in np.flatnonzero(differs):
            problems.append(Problem(
                "parent_mismatch", ERROR, [codes[i], given[i], parents[i]],
                f"{codes[i]}: 属性上级 {given[i]} 与空间上级 {parents[i]} 不符 attribute parent "
                f"{given[i]} differs from the spatial parent {parents[i]}", None,
                _points(geoms[[i]])[0]))
    return problems


def _coverage_gaps(parents, ok, geoms, parent_codes, parent_geoms, metric, tolerance,
                   sliver, intended) -> list[Problem]:
    problems = []
    members = np.flatnonzero(ok & pd.notna(parents))
    if not len(members):
        return problems
    which = pd.Index(parent_codes).get_indexer(parents[members])
    order = np.argsort(which, kind="stable")
    members, which = members[order], which[order]
    starts = np.flatnonzero(np.r_[True, which[1:] != which[:-1]])
    # a parent with no child in this file is outside the file's scope: only parents with
    # children are checked, each against the union of its own children
    covered = [shapely.union_all(geoms[part]) for part in np.split(members, starts[1:])]
    gaps = shapely.difference(parent_geoms[which[starts]], np.asarray(covered, dtype=object))
    if intended is not None:
        gaps = shapely.difference(gaps, intended)
    parts, owner = shapely.get_parts(gaps, return_index=True)
    parts_m, areas = metric.areas(parts)
    real = _real(parts_m, areas, tolerance, sliver)
    for k, point in zip(real, _points(parts[real]), strict=True):
        code, area = parent_codes[which[starts[owner[k]]]], float(areas[k])
        problems.append(Problem(
            "coverage_gap", WARNING, [code],
            f"{code} 内有 {area:.1f} m² 未被下级覆盖 gap of {area:.1f} m² in its coverage",
            area, point, parts[k]))
    return problems


def relational_problems(
    codes: Sequence[str],
    names: Sequence[str],
    geoms: np.ndarray,
    ok: np.ndarray,
    parents: np.ndarray,
    level: Level,
    scheme: CodeScheme,
    parent_codes: Sequence[str] = (),
    parent_geoms: Iterable = (),
    attr_parents: Sequence[str | None] | None = None,
    *,
    tolerances: Tolerances | None = None,
    intended_gaps: Iterable = (),
    inside: np.ndarray | None = None,
) -> list[Problem]:
    """Every check past the geometries themselves: codes and names, sibling overlaps, units
    with no parent or spilling out of it, attribute parents that disagree with the spatial
    one, and gaps in each parent's coverage. ``inside`` (from :func:`parents_and_inside`)
    marks children already known to be covered by their parent."""
    tol = tolerances or Tolerances()
    problems = attribute_problems(codes, names, level, scheme, geoms)
    if not ok.any():
        return problems
    # Predicates run in lon/lat, as the database and the locator see the polygons (a straight
    # edge in degrees is not straight in metres); only the pieces found are measured in m².
    metric = _Metric(geoms[ok])
    problems += _sibling_overlaps(codes, geoms, ok, metric, tol.overlap_m2, tol.sliver_m)
    parent_geoms = np.asarray(list(parent_geoms), dtype=object)
    if len(parent_geoms):
        problems += _parent_checks(codes, geoms, ok, parents, attr_parents, parent_codes,
                                   parent_geoms, level, scheme, metric, tol.outside_m2,
                                   tol.sliver_m, inside)
        if level in TILING_LEVELS:
            intended = list(intended_gaps)
            intended_union = shapely.union_all(np.asarray(intended, dtype=object)) \
                if intended else None
            problems += _coverage_gaps(parents, ok, geoms, parent_codes, parent_geoms,
                                       metric, tol.gap_m2, tol.sliver_m, intended_union)
    return problems


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
