"""Overlay layers of the street map (issue 13) and the incident page's overlay panel.

* 临时党支部 temporary branches valid today: polygons *hatched* with an SVG pattern
  (``fill="url(#grid-hatch)"``, defined once in the page), so they read as an overlay across
  the communities and grids under them;
* 街巷长 street/lane segments of the active version: lines coloured by their chief's open
  cases (cases filed near the segment — ``Incident.overlays`` — still open or whistled);
* 驻区单位 stationed units valid today: a marker at the gate or the campus outline.

Every popup names the people responsible and is rendered by a Jinja2 template with
autoescape (values also have ``$`` and backticks escaped, in case a popup ever lands in a
JavaScript template literal), then bound to its layer as a JSON string (:class:`BoundPopup`;
Folium's own ``Popup`` needs jQuery, which these pages do not load).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import date

import folium
from branca.element import MacroElement
from jinja2 import Environment, Template
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from grid.hierarchy import store as hierarchy
from grid.incidents.models import Incident
from grid.overlays import store
from maps.basemap import shift_geometry

#: Open-case classes of a segment's chief (upper bound inclusive) and their line colours.
SEGMENT_CLASSES = [(0, "#1a9641"), (2, "#fdae61"), (float("inf"), "#d7191c")]
OPEN_STATES = ("open", "whistled")
HATCH_ID = "grid-hatch"

TEXT = {
    "branches": {"zh": "临时党支部", "en": "Temporary Party branches"},
    "segments": {"zh": "街巷长", "en": "Street and lane chiefs"},
    "units": {"zh": "驻区单位", "en": "Stationed units"},
    "secretary": {"zh": "书记", "en": "Secretary"},
    "contact": {"zh": "联系方式", "en": "Contact"},
    "parent": {"zh": "上级党组织", "en": "Reports to"},
    "period": {"zh": "有效期", "en": "Valid"},
    "chiefs": {"zh": "街巷长", "en": "Chiefs"},
    "tier": {"zh": "{n}级", "en": "tier {n}"},
    "open_cases": {"zh": "在办事件", "en": "Open cases"},
    "communities": {"zh": "途经社区", "en": "Communities"},
    "party_org": {"zh": "党组织", "en": "Party organisation"},
    "resources": {"zh": "资源清单", "en": "Resources offered"},
    "overlays": {"zh": "叠加责任（立案时）", "en": "Overlays when filed"},
    "told": {"zh": "已通知", "en": "told"},
    "not_told": {"zh": "未通知", "en": "not told"},
    "branch": {"zh": "临时党支部", "en": "Temporary branch"},
    "segment": {"zh": "街巷", "en": "Street/lane"},
    "heads": {"zh": "楼栋长", "en": "Building heads"},
    "none": {"zh": "无", "en": "none"},
    "metres": {"zh": "{d} 米", "en": "{d} m"},
}


def tr(key: str, lang: str, **values) -> str:
    """One phrase in ``lang`` (Chinese when there is no translation)."""
    text = TEXT[key].get(lang, TEXT[key]["zh"])
    return text.format(**values) if values else text


def _js_safe(value):
    """Escaped for HTML, then ``$`` and backticks too (Folium's template literals)."""
    if isinstance(value, Markup):
        return value
    return Markup(str(escape("" if value is None else value))
                  .replace("$", "&#36;").replace("`", "&#96;"))


ENV = Environment(autoescape=True, finalize=_js_safe)
ENV.globals["tr"] = tr

BRANCH_POPUP = ENV.from_string("""
<div class="overlay-popup branch-popup"><b>{{ b.name }}</b> <small>{{ b.code }}</small>
<div>{{ tr('secretary', lang) }}: {{ b.secretary }} {{ b.contact }}</div>
<div>{{ tr('parent', lang) }}: {{ parent }}</div>
<div>{{ tr('period', lang) }}: {{ b.valid_from }} – {{ b.valid_to or '…' }}</div></div>""")

SEGMENT_POPUP = ENV.from_string("""
<div class="overlay-popup segment-popup"><b>{{ s.name }}</b> <small>{{ s.code }}</small>
<div>{{ tr('chiefs', lang) }}:</div><ul style="margin:0;padding-left:16px">
{% for c in chiefs %}<li class="segment-chief">{{ tr('tier', lang, n=c.tier) }} {{ c.name }}
 {{ c.title }} {{ c.phone }}</li>{% else %}<li>{{ tr('none', lang) }}</li>{% endfor %}</ul>
<div>{{ tr('open_cases', lang) }}: <b class="segment-open">{{ open_cases }}</b></div>
{% if communities %}<div>{{ tr('communities', lang) }}: {{ communities|join(', ') }}</div>
{% endif %}</div>""")

UNIT_POPUP = ENV.from_string("""
<div class="overlay-popup unit-popup"><b>{{ u.name }}</b> <small>{{ u.code }} {{ u.kind }}</small>
<div>{{ tr('party_org', lang) }}: {{ u.party_org }}</div>
<div>{{ tr('contact', lang) }}: {{ u.contact }} {{ u.phone }}</div>
<div>{{ tr('resources', lang) }}: {{ (u.resources or [])|join('、') }}</div></div>""")

HATCH = ENV.from_string("""
<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>
<pattern id="{{ id }}" patternUnits="userSpaceOnUse" width="8" height="8"
 patternTransform="rotate(45)"><rect width="8" height="8" fill="{{ colour }}"
 fill-opacity="0.08"/><line x1="0" y1="0" x2="0" y2="8" stroke="{{ colour }}"
 stroke-width="2.5"/></pattern></defs></svg>""")

OVERLAY_SECTION = ENV.from_string("""
<div id="overlays"><h4>{{ tr('overlays', lang) }}</h4>
{% if not record %}<div>{{ tr('none', lang) }}</div>{% else %}
{% for b in record.temporary_branches %}
<div class="overlay-told overlay-branch">{{ tr('branch', lang) }}: {{ b.name }}
 ({{ b.secretary }}) — {{ tr('told', lang) if b.told else tr('not_told', lang) }}</div>
{% endfor %}
{% if record.street_chief %}{% set s = record.street_chief %}
<div class="overlay-segment">{{ tr('segment', lang) }}: {{ s.segment_name }} {{ s.segment_code }}
 · {{ tr('metres', lang, d='%.0f' % s.distance_m) }}</div>
{% for c in s.chiefs %}<div class="overlay-told overlay-chief">{{ tr('tier', lang, n=c.tier) }}
 {{ c.name }} {{ c.phone }} — {{ tr('told', lang) if c.told else tr('not_told', lang) }}</div>
{% endfor %}{% endif %}
{% for h in record.building_heads %}
<div class="overlay-told overlay-head">{{ h.role }} {{ h.part }} {{ h.name }} — {{
 tr('told', lang) if h.told else tr('not_told', lang) }}</div>{% endfor %}
{% endif %}</div>""")


class BoundPopup(MacroElement):
    """A popup bound to its parent layer: ``layer.bindPopup(html)``, the (already escaped)
    HTML passed as a JSON string literal."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.bindPopup({{ this.html|safe }}, {maxWidth: 340});
        {% endmacro %}
    """)

    def __init__(self, html: str) -> None:
        super().__init__()
        self._name = "BoundPopup"
        # "</" cannot end the script element early once written as "<\/"
        self.html = json.dumps(str(html), ensure_ascii=False).replace("</", "<\\/")


