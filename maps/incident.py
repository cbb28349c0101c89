"""The incident page's map: the owning grid highlighted, the building if any, the path up the
ladder grid → community → street → each summoned department, and the audit trail beside it."""

from __future__ import annotations

import math
from zoneinfo import ZoneInfo

import folium
import shapely
from geoalchemy2.shape import to_shape
from markupsafe import Markup
from shapely.geometry import Point
from sqlalchemy.orm import Session

from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.incidents.categories import CategoryBook
from grid.incidents.models import Incident
from grid.settings import Settings
from maps.basemap import display_shift, new_map, shift_geometry
from maps.layers import Panel
from maps.overlays import overlay_section
from maps.safe import html_text, render_template
from maps.text import (
    ACTIONS,
    LADDER,
    ROLES,
    STATES,
    UNIT_STYLES,
    aside,
    marker_colour,
    t,
    word,
)

HIGHLIGHT = {"color": "#d7301f", "weight": 4, "fillColor": "#fc8d59", "fillOpacity": 0.25}


def _outline(geom, style: dict, name: str, class_name: str) -> folium.GeoJson:
    """A polygon outline with a CSS class the browser tests (and stylesheets) can find; its
    tooltip shows the unit's name as text (``maps.safe``: Folium inserts it as HTML)."""
    return folium.GeoJson(
        {"type": "Feature", "geometry": geom.__geo_interface__,
         "properties": {"name": html_text(name)}},
        style_function=lambda _f, s={**style, "className": class_name}: s,
        tooltip=html_text(name),
    )


def audit_panel(incident: Incident, category: str, lang: str, tz: ZoneInfo,
                extra: Markup | str = "") -> Panel:
    """The audit trail as a panel beside the map: who, when, from which level to which, why
    (``maps/templates/audit.html``, autoescaped); ``extra`` (Markup rendered from a template,
    e.g. the overlays told) goes above the trail."""
    rows = [{
        "at": f"{s.at.astimezone(tz):%Y-%m-%d %H:%M}",
        "action": word(ACTIONS, s.action, lang),
        "actor": s.actor + aside(word(ROLES, s.actor_role, lang), lang),
        "levels": f"{word(LADDER, s.from_level, lang)} → {word(LADDER, s.to_level, lang)}",
        "department": s.department or "", "reason": s.reason,
    } for s in incident.steps]
    return Panel(render_template(
        "audit.html", incident=incident, category=category, rows=rows, extra=extra,
        state=word(STATES, incident.state, lang), level=word(LADDER, incident.level, lang),
        words={k: t(k, lang) for k in ("state", "level", "audit")},
        head=[t(k, lang) for k in ("time", "action", "actor", "from_to", "departments",
                                   "reason")]))


def incident_map(
    session: Session,
    settings: Settings,
    incident: Incident,
    categories: CategoryBook,
    *,
    lang: str = "zh",
    embed: bool = False,
) -> folium.Map:
    """The map of one incident, against the boundary version it was placed in (drawn shifted
    to GCJ-02 when the basemap is Amap). ``embed``: the map alone, fitted to its frame, for
    the incident page (which shows the audit trail itself)."""
    version = incident.boundary_version
    shift = display_shift(settings)
    tz = ZoneInfo(settings.work_timezone)  # times as the street office reads its clock
    point = shift_geometry(to_shape(incident.geom), shift)
    fmap = new_map(settings)
    fmap.get_root().header.add_child(folium.CssLink(f"{settings.static_url}/app/maps.css"))
    if not embed:  # the audit trail sits beside the map, not over it (below it on a phone)
        fmap.get_root().header.add_child(folium.Element(
            "<style>@media (min-width: 801px) { .folium-map { width: calc(100% - 460px) "
            "!important; } }</style>"))
    category = categories.get(incident.category).label(lang)
    fmap.get_root().header.add_child(folium.Element(
        f"<title>#{incident.id} {html_text(category)}</title>"))

    chain = {}
    for level, code in ((Level.street, incident.street_code),
                        (Level.community, incident.community_code),
                        (Level.grid, incident.grid_code),
                        (Level.building, incident.building_code)):
        if code:
            unit = store.get_unit(session, version, code)
            chain[level] = (unit, shift_geometry(store.shape_of(unit), shift))
    for level in (Level.street, Level.community):
        if level in chain:
            unit, geom = chain[level]
            _outline(geom, UNIT_STYLES[level], unit.name, f"unit-{level}").add_to(fmap)
    if Level.grid in chain:
        unit, geom = chain[Level.grid]
        _outline(geom, HIGHLIGHT, unit.name, "owning-grid").add_to(fmap)
    if Level.building in chain:
        unit, geom = chain[Level.building]
        _outline(geom, {"color": "#000", "weight": 2, "fillOpacity": 0.5}, unit.name,
                 "owning-building").add_to(fmap)

    ends = _draw_ladder(fmap, incident, chain, point, lang, tz)
    # The whole street and every department's spoke in view (a point outside every unit: the
    # point and its surroundings).
    view = shapely.union_all([point.buffer(0.002), *ends, *(g for _, g in chain.values())])
    minx, miny, maxx, maxy = view.bounds
    # Room on the right for the departments' labels, which are drawn rightwards.
    fmap.fit_bounds([[miny, minx], [maxy, maxx]], padding_top_left=(20, 20),
                    padding_bottom_right=(340 if ends and not embed else 20, 20))
    folium.CircleMarker([point.y, point.x], radius=8, color="#ffffff", weight=2, fill=True,
                        fill_color=marker_colour(incident.state, incident.level),
                        fill_opacity=1, className="incident-marker",
                        tooltip=html_text(f"#{incident.id} {category}")).add_to(fmap)
    if not embed:
        # with who was responsible when it was filed, and who was told (maps.overlays)
        fmap.add_child(audit_panel(incident, category, lang, tz,
                                   overlay_section(incident, lang)))
    return fmap


