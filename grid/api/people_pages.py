"""Pages of the people in the loop (issue 14), on the workbench's layout (``grid.api.web``):

* ``/people/volunteer`` (phone) — a volunteer's 双报到 registration, the orders offered to them,
  接单 and 完成服务 with a note, hours and a photo;
* ``/people/orders`` (phone for grid workers, desk for the community) — 下单 and every move the
  transition table allows the caller (回单评价, 转社区, 扩大派单, 撤单, 转为事件);
* ``/people/members`` (desk) — registrations to confirm, and the members' service; a workplace
  Party organisation sees only its own members' counts and hours;
* ``/people/topics`` and ``/people/topics/{id}`` (desk) — 议事协商 walked step by step;
* ``/public/topics/{id}`` — the public notice of a decision (阳光居务), open to everyone, no
  personal data;
* ``/people/rounds`` (phone) — 民情日志 entries, turning one into an incident, the round
  recorder; ``/people/coverage`` and ``/people/figures`` (desk) — coverage and the month.

Every page is a Jinja2 template (autoescaped) and changes state only through the JSON API
(``maps/static/app/people.js``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from grid.api import people_text  # noqa: F401 — adds the pages' words to the workbench's
from grid.api.deliberation import topic_public
from grid.api.deps import PageUser, ReadSession, Svc, page_scope, public_scope
from grid.api.limits import RowId
from grid.api.people import member_public, order_public
from grid.api.web import render, unit_names
from grid.errors import Forbidden
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.hierarchy.models import Unit
from grid.people import figures
from grid.people.common import STAFF
from grid.people.members import MemberState
from grid.people.orders import PLACERS
from grid.people.rounds import worker_table

router = APIRouter(tags=["pages"], include_in_schema=False)
Month = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")]
#: Most buildings offered in a page's building list (a community has a few hundred).
MAX_BUILDINGS = 2000


def _buildings(session, user) -> list[tuple[str, str]]:
    """(code, name) of the buildings in the user's scope, for the pages' building lists."""
    version = store.require_active_version(session).id
    query = (select(Unit.code, Unit.name)
             .where(store.alive_in(version), Unit.level == Level.building.value,
                    Unit.code.startswith(user.scope_code or ""))
             .order_by(Unit.code).limit(MAX_BUILDINGS))
    return [(code, name) for code, name in session.execute(query)]


def _month(svc, month: str | None) -> str:
    return month or datetime.now(ZoneInfo(svc.people.timezone)).strftime("%Y-%m")


def _common(svc, user) -> dict:
    book = svc.people.book
    lang = svc.settings.language
    return {"skills": [(s.code, s.label(lang)) for s in book.skills],
            "skill_names": {s.code: s.label(lang) for s in book.skills},
            "tz": ZoneInfo(svc.people.timezone),
            "kinds": {k.code: k.label(lang) for k in book.participant_kinds},
            "visit_categories": [(c.code, c.label(lang)) for c in book.visit_categories],
            "categories": [(c.code, c.label(lang)) for c in svc.categories.categories],
            "role": user.role if user else None}


@router.get("/people", response_class=HTMLResponse, dependencies=[Depends(page_scope)])
def hub(user: PageUser) -> RedirectResponse:
    """Each role's first people page."""
    target = {"volunteer": "/people/volunteer", "party_org": "/people/members",
              "grid_worker": "/people/rounds"}.get(user.role, "/people/orders")
    return RedirectResponse(target, status_code=303)


@router.get("/people/volunteer", response_class=HTMLResponse, dependencies=[Depends(page_scope)])
def volunteer(request: Request, svc: Svc, session: ReadSession, user: PageUser):
    """A volunteer's registration and orders (phone)."""
    if user.role != "volunteer":
        raise Forbidden("此页面供在职党员使用 this page is for Party volunteers")
    member = svc.people.members.mine(session, user)
    orders = svc.people.orders.list(session, user, limit=50)
    return render(request, "people_volunteer.html", user,
                  member=member_public(svc, member, user) if member else None,
                  orders=[order_public(svc, session, o, user) for o in orders],
                  buildings=_buildings(session, user), **_common(svc, user))


@router.get("/people/orders", response_class=HTMLResponse, dependencies=[Depends(page_scope)])
def orders_page(request: Request, svc: Svc, session: ReadSession, user: PageUser,
                state: Annotated[str | None, Query(max_length=20)] = None):
    """下单 and the orders in the caller's scope, with the moves each allows."""
    if user.role not in PLACERS:
        raise Forbidden(f"角色 {user.role} 不能下单 role {user.role} places no orders")
    found = svc.people.orders.list(session, user, state=state, limit=100)
    buildings = [] if user.role == "party_org" and not user.scope_code else \
        _buildings(session, user)
    return render(request, "people_orders.html", user,
                  orders=[order_public(svc, session, o, user) for o in found],
                  buildings=buildings, state=state, **_common(svc, user))


