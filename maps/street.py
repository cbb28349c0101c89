"""The street office's map (街道地图) and the city overview (全市总览).

Boundaries of every level are switchable layers; communities and grids are shaded by their open
and overdue cases (a choropleth with a legend); incidents are clustered, coloured by state and
level and ringed when overdue, with a heat layer, client-side filters (period, category, state,
level, overdue) and popups naming the owning Party chain. All incidents travel as one compact
JSON payload (:class:`maps.layers.IncidentLayer`), so 10,000 of them stay one page of data, not
10,000 Python objects and script blocks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

import folium
import numpy as np
import shapely
from shapely.geometry import mapping
from sqlalchemy import select
from sqlalchemy.orm import Session

from grid.errors import InvalidInput
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.hierarchy.models import Unit
from grid.incidents.categories import CategoryBook
from grid.incidents.models import Incident
from grid.incidents.rates import UnitRates, month_bounds, rates
from grid.orm import utcnow
from grid.settings import Settings
from maps.basemap import display_shift, new_map
from maps.layers import IncidentLayer, LazyUnitLayer, Panel, UnitSearch
from maps.safe import html_props
from maps.text import (
    ACTIONS,
    LADDER,
    LEVEL_COLOURS,
    STATE_COLOURS,
    STATES,
    UNIT_STYLES,
    aside,
    joined,
    t,
    word,
)

#: States still being worked on: they count as open cases and can be overdue.
OPEN_STATES = ("open", "whistled")
#: Fill colours of the choropleth, from no open case to the most (ColorBrewer YlOrRd).
SHADES = ["#ffffcc", "#fed976", "#fd8d3c", "#e31a1c", "#800026"]
#: Fill colours by three-rate score (upper bound exclusive): the lower, the darker.
SCORE_CLASSES = [(60, "#800026"), (80, "#e31a1c"), (90, "#fd8d3c"), (100, "#fed976"),
                 (float("inf"), "#ffffcc")]
#: Simplification tolerance in degrees (≈ 1 m on a street map, ≈ 11 m on the city overview).
TOLERANCE = {False: 1e-5, True: 1e-4}
#: Buildings are fetched (by bounding box) only from this zoom on: below it they are specks.
BUILDING_MIN_ZOOM = 15


def _wkb(data) -> bytes | str:
    # SpatiaLite hands back hex text, PostGIS bytes or a memoryview; GEOS reads them all (EWKB).
    return data if isinstance(data, bytes | str) else bytes(data)


def _minutes(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() // 60)


def _geometry(geom, shift, tolerance: float) -> dict:
    """GeoJSON of ``geom`` simplified, shifted for the basemap and rounded to ~0.1 m."""
    geom = shapely.simplify(geom, tolerance, preserve_topology=True)

    def move(coords: np.ndarray) -> np.ndarray:
        lon, lat = shift(coords[:, 0], coords[:, 1])
        return np.round(np.column_stack([lon, lat]), 6)

    return mapping(shapely.transform(geom, move))


class Counts:
    """Open and overdue cases per unit code (every level, by code prefix), and this month's
    three-rate scores of streets and communities (三率, computed by grid.incidents.rates)."""

    def __init__(self, incidents: Sequence[Incident], now: datetime,
                 scores: dict[str, UnitRates] | None = None) -> None:
        self.scores = scores or {}
        self.open: Counter[str] = Counter()
        self.overdue: Counter[str] = Counter()
        for i in incidents:
            if i.state not in OPEN_STATES:
                continue
            late = i.due_at is not None and i.due_at < now
            for code in (i.street_code, i.community_code, i.grid_code):
                if code:
                    self.open[code] += 1
                    self.overdue[code] += late

    def bins(self, codes: Sequence[str]) -> list[int]:
        """Upper bounds of the choropleth's classes for these units (0 is its own class)."""
        top = max((self.open[c] for c in codes), default=0)
        step = max(1, -(-top // (len(SHADES) - 1)))
        return [0] + [step * k for k in range(1, len(SHADES))]


def month_scores(session: Session, settings: Settings, now: datetime) -> dict[str, UnitRates]:
    """This month's three rates of every street and community (local calendar month)."""
    month = now.astimezone(ZoneInfo(settings.work_timezone)).strftime("%Y-%m")
    start, end = month_bounds(month, settings.work_timezone)
    return {u.code: u for level in ("street", "community")
            for u in rates(session, level, start, end, settings.rate_weights)}


def _score_fill(score: float) -> str:
    return next(colour for bound, colour in SCORE_CLASSES if score < bound)


def _shade(count: int, bins: list[int]) -> str:
    return SHADES[next((k for k, b in enumerate(bins) if count <= b), len(SHADES) - 1)]


def unit_layer(session: Session, units: Sequence[Unit], level: str, lang: str, *,
               counts: Counts, shift, overview: bool = False, show: bool = True,
               link: str | None = None, shade: str = "open",
               ) -> tuple[folium.FeatureGroup, folium.GeoJson, list]:
    """One level's polygons as a switchable layer; communities and grids shaded by open cases
    (streets and communities by three-rate score with ``shade="score"``, grids then unshaded).

    Returns the layer, its GeoJson (for the search box) and the choropleth bins used.
    """
    orgs = store.party_orgs(session, [u.code for u in units])
    workers = store.grid_workers(session, [u.code for u in units]) if level == "grid" else {}
    bins = counts.bins([u.code for u in units])
    features = []
    for unit in units:
        org = orgs.get(unit.code)
        props = {
            "label": f"{unit.code} {unit.name}", "name": unit.name, "code": unit.code,
            "party_org": org.name + aside(f"{t('secretary', lang)} {org.secretary}", lang)
            if org else "",
            "open_cases": counts.open[unit.code], "overdue": counts.overdue[unit.code],
        }
        if level in ("street", "community"):
            r = counts.scores.get(unit.code)
            props["score_value"] = r.score if r else 100.0
            props["score"] = f"{r.score:g}" + aside(t("rates", lang).format(
                r=f"{r.response:.0%}", s=f"{r.resolution:.0%}", m=f"{r.satisfaction:.0%}"),
                lang) if r else "—"
        if level == "grid":
            props["grid_worker"] = joined((f"{w.name} {w.phone}"
                                           for w in workers.get(unit.code, [])), lang)
        if link:
            props["link"] = (f'<a href="{escape(link.format(code=unit.code))}" target="_top">'
                             f"{t('open_map', lang)}</a>")
        # Folium's GeoJsonTooltip / GeoJsonPopup insert these with innerHTML: names, Party
        # organisations and grid workers come from uploaded files, so they go in escaped.
        # "label" stays raw: only the search box shows it, as text (maps.layers.UnitSearch).
        props = html_props(props, ("name", "code", "party_org", "grid_worker", "score"))
        features.append({"type": "Feature", "properties": props,
                         "geometry": _geometry(store.shape_of(unit), shift, TOLERANCE[overview])})
    base = UNIT_STYLES[level]
    shaded = level in ("community", "grid") or (overview and level == "street")
    if shade == "score" and level == "grid":
        shaded = False  # grids have no rates: left clear so the communities' scores show

    by_score = shade == "score" and level in ("street", "community")

    def style(feature, base=base, shaded=shaded, bins=bins):
        if not shaded:
            return base
        props = feature["properties"]
        fill = _score_fill(props["score_value"]) if by_score \
            else _shade(props["open_cases"], bins)
        return {**base, "fillColor": fill, "fillOpacity": 0.35 if level == "grid" else 0.25}

    fields = ["name", "code", "party_org"] + (["grid_worker"] if level == "grid" else []) \
        + ["open_cases", "overdue"] + (["score"] if level in ("street", "community") else []) \
        + (["link"] if link else [])
    group = folium.FeatureGroup(name=t(level, lang), show=show)
    layer = folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        style_function=style,
        highlight_function=lambda _f: {"weight": 3},
        tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
        popup=folium.GeoJsonPopup(fields=fields, aliases=[t(f, lang) if f != "link" else ""
                                                          for f in fields]),
        name=t(level, lang), smooth_factor=1.5,
    )
    layer.add_to(group)
    return group, layer, bins


def _names(session: Session, version_id: int, level: Level, prefix: str) -> dict[str, str]:
    """code → name of the units of ``level`` under ``prefix`` (no geometry read)."""
    rows = session.execute(select(Unit.code, Unit.name).where(
        store.alive_in(version_id), Unit.level == level.value, Unit.code.startswith(prefix)))
    return dict(rows.all())


def building_features(session: Session, settings: Settings, version_id: int, street_code: str,
                      bbox: tuple[float, float, float, float] | None, lang: str) -> dict:
    """The street's buildings inside ``bbox`` (display coordinates) as GeoJSON for the map."""
    shift = display_shift(settings)
    units = list(session.scalars(
        select(Unit).where(store.alive_in(version_id), Unit.level == Level.building.value,
                           Unit.code.startswith(street_code)).order_by(Unit.code)))
    shapes = [store.shape_of(u) for u in units]
    if bbox is not None and shapes:
        # The bbox is in display coordinates; on Amap those are up to ~700 m off, so widen it.
        pad = 0.01 if settings.basemap == "amap" else 0.0
        box = shapely.box(bbox[0] - pad, bbox[1] - pad, bbox[2] + pad, bbox[3] + pad)
        keep = shapely.intersects(np.array(shapes, dtype=object), box)
        units = [u for u, k in zip(units, keep, strict=True) if k]
        shapes = [g for g, k in zip(shapes, keep, strict=True) if k]
    orgs = store.party_orgs(session, [u.code for u in units])
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": _geometry(g, shift, TOLERANCE[False]),
         "properties": {"code": u.code, "name": u.name,
                        "party_org": orgs[u.code].name if u.code in orgs else ""}}
        for u, g in zip(units, shapes, strict=True)]}


