"""Which overlays apply at a place on a day: the in-memory index behind locate, reports and
``grid place``.

* **Temporary branches**: every branch whose polygon *covers* the point (boundary included)
  and that is valid that day, lowest code first — overlapping branches all apply.
* **Street/lane chief**: the nearest segment of the active segment version within
  ``street_chief_distance_m`` metres, measured in the CGCS2000 3° Gauss-Krüger zone of the
  point (``grid.spatial.crs.gauss_kruger_epsg``: EPSG:4548 around 117°E). **Tie rule**:
  segments whose distances differ from the nearest by at most ``TIE_M`` (1 cm — below the
  precision of the data, 1e-7° ≈ 1 cm) count as equally near, and the lowest segment code
  wins, the same lowest-code rule locate uses for points on shared edges. Its chiefs are
  those valid that day, one per tier (several valid at one tier: the latest ``valid_from``).
* **Building heads**: the heads of the point's building valid that day.

The index is a snapshot of the overlay tables, rebuilt when older than the locate cache's
``fresh_seconds`` or after :meth:`OverlayDirectory.invalidate` (every write through the API
and the CLI calls it). One point (locate, a report) is answered with scalar geometries;
``grid place``'s columns are arrays: point-in-polygon tests on the raw coordinates
(``shapely.intersects_xy``) for the branches and for the segments' reach, then one STRtree
``dwithin`` query for the points within reach — ``benchmarks/overlay_bench.py`` measures both
and checks them against each other and against a brute force.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import shapely
from sqlalchemy import or_, select

from grid.db import STORAGE_SRID, Database
from grid.spatial.crs import gauss_kruger_epsg, to_metres

# The overlay store and its ORM models (geoalchemy2: about half a second to import) are
# imported where rows are read: `grid place` on a database without overlays needs neither.

#: Distances closer than this (metres) to the nearest one are ties (see the module doc).
TIE_M = 0.01
#: Lines are densified to vertices at most this far apart (degrees, ~10 m) before they are
#: projected: a straight two-point lon/lat segment 3 km long is a curve in Gauss-Krüger
#: metres, up to ~15 cm off the chord through its projected ends — more than TIE_M.
DENSIFY_DEG = 1e-4


def _dates(row) -> dict[str, str | None]:
    return {"valid_from": row.valid_from.isoformat(),
            "valid_to": row.valid_to.isoformat() if row.valid_to else None}


@dataclass
class _Valid:
    """An overlay record (a dict ready for JSON) with its validity period."""

    data: dict[str, Any]
    valid_from: date
    valid_to: date | None

    def on(self, day: date) -> bool:
        from grid.overlays.store import is_valid

        return is_valid(self, day)


@dataclass
class SegmentHit:
    """The nearest segment within the distance, and its chiefs on the day."""

    code: str
    name: str
    kind: str
    distance_m: float
    chiefs: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"segment_code": self.code, "segment_name": self.name, "kind": self.kind,
                "distance_m": round(self.distance_m, 2), "chiefs": self.chiefs}


@dataclass
class OverlayMatch:
    """The overlays that apply at one point on one day."""

    day: date
    temporary_branches: list[dict[str, Any]] = field(default_factory=list)
    street_chief: SegmentHit | None = None
    building_heads: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (what locate answers and an incident stores)."""
        return {"day": self.day.isoformat(),
                "temporary_branches": [dict(b) for b in self.temporary_branches],
                "street_chief": self.street_chief.as_dict() if self.street_chief else None,
                "building_heads": [dict(h) for h in self.building_heads]}


def _any_overlay(session) -> bool:
    """Whether any overlay row exists (branches, segments, chiefs, building heads): one
    query, on the bare tables."""
    from sqlalchemy import exists, literal, table

    tables = ("temporary_branch", "street_segment", "segment_chief", "building_head")
    return bool(session.execute(select(literal(True)).where(
        or_(*(exists().select_from(table(name)) for name in tables)))).scalar())


