"""The street map's 走访覆盖 layer (issue 14): each grid shaded by the share of its buildings
the grid workers visited or walked past this month (``grid.people.rounds.grid_coverage``),
with the counts in its popup. Off until switched on in the layer control."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import folium
from sqlalchemy.orm import Session

from grid.hierarchy import store
from grid.hierarchy.models import Unit
from grid.people.rounds import grid_coverage
from grid.settings import Settings
from maps.safe import html_props

TEXT = {
    "layer": {"zh": "本月走访覆盖", "en": "Rounds coverage this month"},
    "name": {"zh": "网格", "en": "Grid"},
    "covered": {"zh": "已覆盖楼栋", "en": "Buildings covered"},
    "share": {"zh": "覆盖率", "en": "Share"},
    "visits": {"zh": "走访次数", "en": "Visits"},
}
#: Fill by share covered: none, some, half, most, all (a sequential green scale).
FILLS = ((0.0, "#f7fcf5"), (0.25, "#c7e9c0"), (0.5, "#74c476"), (0.75, "#31a354"),
         (1.0, "#006d2c"))


def _fill(share: float) -> str:
    return next(colour for limit, colour in reversed(FILLS) if share >= limit)


def coverage_layer(session: Session, settings: Settings, version_id: int, grids: Sequence[Unit],
                   lang: str, shift, now: datetime, geometry) -> folium.FeatureGroup:
    """The layer for ``grids`` in the month of ``now`` (work time zone); ``geometry`` turns a
    unit's shape into display GeoJSON (``maps.street._geometry`` with the map's shift)."""
    month = now.astimezone(ZoneInfo(settings.work_timezone)).strftime("%Y-%m")
    rows = {r.grid_code: r for r in grid_coverage(session, version_id, grids, month,
                                                  settings.work_timezone)}
    word = {k: v.get(lang) or v["zh"] for k, v in TEXT.items()}
    features = []
    for grid in grids:
        row = rows[grid.code]
        props = html_props({"name": grid.name, "covered": f"{row.covered} / {row.buildings}",
                            "share": f"{row.share:.0%}", "visits": row.visits,
                            "share_value": row.share}, ("name", "covered", "share"))
        features.append({"type": "Feature", "properties": props,
                         "geometry": geometry(store.shape_of(grid))})

    def style(feature):
        return {"color": "#2b6e3f", "weight": 1, "fillOpacity": 0.55,
                "fillColor": _fill(feature["properties"]["share_value"])}

    group = folium.FeatureGroup(name=word["layer"], show=False)
    fields = ["name", "covered", "share", "visits"]
    folium.GeoJson({"type": "FeatureCollection", "features": features}, style_function=style,
                   tooltip=folium.GeoJsonTooltip(fields=["name", "share"], labels=False),
                   popup=folium.GeoJsonPopup(fields=fields, aliases=[word[f] for f in fields]),
                   name=word["layer"]).add_to(group)
    return group