def _unit_lookup(session: Session, units: Sequence[Unit], buildings: dict[str, str],
                 lang: str) -> dict:
    """code → [name, Party organisation, grid workers, parent code] for the popups."""
    orgs = store.party_orgs(session, [u.code for u in units])
    workers = store.grid_workers(session, [u.code for u in units if u.level == "grid"])
    lookup = {
        u.code: [u.name, orgs[u.code].name if u.code in orgs else "",
                 joined((f"{w.name} {w.phone}" for w in workers.get(u.code, [])), lang),
                 u.parent_code or ""]
        for u in units
    }
    lookup.update({code: [name, "", "", ""] for code, name in buildings.items()})
    return lookup


def incident_payload(incidents: Sequence[Incident], categories: CategoryBook, lookup: dict,
                     lang: str, shift, now: datetime, timezone: str = "Asia/Shanghai") -> dict:
    """Everything the browser needs to draw, filter and explain the incidents, compactly.

    One row per incident, numbers only but the departments: ``[id, x, y, category, state,
    level, created, due, grid, building, [[action, at, department], ...]]`` where x/y are
    micro-degrees from ``origin``, times are minutes relative to ``now`` (due null when none),
    and category/state/level/action/grid/building are indexes into the ``keys`` lists (-1:
    none). At 10,000 incidents this is ~2.5x smaller than plain strings and ISO times, and the
    browser decodes it in milliseconds (maps/static/app/maps.js). Times are UTC; the browser
    shows them, and counts the period filter's days, in ``timezone`` (the work timezone).
    """
    keys: dict[str, dict[str, int]] = {k: {} for k in (
        "categories", "states", "levels", "actions", "codes")}

    def key(kind: str, value: str | None) -> int:
        if not value:
            return -1
        return keys[kind].setdefault(value, len(keys[kind]))

    base = _minutes(now)

    def rel(at: datetime | None) -> int | None:
        return None if at is None else _minutes(at) - base

    # One vectorised WKB parse instead of a shapely object per incident (5x faster at 10,000).
    points = shapely.from_wkb([_wkb(i.geom.data) for i in incidents])
    lon, lat = shift(shapely.get_x(points).astype(float), shapely.get_y(points).astype(float))
    lon, lat = np.atleast_1d(lon), np.atleast_1d(lat)
    origin = [float(np.floor(lon.min())), float(np.floor(lat.min()))] if len(lon) else [0, 0]
    xs = np.rint((lon - origin[0]) * 1e6).astype(int).tolist()
    ys = np.rint((lat - origin[1]) * 1e6).astype(int).tolist()
    rows = [
        [i.id, x, y, key("categories", i.category), key("states", i.state),
         key("levels", i.level), rel(i.created_at), rel(i.due_at), key("codes", i.grid_code),
         key("codes", i.building_code),
         [[key("actions", s.action), rel(s.at), s.department or ""] for s in i.steps]]
        for i, x, y in zip(incidents, xs, ys, strict=True)
    ]
    return {
        "rows": rows, "origin": origin, "now": base, "timezone": timezone,
        "keys": {kind: list(values) for kind, values in keys.items()},
        "categories": {c: categories.get(c).label(lang) for c in keys["categories"]},
        "states": {k: word(STATES, k, lang) for k in STATES},
        "levels": {k: word(LADDER, k, lang) for k in LADDER},
        "actions": {k: word(ACTIONS, k, lang) for k in ACTIONS},
        "stateColours": STATE_COLOURS, "levelColours": LEVEL_COLOURS,
        "openStates": list(OPEN_STATES),
        "units": lookup,
        "link": f"/work/incidents/{{id}}?lang={lang}",  # the incident page, to act on it
        "text": {k: t(k, lang) for k in (
            "category", "state", "level", "owner", "party_org", "chain", "grid_worker", "due",
            "steps", "details", "overdue", "filters", "all", "from", "to", "overdue_only",
            "shown", "building_label")},
    }


