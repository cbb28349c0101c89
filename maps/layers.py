"""Folium elements of our own whose assets are the vendored copies (STYLE 13).

:class:`IncidentLayer` carries every incident of a page as ONE compact JSON blob; the browser
builds the clustered markers, the heat layer, the popups and the filters from it
(``maps/static/app/maps.js``). A naive page makes one Python ``folium.Marker`` per incident and
one ``<script>`` block each, which is what made 10,000 incidents slow (benchmarks/map_bench.py).
"""

from __future__ import annotations

import json

import folium
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.plugins import HeatMap, MarkerCluster, Search
from jinja2 import Template


def _json(data) -> str:
    """JSON safe inside a ``<script>`` element: no ``<`` at all (so no ``</script>`` can close
    it early and no ``<script`` or ``<!--`` can open anything), no ``>`` or ``&`` either — as
    Jinja's ``tojson`` writes them."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _app_assets(static_url: str, name: str) -> tuple[list, list]:
    base = static_url.rstrip("/") + "/app/"
    return [(f"grid-{name}", base + f"{name}.js")], [(f"grid-{name}-css", base + "maps.css")]


class IncidentLayer(JSCSSMixin, MacroElement):
    """Clustered incident markers + heat layer + filter panel, driven by one JSON payload.

    ``cluster_group`` and ``heat_group`` are Folium FeatureGroups already on the map, so the
    layer control switches them like any other layer.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        GridMaps.incidents({{ this._parent.get_name() }}, {{ this.cluster_group.get_name() }},
            {{ this.heat_group.get_name() }}, {{ this.payload|safe }});
        {% endmacro %}
    """)

    def __init__(self, cluster_group: folium.FeatureGroup, heat_group: folium.FeatureGroup,
                 payload: dict, static_url: str = "/static") -> None:
        super().__init__()
        self._name = "IncidentLayer"
        self.cluster_group = cluster_group
        self.heat_group = heat_group
        self.payload = _json(payload)
        js, css = _app_assets(static_url, "maps")
        # Per instance: never mutate the class-level lists Folium shares between maps.
        self.default_js = [*MarkerCluster.default_js, *HeatMap.default_js, *js]
        self.default_css = [*MarkerCluster.default_css, *css]


class UnitSearch(JSCSSMixin, MacroElement):
    """Search box over several unit layers at once, by code or name (leaflet-search)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function () {
            var layers = L.layerGroup([{% for l in this.layers %}{{ l.get_name() }},{% endfor %}]);
            var control = new L.Control.Search({
                layer: layers, propertyName: 'label', marker: false, initial: false,
                collapsed: false, textPlaceholder: {{ this.placeholder|tojson }},
                position: 'topleft',
                // A tip shows the unit's label as text: names come from uploaded files.
                buildTip: function (text) {
                    var li = document.createElement('li');
                    li.textContent = text;
                    return li;
                },
                moveToLocation: function (latlng, title, map) {
                    map.fitBounds(latlng.layer.getBounds());
                }
            });
            // Folium binds GeoJSON popups to the whole layer, not to each polygon: a click
            // propagated from the polygon opens the found unit's popup.
            control.on('search:locationfound', function (e) {
                var at = e.layer.getBounds().getCenter();
                if (e.layer.getPopup()) { e.layer.openPopup(at); }
                else { e.layer.fire('click', {latlng: at}, true); }
            });
            {{ this._parent.get_name() }}.addControl(control);
        })();
        {% endmacro %}
    """)

    default_js = Search.default_js
    default_css = Search.default_css

    def __init__(self, layers: list, placeholder: str) -> None:
        super().__init__()
        self._name = "UnitSearch"
        self.layers = layers
        self.placeholder = placeholder


class Panel(MacroElement):
    """A fixed HTML panel (legend, audit trail) added to the page body."""

    _template = Template("""
        {% macro html(this, kwargs) %}{{ this.content|safe }}{% endmacro %}
    """)

    def __init__(self, content: str) -> None:
        super().__init__()
        self._name = "Panel"
        self.content = content


class LazyUnitLayer(MacroElement):
    """Polygons fetched by bounding box when their (hidden by default) layer is switched on.

    Buildings are most of a street's polygons and only readable at high zoom, so they stay out
    of the page: the browser asks ``url`` for the view's bounding box, from ``min_zoom`` on.
    Needs ``maps.js`` (added by :class:`IncidentLayer`).
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        GridMaps.lazyUnits({{ this._parent.get_name() }}, {{ this.group.get_name() }},
            {{ this.config|safe }});
        {% endmacro %}
    """)

    def __init__(self, group: folium.FeatureGroup, url: str, min_zoom: int, style: dict,
                 labels: dict[str, str]) -> None:
        super().__init__()
        self._name = "LazyUnitLayer"
        self.group = group
        self.config = _json({"url": url, "minZoom": min_zoom, "style": style,
                             "labels": labels})

