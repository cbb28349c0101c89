"""Units, boundary versions, locate and categories."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from shapely.geometry import mapping
from starlette.concurrency import run_in_threadpool

from grid.api import fields
from grid.api.deps import (
    ApiScope,
    CurrentUser,
    ReadSession,
    Svc,
    WriteSession,
    api_scope,
)
from grid.api.limits import Code, Count, RowId, text
from grid.api.overlays import with_overlays
from grid.api.schemas import (
    CategoryPublic,
    LocationPublic,
    PartyOrgPublic,
    UnitPublic,
    VersionPublic,
)
from grid.errors import Forbidden
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.hierarchy.models import Unit
from grid.scope import Scope, require_city
from grid.services import Services
from grid.spatial.chinacrs import storage_point
from grid.spatial.locate import locate_point

router = APIRouter(prefix="/api/v1", tags=["units"],
                   dependencies=[Depends(api_scope)])

VersionQuery = Annotated[RowId | None, Query(
    description="边界版本 boundary version; default active")]


def _version(session, version: int | None) -> int:
    return store.get_version(session, version).id if version else \
        store.require_active_version(session).id


def _public(session, scope: Scope, units: list[Unit]) -> list[UnitPublic]:
    orgs = store.party_orgs(session, [u.code for u in units])
    return fields.units(scope, [
        UnitPublic.model_validate(u).model_copy(update={
            "party_org": orgs.get(u.code) and PartyOrgPublic.model_validate(orgs[u.code])})
        for u in units
    ])


#: Units per page of ``/units`` and ``/units/geojson``: a city's building level is a million.
Limit = Annotated[int, Query(ge=1, le=10_000, description="每页单元数 units per page")]
Offset = Annotated[Count, Query(description="跳过 units skipped (paging)")]


def _page(request: Request, response: Response, found: list, limit: int, offset: int
          ) -> list:
    """Set ``Link: <…>; rel="next"`` (RFC 8288) when the page is full: there may be more."""
    if len(found) == limit:
        following = request.url.include_query_params(limit=limit, offset=offset + limit)
        response.headers["Link"] = f'<{following}>; rel="next"'
    return found


@router.get("/units", response_model=list[UnitPublic], summary="列出单元 list units")
def list_units(
    request: Request, response: Response, session: ReadSession, scope: ApiScope,
    level: Level | None = None, parent: Code | None = None, version: VersionQuery = None,
    limit: Limit = 1000, offset: Offset = 0,
) -> list[UnitPublic]:
    """Units of a level and/or under a parent, in the active version (or ``version``), by
    code, a page at a time (``Link`` header to the next page)."""
    version_id = _version(session, version)
    found = list(store.units(session, version_id, level, parent,
                             limit=limit, offset=offset))
    return _public(session, scope, _page(request, response, found, limit, offset))


@router.get("/units/geojson", summary="单元 GeoJSON units as GeoJSON")
def units_geojson(
    request: Request, response: Response, session: ReadSession, user: CurrentUser,
    level: Level | None = None, parent: Code | None = None, version: VersionQuery = None,
    limit: Limit = 1000, offset: Offset = 0,
) -> dict:
    """A FeatureCollection (EPSG:4490 lon/lat) of units of a level and/or under a parent, a
    page at a time (``Link`` header to the next page)."""
    version_id = _version(session, version)
    found = _page(request, response, list(store.units(
        session, version_id, level, parent, limit=limit,
        offset=offset)), limit, offset)
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": u.code,
                "geometry": mapping(store.shape_of(u)) if u.geom is not None else None,
                "properties": {"code": u.code, "name": u.name, "level": u.level,
                               "parent_code": u.parent_code, **(u.attrs or {})},
            }
            for u in found
        ],
    }


@router.get("/units/{code}", response_model=UnitPublic, summary="一个单元 one unit")
def get_unit(session: ReadSession, scope: ApiScope, code: Code,
             version: VersionQuery = None) -> UnitPublic:
    """One unit with its Party organisation."""
    return _public(session, scope, [store.get_unit(session, _version(session, version), code)])[0]


@router.get("/units/{code}/children", response_model=list[UnitPublic],
            summary="下级单元 children")
def unit_children(session: ReadSession, scope: ApiScope, code: Code,
                  version: VersionQuery = None) -> list[UnitPublic]:
    """The units one level below ``code``."""
    version_id = _version(session, version)
    store.get_unit(session, version_id, code)
    return _public(session, scope, list(store.units(session, version_id, parent_code=code)))


@router.get("/locate", response_model=LocationPublic, summary="定位 locate a point")
async def locate(
    request: Request, scope: ApiScope,
    lon: Annotated[float, Query(description="经度 longitude (or x of a projected EPSG crs)")],
    lat: Annotated[float, Query(description="纬度 latitude (or y of a projected EPSG crs)")],
    version: VersionQuery = None,
    crs: Annotated[text(40), Query(description="坐标系 wgs84 | cgcs2000 | gcj02 (高德/腾讯/微信) | "
                                          "bd09 (百度) | EPSG:NNNN")] = "cgcs2000",
    on: Annotated[date | None, Query(description="日期 overlays valid on this local date; "
                                                 "default today")] = None,
) -> LocationPublic:
    """Street → community → grid → building holding the point, each with its Party
    organisation, the building's resident groups and the grid workers; or "outside coverage"
    with the nearest grid. Also the overlays there on the day: temporary Party branch, street
    or lane chief, building heads. The answer's lon/lat are in storage coordinates."""
    svc: Services = request.app.state.services
    lon, lat = storage_point(lon, lat, crs)
    # The hot path: the active version answered from memory (grid.spatial.places), on the
    # event loop (no database, no thread hop). Anything that needs the database goes to the
    # thread pool.
    if version is None and svc.places.ready and svc.overlays.fresh:
        return fields.location(scope, with_overlays(svc, svc.places.locate(lon, lat), on))
    return fields.location(scope, await run_in_threadpool(_locate_from_db, svc, lon, lat,
                                                          version, on))


