"""网格员走访 · 民情日志: a grid worker's rounds through their grid.

A round is recorded from the phone page — GPS track points sent in numbered batches, kept on
the phone while offline and sent again when the network returns (a batch sent twice is stored
once: ``(round, seq)`` is unique) — or imported from a GPX file in any ``crs`` (a phone app in
GCJ-02: ``crs=gcj02``). On the way the worker visits buildings and households and writes a
民情日志 entry (category, mood, what was heard, the follow-up); an entry files an incident on
the spot in one step (网格发现, before anyone calls 12345).

Coverage per grid and month: buildings visited (an entry there) and buildings walked past (a
track point within ``PASS_M`` metres of the footprint, measured in the Gauss-Krüger zone),
over the grid's buildings.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import shapely
from defusedxml import ElementTree
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grid.errors import InvalidInput, NotFound
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.incidents.ladder import Ladder
from grid.incidents.rates import month_bounds
from grid.people.common import STAFF, Actor, place_building, require_role, require_scope
from grid.people.config import PeopleBook
from grid.people.models import Round, TrackBatch, Visit
from grid.spatial.chinacrs import normalise_crs, to_storage
from grid.spatial.crs import to_metres

#: A building counts as walked past when a track point comes this close to its footprint.
PASS_M = 30.0
WORKERS = frozenset({"grid_worker"}) | STAFF
#: Most points one GPX file may carry (a day's walk at one point a second is ~30,000).
MAX_GPX_POINTS = 50_000


@dataclass
class GridCoverage:
    """One grid's coverage in a month."""

    grid_code: str
    grid_name: str
    buildings: int
    visited: int
    walked_past: int
    covered: int
    share: float
    visits: int
    rounds: int
    incidents: int
    workers: dict[str, int] = field(default_factory=dict)
    #: The buildings covered (visited or walked past), for the street map's layer.
    covered_codes: list[str] = field(default_factory=list)


