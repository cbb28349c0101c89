"""The ladder: 网格发现 → 社区呼叫 → 分级响应 → 协同处置, and every move an incident can make.

States: ``open`` (being handled at its current level: grid, community or street) →
``whistled`` (the street blew the whistle, 吹哨; departments report in, 报到, within
``report_in_minutes`` and finish by the category's street-level limit) →
``resolved`` → ``closed`` (核查结案) → ``rated`` (满意 / 基本满意); a 不满意 callback reopens the
case (``open`` again at the level that last handled it). A merged duplicate ends ``merged``.
An open incident climbs grid → community (社区呼叫) → street by hand or when its time limit
runs out, and a higher level may send it back down (退回) with instructions. Deadlines are
counted in the working-time calendar (``grid.incidents.calendar``).
Every move appends an ``IncidentStep``; a move the state or level does not allow is refused
with ``MoveNotAllowed`` (409), one the caller's role or scope does not allow with
``Forbidden`` (403). Concurrent moves are safe: ``Incident.row_version`` makes a second writer's
UPDATE match nothing, which surfaces as ``Conflict`` instead of a doubled step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from geoalchemy2.shape import from_shape
from shapely import Point
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from grid.db import STORAGE_SRID, Database
from grid.errors import Conflict, Forbidden, InvalidInput, MoveNotAllowed, NotFound
from grid.hierarchy.levels import Level
from grid.incidents.calendar import WorkCalendar
from grid.incidents.categories import LADDER_LEVELS, CategoryBook, Duplicates
from grid.incidents.inserts import insert_report
from grid.incidents.models import Attachment, Incident, IncidentReporter, IncidentStep, Summons
from grid.incidents.moves import ROLE_RANK, Move, require
from grid.incidents.nearby import Suggestion, rank, search_params
from grid.incidents.notify import messages, queue_for_step
from grid.orm import utcnow
from grid.overlays import routing
from grid.overlays import store as overlay_store
from grid.overlays.match import OverlayDirectory
from grid.overlays.models import STATIONED_UNIT
from grid.scope import Scope
from grid.spatial.locator import LocatorCache

SOURCES = ("patrol", "hotline", "resident")
RATINGS = ("满意", "基本满意", "不满意")
#: How a late report-in's step reason begins (the rates count such a case as not in time).
LATE_REPORT_IN = "逾期报到"


class Actor(Protocol):
    """Who makes a move: a ``grid.users.User`` or the system's own sweep."""

    name: str
    role: str
    department: str | None

    def covers(self, code: str | None) -> bool: ...


@dataclass(frozen=True)
class SystemActor:
    """The scheduler that escalates overdue incidents."""

    name: str = "system"
    role: str = "system"
    department: str | None = None

    def covers(self, code: str | None) -> bool:
        """The system acts everywhere."""
        return True


SYSTEM = SystemActor()


def _needed(session: Session | None) -> Session:
    if session is None:
        raise ValueError("placing a report without a located point needs a session")
    return session


@dataclass
class NewReport:
    """A report checked, placed and built (``Ladder.prepare_report``), to be written by
    ``grid.incidents.inserts`` (``insert_report``, or ``insert_report_async``)."""

    incident: Incident
    step: IncidentStep
    reporter: IncidentReporter
    messages: list[tuple[str, str, str]]
    #: The duplicate search's parameters (``grid.incidents.nearby``), when it is wanted.
    nearby: dict | None
    rule: Duplicates
    lon: float
    lat: float

    def written(self, candidates: list[tuple]) -> tuple[Incident, list[Suggestion]]:
        """The incident once its rows are written (ids set by the INSERT), and the
        suggestions among the duplicate search's ``candidates``."""
        # Filled as already loaded (no events): the incident is transient, its rows written.
        for name, value in (("steps", [self.step]), ("summonses", []),
                            ("reporters", [self.reporter])):
            set_committed_value(self.incident, name, value)
        return self.incident, rank(self.rule, self.lon, self.lat, candidates)


def _rank(level: str) -> int:
    return LADDER_LEVELS.index(level)


