"""Basemaps by configuration, and the display shift they need.

``none`` (the default) adds no tile layer at all, so a page requests no tile and works on an
intranet. ``osm`` and ``tianditu`` (天地图, the official map; its key comes from settings, never
from code) draw in WGS 84 / CGCS2000 like our data. ``amap`` (高德) tiles are drawn in GCJ-02, so
every overlay is shifted with :func:`grid.spatial.chinacrs.wgs84_to_gcj02` *for display only*: the
stored data is never touched, and coordinates read off such a map are GCJ-02 (the report page
sends them with ``crs="gcj02"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import folium
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from grid.settings import Settings
from grid.spatial.chinacrs import wgs84_to_gcj02

#: The highest zoom of every map: MarkerCluster needs one even without a tile layer.
MAX_ZOOM = 20

_TIANDITU = ("https://t{s}.tianditu.gov.cn/%s_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
             "&LAYER=%s&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
             "&TILECOL={x}&tk=%s")
_AMAP = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
_OSM = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


@dataclass(frozen=True)
class Tiles:
    """One tile layer: URL template, attribution, subdomains, base layer or overlay."""

    name: str
    url: str
    attribution: str
    subdomains: str = "abc"
    overlay: bool = False


def tile_layers(settings: Settings) -> list[Tiles]:
    """The tile layers the settings ask for (none for ``basemap="none"``)."""
    kind, url = settings.basemap, settings.basemap_url
    if kind == "osm":
        return [Tiles("OpenStreetMap", url or _OSM, "© OpenStreetMap contributors")]
    if kind == "amap":
        return [Tiles("高德地图 Amap", url or _AMAP, "© 高德地图 AutoNavi", "1234")]
    if kind == "tianditu":
        attribution = "© 天地图 Tianditu"
        if url:
            return [Tiles("天地图 Tianditu", url, attribution, "01234567")]
        key = settings.tianditu_key or ""
        return [
            Tiles("天地图矢量 vector", _TIANDITU % ("vec", "vec", key), attribution, "01234567"),
            Tiles("天地图影像 imagery", _TIANDITU % ("img", "img", key), attribution,
                  "01234567"),
            Tiles("天地图注记 labels", _TIANDITU % ("cva", "cva", key), attribution,
                  "01234567", overlay=True),
        ]
    return []


def new_map(settings: Settings, **options) -> folium.Map:
    """A Folium map with the configured basemap and a max zoom (no tiles for ``none``)."""
    fmap = folium.Map(tiles=None, control_scale=True, **options)
    # Leaflet only: Folium's defaults add jQuery, Bootstrap 3 + 5, Font Awesome and awesome
    # markers (~1 MB the browser parses on every load), none of which these maps use.
    fmap.default_js = [(n, u) for n, u in fmap.default_js if n == "leaflet"]
    fmap.default_css = [(n, u) for n, u in fmap.default_css if n == "leaflet_css"]
    # folium.Map(max_zoom=...) only reaches its tile layer; the clusterer reads the map's own.
    fmap.options["maxZoom"] = MAX_ZOOM
    for i, tiles in enumerate(tile_layers(settings)):
        folium.TileLayer(
            tiles.url, name=tiles.name, attr=tiles.attribution, subdomains=tiles.subdomains,
            overlay=tiles.overlay, control=True, max_zoom=MAX_ZOOM, max_native_zoom=18,
            show=tiles.overlay or i == 0,
        ).add_to(fmap)
    return fmap


def display_shift(settings: Settings) -> Callable[[np.ndarray, np.ndarray], tuple]:
    """``(lon, lat) -> (lon, lat)`` for drawing on the configured basemap.

    Identity except for Amap, whose tiles are GCJ-02: there every overlay moves by the GCJ-02
    offset (300–700 m in Beijing) so it sits on the right street of the tile.
    """
    if settings.basemap == "amap":
        return wgs84_to_gcj02
    return lambda lon, lat: (lon, lat)


def shift_geometry(geom: BaseGeometry, shift) -> BaseGeometry:
    """``geom`` with every vertex moved by ``shift`` (one vectorised call per geometry)."""

    def move(coords: np.ndarray) -> np.ndarray:
        lon, lat = shift(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geom, move)