def legend(lang: str, bins: list[int], shade: str = "open") -> str:
    """The legend: choropleth classes (open cases, or three-rate score), marker colours."""
    def dot(colour: str, label: str, shape: str = "border-radius:6px") -> str:
        return (f'<div><span style="display:inline-block;width:12px;height:12px;{shape};'
                f'background:{colour};margin-right:4px;border:1px solid #888"></span>'
                f"{escape(label)}</div>")

    def span(k: int) -> str:
        low, high = bins[k - 1] + 1, bins[k]
        if k == len(SHADES) - 1:
            return f"> {bins[k - 1]}"
        return str(low) if low == high else f"{low}–{high}"

    classes = [dot(SHADES[0], "0", "")] + [dot(SHADES[k], span(k), "")
                                           for k in range(1, len(SHADES))]
    title = t("open_cases", lang)
    if shade == "score":
        title = t("score", lang)
        low = [0] + [b for b, _ in SCORE_CLASSES[:-1]]
        classes = [dot(c, f"{lo}–{hi}" if hi != float("inf") else "100", "")
                   for lo, (hi, c) in zip(low, SCORE_CLASSES, strict=True)]
    markers = [dot(c, f"{word(LADDER, k, lang)} · {word(STATES, 'open', lang)}")
               for k, c in LEVEL_COLOURS.items()]
    markers += [dot(c, word(STATES, k, lang)) for k, c in STATE_COLOURS.items()]
    markers.append('<div><span class="legend-overdue"></span>' f"{t('overdue', lang)}</div>")
    return (f'<div id="legend" class="grid-panel" style="bottom:24px;left:10px">'
            f"<b>{t('legend', lang)}</b><div>{title}</div>{''.join(classes)}"
            f"<hr>{''.join(markers)}</div>")


