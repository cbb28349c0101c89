"""HTML pages: the street office's map, the city overview, the incident page and the grid
worker's phone report page. Every page is rendered with ``maps.assets.render_localized``, which
refuses to return a page that would load anything from the internet."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Cookie, Query
from fastapi.responses import HTMLResponse

from grid.api.deps import PageUser, ReadSession, Svc
from grid.errors import Forbidden
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.hotline.queue import QUEUE_ROLES
from maps.assets import render_localized
from maps.hotline import queue_page
from maps.incident import incident_map
from maps.report import report_page
from maps.street import area_map, building_features, street_map

router = APIRouter(tags=["pages"])

Lang = Annotated[str | None, Query(pattern="^(zh|en)$", description="界面语言 zh / en")]
Shade = Annotated[Literal["open", "score"], Query(
    description="分级设色 choropleth: open 在办事件 / score 本月三率得分")]
#: Most incidents one map page carries (newest first); the clustered layer draws 10,000 fast.
MAX_INCIDENTS = 20000


def _page(html: str, token: str | None) -> HTMLResponse:
    response = HTMLResponse(html)
    if token:
        # A link with ?token= logs the browser in for the links inside the page.
        response.set_cookie("grid_token", token, httponly=True, samesite="strict")
    return response


def _in_scope(user, code: str) -> bool:
    return user.covers(code) or (user.scope_code or "").startswith(code)


@router.get("/maps/streets/{code}", response_class=HTMLResponse, summary="街道地图 street map")
def street_page(svc: Svc, session: ReadSession, user: PageUser, code: str,
                lang: Lang = None, shade: Shade = "open",
                token: str | None = None) -> HTMLResponse:
    """The street's communities, grids and buildings as layers, with its incidents."""
    if not _in_scope(user, code):
        raise Forbidden(f"街道 {code} 不在您的范围内 street {code} is outside your scope")
    lang = lang or svc.settings.language
    version = store.require_active_version(session).id
    incidents = svc.ladder.list(session, user, unit=code, limit=MAX_INCIDENTS)
    fmap = street_map(session, svc.settings, version, code, incidents, svc.categories,
                      lang=lang, shade=shade)
    return _page(render_localized(fmap, svc.settings.static_url), token)


@router.get("/maps/streets/{code}/buildings.geojson", summary="街道楼栋 street's buildings")
def street_buildings(svc: Svc, session: ReadSession, user: PageUser, code: str,
                     bbox: Annotated[str | None, Query(
                         pattern=r"^-?[\d.]+,-?[\d.]+,-?[\d.]+,-?[\d.]+$",
                         description="minx,miny,maxx,maxy (map display coordinates)")] = None,
                     lang: Lang = None) -> dict:
    """The street map's building layer, loaded by bounding box while it is switched on."""
    if not _in_scope(user, code):
        raise Forbidden(f"街道 {code} 不在您的范围内 street {code} is outside your scope")
    box = tuple(float(v) for v in bbox.split(",")) if bbox else None
    version = store.require_active_version(session).id
    return building_features(session, svc.settings, version, code, box,
                             lang or svc.settings.language)


@router.get("/maps/city", response_class=HTMLResponse, summary="全市总览 city overview")
def city_page(svc: Svc, session: ReadSession, user: PageUser, lang: Lang = None,
              shade: Shade = "open", token: str | None = None) -> HTMLResponse:
    """Every street in the user's scope, shaded by open cases, each linking to its map."""
    lang = lang or svc.settings.language
    version = store.require_active_version(session).id
    streets = [s for s in store.units(session, version, Level.street) if _in_scope(user, s.code)]
    if not streets:
        raise Forbidden("您的范围内没有街道 no street is inside your scope")
    incidents = svc.ladder.list(session, user, limit=MAX_INCIDENTS)
    fmap = area_map(session, svc.settings, version, streets, incidents, svc.categories,
                    lang=lang, overview=True, shade=shade)
    return _page(render_localized(fmap, svc.settings.static_url), token)


@router.get("/maps/incidents/{incident_id}", response_class=HTMLResponse,
            summary="事件页面 incident page")
def incident_page(svc: Svc, session: ReadSession, user: PageUser, incident_id: int,
                  lang: Lang = None, token: str | None = None) -> HTMLResponse:
    """The owning grid highlighted, the path up the ladder and the audit trail."""
    incident = svc.ladder.get(session, user, incident_id)
    fmap = incident_map(session, svc.settings, incident, svc.categories,
                        lang=lang or svc.settings.language)
    return _page(render_localized(fmap, svc.settings.static_url), token)


@router.get("/report", response_class=HTMLResponse, summary="网格员上报页 grid worker's report")
def report(svc: Svc, session: ReadSession, user: PageUser, lang: Lang = None,
           token: str | None = None,
           grid_token: Annotated[str | None, Cookie()] = None) -> HTMLResponse:
    """The phone page: locate me or tap the map, category, note, photo; offline drafts."""
    version = store.require_active_version(session).id
    html = report_page(session, svc.settings, version, user,
                       token=token or grid_token or "", lang=lang or svc.settings.language)
    return _page(html, token)


@router.get("/hotline", response_class=HTMLResponse, summary="12345 地址待办 hotline queue page")
def hotline_page(svc: Svc, user: PageUser, lang: Lang = None, token: str | None = None,
                 grid_token: Annotated[str | None, Cookie()] = None) -> HTMLResponse:
    """Enter an address, work the manual queue, keep and revoke aliases."""
    if user.role not in QUEUE_ROLES:
        raise Forbidden(f"角色 {user.role} 无权处理地址队列 role {user.role} may not work the "
                        "address queue")
    html = queue_page(svc.settings, token=token or grid_token or "",
                      lang=lang or svc.settings.language)
    return _page(html, token)