class OverlayIndex:
    """A snapshot of every overlay, indexed for point queries."""

    def __init__(self, branches: list[_Valid], branch_geoms: np.ndarray,
                 segments: list[dict[str, Any]], segment_geoms: np.ndarray,
                 chiefs: dict[str, list[_Valid]], heads: dict[str, list[_Valid]],
                 distance_m: float) -> None:
        self.branches, self.branch_geoms = branches, branch_geoms
        self.branch_tree = shapely.STRtree(branch_geoms)
        self.segments, self.segment_geoms = segments, segment_geoms
        self.segment_codes = np.array([s["code"] for s in segments], dtype=object)
        self.chiefs, self.heads = chiefs, heads
        self.distance_m = distance_m
        self._zones: dict[int, shapely.STRtree] = {}
        self._metric: dict[int, np.ndarray] = {}
        self._reach: dict[int, shapely.Geometry] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to dask workers with the placer (grid.spatial.distributed): the trees and
        # the lock are rebuilt there.
        state = self.__dict__.copy()
        for key in ("branch_tree", "_zones", "_metric", "_reach", "_lock"):
            state.pop(key)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.branch_tree = shapely.STRtree(self.branch_geoms)
        shapely.prepare(self.branch_geoms)
        self._zones, self._metric, self._reach = {}, {}, {}
        self._lock = threading.Lock()

    @classmethod
    def from_db(cls, db: Database, distance_m: float) -> OverlayIndex:
        """Read every overlay (all periods: validity is decided per query)."""
        with db.read() as session:
            return cls.from_session(session, distance_m)

    @classmethod
    def from_session(cls, session, distance_m: float) -> OverlayIndex:
        """As :meth:`from_db`, through an open session."""
        if not _any_overlay(session):
            # What the reads below give on empty tables, without importing the ORM models.
            empty = np.empty(0, dtype=object)
            return cls([], empty, [], empty.copy(), {}, {}, distance_m)
        from grid.hierarchy.models import PartyOrg
        from grid.overlays import store

        rows = store.branches(session)
        orgs = {o.unit_code: o.name for o in session.scalars(select(PartyOrg).where(
            PartyOrg.unit_code.in_({b.parent_org_code for b in rows})))}
        branches = [_Valid({"code": b.code, "name": b.name, "purpose": b.purpose,
                            "parent_org_code": b.parent_org_code,
                            "parent_org": orgs.get(b.parent_org_code, ""),
                            "secretary": b.secretary, "contact": b.contact, **_dates(b)},
                           b.valid_from, b.valid_to) for b in rows]
        branch_geoms = np.array([store.shape(b) for b in rows], dtype=object)
        shapely.prepare(branch_geoms)
        segs = store.segments(session)
        segments = [{"code": s.code, "name": s.name, "kind": s.kind} for s in segs]
        segment_geoms = np.array([store.shape(s) for s in segs], dtype=object)
        chiefs: dict[str, list[_Valid]] = {}
        for c in store.chiefs(session):
            chiefs.setdefault(c.segment_code, []).append(_Valid(
                {"tier": c.tier, "name": c.name, "title": c.title, "phone": c.phone,
                 **_dates(c)}, c.valid_from, c.valid_to))
        heads: dict[str, list[_Valid]] = {}
        for h in store.building_heads(session):
            heads.setdefault(h.building_code, []).append(_Valid(
                {"role": h.role, "part": h.part, "name": h.name, "phone": h.phone,
                 **_dates(h)}, h.valid_from, h.valid_to))
        return cls(branches, branch_geoms, segments, segment_geoms, chiefs, heads, distance_m)

    # -- the three lookups, over arrays of points -------------------------------------------

    def branches_at(self, points: np.ndarray, day: date) -> list[list[dict[str, Any]]]:
        """Per point, the branches valid on ``day`` covering it, lowest code first."""
        found: list[list[dict[str, Any]]] = [[] for _ in range(len(points))]
        if not len(self.branches) or not len(points):
            return found
        valid = np.array([b.on(day) for b in self.branches])
        point_ix, branch_ix = self.branch_tree.query(points, predicate="intersects")
        for p, b in sorted(zip(point_ix.tolist(), branch_ix.tolist(), strict=True),
                           key=lambda pb: (pb[0], self.branches[pb[1]].data["code"])):
            if valid[b]:
                found[p].append(self.branches[b].data)
        return found

    def _zone(self, epsg: int) -> tuple[shapely.STRtree, np.ndarray]:
        """The segments in Gauss-Krüger zone ``epsg`` (projected once per zone)."""
        with self._lock:
            if epsg not in self._zones:
                from pyproj import Transformer

                forward = Transformer.from_crs(STORAGE_SRID, epsg, always_xy=True)
                dense = shapely.segmentize(self.segment_geoms, DENSIFY_DEG)
                metric = shapely.transform(dense, lambda xy: np.column_stack(
                    forward.transform(xy[:, 0], xy[:, 1])))
                self._metric[epsg] = metric
                self._zones[epsg] = shapely.STRtree(metric)
                # Everywhere within the distance of some segment: points outside it need no
                # geometry at all (shapely.intersects_xy tests raw coordinates). A buffer's
                # round caps are polygons inscribed in the circle (8 segments a quarter: at
                # least cos(π/32) of the radius), so the radius is widened to cover the whole
                # circle, plus 1 cm; the exact distance is measured afterwards.
                radius = (self.distance_m + 0.01) / np.cos(np.pi / 32)
                reach = shapely.union_all(shapely.buffer(metric, radius, quad_segs=8))
                shapely.prepare(reach)
                self._reach[epsg] = reach
            return self._zones[epsg], self._metric[epsg]

    def nearest_segments(self, lons: np.ndarray, lats: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Per point, the index of the nearest segment within the distance (-1: none) and its
        distance in metres (NaN: none), by the tie rule of the module doc. Points are
        measured in the Gauss-Krüger zone of each point's own longitude."""
        best = np.full(len(lons), -1, dtype=np.int64)
        dist = np.full(len(lons), np.nan)
        ok = np.isfinite(lons) & np.isfinite(lats)
        if not len(self.segments) or not ok.any():
            return best, dist
        # gauss_kruger_epsg over the array: the 3° zone of each longitude (-1 outside 25–45)
        with np.errstate(invalid="ignore"):
            zone = np.where(ok, np.round(np.where(ok, lons, 0) / 3), -1).astype(np.int64)
        zones = np.where((zone >= 25) & (zone <= 45), 4534 + zone - 25, -1)
        for epsg in np.unique(zones[zones >= 0]).tolist():
            rows = np.flatnonzero(zones == epsg)
            tree, metric = self._zone(int(epsg))
            forward = to_metres(float(lons[rows[0]]))  # cached per zone
            x, y = (np.asarray(v) for v in forward.transform(lons[rows], lats[rows]))
            near = shapely.intersects_xy(self._reach[int(epsg)], x, y)
            rows, x, y = rows[near], x[near], y[near]
            if not len(rows):
                continue
            points = shapely.points(x, y)
            p_ix, s_ix = tree.query(points, predicate="dwithin", distance=self.distance_m)
            if not len(p_ix):
                continue
            d = shapely.distance(points[p_ix], metric[s_ix])
            # Per point: the nearest distance, then among those within TIE_M of it the
            # lowest code. Sorted by (point, code), the first candidate within the tie
            # band of its point's minimum is the winner.
            minimum = np.full(len(rows), np.inf)
            np.minimum.at(minimum, p_ix, d)
            tied = d <= minimum[p_ix] + TIE_M
            order = np.lexsort((self.segment_codes[s_ix].astype(str), p_ix))
            order = order[tied[order]]
            first = np.unique(p_ix[order], return_index=True)[1]
            winners = order[first]
            best[rows[p_ix[winners]]] = s_ix[winners]
            dist[rows[p_ix[winners]]] = d[winners]
        return best, dist

    def chiefs_of(self, code: str, day: date) -> list[dict[str, Any]]:
        """The segment's chiefs valid on ``day``: one per tier, tier 1 first (several valid
        at one tier: the one appointed last)."""
        by_tier: dict[int, _Valid] = {}
        for chief in self.chiefs.get(code, []):
            if chief.on(day):
                tier = chief.data["tier"]
                if tier not in by_tier or chief.valid_from >= by_tier[tier].valid_from:
                    by_tier[tier] = chief
        return [dict(by_tier[t].data) for t in sorted(by_tier)]

    def heads_of(self, building_code: str | None, day: date) -> list[dict[str, Any]]:
        """The building's heads valid on ``day``: 楼栋长 first, then 单元长, then 楼门院长."""
        if not building_code:
            return []
        from grid.overlays.models import HEAD_ROLES

        heads = [h.data for h in self.heads.get(building_code, []) if h.on(day)]
        return sorted((dict(h) for h in heads),
                      key=lambda h: (HEAD_ROLES.index(h["role"]), h["part"], h["name"]))

    def match_many(self, lons, lats, day: date, building_codes=None) -> list[OverlayMatch]:
        """:class:`OverlayMatch` per point (storage lon/lat), on ``day``."""
        lons = np.atleast_1d(np.asarray(lons, dtype=float))
        lats = np.atleast_1d(np.asarray(lats, dtype=float))
        points = shapely.points(lons, lats)
        branches = self.branches_at(points, day)
        best, dist = self.nearest_segments(lons, lats)
        buildings = building_codes if building_codes is not None else [None] * len(lons)
        out = []
        for i in range(len(lons)):
            hit = None
            if best[i] >= 0:
                seg = self.segments[best[i]]
                hit = SegmentHit(seg["code"], seg["name"], seg["kind"], float(dist[i]),
                                 self.chiefs_of(seg["code"], day))
            out.append(OverlayMatch(day, branches[i], hit, self.heads_of(buildings[i], day)))
        return out

    def match(self, lon: float, lat: float, day: date,
              building_code: str | None = None) -> OverlayMatch:
        """:class:`OverlayMatch` at one point: the same rules as :meth:`match_many`, with
        scalar geometries (the path of locate and of every report, where the array
        machinery's overhead would dominate)."""
        found = OverlayMatch(day, building_heads=self.heads_of(building_code, day))
        if not (np.isfinite(lon) and np.isfinite(lat)):
            return found
        if self.branches:
            hits = self.branch_tree.query(shapely.Point(lon, lat), predicate="intersects")
            found.temporary_branches = sorted(
                (self.branches[b].data for b in hits.tolist() if self.branches[b].on(day)),
                key=lambda data: data["code"])
        found.street_chief = self._nearest_one(lon, lat, day)
        return found

    def _nearest_one(self, lon: float, lat: float, day: date) -> SegmentHit | None:
        if not self.segments:
            return None
        try:
            epsg = gauss_kruger_epsg(lon)
        except ValueError:
            return None
        tree, metric = self._zone(epsg)
        point = shapely.Point(*to_metres(lon).transform(lon, lat))
        near = tree.query(point, predicate="dwithin", distance=self.distance_m)
        if not len(near):
            return None
        distances = shapely.distance(point, metric[near])
        tied = near[distances <= distances.min() + TIE_M]
        best = min(tied.tolist(), key=lambda i: self.segments[i]["code"])
        seg = self.segments[best]
        return SegmentHit(seg["code"], seg["name"], seg["kind"],
                          float(distances[near.tolist().index(best)]),
                          self.chiefs_of(seg["code"], day))

    def columns(self, lons, lats, day: date, building_codes) -> dict[str, np.ndarray]:
        """The overlay columns of ``grid place`` for arrays of points, as arrays (texts are
        computed once per overlay, then indexed): ``temporary_branch`` (names, "；"-joined,
        lowest code first), ``street_segment`` (code), ``street_chief`` ("tier:name" per
        tier, ";"-joined), ``street_chief_distance_m`` (NaN: none within the distance) and
        ``building_head`` ("role:name", ";"-joined)."""
        lons = np.asarray(lons, dtype=float)
        lats = np.asarray(lats, dtype=float)
        n = len(lons)
        branch = np.full(n, "", dtype=object)
        # One vectorised point-in-polygon test per branch valid that day, on the raw
        # coordinates (no point geometries); lowest code first, as in match.
        for b in sorted((b for b in range(len(self.branches)) if self.branches[b].on(day)),
                        key=lambda b: self.branches[b].data["code"]):
            inside = np.flatnonzero(shapely.intersects_xy(self.branch_geoms[b], lons, lats))
            name = self.branches[b].data["name"]
            branch[inside] = [f"{text}；{name}" if text else name for text in branch[inside]]
        best, dist = self.nearest_segments(lons, lats)
        seg_codes = np.append(self.segment_codes, "").astype(object)
        chief_text = np.array([";".join(f"{c['tier']}:{c['name']}"
                                        for c in self.chiefs_of(s["code"], day))
                               for s in self.segments] + [""], dtype=object)
        heads = {code: ";".join(f"{h['role']}{'(' + h['part'] + ')' if h['part'] else ''}:"
                                f"{h['name']}" for h in self.heads_of(code, day))
                 for code in self.heads}
        building = np.empty(len(building_codes), dtype=object)
        building[:] = [heads.get(code, "") for code in building_codes]
        return {"temporary_branch": branch, "street_segment": seg_codes[best],
                "street_chief": chief_text[best], "street_chief_distance_m": np.round(dist, 2),
                "building_head": building}


class OverlayDirectory:
    """The process's overlay index, rebuilt when stale (see the module doc)."""

    def __init__(self, db: Database, fresh_seconds: float, distance_m: float,
                 timezone: str = "Asia/Shanghai") -> None:
        self.db, self.fresh_seconds, self.distance_m = db, fresh_seconds, distance_m
        self.timezone = timezone
        self._index: OverlayIndex | None = None
        self._built = 0.0
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Forget the snapshot: the next query reads the tables again."""
        with self._lock:
            self._index = None

    @property
    def fresh(self) -> bool:
        """True when a query answers from memory without reading the tables."""
        return self._index is not None and \
            time.monotonic() - self._built <= self.fresh_seconds

    def index(self) -> OverlayIndex:
        """The current snapshot (read now when missing or older than ``fresh_seconds``)."""
        with self._lock:
            if self._index is None or time.monotonic() - self._built > self.fresh_seconds:
                self._index = OverlayIndex.from_db(self.db, self.distance_m)
                self._built = time.monotonic()
            return self._index

    def match(self, lon: float, lat: float, day: date,
              building_code: str | None = None) -> OverlayMatch:
        """The overlays at one point on ``day``."""
        return self.index().match(lon, lat, day, building_code)
