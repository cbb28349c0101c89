"""Values from the database made safe for the places Folium puts them.

Folium's ``Tooltip`` writes its text into a JavaScript template literal that becomes HTML, and
``GeoJsonTooltip`` / ``GeoJsonPopup`` insert feature properties with ``innerHTML``: a unit name
such as ``<img src=x onerror=…>`` or ``${…}`` ran as script on every map. So every name,
Party organisation, grid worker and label passes through :func:`html_text` before it reaches
Folium: HTML-escaped, and the three characters that mean something inside a template literal
(`` ` ``, ``$``, ``\\``) written as character references, which HTML shows as themselves.

Values that only ever reach the page as JSON read by our own script (``maps.js`` escapes what
it shows) stay raw; values that Folium shows go through here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape

_TEMPLATE_LITERAL = str.maketrans({"`": "&#96;", "$": "&#36;", "\\": "&#92;"})


def html_text(value: object) -> str:
    """``value`` as text that is inert in HTML and inside a JavaScript template literal."""
    if value is None:
        return ""
    return escape(str(value), quote=True).translate(_TEMPLATE_LITERAL)


def html_props(props: Mapping[str, object], keys: Iterable[str]) -> dict:
    """``props`` with the string values of ``keys`` passed through :func:`html_text`."""
    wanted = set(keys)
    return {k: html_text(v) if k in wanted and isinstance(v, str) else v
            for k, v in props.items()}


_ENV = None


def render_template(name: str, **values) -> str:
    """``maps/templates/{name}`` rendered with autoescape (panels beside the Folium maps)."""
    global _ENV
    if _ENV is None:
        from pathlib import Path

        from jinja2 import Environment, FileSystemLoader, select_autoescape

        _ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                           autoescape=select_autoescape(default=True, default_for_string=True))
    return _ENV.get_template(name).render(**values)