class Rounds:
    """Rounds, track batches, visits and coverage; every method takes an open session."""

    def __init__(self, book: PeopleBook, ladder: Ladder, timezone: str = "Asia/Shanghai"):
        self.book = book
        self.ladder = ladder
        self.timezone = timezone

    def _grid(self, session: Session, actor: Actor, grid_code: str):
        require_role(actor, WORKERS, "记录走访 record rounds")
        version = store.require_active_version(session).id
        units = store.units(session, version, Level.grid, codes=[grid_code])
        if not units:
            raise InvalidInput(f"网格 {grid_code} 不存在 no grid {grid_code}")
        require_scope(actor, grid_code, f"网格 {grid_code}")
        return units[0]

    def start(self, session: Session, actor: Actor, grid_code: str, client_key: str,
              started_at: datetime) -> Round:
        """Begin a round (or answer the one this phone already began with ``client_key``)."""
        found = session.scalar(select(Round).where(Round.worker == actor.name,
                                                   Round.client_key == client_key))
        if found is not None:
            return found
        grid = self._grid(session, actor, grid_code)
        walk = Round(worker=actor.name, client_key=client_key, grid_code=grid.code,
                     community_code=grid.parent_code, started_at=started_at, points=0)
        session.add(walk)
        session.flush()
        return walk

    def get(self, session: Session, actor: Actor, round_id: int) -> Round:
        """A round: its worker's own, or in a staff member's scope."""
        walk = session.get(Round, round_id)
        if walk is None:
            raise NotFound(f"走访 {round_id} 不存在 round {round_id} not found")
        require_role(actor, WORKERS, "查看走访 see rounds")
        if walk.worker != actor.name:
            require_role(actor, STAFF, "查看他人走访 see another worker's round")
            require_scope(actor, walk.grid_code)
        return walk

    def add_batch(self, session: Session, actor: Actor, round_id: int, seq: int,
                  points: list[tuple[float, float, float]], crs: str | None = None
                  ) -> tuple[Round, bool]:
        """Store batch ``seq`` of a round's track (lon, lat, unix time) in ``crs``; a batch
        already stored is not stored again (answered with ``False``)."""
        walk = self.get(session, actor, round_id)
        if walk.worker != actor.name:
            require_role(actor, {"admin"}, "代他人上传轨迹 upload another's track")
        if any(b.seq == seq for b in walk.batches):
            return walk, False
        stored = _to_storage(points, crs)
        try:
            with session.begin_nested():
                walk.batches.append(TrackBatch(seq=seq, points=stored))
                walk.points += len(stored)
                session.flush()
        except IntegrityError:  # the same batch racing in from a retry: stored once
            session.refresh(walk)
            return walk, False
        return walk, True

    def import_gpx(self, session: Session, actor: Actor, grid_code: str, data: bytes,
                   crs: str | None = None) -> Round:
        """A round from a GPX file's track points (``crs`` of the file: GPX is WGS 84 by its
        standard, but phone apps in China often write GCJ-02)."""
        normalise_crs(crs)  # an unknown crs is refused before anything is looked up
        points = parse_gpx(data)
        started = datetime.fromtimestamp(points[0][2], UTC) if points[0][2] else None
        key = "gpx-" + hashlib.sha256(data).hexdigest()[:40]  # the same file imports once
        walk = self.start(session, actor, grid_code, key, started or datetime.now(UTC))
        self.add_batch(session, actor, walk.id, 0, points, crs)
        return walk

    # -- 民情日志 ----------------------------------------------------------------------------

    def visit(self, session: Session, actor: Actor, *, building_code: str, heard: str,
              category: str, household: str = "", mood: str = "", follow_up: str = "",
              round_id: int | None = None, visited_at: datetime | None = None) -> Visit:
        """Record a visit and its 民情日志 entry."""
        require_role(actor, WORKERS, "记录走访 record visits")
        self.book.require_codes("民情类别 category", [category], self.book.visit_categories)
        place = place_building(session, building_code)
        require_scope(actor, place.grid_code, f"网格 {place.grid_code}")
        if round_id is not None:
            self.get(session, actor, round_id)
        entry = Visit(worker=actor.name, round_id=round_id, building_code=place.building_code,
                      grid_code=place.grid_code, community_code=place.community_code,
                      household=household, category=category, mood=mood, heard=heard,
                      follow_up=follow_up, visited_at=visited_at or datetime.now(UTC))
        session.add(entry)
        session.flush()
        return entry

    def visits(self, session: Session, actor: Actor, *, unit: str | None = None,
               month: str | None = None, limit: int = 200) -> list[Visit]:
        """Entries in the actor's scope (a grid worker: their own), newest first."""
        require_role(actor, WORKERS, "查看民情日志 see the log")
        query = select(Visit).order_by(Visit.id.desc()).limit(limit)
        if actor.role == "grid_worker":
            query = query.where(Visit.worker == actor.name)
        elif actor.role != "admin":
            query = query.where(Visit.grid_code.startswith(actor.scope_code))
        if unit:
            require_scope(actor, unit)
            query = query.where(Visit.grid_code.startswith(unit))
        if month:
            start, end = month_bounds(month, self.timezone)
            query = query.where(Visit.visited_at >= start, Visit.visited_at < end)
        return list(session.scalars(query))

    def to_incident(self, session: Session, actor: Actor, visit_id: int, category: str,
                    note: str = ""):
        """File the entry as an incident at its building, in one step (网格发现)."""
        entry = session.get(Visit, visit_id)
        if entry is None:
            raise NotFound(f"民情日志 {visit_id} 不存在 entry {visit_id} not found")
        require_role(actor, WORKERS, "上报事件 file incidents")
        require_scope(actor, entry.grid_code, f"网格 {entry.grid_code}")
        if entry.incident_id is not None:
            return entry, self.ladder.get(session, actor, entry.incident_id)
        place = place_building(session, entry.building_code)
        description = f"{entry.heard} {note}".strip()
        if entry.follow_up:
            description += f"（跟进 follow-up: {entry.follow_up}）"
        incident = self.ladder.report(session, actor, lon=place.lon, lat=place.lat,
                                      category=category, description=description,
                                      source="patrol", reporter=actor.name)
        entry.incident_id = incident.id
        session.flush()
        return entry, incident

    # -- coverage ------------------------------------------------------------------------

    def coverage(self, session: Session, actor: Actor, unit: str, month: str
                 ) -> list[GridCoverage]:
        """Per grid under ``unit`` (a community or street): buildings visited or walked past
        in ``month`` over its buildings; visits, rounds and incidents filed from entries, and
        visits per worker."""
        require_role(actor, WORKERS, "查看走访覆盖 see coverage")
        require_scope(actor, unit)
        version = store.require_active_version(session).id
        grids = [g for g in store.units(session, version, Level.grid)
                 if g.code.startswith(unit) or unit.startswith(g.code)]
        if not grids:
            raise InvalidInput(f"{unit} 下没有网格 no grid under {unit}")
        return grid_coverage(session, version, grids, month, self.timezone)


@dataclass
class WorkerMonth:
    """One grid worker's month of rounds (the monthly table per grid worker)."""

    worker: str
    grids: list[str]
    rounds: int
    track_points: int
    visits: int
    buildings_visited: int
    households: int
    incidents: int


def worker_table(session: Session, actor: Actor, unit: str, month: str,
                 timezone: str) -> list[WorkerMonth]:
    """Per grid worker with rounds or visits under ``unit`` in ``month``: rounds and track
    points, visits, distinct buildings and households, incidents filed from entries."""
    require_role(actor, STAFF, "查看网格员月度走访 see the workers' table")
    require_scope(actor, unit)
    start, end = month_bounds(month, timezone)
    visits = session.scalars(select(Visit).where(
        Visit.grid_code.startswith(unit), Visit.visited_at >= start, Visit.visited_at < end))
    rounds = session.scalars(select(Round).where(
        Round.grid_code.startswith(unit), Round.started_at >= start, Round.started_at < end))
    table: dict[str, dict] = defaultdict(lambda: {"grids": set(), "rounds": 0, "points": 0,
                                                 "visits": [], "incidents": 0})
    for walk in rounds:
        row = table[walk.worker]
        row["grids"].add(walk.grid_code)
        row["rounds"] += 1
        row["points"] += walk.points
    for entry in visits:
        row = table[entry.worker]
        row["grids"].add(entry.grid_code)
        row["visits"].append(entry)
        row["incidents"] += 1 if entry.incident_id else 0
    return [WorkerMonth(
        worker=name, grids=sorted(row["grids"]), rounds=row["rounds"],
        track_points=row["points"], visits=len(row["visits"]),
        buildings_visited=len({v.building_code for v in row["visits"]}),
        households=len({(v.building_code, v.household) for v in row["visits"] if v.household}),
        incidents=row["incidents"]) for name, row in sorted(table.items())]


