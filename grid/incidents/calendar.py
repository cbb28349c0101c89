"""Working time (工作时间): working hours on working days, with China's public holidays and the
weekend days swapped to make them up (调休上班).

Which days are working days comes from two sources, and from nothing else:

* a data file of the State Council's yearly notice (国务院办公厅关于部分节假日安排的通知),
  ``GRID_HOLIDAYS_FILE`` — its years win (format: :func:`read_holiday_file`);
* the maintained ``holidays`` package's China calendar, for the years whose notice it carries
  (2001 on; it is released monthly). It also projects later years by rule, without the swapped
  working weekends: those projections are not taken.

``holidays`` was chosen over ``chinese-calendar`` (1.11, November 2025): both end with 2026's
notice, agree on every day of 2004–2026 but one (2005-12-31), and ``holidays`` also knows
2001–2003 and is released every month. A day that neither source covers is never counted as a
plain weekday: :class:`CalendarNotCovered` is raised, the API answers 503, ``/health`` says so and
the server logs it at start (``HolidaySchedule.horizon``).

Time limits come in three units:

* ``h``  — elapsed hours (自然小时), round the clock;
* ``wh`` — working hours (工作小时), counted only inside the working periods of working days;
* ``wd`` — working days (工作日): N × the length of one working day, in working hours, so a case
  filed at 10:00 with a one-working-day limit is due at 10:00 on the next working day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import yaml

from grid.errors import CalendarNotCovered, InvalidInput

UNITS = {"h": "小时 hours", "wh": "工作小时 working hours", "wd": "工作日 working days"}
_LIMIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(h|wh|wd)\s*$")
_PERIOD = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class TimeLimit:
    """An amount of time in one unit: ``h`` (elapsed), ``wh`` (working hours), ``wd``
    (working days)."""

    amount: float
    unit: str = "h"

    @classmethod
    def parse(cls, text: str | float | int) -> TimeLimit:
        """``"4wh"``, ``"2 wd"``, ``"24h"`` or a bare number of elapsed hours."""
        if isinstance(text, int | float):
            limit = cls(float(text), "h")
        else:
            match = _LIMIT.match(str(text))
            if not match:
                raise ValueError(f"time limit '{text}' must look like 24h, 8wh or 3wd")
            limit = cls(float(match[1]), match[2])
        if limit.amount <= 0:
            raise ValueError("time limits must be positive")
        return limit

    def __str__(self) -> str:
        return f"{self.amount:g}{self.unit}"


def _periods(text: str) -> tuple[tuple[time, time], ...]:
    periods = []
    for part in text.split(","):
        match = _PERIOD.match(part)
        if not match:
            raise InvalidInput(f"工作时间格式错误 working hours '{part}' must look like "
                               "09:00-12:00")
        start, end = time(int(match[1]), int(match[2])), time(int(match[3]), int(match[4]))
        if end <= start or (periods and start < periods[-1][1]):
            raise InvalidInput(f"工作时间须递增 working periods must increase: '{text}'")
        periods.append((start, end))
    return tuple(periods)


class WorkCalendar:
    """Adds time limits to instants (all datetimes aware, UTC in and out)."""

    def __init__(self, hours: str = "09:00-12:00,13:30-17:30",
                 timezone: str = "Asia/Shanghai",
                 schedule: HolidaySchedule | None = None) -> None:
        self.schedule = schedule or HolidaySchedule()
        self.periods = _periods(hours)
        self.tz = ZoneInfo(timezone)
        self.day_hours = sum(
            (datetime.combine(date.min, b) - datetime.combine(date.min, a)).total_seconds()
            for a, b in self.periods) / 3600

    def covers(self, year: int) -> bool:
        """Whether a source knows ``year``'s holidays and swapped working days."""
        return self.schedule.covers(year)

    def is_workday(self, day: date) -> bool:
        """A working day: Monday–Friday unless a holiday, or a weekend day swapped to work
        (:class:`CalendarNotCovered` for a year no source knows)."""
        return self.schedule.is_workday(day)

    def today(self) -> date:
        """Today in the calendar's time zone."""
        return datetime.now(self.tz).date()

    def add(self, start: datetime, limit: TimeLimit) -> datetime:
        """The deadline: ``limit`` after ``start``, counted in the limit's unit."""
        if limit.unit == "h":
            return start + timedelta(hours=limit.amount)
        hours = limit.amount * (self.day_hours if limit.unit == "wd" else 1)
        return self._add_working(start, timedelta(hours=hours))

    def _add_working(self, start: datetime, left: timedelta) -> datetime:
        local = start.astimezone(self.tz)
        day = local.date()
        for _ in range(3660):  # ten years of days: a bound, never reached by real limits
            if self.is_workday(day):
                for a, b in self.periods:
                    begin = datetime.combine(day, a, self.tz)
                    end = datetime.combine(day, b, self.tz)
                    begin = max(begin, local)
                    if begin >= end:
                        continue
                    if begin + left <= end:
                        return (begin + left).astimezone(UTC)
                    left -= end - begin
            day += timedelta(days=1)
        raise InvalidInput("时限过长 time limit too long")

    def working_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time elapsed between two instants (zero when ``end`` is earlier)."""
        total = timedelta()
        a_local, b_local = start.astimezone(self.tz), end.astimezone(self.tz)
        day = a_local.date()
        while day <= b_local.date():
            if self.is_workday(day):
                for a, b in self.periods:
                    lo = max(datetime.combine(day, a, self.tz), a_local)
                    hi = min(datetime.combine(day, b, self.tz), b_local)
                    if hi > lo:
                        total += hi - lo
            day += timedelta(days=1)
        return total


@cache
def _announced() -> tuple[holidays.HolidayBase, frozenset[int]]:
    """``holidays``' China calendar and the years whose State Council notice it carries: those
    with swapped working weekends (every notice of 2001–2026 has some). Later years are rule
    projections without them, so they are not counted as covered."""
    this_year = date.today().year
    china = holidays.China(years=range(2001, this_year + 3))
    return china, frozenset(day.year for day in china.weekend_workdays)


class HolidaySchedule:
    """Working days by year: the data file's years first, then ``holidays``' announced years."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.notices = read_holiday_file(path) if path else {}

    def covers(self, year: int) -> bool:
        """Whether ``year`` is known: in the data file or in ``holidays``' notices."""
        return year in self.notices or year in _announced()[1]

    def is_workday(self, day: date) -> bool:
        """A working day (see the module docstring); refuses a year no source covers."""
        notice = self.notices.get(day.year)
        if notice is not None:
            off, worked = notice
            return day in worked or (day.weekday() < 5 and day not in off)
        china, years = _announced()
        if day.year not in years:
            raise CalendarNotCovered(
                f"工作日历未覆盖 {day.year} 年：请将国务院办公厅当年的节假日安排写入 "
                f"GRID_HOLIDAYS_FILE / no source knows the public holidays of {day.year}: add "
                "the State Council's notice for that year to GRID_HOLIDAYS_FILE",
                {"year": day.year, "covered_through": str(self.horizon())})
        return china.is_working_day(day)

    def horizon(self) -> date:
        """The last day of the last year covered without a gap from this year on."""
        year = date.today().year
        if not self.covers(year):
            return date(year - 1, 12, 31)
        while self.covers(year + 1):
            year += 1
        return date(year, 12, 31)

    def status(self, today: date, warn_days: int = 45) -> dict:
        """For ``/health`` and the start-up log: ``ok``, ``warning`` (coverage ends within
        ``warn_days``) or ``not_covered`` (today itself is not covered)."""
        horizon = self.horizon()
        state = ("not_covered" if today > horizon
                 else "warning" if (horizon - today).days < warn_days else "ok")
        return {"status": state, "covered_through": horizon.isoformat(),
                "file": str(self.path) if self.path else None,
                "file_years": sorted(self.notices)}