@router.get("/people/members", response_class=HTMLResponse, dependencies=[Depends(page_scope)])
def members_page(request: Request, svc: Svc, session: ReadSession, user: PageUser):
    """Registrations to confirm (community) and the members' service (community, party
    organisation)."""
    if user.role not in STAFF | {"party_org"}:
        raise Forbidden(f"角色 {user.role} 不能查看 role {user.role} may not see this page")
    registrations = [] if user.role == "party_org" else [
        member_public(svc, m, user) for m in svc.people.members.list(session, user)]
    service = svc.people.members.service(session, user)
    return render(request, "people_members.html", user, registrations=registrations,
                  service=service, pending=MemberState.pending, **_common(svc, user))


@router.get("/people/topics", response_class=HTMLResponse, dependencies=[Depends(page_scope)])
def topics_page(request: Request, svc: Svc, session: ReadSession, user: PageUser):
    """Topics in scope and the form to raise one."""
    found = svc.people.deliberation.list(session, user, limit=100)
    lang = svc.settings.language
    return render(request, "people_topics.html", user,
                  topics=[topic_public(svc, session, t, user) for t in found],
                  procedures=[(p.code, p.label(lang)) for p in svc.people.book.procedures],
                  buildings=_buildings(session, user), **_common(svc, user))


@router.get("/people/topics/{topic_id}", response_class=HTMLResponse,
            dependencies=[Depends(page_scope)])
def topic_page(request: Request, svc: Svc, session: ReadSession, user: PageUser,
               topic_id: RowId):
    """One topic: its procedure's steps, what is on record, a form per allowed move."""
    topic = svc.people.deliberation.get(session, user, topic_id)
    shaped = topic_public(svc, session, topic, user)
    step = svc.people.deliberation.current_step(topic)
    return render(request, "people_topic.html", user, topic=shaped,
                  invite=(step.invite if step else []),
                  names=unit_names(request, shaped.unit_codes),
                  buildings=_buildings(session, user), **_common(svc, user))


@router.get("/public/topics/{topic_id}", response_class=HTMLResponse,
            dependencies=[Depends(public_scope)])
def public_notice(request: Request, svc: Svc, session: ReadSession, topic_id: RowId):
    """阳光居务: the published decision for the affected residents — the topic, the steps
    taken, the options and votes, the decision, the tasks and their state, the evaluation.
    No participant, minutes or other personal data."""
    topic = svc.people.deliberation.public(session, topic_id)
    shaped = topic_public(svc, session, topic, _Public())
    return render(request, "people_public.html", None, topic=shaped,
                  names=unit_names(request, shaped.unit_codes))


@router.get("/people/rounds", response_class=HTMLResponse, dependencies=[Depends(page_scope)])
def rounds_page(request: Request, svc: Svc, session: ReadSession, user: PageUser):
    """The grid worker's phone page: log a visit, turn an entry into an incident, record a
    round's track."""
    entries = svc.people.rounds.visits(session, user, limit=50)
    grid = user.scope_code if user.role == "grid_worker" else None
    return render(request, "people_rounds.html", user, entries=entries, grid=grid,
                  buildings=_buildings(session, user),
                  names=unit_names(request, {e.building_code for e in entries}),
                  **_common(svc, user))


@router.get("/people/coverage", response_class=HTMLResponse, dependencies=[Depends(page_scope)])
def coverage_page(request: Request, svc: Svc, session: ReadSession, user: PageUser,
                  month: Month = None):
    """Coverage per grid in the caller's scope for a month (desk)."""
    month = _month(svc, month)
    unit = user.scope_code or store.units(session, store.require_active_version(session).id,
                                          Level.street)[0].code
    rows = svc.people.rounds.coverage(session, user, unit, month)
    workers = worker_table(session, user, unit, month, svc.people.timezone)
    return render(request, "people_coverage.html", user, rows=rows, month=month,
                  workers=workers)


@router.get("/people/figures", response_class=HTMLResponse, dependencies=[Depends(page_scope)])
def figures_page(request: Request, svc: Svc, session: ReadSession, user: PageUser,
                 month: Month = None):
    """The month's figures per community, for the street's monthly review (desk)."""
    month = _month(svc, month)
    unit = user.scope_code or store.units(session, store.require_active_version(session).id,
                                          Level.street)[0].code
    rows = figures.review(session, user, svc.people.rounds, unit, month, svc.people.timezone,
                          svc.settings.rate_weights)
    return render(request, "people_figures.html", user, rows=rows, month=month, unit=unit)


class _Public:
    """The anonymous reader of a public notice: no role, no scope, no moves."""

    name = ""
    role = "public"
    department = None
    scope_code = "\x00"

    def covers(self, code: str | None) -> bool:
        return False
