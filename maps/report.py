"""The grid worker's phone page (网格员上报): locate me or tap the map, category, note, photo.

A plain, mobile-first page (``grid/api/templates/report.html``) on the vendored Leaflet (no
Folium: it is a form with a map, not a map with layers). The browser does the work in
``maps/static/app/report.js``: it calls
``GET /api/v1/locate`` to show the owning grid and Party branch before sending, uploads the
photo to ``POST /api/v1/incidents/attachments``, posts ``POST /api/v1/incidents`` naming it,
and keeps a draft — photo included, in IndexedDB — when the network is down, sending it when
the connection returns.

Coordinates: browser geolocation gives WGS 84 (sent with ``crs="wgs84"``); a tap on a map gives
the map's own coordinates — CGCS2000 on our boundaries, GCJ-02 on an Amap basemap — and is sent
with that crs, so the server stores CGCS2000 either way.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.settings import Settings
from maps.assets import CDN_TO_LOCAL
from maps.basemap import MAX_ZOOM, display_shift, tile_layers
from maps.street import TOLERANCE, _geometry

#: A user scoped to more grids than this gets no outlines on the phone (a city would be MBs).
MAX_GRIDS = 500

TEXT = {
    "title": {"zh": "网格员上报", "en": "Report a problem"},
    "locate": {"zh": "定位我", "en": "Locate me"},
    "tap": {"zh": "或在地图上点选位置", "en": "or tap the map"},
    "category": {"zh": "事件类别", "en": "Category"},
    "note": {"zh": "情况说明", "en": "Note"},
    "photo": {"zh": "现场照片", "en": "Photo"},
    "send": {"zh": "上报", "en": "Send"},
    "owner": {"zh": "所属网格", "en": "Owning grid"},
    "branch": {"zh": "网格党支部", "en": "Grid Party branch"},
    "worker": {"zh": "网格员", "en": "Grid worker"},
    "no_place": {"zh": "请先定位或点选位置", "en": "Locate yourself or tap the map first"},
    "sent": {"zh": "已上报，事件编号", "en": "Sent, incident"},
    "draft": {"zh": "网络中断：已存为草稿，联网后自动发送",
              "en": "Offline: saved as a draft, sent when the network returns"},
    "drafts": {"zh": "待发送草稿", "en": "Drafts waiting"},
    "outside": {"zh": "位置不在任何网格内", "en": "Outside every grid"},
    "photo_draft": {"zh": "照片随草稿保存", "en": "the photo is kept with the draft"},
    "photo_sent": {"zh": "照片已上传", "en": "Photo uploaded"},
    "geo_error": {"zh": "无法定位，请在地图上点选", "en": "Cannot locate: tap the map instead"},
    "choose": {"zh": "请选择类别", "en": "Choose a category"},
    "no_category": {"zh": "请选择事件类别", "en": "Choose a category first"},
    "empty": {"zh": "请填写情况说明或附上照片", "en": "Write a note or attach a photo"},
    "mine": {"zh": "我的上报", "en": "My reports"},
    "none_yet": {"zh": "暂无上报", "en": "No reports yet"},
}

_LEAFLET = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet"


def _scope_grids(session: Session, settings: Settings, version_id: int, user) -> dict:
    grids = [g for g in store.units(session, version_id, Level.grid) if user.covers(g.code)]
    if len(grids) > MAX_GRIDS:
        grids = []
    shift = display_shift(settings)
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": g.code, "name": g.name},
         "geometry": _geometry(store.shape_of(g), shift, TOLERANCE[False])} for g in grids]}


def report_config(session: Session, settings: Settings, version_id: int, user, *,
                  lang: str = "zh") -> dict:
    """What the report page's script needs (``grid/api/templates/report.html`` hands it over
    as inert JSON): the user's grids, the streets whose buildings it may draw, tiles, words.
    No token: the page's calls carry the session cookie and its CSRF token."""
    grids = _scope_grids(session, settings, version_id, user)
    streets = sorted({s.code for s in store.units(session, version_id, Level.street)
                      if user.covers(s.code) or (user.scope_code or "").startswith(s.code)})
    return {
        "lang": lang, "api": "/api/v1",
        "gcj02": settings.basemap == "amap", "maxZoom": MAX_ZOOM,
        # The first base layer and any overlay (Tianditu's labels go over its vector map).
        "tiles": [{"url": t.url, "attribution": t.attribution, "subdomains": t.subdomains}
                  for i, t in enumerate(tile_layers(settings)) if i == 0 or t.overlay],
        "grids": grids,
        "buildings": [f"/maps/streets/{code}/buildings.geojson" for code in streets],
        "text": {k: v.get(lang, v["zh"]) for k, v in TEXT.items()},
    }


def leaflet_assets(static_url: str) -> dict[str, str]:
    """The vendored Leaflet script and stylesheet URLs."""
    static = static_url.rstrip("/")
    return {"js": f"{static}/{CDN_TO_LOCAL[_LEAFLET + '.js']}",
            "css": f"{static}/{CDN_TO_LOCAL[_LEAFLET + '.css']}"}