def grid_coverage(session: Session, version_id: int, grids, month: str,
                  timezone: str) -> list[GridCoverage]:
    """The coverage of each of ``grids`` in ``month`` (no access check: the caller's)."""
    start, end = month_bounds(month, timezone)
    codes = [g.code for g in grids]
    visits = session.scalars(select(Visit).where(
        Visit.grid_code.in_(codes), Visit.visited_at >= start, Visit.visited_at < end)).all()
    rounds = session.scalars(select(Round).where(
        Round.grid_code.in_(codes), Round.started_at >= start, Round.started_at < end)).all()
    by_grid_visits: dict[str, list[Visit]] = defaultdict(list)
    for entry in visits:
        by_grid_visits[entry.grid_code].append(entry)
    by_grid_rounds: dict[str, list[Round]] = defaultdict(list)
    for walk in rounds:
        by_grid_rounds[walk.grid_code].append(walk)
    result = []
    for grid in grids:
        buildings = store.units(session, version_id, Level.building, parent_code=grid.code)
        visited = {v.building_code for v in by_grid_visits[grid.code]}
        track = [p for walk in by_grid_rounds[grid.code] for b in walk.batches
                 for p in b.points]
        passed = _walked_past(buildings, track)
        covered = visited | passed
        workers: dict[str, int] = defaultdict(int)
        for entry in by_grid_visits[grid.code]:
            workers[entry.worker] += 1
        result.append(GridCoverage(
            grid_code=grid.code, grid_name=grid.name, buildings=len(buildings),
            visited=len(visited), walked_past=len(passed), covered=len(covered),
            share=round(len(covered) / len(buildings), 4) if buildings else 0.0,
            visits=len(by_grid_visits[grid.code]), rounds=len(by_grid_rounds[grid.code]),
            incidents=sum(1 for v in by_grid_visits[grid.code] if v.incident_id),
            workers=dict(workers), covered_codes=sorted(covered)))
    return result


def _to_storage(points: list[tuple[float, float, float]], crs: str | None) -> list[list[float]]:
    if not points:
        return []
    lon, lat = to_storage(np.array([p[0] for p in points]), np.array([p[1] for p in points]),
                          crs)
    return [[round(float(x), 7), round(float(y), 7), float(p[2])]
            for x, y, p in zip(lon, lat, points, strict=True)]


def _walked_past(buildings, track: list[list[float]]) -> set[str]:
    """Codes of the buildings a track point comes within ``PASS_M`` of (Gauss-Krüger metres)."""
    if not buildings or not track:
        return set()
    lons = np.array([p[0] for p in track])
    lats = np.array([p[1] for p in track])
    transformer = to_metres(float(lons.mean()))
    xs, ys = transformer.transform(lons, lats)
    tree = shapely.STRtree(shapely.points(np.column_stack([xs, ys])))
    def project(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(transformer.transform(coords[:, 0], coords[:, 1]))

    found = set()
    for building in buildings:
        shape = shapely.transform(store.shape_of(building), project)
        if len(tree.query(shape, predicate="dwithin", distance=PASS_M)):
            found.add(building.code)
    return found


def parse_gpx(data: bytes) -> list[tuple[float, float, float]]:
    """Track (and route) points of a GPX file as (lon, lat, unix time or 0); entity
    expansion and external references refused (defusedxml)."""
    try:
        root = ElementTree.fromstring(data)
    except Exception as exc:  # ParseError and defusedxml's refusals alike
        raise InvalidInput(f"GPX 文件无法读取 not a readable GPX file: {exc}") from None
    points = []
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag not in ("trkpt", "rtept"):
            continue
        try:
            lon, lat = float(element.get("lon")), float(element.get("lat"))
        except (TypeError, ValueError):
            raise InvalidInput("GPX 点缺少经纬度 a GPX point lacks lon/lat") from None
        stamp = 0.0
        for child in element:
            if child.tag.rsplit("}", 1)[-1] == "time" and child.text:
                try:
                    stamp = datetime.fromisoformat(child.text.strip().replace("Z", "+00:00")) \
                        .timestamp()
                except ValueError:
                    raise InvalidInput(f"GPX 时间无效 bad GPX time '{child.text}'") from None
        points.append((lon, lat, stamp))
        if len(points) > MAX_GPX_POINTS:
            raise InvalidInput(f"GPX 点数超过 {MAX_GPX_POINTS} too many points")
    if not points:
        raise InvalidInput("GPX 文件没有轨迹点 the GPX file has no track points")
    return points
