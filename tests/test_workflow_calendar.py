"""The working-time calendar and the categories file (no database needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from grid.errors import CalendarNotCovered, InvalidInput
from grid.incidents.calendar import HolidaySchedule, TimeLimit, WorkCalendar
from grid.incidents.categories import load_categories
from grid.services import Services
from grid.settings import PACKAGE_DATA, Settings

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


# -- the holiday sources: `holidays` for announced years, a data file for the rest ----------

TEST_FILE = Path(__file__).parent / "data" / "holidays_test.yaml"


def test_announced_years_come_from_holidays_and_later_ones_are_not_guessed():
    cal = WorkCalendar()
    assert cal.covers(2001) and cal.covers(2026)
    # `holidays` projects 2027+ by rule, without the swapped working weekends: not taken.
    assert not cal.covers(2027) and not cal.covers(2035)
    assert cal.schedule.horizon().year >= 2026


def test_a_day_no_source_covers_is_refused_not_counted_as_a_weekday():
    cal = WorkCalendar()
    with pytest.raises(CalendarNotCovered) as caught:
        cal.is_workday(date(2027, 2, 8))  # a Monday: a plain weekday count would say yes
    assert caught.value.details["year"] == 2027
    # A limit that runs from the last days of the data into an unknown year is refused too.
    with pytest.raises(CalendarNotCovered):
        cal.add(bj(2026, 12, 30, 10), TimeLimit.parse("3wd"))
    # Elapsed hours need no calendar.
    assert cal.add(bj(2026, 12, 31, 10), TimeLimit.parse("48h")) == bj(2027, 1, 2, 10)


def test_a_deadline_across_the_2027_spring_festival_comes_from_the_data_file():
    cal = WorkCalendar(schedule=HolidaySchedule(TEST_FILE))
    assert cal.covers(2027) and not cal.is_workday(date(2027, 2, 8))
    assert cal.is_workday(date(2027, 2, 20))  # Saturday, 调休上班 in the file
    # Filed Friday 2027-02-05 16:00 with 3 working days (21 h of 7-hour days): 02-05 counts
    # 1.5 h, 02-06..02-14 are off, 02-15 and 02-16 count 7 h each, and the last 5.5 h on 02-17
    # are 09:00-12:00 and 13:30-16:00. Counting weekdays only would give 02-10 16:00.
    assert cal.add(bj(2027, 2, 5, 16), TimeLimit.parse("3wd")) == bj(2027, 2, 17, 16)
    # And 2026 still comes from `holidays`: the file adds years, it does not replace them.
    assert not cal.is_workday(date(2026, 10, 1)) and cal.is_workday(date(2026, 10, 10))
    assert cal.schedule.horizon() == date(2028, 12, 31)


def test_the_file_wins_for_its_years(tmp_path):
    path = tmp_path / "h.yaml"
    path.write_text("2026:\n  days_off: [2026-10-01..2026-10-02]\n  working_weekends: []\n")
    cal = WorkCalendar(schedule=HolidaySchedule(path))
    assert cal.is_workday(date(2026, 10, 7))  # off in `holidays`, a working day in the file


@pytest.mark.parametrize(("text", "says"), [
    ("2027:\n  days_off: [2027-02-08]\n  working_weekends: [2027-02-22]\n", "周末"),
    ("2027:\n  days_off: [2028-02-08]\n", "2027"),
    ("2027:\n  days_off: [2027-02-10..2027-02-08]\n", "颠倒"),
    ("2027:\n  days_off: [2027-02-20]\n  working_weekends: [2027-02-20]\n", "既放假又上班"),
    ("2027:\n  holidays: [2027-02-08]\n", "days_off"),
    ("2027:\n  days_off: [next monday]\n", "不是日期"),
    ("1850:\n  days_off: [1850-01-01]\n", "年份"),
    ("- 2027-01-01\n", "mapping"),
    ("2027: [unclosed\n", "cannot read"),
])
def test_bad_holiday_files_are_refused_with_the_entry_named(tmp_path, text, says):
    path = tmp_path / "h.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInput) as caught:
        HolidaySchedule(path)
    assert says in caught.value.message and str(path) in caught.value.message


def test_a_bad_holiday_file_stops_start_up(tmp_path):
    path = tmp_path / "h.yaml"
    path.write_text("2027:\n  days_off: [2027-02-30]\n")
    with pytest.raises((InvalidInput, ValueError)):
        Services(Settings(database_url=f"sqlite:///{tmp_path}/x.db", holidays_file=path))


def test_status_says_when_the_data_runs_out():
    schedule = HolidaySchedule(TEST_FILE)
    assert schedule.status(date(2027, 6, 1))["status"] == "ok"
    assert schedule.status(date(2028, 12, 1))["status"] == "warning"
    late = schedule.status(date(2029, 1, 2))
    assert late["status"] == "not_covered" and late["covered_through"] == "2028-12-31"
    assert late["file_years"] == [2027, 2028]
