"""每月一题 and 未诉先办 over September 2025 (a month no other test writes to): top categories
by count and growth against June–August, a hotspot cell, and the CSV/XLSX exports."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.incidents.hotspots import hotspots, month_start, top_categories
from grid.incidents.ladder import SYSTEM
from tests.conftest import auth

SEP, OCT = datetime(2025, 9, 1, tzinfo=UTC), datetime(2025, 10, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def september(demo) -> dict:
    """Z001 ×4 in one spot in September (none before); Z004 ×2 in September, ×3 in July."""
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        grids = store.units(session, version, Level.grid)
        hot, other = (store.shape_of(g).representative_point() for g in (grids[2], grids[9]))
    ids = []
    with demo.db.write() as s:
        for day in (2, 5, 9, 12):
            ids.append(demo.ladder.report(s, SYSTEM, lon=hot.x + day * 1e-5, lat=hot.y,
                                          category="Z001", now=datetime(2025, 9, day, 3,
                                                                        tzinfo=UTC)).id)
        for day in (3, 20):
            demo.ladder.report(s, SYSTEM, lon=other.x, lat=other.y, category="Z004",
                               now=datetime(2025, 9, day, 3, tzinfo=UTC))
        for day in (1, 8, 15):
            demo.ladder.report(s, SYSTEM, lon=other.x, lat=other.y, category="Z004",
                               now=datetime(2025, 7, day, 3, tzinfo=UTC))
    return {"street": grids[2].code[:9], "hot": hot, "ids": ids}


def test_month_arithmetic():
    assert month_start(SEP, 3) == datetime(2025, 6, 1, tzinfo=UTC)
    assert month_start(datetime(2025, 2, 1, tzinfo=UTC), 3) == datetime(2024, 11, 1, tzinfo=UTC)


def test_top_categories_by_count_and_growth(demo, september):
    with demo.db.read() as session:
        trends = {t.category: t for t in top_categories(session, september["street"], SEP, OCT)}
    assert set(trends) == {"Z001", "Z004"}
    assert (trends["Z001"].count, trends["Z001"].growth, trends["Z001"].rank_by_count) == (
        4, 4.0, 1)
    assert (trends["Z004"].count, trends["Z004"].baseline_mean, trends["Z004"].growth) == (
        2, 1.0, 1.0)
    assert trends["Z001"].rank_by_growth == 1 and trends["Z004"].rank_by_growth == 2


def test_a_cluster_beyond_its_usual_rate_is_flagged(demo, september):
    with demo.db.read() as session:
        found = hotspots(session, september["street"], SEP, OCT, cell_m=200, min_count=3)
    assert [(h.category, h.count) for h in found] == [("Z001", 4)]
    assert found[0].incident_ids == sorted(september["ids"])
    assert abs(found[0].lon - september["hot"].x) < 0.003
    assert abs(found[0].lat - september["hot"].y) < 0.003
    with demo.db.read() as session:  # a stricter factor: 4 < 5 × (0 + 1)
        assert hotspots(session, september["street"], SEP, OCT, factor=5) == []


def test_endpoints_and_exports(client, tokens, september):
    params = {"month": "2025-09", "street": september["street"]}
    street = auth(tokens["street"])
    top = client.get("/api/v1/incidents/stats/top-categories", params=params,
                     headers=street).json()
    assert top[0]["category"] == "Z001" and top[0]["name"] == "乱停车"
    xlsx = client.get("/api/v1/incidents/stats/hotspots",
                      params={**params, "format": "xlsx"}, headers=street)
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet["A1"].value == "category" and sheet["A2"].value == "Z001"
    csv = client.get("/api/v1/incidents/stats/top-categories",
                     params={**params, "format": "csv"}, headers=street)
    assert "Z004" in csv.content.decode("utf-8-sig")
    worker = client.get("/api/v1/incidents/stats/hotspots", params=params,
                        headers=auth(tokens["grid_worker"]))
    assert worker.status_code == 403
