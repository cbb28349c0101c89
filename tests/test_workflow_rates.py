"""The three rates and the monthly ranking over a month (March 2025) no other test writes to,
checked against figures worked out by hand; exported as CSV and XLSX."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.incidents.ladder import SYSTEM
from grid.incidents.rates import monthly_ranking, rates
from grid.tables import to_csv, to_xlsx
from tests.conftest import auth

WEIGHTS = {"response": 0.3, "resolution": 0.4, "satisfaction": 0.3}
START, END = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)


def t(day: int, hour: int) -> datetime:
    return datetime(2025, 3, day, hour, tzinfo=UTC)


@pytest.fixture(scope="module")
def march(demo) -> dict[str, str]:
    """Three cases in two communities, played to known outcomes."""
    ladder = demo.ladder
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        grids = store.units(session, version, Level.grid)
        a = grids[0]
        b = next(g for g in grids if g.parent_code != a.parent_code)
        pa, pb = (store.shape_of(g).representative_point() for g in (a, b))
    with demo.db.write() as s:
        # A1: resolved at grid in time, closed, rated 满意.
        a1 = ladder.report(s, SYSTEM, lon=pa.x, lat=pa.y, category="Z004",
                           source="resident", now=t(3, 2)).id
        ladder.resolve(s, SYSTEM, a1, "已处理", now=t(3, 3))
        ladder.close(s, SYSTEM, a1, now=t(3, 4))
        ladder.rate(s, SYSTEM, a1, "满意", now=t(3, 5))
        # A2: left alone until the sweep escalates it; still open.
        ladder.report(s, SYSTEM, lon=pa.x, lat=pa.y, category="Z005", source="patrol",
                      now=t(4, 2))
        # B1: resolved, 不满意 → reopened, resolved again, rated 基本满意.
        b1 = ladder.report(s, SYSTEM, lon=pb.x, lat=pb.y, category="Z004", source="hotline",
                           now=t(5, 2)).id
        ladder.resolve(s, SYSTEM, b1, "已处理", now=t(5, 3))
        ladder.close(s, SYSTEM, b1, now=t(5, 4))
        ladder.rate(s, SYSTEM, b1, "不满意", now=t(5, 5))
        ladder.resolve(s, SYSTEM, b1, "返工", now=t(6, 3))
        ladder.close(s, SYSTEM, b1, now=t(6, 4))
        ladder.rate(s, SYSTEM, b1, "基本满意", now=t(6, 5))
    ladder.escalate_due(demo.db, now=t(20, 0))
    return {"a": a.parent_code, "b": b.parent_code, "street": a.parent_code[:-3]}


def test_three_rates_by_community(demo, march):
    with demo.db.read() as session:
        found = {u.code: u for u in rates(session, "community", START, END, WEIGHTS)}
    a, b = found[march["a"]], found[march["b"]]
    assert (a.received, a.in_time, a.solved, a.rated, a.satisfied) == (2, 1, 1, 1, 1)
    assert (a.response, a.resolution, a.satisfaction) == (0.5, 0.5, 1.0)
    assert a.score == pytest.approx(100 * (0.3 * 0.5 + 0.4 * 0.5 + 0.3 * 1.0))
    assert (b.received, b.in_time, b.solved, b.rated, b.satisfied) == (1, 1, 1, 2, 1)
    assert b.score == pytest.approx(100 * (0.3 + 0.4 + 0.3 * 0.5))
    assert (a.complaints, b.complaints) == (1, 1)


def test_monthly_ranking_names_the_lowest_and_counts_quiet_communities(demo, march):
    with demo.db.read() as session:
        ranking = monthly_ranking(session, "community", START, END, WEIGHTS, low_threshold=1)
        streets = monthly_ranking(session, "street", START, END, WEIGHTS)
        communities = len(store.units(session, store.require_active_version(session).id,
                                      Level.community))
    assert [u.code for u in ranking.units] == [march["b"], march["a"]]
    assert ranking.lowest == march["a"] and ranking.units[-1].rank == 2
    assert ranking.zero_complaint_communities == communities - 2
    assert ranking.low_complaint_communities == communities
    assert streets.units[0].code == march["street"] and streets.units[0].received == 3


def test_exports_open_in_excel(demo, march):
    with demo.db.read() as session:
        rows = [u.as_row() for u in rates(session, "community", START, END, WEIGHTS)]
    text = to_csv(rows).decode("utf-8-sig").splitlines()
    assert text[0].startswith("code,received,in_time") and len(text) == 3
    sheet = load_workbook(io.BytesIO(to_xlsx(rows, "三率"))).active
    assert sheet.title == "三率" and sheet.max_row == 3 and sheet["A1"].value == "code"


def test_rates_endpoint_in_json_csv_and_xlsx(client, tokens, march):
    params = {"month": "2025-03", "level": "community"}
    body = client.get("/api/v1/incidents/stats/rates", params=params,
                      headers=auth(tokens["street"])).json()
    assert body["lowest"] == march["a"] and len(body["units"]) == 2
    csv = client.get("/api/v1/incidents/stats/rates", params={**params, "format": "csv"},
                     headers=auth(tokens["street"]))
    assert csv.headers["content-type"].startswith("text/csv") and march["a"] in csv.text
    xlsx = client.get("/api/v1/incidents/stats/rates", params={**params, "format": "xlsx"},
                      headers=auth(tokens["street"]))
    assert load_workbook(io.BytesIO(xlsx.content)).active.max_row == 3


# -- nothing to rate is no rate: empty, one-case and mixed months (2024, written by no other test)

def _month(month: int) -> tuple[datetime, datetime]:
    return datetime(2024, month, 1, tzinfo=UTC), datetime(2024, month + 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def sparse(demo) -> dict[str, str]:
    """July 2024: nothing. August: one case, solved, never called back. September: community A
    a rated case, community B an open unrated one."""
    ladder = demo.ladder
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        grids = store.units(session, version, Level.grid)
        a = grids[1]
        b = next(g for g in grids if g.parent_code != a.parent_code)
        pa, pb = (store.shape_of(g).representative_point() for g in (a, b))
    with demo.db.write() as s:
        one = ladder.report(s, SYSTEM, lon=pa.x, lat=pa.y, category="Z004", source="resident",
                            now=datetime(2024, 8, 5, 2, tzinfo=UTC)).id
        ladder.resolve(s, SYSTEM, one, "已处理", now=datetime(2024, 8, 5, 3, tzinfo=UTC))
        rated = ladder.report(s, SYSTEM, lon=pa.x, lat=pa.y, category="Z004", source="resident",
                              now=datetime(2024, 9, 5, 2, tzinfo=UTC)).id
        ladder.resolve(s, SYSTEM, rated, "已处理", now=datetime(2024, 9, 5, 3, tzinfo=UTC))
        ladder.close(s, SYSTEM, rated, now=datetime(2024, 9, 5, 4, tzinfo=UTC))
        ladder.rate(s, SYSTEM, rated, "不满意", now=datetime(2024, 9, 5, 5, tzinfo=UTC))
        ladder.report(s, SYSTEM, lon=pb.x, lat=pb.y, category="Z004", source="patrol",
                      now=datetime(2024, 9, 6, 2, tzinfo=UTC))
    return {"a": a.parent_code, "b": b.parent_code}


def test_an_empty_month_has_no_rates_and_no_lowest(demo, sparse):
    with demo.db.read() as session:
        ranking = monthly_ranking(session, "community", *_month(7), WEIGHTS)
    assert ranking.units == [] and ranking.lowest is None


def test_a_unit_with_no_rated_case_has_no_satisfaction_and_no_score(demo, sparse):
    with demo.db.read() as session:
        ranking = monthly_ranking(session, "community", *_month(8), WEIGHTS)
    (unit,) = ranking.units
    assert (unit.code, unit.received, unit.rated) == (sparse["a"], 1, 0)
    assert (unit.response, unit.resolution) == (1.0, 1.0)
    assert unit.satisfaction is None and unit.score is None and unit.rank is None
    assert ranking.lowest is None  # nobody ranked, nobody named last


def test_no_data_is_listed_apart_not_at_the_top(demo, sparse, client, tokens):
    with demo.db.read() as session:
        ranking = monthly_ranking(session, "community", *_month(9), WEIGHTS)
    a, b = ranking.units
    # A was judged (its one callback 不满意: satisfaction 0, and the case reopened, so not
    # solved) and is ranked — last, and named; B, with nothing rated, would have topped the old
    # ranking with a satisfaction of 100 %: now it has no score and no rank.
    assert (a.code, a.rank, a.satisfaction, a.resolution) == (sparse["a"], 1, 0.0, 0.0)
    assert a.score == pytest.approx(100 * 0.3 * 1.0)
    assert (b.code, b.rank, b.score, b.satisfaction, b.resolution) == (
        sparse["b"], None, None, None, 0.0)
    assert ranking.lowest == sparse["a"]
    r = client.get("/api/v1/incidents/stats/rates", params={"month": "2024-09",
                                                          "level": "community"},
                   headers=auth(tokens["admin"]))
    assert r.status_code == 200, r.text
    rows = {u["code"]: u for u in r.json()["units"]}
    assert rows[sparse["b"]]["satisfaction"] is None and rows[sparse["b"]]["score"] is None
    assert rows[sparse["b"]]["rank"] is None and rows[sparse["a"]]["rank"] == 1
    assert r.json()["lowest"] == sparse["a"]
