"""The working-time calendar and the categories file (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from grid.errors import InvalidInput
from grid.incidents.calendar import TimeLimit, WorkCalendar
from grid.incidents.categories import load_categories
from grid.settings import PACKAGE_DATA

BJ = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar()


def bj(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=BJ).astimezone(UTC)


def test_holiday_data_covers_the_years_we_test():
    assert CAL.covers(2025) and CAL.covers(2026)


def test_public_holidays_and_adjusted_working_weekends_2026():
    assert not CAL.is_workday(datetime(2026, 10, 1).date())  # National Day
    assert not CAL.is_workday(datetime(2026, 10, 7).date())
    assert CAL.is_workday(datetime(2026, 10, 10).date())  # Saturday, 调休上班
    assert not CAL.is_workday(datetime(2026, 10, 11).date())  # an ordinary Sunday
    assert not CAL.is_workday(datetime(2026, 1, 1).date())  # New Year's Day
    assert CAL.is_workday(datetime(2026, 1, 4).date())  # Sunday made a working day


@pytest.mark.parametrize(("start", "limit", "due"), [
    (bj(2026, 9, 30, 16), "4wh", bj(2026, 10, 8, 11, 30)),  # across the holiday week
    (bj(2026, 9, 30, 16), "24h", bj(2026, 10, 1, 16)),  # elapsed hours ignore holidays
    (bj(2026, 9, 30, 20), "1wh", bj(2026, 10, 8, 10)),  # filed after hours
    (bj(2026, 10, 9, 11, 30), "1wh", bj(2026, 10, 9, 14)),  # over the lunch break
    (bj(2026, 10, 9, 15), "1wd", bj(2026, 10, 10, 15)),  # Saturday the 10th is worked
    (bj(2026, 10, 9, 10), "2wd", bj(2026, 10, 12, 10)),  # Sat 10th worked, Sun 11th not
])
def test_deadlines_in_working_time(start, limit, due):
    assert CAL.add(start, TimeLimit.parse(limit)) == due


def test_working_hours_are_configurable():
    cal = WorkCalendar("08:30-12:00,14:00-18:00")
    assert cal.day_hours == 7.5
    assert cal.add(bj(2026, 10, 9, 11), TimeLimit.parse("2wh")) == bj(2026, 10, 9, 15)
    assert cal.working_between(bj(2026, 10, 9, 11), bj(2026, 10, 9, 15)).total_seconds() == 7200
    with pytest.raises(InvalidInput):
        WorkCalendar("12:00-09:00")


@pytest.mark.parametrize("text", ["0h", "3 days", "-1wd", "wh"])
def test_bad_time_limits_are_refused(text):
    with pytest.raises(ValueError):
        TimeLimit.parse(text)


def test_categories_file_has_the_full_schema():
    book = load_categories(PACKAGE_DATA / "categories.yaml")
    road = book.get("0201")
    assert road.parent_class == "部件/道路交通" and road.parent_class in book.classes
    assert road.limit("grid") == TimeLimit(1, "wd") and road.start_level == "grid"
    assert road.departments == ["住建", "交通"] and road.leader
    assert road.duplicates.radius_m == 100
    assert {c.code for c in book.categories} >= {"0101", "0201", "Z001", "Z009"}
    with pytest.raises(InvalidInput, match="NOPE"):
        book.get("NOPE")


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda c: c.update({"class": "事件/不存在"}), "unknown class"),
    (lambda c: c["time_limits"].pop("street"), "lacks"),
    (lambda c: c["time_limits"].update({"grid": "2 weeks"}), "must look like"),
    (lambda c: c.update({"departments": ["天文台"]}), "unknown departments"),
    (lambda c: c.update({"start_level": "building"}), "start_level"),
])
def test_a_bad_categories_file_stops_start_up_with_its_reason(tmp_path: Path, mutate, reason):
    data = yaml.safe_load((PACKAGE_DATA / "categories.yaml").read_text(encoding="utf-8"))
    mutate(data["categories"][0])
    bad = tmp_path / "categories.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InvalidInput, match=reason):
        load_categories(bad)
