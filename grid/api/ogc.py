"""OGC API – Features (Part 1 Core + GeoJSON) at ``/ogc``, so QGIS, GDAL and OWSLib read our
layers directly: one collection per spatial level (active version unless ``?version=N``) and
one of incidents (limited to the caller's scope).

Authentication is the same bearer token as the rest of the API, in the ``Authorization``
header: GDAL sends it with ``--config GDAL_HTTP_HEADERS "Authorization: Bearer TOKEN"``, OWSLib
with ``Features(url, headers={"Authorization": "Bearer TOKEN"})``, QGIS with an authentication
configuration of type "API header". Coordinates are CGCS2000 lon/lat, which OGC clients take as
CRS84 (the two agree to within a metre).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from grid.api.deps import CurrentUser, ReadSession
from grid.errors import InvalidInput, NotFound
from grid.hierarchy import store
from grid.hierarchy.levels import LEVEL_NAMES, SPATIAL_LEVELS, Level
from grid.spatial.export import FeaturePage, incident_features, level_extent, unit_features
from grid.users import CASE_ROLES, Role

router = APIRouter(prefix="/ogc", tags=["ogc"])

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOJSON = "application/geo+json"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
INCIDENTS = "incidents"
MAX_LIMIT = 10_000

VersionQuery = Annotated[int | None, Query(description="边界版本 boundary version; default active")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Offset = Annotated[int, Query(ge=0)]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _version(session, version: int | None) -> int:
    return store.get_version(session, version).id if version else \
        store.require_active_version(session).id


def _bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    if not bbox:
        return None
    try:
        values = [float(v) for v in bbox.split(",")]
    except ValueError:
        values = []
    if len(values) == 6:  # 3D boxes: drop the heights
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or values[0] > values[2] or values[1] > values[3]:
        raise InvalidInput(f"bbox 应为 minx,miny,maxx,maxy bbox must be minx,miny,maxx,maxy: "
                           f"'{bbox}'")
    return values[0], values[1], values[2], values[3]


def _collection(base: str, cid: str, title: str, extent: list[float] | None) -> dict[str, Any]:
    out = {
        "id": cid, "title": title, "itemType": "feature", "crs": [CRS84],
        "links": [
            {"href": f"{base}/collections/{cid}", "rel": "self", "type": "application/json"},
            {"href": f"{base}/collections/{cid}/items", "rel": "items", "type": GEOJSON,
             "title": title},
        ],
    }
    if extent:
        out["extent"] = {"spatial": {"bbox": [extent], "crs": CRS84}}
    return out


def _collections(session, base: str, version_id: int) -> list[dict[str, Any]]:
    out = []
    for level in SPATIAL_LEVELS:
        names = LEVEL_NAMES[level]
        out.append(_collection(base, level.value, f"{names['zh']} {names['en']}",
                               level_extent(session, version_id, level)))
    out.append(_collection(base, INCIDENTS, "事件 incidents", None))
    return out


def _level(cid: str) -> Level | None:
    if cid == INCIDENTS:
        return None
    try:
        level = Level(cid)
    except ValueError:
        level = None
    if level not in SPATIAL_LEVELS:
        raise NotFound(f"没有集合 {cid} no collection '{cid}'")
    return level


def _scope(user) -> str | None:
    if user.role not in CASE_ROLES:
        return "\x00"  # a prefix no unit code has: these roles see no incidents
    return None if user.role == Role.admin else user.scope_code


@router.get("", summary="OGC API landing page")
def landing(request: Request, user: CurrentUser) -> dict[str, Any]:
    """Landing page: links to the API definition, conformance and collections."""
    base = _base(request)
    root = str(request.base_url).rstrip("/")
    return {
        "title": "网格治理 Grid governance — OGC API Features",
        "description": "街道、社区、网格、楼栋边界与事件 streets, communities, grids, buildings, "
                       "incidents",
        "links": [
            {"href": base, "rel": "self", "type": "application/json"},
            {"href": f"{root}/openapi.json", "rel": "service-desc",
             "type": "application/vnd.oai.openapi+json;version=3.0"},
            {"href": f"{root}/docs", "rel": "service-doc", "type": "text/html"},
            {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json"},
            {"href": f"{base}/collections", "rel": "data", "type": "application/json"},
        ],
    }


@router.get("/conformance", summary="OGC API conformance classes")
def conformance(user: CurrentUser) -> dict[str, Any]:
    """The conformance classes implemented: Core, GeoJSON, OpenAPI 3.0."""
    return {"conformsTo": CONFORMANCE}


@router.get("/collections", summary="OGC API collections")
def collections(request: Request, session: ReadSession, user: CurrentUser,
                version: VersionQuery = None) -> dict[str, Any]:
    """One collection per spatial level of the version, and incidents."""
    base = _base(request)
    return {"collections": _collections(session, base, _version(session, version)),
            "links": [{"href": f"{base}/collections", "rel": "self",
                       "type": "application/json"}]}


@router.get("/collections/{cid}", summary="OGC API collection")
def collection(cid: str, request: Request, session: ReadSession, user: CurrentUser,
               version: VersionQuery = None) -> dict[str, Any]:
    """One collection's description."""
    level = _level(cid)
    version_id = _version(session, version)
    if level is None:
        return _collection(_base(request), INCIDENTS, "事件 incidents", None)
    names = LEVEL_NAMES[level]
    return _collection(_base(request), cid, f"{names['zh']} {names['en']}",
                       level_extent(session, version_id, level))


