"""Serve every script, stylesheet, font and image a Folium map needs from this package.

Folium writes ``<script src>`` / ``<link href>`` tags that point at public CDNs
(jsdelivr, cdnjs, code.jquery.com, netdna). The maps are viewed on an intranet
with no internet access, so a page that kept those URLs would render blank. The
files are vendored under ``maps/static/vendor/<package>-<version>/`` (licences
and sources in ``maps/static/vendor/LICENSES.md``) and :func:`localize` rewrites
a map's asset URLs to them before rendering.

Any asset URL this module does not know is an error (:class:`UnvendoredAssetError`),
never a silent fallback to the internet: adding a Folium plugin that needs new
files means vendoring them and adding a row to :data:`CDN_TO_LOCAL`.

Typical use::

    m = folium.Map(tiles=None)  # tiles=None: Folium adds no (internet) tile layer
    ...
    html = render_localized(m, static_url="/static")
"""

from __future__ import annotations

import re
from pathlib import Path

from branca.element import Element, Link

__all__ = [
    "CDN_TO_LOCAL",
    "STATIC_DIR",
    "UnvendoredAssetError",
    "localize",
    "remote_references",
    "render_localized",
]

#: Directory served at ``static_url`` (``maps/static``).
STATIC_DIR: Path = Path(__file__).resolve().parent / "static"

#: Exact CDN URL as written in Folium 0.20.0's ``default_js`` / ``default_css``
#: -> path of the vendored copy, relative to :data:`STATIC_DIR`.
# One URL / local-path pair per two lines: the formatter would join them into 150+ columns.
# fmt: off
CDN_TO_LOCAL: dict[str, str] = {
    # folium.Map
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js":
        "vendor/leaflet-1.9.3/leaflet.js",
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css":
        "vendor/leaflet-1.9.3/leaflet.css",
    "https://code.jquery.com/jquery-3.7.1.min.js":
        "vendor/jquery-3.7.1/jquery-3.7.1.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js":
        "vendor/bootstrap-5.2.2/js/bootstrap.bundle.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css":
        "vendor/bootstrap-5.2.2/css/bootstrap.min.css",
    # No npm package ships the 3.0.0 file; this is the glyphicons subset of
    # bootstrap 3.4.1 (a superset of 3.0.0's icon names). See LICENSES.md.
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css":
        "vendor/bootstrap-3.4.1/css/bootstrap-glyphicons.css",
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css":
        "vendor/fontawesome-free-6.2.0/css/all.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js":
        "vendor/leaflet.awesome-markers-2.0.2/leaflet.awesome-markers.js",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css":
        "vendor/leaflet.awesome-markers-2.0.2/leaflet.awesome-markers.css",
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css":
        "vendor/folium-0.20.0/leaflet.awesome.rotate.css",
    # folium.plugins.MarkerCluster / FastMarkerCluster
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/leaflet.markercluster.js":
        "vendor/leaflet.markercluster-1.1.0/leaflet.markercluster.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.css":
        "vendor/leaflet.markercluster-1.1.0/MarkerCluster.css",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.Default.css":
        "vendor/leaflet.markercluster-1.1.0/MarkerCluster.Default.css",
    # folium.plugins.HeatMap
    "https://cdn.jsdelivr.net/gh/python-visualization/folium@main/folium/templates/leaflet_heat.min.js":
        "vendor/folium-0.20.0/leaflet_heat.min.js",
    # folium.plugins.Search
    "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.js":
        "vendor/leaflet-search-2.9.7/dist/leaflet-search.min.js",
    "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.css":
        "vendor/leaflet-search-2.9.7/dist/leaflet-search.min.css",
    # folium.plugins.Fullscreen (the npm package has no .min.js; jsdelivr
    # minifies on the fly, so the unminified source is the same code)
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js":
        "vendor/leaflet.fullscreen-3.0.0/Control.FullScreen.js",
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css":
        "vendor/leaflet.fullscreen-3.0.0/Control.FullScreen.css",
    # folium.plugins.GroupedLayerControl
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet-groupedlayercontrol/0.6.1/leaflet.groupedlayercontrol.min.js":
        "vendor/leaflet-groupedlayercontrol-0.6.1/leaflet.groupedlayercontrol.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet-groupedlayercontrol/0.6.1/leaflet.groupedlayercontrol.min.css":
        "vendor/leaflet-groupedlayercontrol-0.6.1/leaflet.groupedlayercontrol.min.css",
    # folium.plugins.MiniMap (the npm package ships only the minified build)
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet-minimap/3.6.1/Control.MiniMap.js":
        "vendor/leaflet-minimap-3.6.1/Control.MiniMap.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet-minimap/3.6.1/Control.MiniMap.css":
        "vendor/leaflet-minimap-3.6.1/Control.MiniMap.min.css",
}
# fmt: on