def _segment_colour(count: int) -> str:
    return next(colour for bound, colour in SEGMENT_CLASSES if count <= bound)


def chief_open_cases(incidents: Sequence[Incident]) -> Counter[str]:
    """Open cases per segment code: cases filed near the segment (its chief concerned)."""
    counts: Counter[str] = Counter()
    for incident in incidents:
        hit = (incident.overlays or {}).get("street_chief") if incident.state in \
            OPEN_STATES else None
        if hit:
            counts[hit["segment_code"]] += 1
    return counts


def add_overlay_layers(fmap: folium.Map, session: Session, street_code: str,
                       incidents: Sequence[Incident], lang: str, shift, day: date) -> None:
    """The three overlay layers (see the module doc) on the street map."""
    fmap.get_root().html.add_child(folium.Element(HATCH.render(id=HATCH_ID,
                                                               colour="#7b3294")))
    branches = folium.FeatureGroup(name=tr("branches", lang)).add_to(fmap)
    rows = store.branches(session, day)
    parents = {c: o.name for c, o in hierarchy.party_orgs(
        session, {b.parent_org_code for b in rows}).items()}
    for b in rows:
        style = {"color": "#7b3294", "weight": 2, "fillColor": f"url(#{HATCH_ID})",
                 "fillOpacity": 1, "className": "overlay-branch"}
        layer = folium.GeoJson(shift_geometry(store.shape(b), shift).__geo_interface__,
                               style_function=lambda _f, s=style: s, tooltip=b.name)
        layer.add_child(BoundPopup(BRANCH_POPUP.render(
            b=b, parent=parents.get(b.parent_org_code, b.parent_org_code), lang=lang)))
        layer.add_to(branches)
    open_cases = chief_open_cases(incidents)
    lanes = folium.FeatureGroup(name=tr("segments", lang)).add_to(fmap)
    rows = store.segments(session)
    chiefs: dict[str, list] = {}
    for c in store.chiefs(session, [s.code for s in rows]):
        if store.is_valid(c, day):
            chiefs.setdefault(c.segment_code, []).append(c)
    for s in rows:
        count = open_cases[s.code]
        style = {"color": _segment_colour(count), "weight": 5, "opacity": 0.9,
                 "className": f"overlay-segment segment-open-{min(count, 3)}"}
        layer = folium.GeoJson(shift_geometry(store.shape(s), shift).__geo_interface__,
                               style_function=lambda _f, st=style: st, tooltip=s.name)
        layer.add_child(BoundPopup(SEGMENT_POPUP.render(
            s=s, chiefs=chiefs.get(s.code, []), open_cases=count,
            communities=(s.attrs or {}).get("communities", []), lang=lang)))
        layer.add_to(lanes)
    units = folium.FeatureGroup(name=tr("units", lang)).add_to(fmap)
    for u in store.stationed_units(session, street_code, day):
        geom = shift_geometry(store.shape(u), shift)
        if geom.geom_type == "Point":
            layer = folium.CircleMarker([geom.y, geom.x], radius=7, color="#08519c",
                                        fill=True, fill_color="#6baed6", fill_opacity=0.9,
                                        tooltip=u.name, className="overlay-unit")
        else:
            style = {"color": "#08519c", "weight": 2, "fillOpacity": 0.15,
                     "className": "overlay-unit"}
            layer = folium.GeoJson(geom.__geo_interface__,
                                   style_function=lambda _f, st=style: st, tooltip=u.name)
        layer.add_child(BoundPopup(UNIT_POPUP.render(u=u, lang=lang)))
        layer.add_to(units)


def overlay_section(incident: Incident, lang: str) -> Markup:
    """The incident page's section (in the audit panel, so it never covers the map on a
    phone): the overlays recorded when the case was filed, and which of them were told."""
    return Markup(OVERLAY_SECTION.render(record=incident.overlays, lang=lang))
