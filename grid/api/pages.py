"""HTML pages: the street office's map, the city overview, the incident map and the grid
worker's phone report page. The Folium maps are rendered with ``maps.assets.render_localized``,
which refuses to return a page that would load anything from the internet, and their inline
scripts get the response's CSP nonce. Every page is opened with the session cookie (the
sign-in page sets it); a page opened without one goes to the sign-in page first."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from grid.api.deps import PageUser, ReadSession, Svc
from grid.api.web import page_lang, render
from grid.errors import Forbidden
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from maps.assets import render_localized, with_nonce
from maps.incident import incident_map
from maps.report import leaflet_assets, report_config
from maps.street import area_map, building_features, street_map

router = APIRouter(tags=["pages"])

Lang = Annotated[str | None, Query(pattern="^(zh|en)$", description="界面语言 zh / en")]
Shade = Annotated[Literal["open", "score"], Query(
    description="分级设色 choropleth: open 在办事件 / score 本月三率得分")]
#: Most incidents one map page carries (newest first); the clustered layer draws 10,000 fast.
MAX_INCIDENTS = 20000


def _page(request: Request, html: str) -> HTMLResponse:
    """A Folium page whose inline scripts carry the response's CSP nonce."""
    return HTMLResponse(with_nonce(html, request.state.nonce))


def _in_scope(user, code: str) -> bool:
    return user.covers(code) or (user.scope_code or "").startswith(code)


@router.get("/maps/streets/{code}", response_class=HTMLResponse, summary="街道地图 street map")
def street_page(request: Request, svc: Svc, session: ReadSession, user: PageUser, code: str,
                lang: Lang = None, shade: Shade = "open") -> HTMLResponse:
    """The street's communities, grids and buildings as layers, with its incidents."""
    if not _in_scope(user, code):
        raise Forbidden(f"街道 {code} 不在您的范围内 street {code} is outside your scope")
    lang = page_lang(request, svc.settings)
    version = store.require_active_version(session).id
    incidents = svc.ladder.list(session, user, unit=code, limit=MAX_INCIDENTS)
    fmap = street_map(session, svc.settings, version, code, incidents, svc.categories,
                      lang=lang, shade=shade)
    return _page(request, render_localized(fmap, svc.settings.static_url))


@router.get("/maps/streets/{code}/buildings.geojson", summary="街道楼栋 street's buildings")
def street_buildings(request: Request, svc: Svc, session: ReadSession, user: PageUser,
                     code: str,
                     bbox: Annotated[str | None, Query(
                         pattern=r"^-?[\d.]+,-?[\d.]+,-?[\d.]+,-?[\d.]+$",
                         description="minx,miny,maxx,maxy (map display coordinates)")] = None,
                     lang: Lang = None) -> dict:
    """The street map's building layer, loaded by bounding box while it is switched on."""
    if not _in_scope(user, code):
        raise Forbidden(f"街道 {code} 不在您的范围内 street {code} is outside your scope")
    request.state.page = False  # answered as JSON, errors too
    box = tuple(float(v) for v in bbox.split(",")) if bbox else None
    version = store.require_active_version(session).id
    return building_features(session, svc.settings, version, code, box,
                             page_lang(request, svc.settings))


@router.get("/maps/city", response_class=HTMLResponse, summary="全市总览 city overview")
def city_page(request: Request, svc: Svc, session: ReadSession, user: PageUser,
              lang: Lang = None, shade: Shade = "open") -> HTMLResponse:
    """Every street in the user's scope, shaded by open cases, each linking to its map."""
    lang = page_lang(request, svc.settings)
    version = store.require_active_version(session).id
    streets = [s for s in store.units(session, version, Level.street) if _in_scope(user, s.code)]
    if not streets:
        raise Forbidden("您的范围内没有街道 no street is inside your scope")
    incidents = svc.ladder.list(session, user, limit=MAX_INCIDENTS)
    fmap = area_map(session, svc.settings, version, streets, incidents, svc.categories,
                    lang=lang, overview=True, shade=shade)
    return _page(request, render_localized(fmap, svc.settings.static_url))


@router.get("/maps/incidents/{incident_id}", response_class=HTMLResponse,
            summary="事件地图 incident map")
def incident_page(request: Request, svc: Svc, session: ReadSession, user: PageUser,
                  incident_id: int, lang: Lang = None,
                  embed: Annotated[bool, Query(description="地图本身 the map alone, for a "
                                                           "frame")] = False) -> HTMLResponse:
    """The owning grid highlighted, the path up the ladder and the audit trail (the map the
    incident page ``/work/incidents/{id}`` shows beside its buttons)."""
    incident = svc.ladder.get(session, user, incident_id)
    fmap = incident_map(session, svc.settings, incident, svc.categories,
                        lang=page_lang(request, svc.settings), embed=embed)
    return _page(request, render_localized(fmap, svc.settings.static_url))


@router.get("/report", response_class=HTMLResponse, summary="网格员上报页 grid worker's report")
def report(request: Request, svc: Svc, session: ReadSession, user: PageUser,
           lang: Lang = None) -> HTMLResponse:
    """The phone page: locate me or tap the map, category, note, photo; offline drafts; the
    user's own reports and their states."""
    version = store.require_active_version(session).id
    config = report_config(session, svc.settings, version, user,
                           lang=page_lang(request, svc.settings))
    return render(request, "report.html", user, config=config,
                  leaflet=leaflet_assets(svc.settings.static_url))