_RANGE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*\.\.\s*(\d{4}-\d{2}-\d{2})\s*$")


def _days(year: int, items, where: str) -> set[date]:
    if not isinstance(items, list):
        raise InvalidInput(f"{where}: 应为日期列表 must be a list of dates")
    days: set[date] = set()
    for item in items:
        if isinstance(item, date):
            first = last = item
        elif isinstance(item, str) and (match := _RANGE.match(item)):
            first, last = date.fromisoformat(match[1]), date.fromisoformat(match[2])
        else:
            raise InvalidInput(f"{where}: '{item}' 不是日期或日期区间 is not a date "
                               "(2027-02-05) or a range (2027-02-05..2027-02-11)")
        if last < first or first.year != year or last.year != year:
            raise InvalidInput(f"{where}: '{item}' 不在 {year} 年内或起止颠倒 is outside {year} "
                               "or ends before it starts")
        days |= {first + timedelta(d) for d in range((last - first).days + 1)}
    return days


def read_holiday_file(path: Path) -> dict[int, tuple[frozenset[date], frozenset[date]]]:
    """Read a holiday data file: one entry per year, as the State Council's notice gives it::

        2027:
          notice: 国办发明电〔2026〕N号          # optional, for the reader
          days_off: [2027-01-01, 2027-02-05..2027-02-11]   # 放假 (dates or ranges)
          working_weekends: [2027-02-20]                   # 调休上班 (Saturdays/Sundays)

    Validated whole (at start, by ``Services``): every date inside its year, a swapped working
    day on a weekend, no day both off and worked; a mistake is an :class:`InvalidInput` naming
    the file and the entry."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"节假日文件无法读取 cannot read the holiday file {path}: {exc}") \
            from exc
    if not isinstance(data, dict) or not data:
        raise InvalidInput(f"{path}: 应为 年份 → 安排 a mapping of year → notice")
    notices = {}
    for year, notice in data.items():
        where = f"{path}: {year}"
        if not isinstance(year, int) or not 2000 <= year <= 2100:
            raise InvalidInput(f"{where}: 年份无效 not a year")
        if not isinstance(notice, dict) or "days_off" not in notice or \
                set(notice) - {"notice", "days_off", "working_weekends"}:
            raise InvalidInput(f"{where}: 须有 days_off，可有 working_weekends、notice "
                               "needs days_off, may have working_weekends and notice")
        off = _days(year, notice["days_off"], f"{where} days_off")
        worked = _days(year, notice.get("working_weekends") or [],
                       f"{where} working_weekends")
        if weekday := sorted(d for d in worked if d.weekday() < 5):
            raise InvalidInput(f"{where}: 调休上班日须为周末 working_weekends must be "
                               f"Saturdays or Sundays: {weekday[0]}")
        if both := sorted(off & worked):
            raise InvalidInput(f"{where}: {both[0]} 既放假又上班 is both off and worked")
        notices[year] = (frozenset(off), frozenset(worked))
    return notices
