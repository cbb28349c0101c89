"""The maps must load nothing from the internet: every asset is vendored and used."""

from __future__ import annotations

import re
from pathlib import Path

import folium
import folium.plugins as plugins
import pytest
from branca.element import JavascriptLink

from maps.assets import (
    CDN_TO_LOCAL,
    STATIC_DIR,
    UnvendoredAssetError,
    localize,
    remote_references,
    render_localized,
)

VENDOR_DIR = STATIC_DIR / "vendor"

# Every Folium class whose assets the service may load.
ASSET_CLASSES = [
    folium.Map,
    plugins.MarkerCluster,
    plugins.FastMarkerCluster,
    plugins.HeatMap,
    plugins.Search,
    plugins.Fullscreen,
    plugins.GroupedLayerControl,
    plugins.MiniMap,
]

CDN_URLS = sorted({url for cls in ASSET_CLASSES for _, url in [*cls.default_js, *cls.default_css]})

# src="..." / href='...' / src=bare, anywhere in the page.
SRC_HREF = re.compile(r"""\b(?:src|href)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
CSS_URL = re.compile(r"""url\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^)]*?))\s*\)""")


def _geojson() -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "网格 A"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[120.0, 30.0], [120.01, 30.0], [120.01, 30.01], [120.0, 30.0]]
                    ],
                },
            }
        ],
    }


def _full_map() -> folium.Map:
    # tiles=None: no tile layer, so no tile server on the internet. Without a tile layer
    # nothing sets the map's maxZoom, which MarkerCluster requires ("Map has no maxZoom
    # specified"); folium's max_zoom= only goes to the tile layer, so pass maxZoom directly.
    m = folium.Map(location=[30.0, 120.0], zoom_start=14, tiles=None, maxZoom=19)
    folium.GeoJson(
        _geojson(),
        name="grids",
        tooltip=folium.GeoJsonTooltip(fields=["name"]),
        popup=folium.GeoJsonPopup(fields=["name"]),
    ).add_to(m)
    cluster = plugins.MarkerCluster(name="buildings").add_to(m)
    for i in range(5):
        folium.Marker(
            [30.0 + i / 1000, 120.0],
            popup=f"building {i}",
            icon=folium.Icon(icon="home", prefix="fa", angle=15 * i),
        ).add_to(cluster)
    folium.Marker([30.0, 120.005], icon=folium.Icon(icon="info-sign")).add_to(m)
    plugins.HeatMap([[30.0, 120.0, 1.0], [30.001, 120.001, 0.5]]).add_to(m)
    plugins.Fullscreen().add_to(m)
    folium.LayerControl().add_to(m)
    return m


@pytest.mark.parametrize("url", CDN_URLS)
def test_every_folium_cdn_url_is_vendored(url: str) -> None:
    assert url in CDN_TO_LOCAL, f"{url} has no vendored copy"
    assert (STATIC_DIR / CDN_TO_LOCAL[url]).is_file()


def test_table_points_only_at_existing_vendored_files() -> None:
    for url, local in CDN_TO_LOCAL.items():
        path = (STATIC_DIR / local).resolve()
        assert path.is_file(), (url, local)
        assert path.is_relative_to(VENDOR_DIR.resolve()), local


def test_every_vendored_package_has_licence_and_is_listed() -> None:
    listing = (VENDOR_DIR / "LICENSES.md").read_text(encoding="utf-8")
    packages = [p for p in VENDOR_DIR.iterdir() if p.is_dir()]
    assert packages
    for pkg in packages:
        names = [f.name.upper() for f in pkg.iterdir()]
        assert any(n.startswith(("LICENSE", "MIT-LICENCE")) for n in names), pkg
        assert f"`{pkg.name}/`" in listing, pkg.name


def _page_urls(html: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None) for m in SRC_HREF.finditer(html)]


def test_localized_map_references_only_local_files() -> None:
    m = _full_map()
    localize(m, static_url="/static")
    html = m.get_root().render()

    urls = _page_urls(html)
    assert any(u.endswith("/leaflet.js") for u in urls)
    assert any(u.endswith("/leaflet.markercluster.js") for u in urls)
    assert any(u.endswith("/leaflet_heat.min.js") for u in urls)
    for url in urls:
        assert url.startswith("/static/vendor/"), url
        assert (STATIC_DIR / url.removeprefix("/static/")).is_file(), url
    assert remote_references(html) == []
    # No http(s) URL anywhere but the SVG namespace (an identifier, never fetched).
    leftovers = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'<>)]*", html))
    assert leftovers <= {"http://www.w3.org/2000/svg"}, leftovers


def test_localize_keeps_class_defaults_and_is_idempotent() -> None:
    before = list(folium.Map.default_js)
    m = folium.Map(tiles=None)
    localize(m, static_url="/assets/")
    localize(m, static_url="/assets")
    assert folium.Map.default_js == before
    assert all(url.startswith("/assets/vendor/") for _, url in m.default_js + m.default_css)
    # A fresh map is untouched by the first map's localization.
    assert folium.Map(tiles=None).default_js == before


def test_localize_rewrites_links_already_in_the_page() -> None:
    m = folium.Map(tiles=None)
    m.get_root().render()  # header now holds CDN <script>/<link> elements
    localize(m)
    header_urls = [getattr(c, "url", None) for c in m.get_root().header._children.values()]
    assert all(u.startswith("/static/vendor/") for u in header_urls if u)


def test_unknown_cdn_url_raises() -> None:
    m = folium.Map(tiles=None)
    unknown = "https://cdn.example.org/lib/1.0/lib.min.js"
    # Not m.add_js_link(): on a map not yet localized, folium appends to the class-level
    # list shared by every Map in the process.
    m.default_js = [*m.default_js, ("mystery", unknown)]
    with pytest.raises(UnvendoredAssetError, match=re.escape(unknown)) as info:
        localize(m)
    assert info.value.url == unknown
    assert isinstance(info.value, RuntimeError)


@pytest.mark.parametrize("url", ["//cdn.example.org/x.js", "http://intranet/x.js", "x.js"])
def test_non_local_urls_raise(url: str) -> None:
    m = folium.Map(tiles=None)
    m.get_root().header.add_child(JavascriptLink(url), name="extra")
    with pytest.raises(UnvendoredAssetError):
        localize(m)


def test_render_localized_catches_assets_added_while_rendering() -> None:
    m = folium.Map(tiles=None)
    # VegaLite adds CDN <script> tags in render(), after localize() has run.
    folium.VegaLite({"mark": "point"}).add_to(m.get_root())
    with pytest.raises(UnvendoredAssetError):
        render_localized(m)


def test_render_localized_returns_offline_html() -> None:
    html = render_localized(_full_map())
    assert "/static/vendor/leaflet-1.9.3/leaflet.js" in html
    assert remote_references(html) == []


def _vendored_css() -> list[Path]:
    return sorted(VENDOR_DIR.rglob("*.css"))


def test_vendored_css_found() -> None:
    assert len(_vendored_css()) >= 10


@pytest.mark.parametrize("css", _vendored_css(), ids=lambda p: str(p.relative_to(VENDOR_DIR)))
def test_css_urls_resolve_inside_vendor_tree(css: Path) -> None:
    text = css.read_text(encoding="utf-8")
    for match in CSS_URL.finditer(text):
        ref = next(g for g in match.groups() if g is not None).strip()
        if ref.startswith(("data:", "#")):  # inline data / IE behaviour hooks
            continue
        assert not re.match(r"^(?:[a-z]+:)?//", ref, re.I), f"{css}: remote {ref}"
        target = (css.parent / re.split(r"[?#]", ref)[0]).resolve()
        assert target.is_file(), f"{css}: url({ref}) -> missing {target}"
        package_dir = VENDOR_DIR / css.relative_to(VENDOR_DIR).parts[0]
        assert target.is_relative_to(package_dir.resolve()), f"{css}: url({ref}) leaves its package"