def area_map(
    session: Session,
    settings: Settings,
    version_id: int,
    areas: Sequence[Unit],
    incidents: Sequence[Incident],
    categories: CategoryBook,
    *,
    lang: str = "zh",
    overview: bool = False,
    shade: str = "open",
    now: datetime | None = None,
) -> folium.Map:
    """The map of one street (``overview=False``) or of many streets at once (the city).

    ``shade="score"`` colours streets and communities by this month's three-rate score instead
    of open cases (grids have no rates and stay shaded by open cases).
    """
    now = now or utcnow()
    shift = display_shift(settings)
    counts = Counts(incidents, now, month_scores(session, settings, now))
    communities = [c for a in areas
                   for c in store.units(session, version_id, Level.community, parent_code=a.code)]
    grids = [g for c in communities
             for g in store.units(session, version_id, Level.grid, parent_code=c.code)]
    fmap = new_map(settings)
    bounds = shapely.bounds(shapely.union_all([store.shape_of(a) for a in areas]))
    lons, lats = shift(np.asarray(bounds)[[0, 2]], np.asarray(bounds)[[1, 3]])
    fmap.fit_bounds([[float(lats[0]), float(lons[0])], [float(lats[1]), float(lons[1])]])
    title = t("city", lang) if overview else areas[0].name
    fmap.get_root().header.add_child(folium.Element(f"<title>{escape(title)}</title>"))

    link = f"/maps/streets/{{code}}?lang={lang}" if overview else None
    street, street_json, _ = unit_layer(session, areas, "street", lang, counts=counts, shift=shift,
                              overview=overview, link=link, shade=shade)
    community, community_json, bins = unit_layer(session, communities, "community", lang,
                                                 counts=counts, shift=shift, overview=overview,
                                                 shade=shade)
    grid, grid_json, grid_bins = unit_layer(session, grids, "grid", lang, counts=counts,
                                            shift=shift, overview=overview, show=not overview,
                                            shade=shade)
    for layer in (street, community, grid):
        layer.add_to(fmap)
    building_names: dict[str, str] = {}
    if not overview:
        building_names = _names(session, version_id, Level.building, areas[0].code)
        buildings = folium.FeatureGroup(name=t("building", lang), show=False).add_to(fmap)
        LazyUnitLayer(buildings, f"/maps/streets/{areas[0].code}/buildings.geojson?lang={lang}",
                      BUILDING_MIN_ZOOM, UNIT_STYLES["building"],
                      {"code": t("code", lang), "party_org": t("party_org", lang)},
                      ).add_to(fmap)

    # Markers (HTML icons) live in Leaflet's marker pane, above every polygon, so re-adding a
    # boundary layer never buries them.
    clusters = folium.FeatureGroup(name=t("incidents", lang)).add_to(fmap)
    heat = folium.FeatureGroup(name=t("heat", lang), show=False).add_to(fmap)
    lookup = _unit_lookup(session, [*areas, *communities, *grids], building_names, lang)
    payload = incident_payload(incidents, categories, lookup, lang, shift, now,
                               settings.work_timezone)
    IncidentLayer(clusters, heat, payload, settings.static_url).add_to(fmap)
    UnitSearch([street_json, community_json, grid_json], t("search", lang)).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.add_child(Panel(legend(lang, grid_bins if not overview else bins, shade)))
    return fmap


def street_map(session: Session, settings: Settings, version_id: int, street_code: str,
               incidents: Sequence[Incident], categories: CategoryBook, *, lang: str = "zh",
               shade: str = "open", now: datetime | None = None) -> folium.Map:
    """The street office's map of one street."""
    street = store.get_unit(session, version_id, street_code)
    if street.level != Level.street:
        raise InvalidInput(f"{street_code} 不是街道 is not a street")
    return area_map(session, settings, version_id, [street], incidents, categories, lang=lang,
                    shade=shade, now=now)
