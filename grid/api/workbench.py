"""The workbench (工作台): each role's to-do queue and the incident page as the place to act.

JSON (the pages' source, usable by any client):
  ``GET /api/v1/work/queue``  待办 — filters, text search, total, counts per box, paging;
                              ``format=csv|xlsx`` exports the whole filtered list
  ``GET /api/v1/work/mine``   the caller's own reports and their states
  ``GET /api/v1/work/incidents/{id}/moves``  the moves the caller may make now (the ladder's
                              transition table, ``grid.incidents.moves``)
Pages: ``/work`` (the queue, server-rendered by the same functions) and
``/work/incidents/{id}`` (facts, photos, deadline, duplicates, the ladder map beside, one
button per allowed move; each move posts to the incident API, ``grid.api.incidents``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from grid.api.deps import CurrentUser, PageUser, ReadSession, Svc
from grid.api.incidents import detail, public, table
from grid.api.schemas import IncidentPublic
from grid.api.web import page_lang, render, unit_names
from grid.api.webtext import word
from grid.incidents import duplicates
from grid.incidents.moves import NAMES, allowed, awaiting
from grid.incidents.queue import BOXES, QueueFilter, box_of, boxes_for, mine, todo
from grid.orm import utcnow
from grid.residents.pii import mask_phone
from grid.services import Services
from maps.text import ACTIONS

router = APIRouter(tags=["workbench"])

Box = Literal["act", "report_in", "finish", "verify", "callback"]
Text = Annotated[str | None, Query(max_length=100, description="搜索 text: description, "
                                   "reporter, #id, category code or grid code prefix")]
Code = Annotated[str | None, Query(max_length=32, pattern=r"^[0-9A-Za-z]*$")]
Due = Literal["overdue", "soon"]
PAGE = 25
#: Roles that call reporters back (回访) and so see their contact numbers in full.
CALLERS = ("community", "street", "admin")


class QueueItem(IncidentPublic):
    """A queue row: the incident, the box it waits in, and the working time left."""

    box: str | None = None
    state_name: str = ""
    level_name: str = ""
    working_left_minutes: int | None = None
    due_soon: bool = False


class QueueAnswer(BaseModel):
    items: list[QueueItem]
    total: int
    counts: dict[str, int]
    overdue: int
    soon: int
    limit: int
    offset: int


class MovesAnswer(BaseModel):
    incident_id: int
    moves: list[str]
    #: For report-in / finish: the summoned departments the caller may act for.
    departments: list[str]


def working_left(svc: Services, due: datetime | None, now: datetime) -> int | None:
    """Working minutes until ``due`` (negative: how far past it), by the work calendar."""
    if due is None:
        return None
    if due >= now:
        return int(svc.calendar.working_between(now, due).total_seconds() // 60)
    return -int(svc.calendar.working_between(due, now).total_seconds() // 60)


def _item(svc: Services, user, incident, now: datetime, lang: str) -> QueueItem:
    from grid.incidents.queue import DUE_SOON

    base = public(svc, incident, now)
    base.category_name = svc.categories.get(incident.category).label(lang)
    return QueueItem(
        **base.model_dump(), box=box_of(user, incident),
        state_name=word(f"state_{incident.state}", lang),
        level_name=word(f"level_{incident.level}", lang),
        working_left_minutes=working_left(svc, incident.due_at, now),
        due_soon=bool(incident.due_at and now <= incident.due_at < now + DUE_SOON))


def _lang(request: Request, svc: Services) -> str:
    asked = request.headers.get("x-grid-lang")
    return asked if asked in ("zh", "en") else page_lang(request, svc.settings)


def _filter(box, category, level, unit, q, due) -> QueueFilter:
    return QueueFilter(box=box, category=category, level=level, unit=unit,
                       text=(q or "").strip() or None, due=due)


@router.get("/api/v1/work/queue", response_model=QueueAnswer, summary="待办 to-do queue")
def queue_api(
    request: Request, svc: Svc, user: CurrentUser, session: ReadSession,
    box: Box | None = None, category: Code = None,
    level: Literal["grid", "community", "street"] | None = None, unit: Code = None,
    q: Text = None, due: Due | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    format: Literal["json", "csv", "xlsx"] = "json",  # noqa: A002
):
    """The cases waiting for the caller, past and nearest deadlines first, filtered; with
    the total, the counts of every box of the caller's role, and the overdue / due-soon
    counts. ``format=csv|xlsx`` downloads the whole filtered list (up to 100,000 rows)."""
    now = utcnow()
    lang = _lang(request, svc)
    chosen = _filter(box, category, level, unit, q, due)
    if format != "json":
        page = todo(session, user, chosen, limit=100_000, offset=0, now=now)
        rows = [_export_row(svc, user, i, now, lang) for i in page.items]
        return table(rows, f"todo-{now:%Y%m%d}", format)
    page = todo(session, user, chosen, limit=limit, offset=offset, now=now)
    return QueueAnswer(items=[_item(svc, user, i, now, lang) for i in page.items],
                       total=page.total, counts=page.counts, overdue=page.overdue,
                       soon=page.soon, limit=limit, offset=offset)


def _export_row(svc: Services, user, incident, now: datetime, lang: str) -> dict:
    item = _item(svc, user, incident, now, lang)
    return {"id": item.id, "category": item.category, "category_name": item.category_name,
            "state": item.state_name, "level": item.level_name, "box": item.box or "",
            "grid_code": item.grid_code or "", "description": item.description,
            "due_at": item.due_at.isoformat() if item.due_at else "",
            "overdue": item.overdue, "working_left_minutes": item.working_left_minutes,
            "created_at": item.created_at.isoformat()}


class MineAnswer(BaseModel):
    items: list[QueueItem]
    total: int


@router.get("/api/v1/work/mine", response_model=MineAnswer, summary="我的上报 my reports")
def mine_api(request: Request, svc: Svc, user: CurrentUser, session: ReadSession,
             limit: Annotated[int, Query(ge=1, le=200)] = 20,
             offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> MineAnswer:
    """The cases the caller reported, newest first, with their states."""
    now = utcnow()
    lang = _lang(request, svc)
    items, total = mine(session, user, limit=limit, offset=offset)
    return MineAnswer(items=[_item(svc, user, i, now, lang) for i in items], total=total)


@router.get("/api/v1/work/incidents/{incident_id}/moves", response_model=MovesAnswer,
            summary="可做的操作 moves the caller may make now")
def moves_api(svc: Svc, user: CurrentUser, session: ReadSession,
              incident_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> MovesAnswer:
    """What the ladder's transition table allows the caller on this incident now."""
    incident = svc.ladder.get(session, user, incident_id)
    return MovesAnswer(incident_id=incident.id, moves=[m.value for m in allowed(user, incident)],
                       departments=[s.department for s in awaiting(user, incident)])