class UnvendoredAssetError(RuntimeError):
    """A map needs an asset URL that has no vendored copy.

    Raised instead of letting the page load it from the internet, which the
    intranet cannot reach. Fix: vendor the file under ``maps/static/vendor/`` and
    add the URL to :data:`CDN_TO_LOCAL` (or drop the plugin that needs it).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"asset {url!r} is not vendored: add it under maps/static/vendor/ and to "
            "maps.assets.CDN_TO_LOCAL, or the page would try to load it from the internet"
        )


def _is_local(url: str, static_url: str) -> bool:
    # "//host/path" is protocol-relative, i.e. remote, although it starts with "/".
    if static_url and url.startswith(static_url + "/"):
        return True
    return url.startswith("/") and not url.startswith("//")


def _local_url(url: str, static_url: str) -> str:
    local = CDN_TO_LOCAL.get(url)
    if local is not None:
        return f"{static_url}/{local}"
    if _is_local(url, static_url):
        return url
    raise UnvendoredAssetError(url)


# Figure and Popup keep these sub-trees as attributes, outside ``_children``.
_SECTIONS = ("header", "html", "script")


def _walk(*roots: Element):
    """Yield each element under ``roots`` (them included) once, depth first."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(getattr(node, "_children", {}).values())
        stack.extend(
            sub
            for sub in (getattr(node, name, None) for name in _SECTIONS)
            if isinstance(sub, Element)
        )


def localize(element: Element, static_url: str = "/static") -> None:
    """Point every asset URL of ``element``'s page at the vendored copies.

    Why: Folium's default ``default_js`` / ``default_css`` are CDN URLs, and the
    intranet has no internet, so they must become ``{static_url}/vendor/...``.

    Walks ``element`` and its descendants (``_children``, and the ``header`` /
    ``html`` / ``script`` sections of Figures and Popups), plus the whole tree
    under ``element.get_root()`` (the Figure whose header holds the
    ``<script>`` / ``<link>`` tags), and for each element:

    * replaces its ``default_js`` / ``default_css`` with a *new list on the
      instance* (these are often class attributes shared by every map, which
      must not be mutated);
    * rewrites the ``url`` of ``JavascriptLink`` / ``CssLink`` elements already
      in the tree (e.g. from an earlier render or added by hand).

    URLs already local (starting with ``static_url`` or a single ``/``) are left
    as they are, so calling it twice is harmless. Any other URL not in
    :data:`CDN_TO_LOCAL` raises :class:`UnvendoredAssetError`, before anything is
    changed on the element carrying it.

    Call it after the last element is added and right before rendering: elements
    added later keep their CDN URLs. :func:`render_localized` does both and checks
    the result. (Also do not call folium's ``add_js_link`` / ``add_css_link`` on a
    map before localizing it: folium appends to the class-level list shared by
    every map in the process. After :func:`localize` the lists are per instance.)
    """
    static_url = static_url.rstrip("/")
    for node in _walk(element, element.get_root()):
        for attr in ("default_js", "default_css"):
            entries = getattr(node, attr, None)
            if entries:
                setattr(node, attr, [(name, _local_url(url, static_url)) for name, url in entries])
        if isinstance(node, Link) and isinstance(getattr(node, "url", None), str):
            node.url = _local_url(node.url, static_url)


# A resource the browser would fetch by itself: src=..., <link href=...>, CSS url(...)
# or @import, whose target is absolute (http:, https:) or protocol-relative (//host).
_REMOTE_REF = re.compile(
    r"""(?:\bsrc\s*=\s*|<link\b[^>]*?\bhref\s*=\s*|\burl\(\s*|@import\s+)"""
    r"""["']?\s*((?:https?:)?//[^"'\s)>]+)""",
    re.IGNORECASE,
)


def remote_references(html: str) -> list[str]:
    """Return the remote URLs ``html`` would make a browser load (empty if none).

    Why: a last check on the rendered page catches assets that bypass
    ``default_js`` / ``default_css`` (e.g. ``folium.VegaLite`` adds CDN
    ``<script>`` tags while rendering). Plain ``<a href>`` links are not counted:
    they load nothing unless clicked.
    """
    return _REMOTE_REF.findall(html)


def render_localized(element: Element, static_url: str = "/static") -> str:
    """Localize ``element``, render its whole page and return the HTML.

    Why: one call that both rewrites the asset URLs (:func:`localize`) and proves
    the rendered page loads nothing from the internet, raising
    :class:`UnvendoredAssetError` for the first remote reference left.
    """
    localize(element, static_url)
    html = element.get_root().render()
    remote = remote_references(html)
    if remote:
        raise UnvendoredAssetError(remote[0])
    return html


_SCRIPT_TAG = re.compile(r"<script(?=[\s>])", re.IGNORECASE)


def with_nonce(html: str, nonce: str) -> str:
    """``html`` with ``nonce`` on every ``<script>`` tag, for a Content-Security-Policy that
    runs only scripts carrying the response's nonce.

    Why this is safe for a Folium page: every value from the database reaches the page escaped
    (``maps.safe``), so the only ``<script`` tags in it are Folium's own; a name that tried
    to open one arrives as ``&lt;script``, which this does not touch."""
    return _SCRIPT_TAG.sub(f'<script nonce="{nonce}"', html)