def _page_links(request: Request, page: FeaturePage, limit: int, offset: int) -> list[dict]:
    url = request.url
    links = [{"href": str(url), "rel": "self", "type": GEOJSON}]
    if offset + len(page.features) < page.matched:
        links.append({"href": str(url.include_query_params(offset=offset + limit, limit=limit)),
                      "rel": "next", "type": GEOJSON})
    if offset > 0:
        links.append({"href": str(url.include_query_params(offset=max(offset - limit, 0),
                                                           limit=limit)),
                      "rel": "prev", "type": GEOJSON})
    return links


@router.get("/collections/{cid}/items", summary="OGC API items")
def items(cid: str, request: Request, session: ReadSession, user: CurrentUser,
          bbox: str | None = None, limit: Limit = 100, offset: Offset = 0,
          version: VersionQuery = None) -> JSONResponse:
    """Features of a collection, filtered by ``bbox`` (lon/lat), paged by ``limit``/``offset``
    with next/prev links."""
    level = _level(cid)
    box = _bbox(bbox)
    if level is None:
        page = incident_features(session, _scope(user), box, limit, offset)
    else:
        page = unit_features(session, _version(session, version), level, box, limit, offset)
    body = {"type": "FeatureCollection", "features": page.features,
            "numberMatched": page.matched, "numberReturned": len(page.features),
            "links": _page_links(request, page, limit, offset)}
    return JSONResponse(body, media_type=GEOJSON)


@router.get("/collections/{cid}/items/{fid}", summary="OGC API item")
def item(cid: str, fid: str, request: Request, session: ReadSession, user: CurrentUser,
         version: VersionQuery = None) -> JSONResponse:
    """One feature: a unit by code, an incident by id."""
    level = _level(cid)
    if level is None:
        if not fid.isdigit():
            raise NotFound(f"事件 {fid} 不存在 incident {fid} not found")
        page = incident_features(session, _scope(user), incident_id=int(fid), limit=1)
    else:
        page = unit_features(session, _version(session, version), level, code=fid, limit=1)
    if not page.features:
        raise NotFound(f"要素 {fid} 不存在 feature {fid} not found in {cid}")
    feature = page.features[0]
    base = _base(request)
    feature["links"] = [
        {"href": str(request.url), "rel": "self", "type": GEOJSON},
        {"href": f"{base}/collections/{cid}", "rel": "collection", "type": "application/json"},
    ]
    return JSONResponse(feature, media_type=GEOJSON)