def _draw_ladder(fmap: folium.Map, incident: Incident, chain: dict, point, lang: str,
                 tz: ZoneInfo) -> list[Point]:
    """The ladder: incident → grid → community → street, as far as the case climbed, then a
    spoke from the street to each summoned department, labelled with when it was summoned,
    reported in and finished (the departments are fanned out right of the street's stop).
    Returns the departments' points."""
    reached = {"grid"} | {s.to_level for s in incident.steps if s.to_level}
    stops = [(point.y, point.x, f"#{incident.id}")]
    for level in (Level.grid, Level.community, Level.street):
        if level.value in reached and level in chain:
            unit, geom = chain[level]
            rep = geom.representative_point()
            at = next((s.at for s in incident.steps if s.to_level == level.value), None)
            stops.append((rep.y, rep.x, f"{unit.name} {at.astimezone(tz):%m-%d %H:%M}"
                          if at else unit.name))
    folium.PolyLine([(y, x) for y, x, _ in stops], color="#d7191c", weight=4,
                    dash_array="8 6", className="ladder-path").add_to(fmap)
    for y, x, label in stops[1:]:
        folium.CircleMarker([y, x], radius=6, color="#d7191c", fill=True,
                            tooltip=html_text(label), className="ladder-stop").add_to(fmap)
    if not (incident.summonses and Level.street in chain):
        return []
    sy, sx = stops[-1][0], stops[-1][1]
    minx, miny, maxx, maxy = chain[Level.street][1].bounds
    radius = 0.3 * max(maxx - minx, maxy - miny)
    count = len(incident.summonses)
    ends = []
    for i, summons in enumerate(incident.summonses):
        # Spread over -60°…+60° around east: labels (drawn to the right) never overlap.
        angle = math.radians(0 if count == 1 else -60 + 120 * i / (count - 1))
        dy, dx = radius * math.sin(angle) * 0.75, radius * math.cos(angle)
        label = (f"{summons.department} {t('summoned', lang)} "
                 f"{summons.summoned_at.astimezone(tz):%m-%d %H:%M}")
        if summons.reported_in_at is None:
            label += f" · {t('not_yet', lang)}"
        for key, at in (("reported_in", summons.reported_in_at), ("done", summons.done_at)):
            if at:
                hours = (at - summons.summoned_at).total_seconds() / 3600
                label += (f" · {t(key, lang)} {at.astimezone(tz):%m-%d %H:%M}"
                          + aside(f"{t('after', lang)} {hours:.1f} h", lang))
        folium.PolyLine([(sy, sx), (sy + dy, sx + dx)], color="#7b3294", weight=3,
                        className="ladder-department").add_to(fmap)
        html = (f'<div class="department-label" style="font:12px sans-serif;'
                f'white-space:nowrap;background:#fff;border:1px solid #7b3294;'
                f'display:inline-block;padding:0 3px">{html_text(label)}</div>')
        folium.Marker([sy + dy, sx + dx], tooltip=html_text(label), icon=folium.DivIcon(
            icon_size=(360, 18), icon_anchor=(0, 9), class_name="department-icon",
            html=html)).add_to(fmap)
        ends.append(Point(sx + dx, sy + dy))
    return ends