# -- pages ---------------------------------------------------------------------------------


@router.get("/work", response_class=HTMLResponse, include_in_schema=False)
def queue_page(
    request: Request, svc: Svc, user: PageUser, session: ReadSession,
    box: Annotated[str | None, Query(pattern=f"^({'|'.join(BOXES)})?$")] = None,
    category: Code = None,
    level: Annotated[str | None, Query(pattern="^(grid|community|street)?$")] = None,
    unit: Code = None, q: Text = None,
    due: Annotated[str | None, Query(pattern="^(overdue|soon)?$")] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> HTMLResponse:
    """待办: the queue as a page (phone: one card per case). The filter form sends empty
    fields for "any", taken as not given."""
    box, level, due = box or None, level or None, due or None
    now = utcnow()
    lang = page_lang(request, svc.settings)
    chosen = _filter(box, category, level, unit, q, due)
    page = todo(session, user, chosen, limit=PAGE, offset=offset, now=now)
    items = [_item(svc, user, i, now, lang) for i in page.items]
    names = unit_names(request, {i.grid_code for i in items})
    kept = {k: v for k, v in (("box", box), ("category", category), ("level", level),
                              ("unit", unit), ("q", q), ("due", due)) if v}
    pages = {
        "prev": f"/work?{urlencode({**kept, 'offset': max(offset - PAGE, 0)})}"
        if offset > 0 else None,
        "next": f"/work?{urlencode({**kept, 'offset': offset + PAGE})}"
        if offset + PAGE < page.total else None,
    }
    exports = {fmt: f"/api/v1/work/queue?{urlencode({**kept, 'format': fmt})}"
               for fmt in ("csv", "xlsx")}
    categories = [(c.code, c.label(lang)) for c in svc.categories.categories]
    return render(request, "queue.html", user, page=page, items=items, names=names,
                  boxes=boxes_for(user.role), all_boxes=BOXES, chosen=chosen, kept=kept,
                  pages=pages, exports=exports, categories=categories, offset=offset,
                  shown_to=offset + len(items), now=now, tz=svc.calendar.tz)


@router.get("/work/incidents/{incident_id}", response_class=HTMLResponse,
            include_in_schema=False)
def incident_work_page(request: Request, svc: Svc, user: PageUser, session: ReadSession,
                       incident_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
                       ) -> HTMLResponse:
    """The incident page: who owns it, what happened, what is due, and the buttons for
    exactly the moves the user may make now, with the ladder map beside."""
    now = utcnow()
    lang = page_lang(request, svc.settings)
    incident = svc.ladder.get(session, user, incident_id)
    shaped = detail(svc, session, incident)
    moves = allowed(user, incident)
    photos = sorted({a for s in incident.steps for a in (s.attachments or [])})
    twins = [d for d in duplicates.suggest(session, svc.ladder, incident, now)
             if d.incident_id != incident.id]
    reporters = [{"id": r.id, "name": r.name, "source": r.source, "rating": r.rating,
                  "contact": r.contact if user.role in CALLERS else mask_phone(r.contact)
                  if r.contact else ""}
                 for r in incident.reporters]
    tz = svc.calendar.tz
    return render(
        request, "incident.html", user, incident=incident, shaped=shaped, now=now,
        moves=[m.value for m in moves], move_names={m: n[lang] for m, n in NAMES.items()},
        left=working_left(svc, incident.due_at, now), photos=photos, twins=twins,
        reporters=reporters, tz=tz, category=svc.categories.get(incident.category).label(lang),
        departments=svc.categories.departments,
        action_names={k: v.get(lang, v["zh"]) for k, v in ACTIONS.items()},
        acting_for={
            "report_in": [s.department for s in awaiting(user, incident)
                          if s.reported_in_at is None],
            "finish": [s.department for s in awaiting(user, incident)
                       if s.reported_in_at is not None and s.done_at is None]},
        page_words={k: word(k, lang) for k in (
            "need_reason", "need_department", "need_rating", "sending", "uploading")})