def can_see(actor: Actor, incident: Incident) -> bool:
    """Whether ``actor`` may see ``incident``: inside its scope and, for a department, only
    when summoned."""
    return Scope.of(actor).sees(incident)


def _count_for_rates(incident: Incident, step: IncidentStep) -> None:
    """Keep the incident's rate columns in step with its steps (definitions in
    ``grid.incidents.rates``): a sweep's escalation or a late report-in makes it late; each
    callback counts, and a satisfied one (满意 / 基本满意) also as satisfied."""
    if (step.action == "escalate" and step.actor_role == SYSTEM.role) or (
            step.action == "report_in" and step.reason.startswith(LATE_REPORT_IN)):
        incident.late = True
    if step.action == "rate":
        incident.callbacks = (incident.callbacks or 0) + 1
        if not step.reason.startswith("不满意"):
            incident.satisfied_callbacks = (incident.satisfied_callbacks or 0) + 1


class Ladder:
    """Reports incidents and moves them; every public method takes an open session."""

    def __init__(self, categories: CategoryBook, locators: LocatorCache,
                 calendar: WorkCalendar | None = None, report_in_minutes: int = 30,
                 overlays: OverlayDirectory | None = None) -> None:
        self.categories = categories
        self.locators = locators
        self.calendar = calendar or WorkCalendar()
        self.report_in_minutes = report_in_minutes
        self.overlays = overlays

    def deadline(self, category: str, level: str, start: datetime) -> datetime:
        """When a case of ``category`` started at ``level`` at ``start`` must move on."""
        return self.calendar.add(start, self.categories.get(category).limit(level))

    # -- reading -------------------------------------------------------------------------

    def get(self, session: Session, actor: Actor, incident_id: int) -> Incident:
        """One incident the actor may see; 404 when missing, 403 when outside its scope."""
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise NotFound(f"事件 {incident_id} 不存在 incident {incident_id} not found")
        if not can_see(actor, incident):
            raise Forbidden(f"无权查看事件 {incident_id} incident {incident_id} is outside your "
                            "scope")
        return incident

    def list(
        self,
        session: Session,
        actor: Actor,
        *,
        state: str | None = None,
        level: str | None = None,
        category: str | None = None,
        unit: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Incident]:
        """Incidents inside the actor's scope, newest first, filtered."""
        query = select(Incident).order_by(Incident.id.desc()).limit(limit).offset(offset)
        query = query.where(Scope.of(actor).incidents())
        if unit:
            query = query.where(Incident.grid_code.startswith(unit, autoescape=True))
        for column, value in ((Incident.state, state), (Incident.level, level),
                              (Incident.category, category)):
            if value:
                query = query.where(column == value)
        return session.scalars(query).all()

    # -- reporting ------------------------------------------------------------------------

    def report(self, session: Session, actor: Actor, **fields) -> Incident:
        """网格发现: record a problem at a place; locate decides its owners and start level.
        Takes ``file``'s keyword arguments; returns the incident as loaded in ``session``
        (``file`` is the fast path that reads nothing back)."""
        return session.get(Incident, self.file(session, actor, **fields).id)

    def file(self, session: Session, actor: Actor, **fields) -> Incident:
        """Like ``report``, but returns the incident as written (see ``file_suggesting``,
        whose keyword arguments it takes), without the duplicate search."""
        return self.file_suggesting(session, actor, suggest=False, **fields)[0]

    def file_suggesting(self, session: Session, actor: Actor, **fields
                        ) -> tuple[Incident, list[Suggestion]]:
        """Like ``report``, but returns the incident as written: a transient object (in no
        session) with its first step and reporter, enough to answer the reporter without
        reading anything back; and, when ``suggest``, the open cases it probably repeats
        (``grid.incidents.duplicates``), nearest first. Takes ``prepare_report``'s keyword
        arguments; ``grid.incidents.inserts`` writes it (with the duplicate search in the
        same statement on PostGIS)."""
        attachments = fields.get("attachments", ())
        new = self.prepare_report(actor, session=session, **fields)
        candidates = insert_report(session, new.incident, new.step, new.reporter,
                                   new.messages, new.nearby)
        found = new.written(candidates)
        self._attach(session, actor, new.incident, attachments)
        return found

    def prepare_report(
        self,
        actor: Actor,
        *,
        lon: float,
        lat: float,
        category: str,
        description: str = "",
        reporter: str = "",
        source: str = "patrol",
        contact: str = "",
        attachments: Sequence[int] = (),
        now: datetime | None = None,
        placed: tuple[int, dict[Level, str | None]] | None = None,
        suggest: bool = True,
        session: Session | None = None,
        client_key: str | None = None,
    ) -> NewReport:
        """A report checked (role, source, category, scope), placed and built, not yet
        written. ``placed`` = (version id, codes) when the point was already located in the
        active version (``grid.spatial.places``); otherwise it is located here, through
        ``session`` (required then, and to name the nearest grid of a point outside all).
        ``client_key`` (account id and ``Idempotency-Key``) is stored, unique: a second
        INSERT with it is refused by the database."""
        now = now or utcnow()
        if actor.role not in ROLE_RANK:
            raise Forbidden(f"角色 {actor.role} 不能上报事件 role {actor.role} cannot report")
        if source not in SOURCES:
            raise InvalidInput(f"未知来源 unknown source '{source}'; expected one of {SOURCES}")
        kind = self.categories.get(category)
        if placed is not None and placed[1].get(Level.grid) is not None:
            version_id, codes = placed
        else:
            locator = self.locators.get(_needed(session))
            version_id, codes = locator.version_id, locator.locate(lon, lat)
        if codes[Level.grid] is None:
            locator = self.locators.get(_needed(session), version_id)
            try:
                nearest = locator.nearest(Level.grid, lon, lat)
            except ValueError:  # far outside China: no metric zone to measure in
                nearest = None
            raise InvalidInput(
                "位置不在任何网格内 the location is outside every grid",
                details=nearest and {"nearest_grid": nearest.code,
                                     "distance_m": round(nearest.distance_m, 1)},
            )
        if not actor.covers(codes[Level.grid]):
            raise Forbidden(f"位置在您的范围之外 grid {codes[Level.grid]} is outside your scope")
        incident = Incident(
            category=kind.code, description=description, reporter=reporter or actor.name,
            # Extended WKB (with its SRID): bound to PostGIS as is, not re-read into shapely
            # and written out as EWKT on every INSERT.
            source=source, geom=from_shape(Point(lon, lat), srid=STORAGE_SRID, extended=True),
            boundary_version=version_id,
            street_code=codes[Level.street], community_code=codes[Level.community],
            grid_code=codes[Level.grid], building_code=codes[Level.building],
            state="open", level=kind.start_level, created_by=actor.name,
            created_at=now, updated_at=now,
            due_at=self.deadline(kind.code, kind.start_level, now),
            rating=None, merged_into=None, row_version=1, reopen_count=0,
            late=False, callbacks=0, satisfied_callbacks=0, client_key=client_key,
        )
        step = IncidentStep(
            at=now, action="report", actor=actor.name, actor_role=actor.role,
            from_state=None, to_state="open", from_level=None, to_level=kind.start_level,
            department=None, reason=description, attachments=list(attachments) or None,
        )
        who = IncidentReporter(name=incident.reporter, contact=contact, source=source,
                               reported_at=now, rating=None, rated_at=None)
        nearby = (search_params(kind.duplicates, kind.code, codes[Level.street], lon, lat, now)
                  if suggest else None)
        queued = messages(incident, step, kind)
        if self.overlays is not None:
            # Who was responsible at filing is kept on the case (grid.overlays.routing);
            # the told overlays get their messages with the case's own.
            match = self.overlays.match(lon, lat, overlay_store.local_day(now, self.calendar.tz),
                                        codes[Level.building])
            incident.overlays, told = routing.route(match, kind.overlays.tell,
                                                    kind.start_level, kind.label("zh"))
            queued += told
        return NewReport(incident, step, who, queued, nearby, kind.duplicates, lon, lat)

    def _attach(self, session: Session, actor: Actor, incident: Incident,
                ids: Sequence[int]) -> None:
        """Link the attachments ``ids`` to ``incident``. An attachment not yet linked belongs
        to its uploader: only they may link it (anyone else is told it does not exist, so ids
        cannot be probed); once linked it belongs to its incident and stays there."""
        for attachment_id in ids:
            attachment = session.get(Attachment, attachment_id)
            if attachment is None or (attachment.incident_id is None
                                      and attachment.uploaded_by != actor.name):
                raise InvalidInput(f"附件 {attachment_id} 不存在 attachment not found")
            if attachment.incident_id not in (None, incident.id):
                raise InvalidInput(f"附件 {attachment_id} 属于其他事件 belongs to another "
                                   "incident")
            attachment.incident_id = incident.id

    # -- moves ----------------------------------------------------------------------------

    def _move(
        self,
        session: Session,
        incident: Incident,
        actor: Actor,
        action: str,
        *,
        state: str | None = None,
        level: str | None = None,
        reason: str = "",
        department: str | None = None,
        attachments: Sequence[int] = (),
        now: datetime | None = None,
    ) -> Incident:
        now = now or utcnow()
        step = IncidentStep(
            at=now, action=action, actor=actor.name,
            actor_role=actor.role, from_state=incident.state, to_state=state or incident.state,
            from_level=incident.level, to_level=level or incident.level,
            department=department, reason=reason, attachments=list(attachments) or None,
        )
        if (level and level != incident.level) or (state == "open" and incident.state != "open"):
            incident.due_at = self.deadline(incident.category, level or incident.level, now)
        if state == "whistled":  # the case is due when the last department must finish
            incident.due_at = max(s.done_due_at for s in incident.summonses)
        if state in ("resolved", "closed", "rated", "merged"):
            incident.due_at = None
        incident.state = state or incident.state
        incident.level = level or incident.level
        incident.updated_at = now
        _count_for_rates(incident, step)
        incident.steps.append(step)  # through the relationship, so the loaded list stays true
        self._attach(session, actor, incident, attachments)
        try:
            session.flush()
        except StaleDataError:
            raise Conflict(f"事件 {incident.id} 已被他人修改，请刷新 incident {incident.id} "
                           "was changed by someone else; reload and try again") from None
        queue_for_step(session, incident, step, self.categories.get(incident.category))
        return incident

    def _allowed(self, session: Session, actor: Actor, incident_id: int, move: Move,
                 department: str | None = None) -> Incident:
        """The incident, once the transition table (``grid.incidents.moves``) allows
        ``actor`` to make ``move`` on it now."""
        incident = self.get(session, actor, incident_id)
        require(actor, incident, move, department)
        return incident

    def escalate(self, session: Session, actor: Actor, incident_id: int, reason: str,
                 now: datetime | None = None, attachments: Sequence[int] = ()) -> Incident:
        """Move an open incident one level up (grid → community is 社区呼叫)."""
        incident = self._allowed(session, actor, incident_id, Move.escalate)
        if not reason.strip():
            raise InvalidInput("上报需要说明原因 escalating needs a reason")
        target = LADDER_LEVELS[_rank(incident.level) + 1]
        return self._move(session, incident, actor, "escalate", level=target, reason=reason,
                          attachments=attachments, now=now)

    def send_back(self, session: Session, actor: Actor, incident_id: int, instructions: str,
                  now: datetime | None = None, attachments: Sequence[int] = ()) -> Incident:
        """退回: a community (or street) returns an open case one level down with instructions;
        the lower level's clock restarts."""
        incident = self._allowed(session, actor, incident_id, Move.send_back)
        if not instructions.strip():
            raise InvalidInput("退回需要写明处理意见 sending back needs instructions")
        target = LADDER_LEVELS[_rank(incident.level) - 1]
        return self._move(session, incident, actor, "send_back", level=target,
                          reason=instructions, attachments=attachments, now=now)

    def resolve(self, session: Session, actor: Actor, incident_id: int, reason: str,
                now: datetime | None = None, attachments: Sequence[int] = ()) -> Incident:
        """The current level solved it itself."""
        incident = self._allowed(session, actor, incident_id, Move.resolve)
        return self._move(session, incident, actor, "resolve", state="resolved", reason=reason,
                          attachments=attachments, now=now)

    def whistle(self, session: Session, actor: Actor, incident_id: int,
                departments: list[str], reason: str, now: datetime | None = None,
                report_in_minutes: int | None = None,
                stationed_units: Sequence[str] = ()) -> Incident:
        """街乡吹哨: the street summons one or more departments — and stationed units (驻区单位,
        by code) where the category allows — each must report in within
        ``report_in_minutes`` (elapsed: the seeds' 30 minutes) and finish within the category's
        street-level limit (working-time calendar). A stationed unit is summoned exactly as a
        department: its summons carries the unit's name, which its department account holds."""
        incident = self._allowed(session, actor, incident_id, Move.whistle)
        departments = list(dict.fromkeys(d.strip() for d in departments if d.strip()))
        codes = list(dict.fromkeys(c.strip() for c in stationed_units if c.strip()))
        if not departments and not codes:
            raise InvalidInput("吹哨需要至少一个部门 name at least one department")
        unknown = [d for d in departments if d not in self.categories.departments]
        if unknown:
            raise InvalidInput(f"未知部门 unknown department(s): {', '.join(unknown)}",
                               details={"known": self.categories.departments})
        now = now or utcnow()
        if codes:
            if STATIONED_UNIT not in self.categories.get(incident.category).overlays.summon:
                raise InvalidInput(f"此类事件不能召集驻区单位 category {incident.category} does "
                                   "not allow summoning stationed units")
            day = overlay_store.local_day(now, self.calendar.tz)
            departments += [u.name for u in overlay_store.summonable_units(
                session, codes, day, incident.street_code) if u.name not in departments]
        minutes = report_in_minutes or self.report_in_minutes
        done_due = self.deadline(incident.category, "street", now)
        # The summons table keeps one row per department; a case reopened and whistled again
        # restarts the row's clocks (the steps keep the history).
        summoned = {s.department: s for s in incident.summonses}
        for department in departments:
            summons = summoned.get(department)
            if summons is None:
                summons = Summons(department=department)
                incident.summonses.append(summons)
            summons.summoned_at, summons.reported_in_at, summons.done_at = now, None, None
            summons.report_in_due_at = now + timedelta(minutes=minutes)
            summons.done_due_at = done_due
        for summons in incident.summonses:
            if summons.department not in departments and summons.done_at is None:
                summons.done_at = now  # an earlier round's party not summoned this time
        # The step names who was summoned in its 60-character column; the summons rows keep
        # every party whatever the length (a stationed unit's name may take up to 60 alone).
        return self._move(session, incident, actor, "whistle", state="whistled",
                          reason=reason, department=",".join(departments)[:60], now=now)

    def _summons(self, session: Session, actor: Actor, incident_id: int,
                 department: str | None, move: Move) -> tuple[Incident, Summons]:
        if actor.role == "department":
            department = actor.department
        elif actor.role == "admin" and not department:
            raise InvalidInput("请指明部门 name the department")
        incident = self._allowed(session, actor, incident_id, move, department)
        summons = next(s for s in incident.summonses if s.department == department)
        return incident, summons

    def report_in(self, session: Session, actor: Actor, incident_id: int,
                  department: str | None = None, note: str = "",
                  now: datetime | None = None) -> Incident:
        """部门报到: a summoned department acknowledges; a late one is flagged in the step."""
        incident, summons = self._summons(session, actor, incident_id, department,
                                          Move.report_in)
        now = now or utcnow()
        summons.reported_in_at = now
        if summons.is_report_in_late(now):
            note = f"{LATE_REPORT_IN} late report-in. {note}".strip()
        return self._move(session, incident, actor, "report_in", reason=note,
                          department=summons.department, now=now)

    def finish(self, session: Session, actor: Actor, incident_id: int,
               department: str | None = None, note: str = "",
               now: datetime | None = None, attachments: Sequence[int] = ()) -> Incident:
        """A department reports its part done; when all have, the incident is resolved
        (协同处置)."""
        incident, summons = self._summons(session, actor, incident_id, department,
                                          Move.finish)
        now = now or utcnow()
        summons.done_at = now
        last = all(s.done_at is not None for s in incident.summonses)
        return self._move(session, incident, actor, "finish",
                          state="resolved" if last else None, reason=note,
                          department=summons.department, attachments=attachments, now=now)

    def close(self, session: Session, actor: Actor, incident_id: int, reason: str = "",
              now: datetime | None = None, attachments: Sequence[int] = ()) -> Incident:
        """核查结案: the result was checked; the case is closed."""
        incident = self._allowed(session, actor, incident_id, Move.close)
        return self._move(session, incident, actor, "close", state="closed", reason=reason,
                          attachments=attachments, now=now)

    def rate(self, session: Session, actor: Actor, incident_id: int, rating: str,
             note: str = "", now: datetime | None = None,
             reporter_id: int | None = None) -> Incident:
        """回访评价: a reporter's rating after the callback. 不满意 reopens the case at the level
        that last handled it, with a fresh time limit; a merged case keeps one callback per
        reporter (``reporter_id``; the first reporter when not given)."""
        incident = self._allowed(session, actor, incident_id, Move.rate)
        if rating not in RATINGS:
            raise InvalidInput(f"评价须为 rating must be one of {', '.join(RATINGS)}")
        now = now or utcnow()
        who = next((r for r in incident.reporters
                    if reporter_id is None or r.id == reporter_id), None)
        if reporter_id is not None and who is None:
            raise InvalidInput(f"报告人 {reporter_id} 不属于此事件 reporter not on this incident")
        if who is not None:
            if who.rating is not None and incident.state == "rated":
                raise MoveNotAllowed(f"{who.name} 已评价 has already been called back")
            who.rating, who.rated_at = rating, now
        incident.rating = rating
        self._move(session, incident, actor, "rate", state="rated",
                   reason=f"{rating} {note}".strip(), now=now)
        if rating != "不满意":
            return incident
        incident.reopen_count += 1
        for r in incident.reporters:  # a new round: everyone is called back again
            r.rating, r.rated_at = None, None
        return self._move(session, incident, actor, "reopen", state="open",
                          reason=f"不满意，重新办理 unsatisfied: reopened. {note}".strip(), now=now)

    def overdue_report_ins(self, session: Session, now: datetime | None = None
                           ) -> list[tuple[Incident, Summons]]:
        """Whistled cases whose summoned departments have not reported in by their deadline."""
        now = now or utcnow()
        rows = session.execute(
            select(Incident, Summons).join(Summons, Summons.incident_id == Incident.id)
            .where(Incident.state == "whistled", Summons.reported_in_at.is_(None),
                   Summons.report_in_due_at < now)
            .order_by(Summons.report_in_due_at)).all()
        return [(i, s) for i, s in rows]

    # -- the sweep ------------------------------------------------------------------------

    def escalate_due(self, db: Database, now: datetime | None = None,
                     batch: int = 200) -> list[int]:
        """Move every overdue open incident up one level; safe to run concurrently.

        PostGIS: ``FOR UPDATE SKIP LOCKED`` hands each overdue row to one sweep only.
        SpatiaLite: the write transaction starts with ``BEGIN IMMEDIATE``, so sweeps run one
        after another and the second finds the rows already escalated (their clocks restarted).
        """
        now = now or utcnow()
        moved: list[int] = []
        while True:
            with db.write() as session:
                query = (
                    select(Incident)
                    .where(Incident.state == "open", Incident.level != "street",
                           Incident.due_at <= now)
                    .order_by(Incident.id).limit(batch)
                )
                if not db.is_spatialite:
                    query = query.with_for_update(skip_locked=True, of=Incident)
                due = session.scalars(query).all()
                for incident in due:
                    target = LADDER_LEVELS[_rank(incident.level) + 1]
                    self._move(session, incident, SYSTEM, "escalate", level=target,
                               reason="超时自动上报 time limit exceeded", now=now)
                    moved.append(incident.id)
            if len(due) < batch:
                return moved