def _locate_from_db(svc: Services, lon: float, lat: float, version: int | None,
                    on: date | None = None) -> LocationPublic:
    if version is None:
        return with_overlays(svc, svc.places.locate(lon, lat), on)
    with svc.db.read() as session:
        return with_overlays(svc, locate_point(session, svc.locators, lon, lat, version), on)


@router.get("/versions", response_model=list[VersionPublic], summary="边界版本 versions")
def versions(session: ReadSession, user: CurrentUser) -> list[VersionPublic]:
    """Every boundary version with its unit counts."""
    return [
        VersionPublic.model_validate(v).model_copy(
            update={"units": store.unit_counts(session, v.id)})
        for v in store.list_versions(session)
    ]


@router.post("/versions/{version_id}/activate", response_model=VersionPublic,
             summary="启用版本 activate")
def activate(svc: Svc, session: WriteSession, user: CurrentUser,
             version_id: RowId) -> VersionPublic:
    """Make a version the active one (admins and GIS staff)."""
    if user.role not in ("admin", "gis"):
        raise Forbidden("只有管理员或GIS人员可以启用版本 only admin or GIS staff can activate")
    active = store.active_version(session)
    require_city(session, Scope.of(user), [active and active.id, version_id],
                 "启用边界版本 activating a boundary version")
    version = store.activate(session, version_id)
    svc.places.invalidate()
    return VersionPublic.model_validate(version).model_copy(
        update={"units": store.unit_counts(session, version.id)})


@router.get("/categories", response_model=list[CategoryPublic], summary="事件类别 categories")
def categories(svc: Svc, user: CurrentUser, lang: text(8) = "zh") -> list[CategoryPublic]:
    """The incident categories and their time limits."""
    return [
        CategoryPublic.model_validate({**c.model_dump(by_alias=True), "name": c.label(lang)})
        for c in svc.categories.categories
    ]
