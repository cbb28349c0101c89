"""The validation report's map (校验问题地图): the problems as polygons (the overlap, spill-over
or gap piece, else the unit's own outline), a legend, popups in one language, each naming the
units it concerns with a link that shows the unit.

Two ways to open it, one script (``maps/static/app/problems.js``) and one data shape:

* ``grid load --map FILE``: :func:`problems_file` writes a page that works opened from disk
  (``file://``) with no server and no internet — Leaflet and the script are inlined as
  ``data:`` URLs (an absolute ``/static/…`` path resolves to the disk's root from a file);
* the GIS upload page draws the same data from the served assets (see ``grid.api.gisweb``).

Popups are built in the browser with ``textContent``, and the data reaches the page as JSON
inside ``<script type="application/json">`` written by Jinja2's ``tojson`` (which escapes
``<``, ``>``, ``&`` and ``'``): a unit name or message holding markup is shown, never run.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import shapely
import shapely.geometry
from jinja2 import Environment, FileSystemLoader, select_autoescape

from maps.assets import STATIC_DIR

TEMPLATES = Path(__file__).resolve().parent / "templates"
LEAFLET = STATIC_DIR / "vendor" / "leaflet-1.9.3"
#: Most problems drawn in one map (a broken city file can hold hundreds of thousands).
MAX_FEATURES = 5000

env = Environment(loader=FileSystemLoader(TEMPLATES),
                  autoescape=select_autoescape(default=True, default_for_string=True))

#: Kinds of problem, by the validator's ``kind``: (中文, English).
KINDS: dict[str, tuple[str, str]] = {
    "sibling_overlap": ("同级重叠", "Overlapping siblings"),
    "outside_parent": ("超出上级", "Outside its parent"),
    "coverage_gap": ("覆盖缺口", "Gap in coverage"),
    "invalid_geometry": ("几何无效", "Invalid geometry"),
    "empty_geometry": ("空几何", "Empty geometry"),
    "no_parent": ("找不到上级", "No parent"),
    "parent_mismatch": ("上级不符", "Parent mismatch"),
    "code_prefix": ("编码前缀不符", "Code prefix"),
    "code_scheme": ("编码不合规", "Code off the scheme"),
    "duplicate_code": ("重复编码", "Duplicate code"),
    "garbled_name": ("名称乱码", "Garbled name"),
    "name_too_long": ("名称过长", "Name too long"),
    "orphaned_child": ("下级失去上级", "Orphaned child"),
    "reparented": ("下级改换上级", "Child reparented"),
    "name_markup": ("名称含网页标记", "Name with markup"),
}

WORDS: dict[str, tuple[str, str]] = {
    "title": ("边界校验问题", "Boundary validation problems"),
    "legend": ("图例", "Legend"),
    "error": ("错误", "error"),
    "warning": ("警告", "warning"),
    "units": ("涉及单元", "Units concerned"),
    "area": ("面积", "Area"),
    "show_unit": ("查看单元", "Show unit"),
    "none": ("没有可在地图上显示的问题", "No problem with a place to show"),
    "shown": ("显示 {n} / {total} 个问题", "{n} of {total} problems shown"),
}


def _feature(geom, properties: dict[str, Any]) -> dict[str, Any]:
    geometry = None
    if geom is not None and not shapely.is_empty(geom):
        # pointwise: rounds the coordinates only, so an invalid polygon (the problem itself)
        # is drawn as it is rather than refused by GEOS
        geometry = shapely.geometry.mapping(
            shapely.set_precision(geom, 1e-7, mode="pointwise"))
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def problems_data(problems: Sequence[Any], unit_shapes: dict[str, Any] | None = None,
                  lang: str = "zh") -> dict[str, Any]:
    """The map's data: problems and the units they name as GeoJSON, and the words."""
    zh = lang != "en"
    placed = [p for p in problems if p.shape is not None or p.point is not None]
    shown = placed[:MAX_FEATURES]
    named = {c for p in shown for c in p.codes}
    units = [_feature(g, {"code": c}) for c, g in sorted((unit_shapes or {}).items())
             if c in named]
    features = []
    for p in shown:
        geom = p.shape if p.shape is not None else shapely.Point(p.point)
        features.append(_feature(geom, p.as_dict()))
    kinds = {k: v[0 if zh else 1] for k, v in KINDS.items()}
    words = {k: v[0 if zh else 1] for k, v in WORDS.items()}
    return {"problems": {"type": "FeatureCollection", "features": features},
            "units": {"type": "FeatureCollection", "features": units},
            "kinds": kinds, "words": words, "total": len(problems), "shown": len(shown)}


def _data_url(path: Path, media: str) -> str:
    return f"data:{media};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def problems_file(problems: Sequence[Any], unit_shapes: dict[str, Any] | None = None,
                  lang: str = "zh", title: str = "") -> str:
    """A self-contained HTML page of the problems that opens from disk."""
    data = problems_data(problems, unit_shapes, lang)
    return env.get_template("problems.html").render(
        lang=lang, title=title or data["words"]["title"], data=data,
        leaflet_css=_data_url(LEAFLET / "leaflet.css", "text/css"),
        leaflet_js=_data_url(LEAFLET / "leaflet.js", "text/javascript"),
        app_js=_data_url(STATIC_DIR / "app" / "problems.js", "text/javascript"))


def write_problems_file(path: Path, problems: Sequence[Any],
                        unit_shapes: dict[str, Any] | None = None, lang: str = "zh",
                        title: str = "") -> None:
    """Write :func:`problems_file` to ``path`` (UTF-8)."""
    Path(path).write_text(problems_file(problems, unit_shapes, lang, title), encoding="utf-8")
