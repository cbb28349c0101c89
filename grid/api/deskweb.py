"""The street office's desk and the GIS staff's pages (templates in ``grid/api/templates``,
scripts in ``maps/static/app``). The pages hold no figures of their own: their scripts fetch
``/api/v1/desk/…``, ``/api/v1/gis/…`` and ``/api/v1/versions`` — the same API, with the
session cookie and its CSRF token — and draw them (charts by the vendored ECharts).

Who sees what: a page for a street needs the street in the user's scope (403 page otherwise);
the GIS pages need the ``gis`` or ``admin`` role, as the GIS API does."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from grid.api.deps import PageUser, ReadSession, Svc, page_scope
from grid.api.deskwords import desk_word, page_words
from grid.api.web import page_lang, render
from grid.errors import Forbidden
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.incidents import desk, topics
from grid.orm import utcnow

router = APIRouter(tags=["pages"], include_in_schema=False,
                   dependencies=[Depends(page_scope)])

Street = Annotated[str, Path(pattern=r"^[0-9A-Za-z]{1,32}$")]
VersionId = Annotated[int, Path(ge=1, le=2_147_483_647)]


def _page(request: Request, template: str, user, **values) -> HTMLResponse:
    lang = page_lang(request, request.app.state.services.settings)
    return render(request, template, user, page_words=page_words(lang),
                  **{"_": lambda key, **kw: desk_word(key, lang, **kw)}, **values)


def _street(session, user, street: str) -> str:
    if not user.covers(street):
        raise Forbidden(f"街道 {street} 不在您的范围内 street {street} is outside your scope")
    return desk.unit_names(session, [street]).get(street, street)


@router.get("/desk")
def desk_home(session: ReadSession, user: PageUser) -> RedirectResponse:
    """The user's street desk: the street of their scope (the first street in it when the
    scope is wider, as an admin's is)."""
    if user.role not in ("street", "admin"):
        raise Forbidden("街道工作台只对街道办开放 the street desk is for the street office")
    version = store.require_active_version(session).id
    streets = [u.code for u in store.units(session, version, Level.street)
               if user.covers(u.code)]
    if not streets:
        raise Forbidden("您的范围内没有街道 no street is inside your scope")
    scope = user.scope_code or ""
    street = next((c for c in streets if scope.startswith(c)), streets[0])
    return RedirectResponse(f"/desk/streets/{street}", status_code=303)


@router.get("/desk/streets/{street}", response_class=HTMLResponse)
def desk_page(request: Request, session: ReadSession, user: PageUser,
              street: Street) -> HTMLResponse:
    """The street map with the panel of figures beside it."""
    name = _street(session, user, street)
    return _page(request, "desk.html", user, street=street, street_name=name, tab="desk")


@router.get("/desk/streets/{street}/ranking", response_class=HTMLResponse)
def ranking_page(request: Request, svc: Svc, session: ReadSession, user: PageUser,
                 street: Street) -> HTMLResponse:
    """三率: the ranking with names, the trend by month, 末位 and the quiet communities."""
    name = _street(session, user, street)
    month = desk.month_of(utcnow(), svc.settings.work_timezone)
    return _page(request, "desk_ranking.html", user, street=street, street_name=name,
                 month=month, tab="ranking")


@router.get("/desk/streets/{street}/topics", response_class=HTMLResponse)
def topics_page(request: Request, svc: Svc, session: ReadSession, user: PageUser,
                street: Street) -> HTMLResponse:
    """每月一题: the month's candidates, adopting one with its lead, the street's topics."""
    name = _street(session, user, street)
    month = desk.month_of(utcnow(), svc.settings.work_timezone)
    return _page(request, "desk_topics.html", user, street=street, street_name=name,
                 month=month, tab="topics",
                 may_adopt=user.role in topics.ADOPTERS)


@router.get("/desk/topics/{topic_id}", response_class=HTMLResponse)
def topic_page(request: Request, session: ReadSession, user: PageUser,
               topic_id: Annotated[int, Path(ge=1, le=2_147_483_647)]) -> HTMLResponse:
    """One topic: its cases, their count by state, the trend, and closing it."""
    topic = topics.get(session, user, topic_id)
    name = desk.unit_names(session, [topic.street_code]).get(topic.street_code, "")
    return _page(request, "desk_topic.html", user, street=topic.street_code, street_name=name,
                 topic_id=topic.id, topic_title=topic.title, tab="topics",
                 may_adopt=user.role in topics.ADOPTERS)


def _require_gis(user) -> None:
    if user.role not in ("gis", "admin"):
        raise Forbidden("只有GIS人员或管理员可以管理边界 only GIS staff or administrators "
                        "manage boundaries")


@router.get("/gis", response_class=HTMLResponse)
def gis_page(request: Request, user: PageUser) -> HTMLResponse:
    """Boundary versions (activate, roll back) and uploading a file: the mapping and
    encoding the loader guessed, editable; the validation report with its map; commit."""
    _require_gis(user)
    return _page(request, "gis.html", user)


@router.get("/gis/diff/{old}/{new}", response_class=HTMLResponse)
def gis_diff_page(request: Request, user: PageUser, old: VersionId,
                  new: VersionId) -> HTMLResponse:
    """Two versions on a map: added, removed and changed units coloured; activate the new
    one or roll back from here."""
    _require_gis(user)
    return _page(request, "gis_diff.html", user, old=old, new=new)
