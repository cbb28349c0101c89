"""Working time (工作时间): working hours on working days, with China's public holidays and the
weekend days swapped to make them up (调休上班).

Which days are working days comes from the maintained ``chinese_calendar`` package (the State
Council's annual notice, one release per year); no holiday list is kept here. For a year the
installed package does not know yet, Monday–Friday is assumed and ``covers(year)`` says so —
upgrade the package when the new notice is out.

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
from zoneinfo import ZoneInfo

import chinese_calendar

from grid.errors import InvalidInput

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
                 timezone: str = "Asia/Shanghai") -> None:
        self.periods = _periods(hours)
        self.tz = ZoneInfo(timezone)
        self.day_hours = sum(
            (datetime.combine(date.min, b) - datetime.combine(date.min, a)).total_seconds()
            for a, b in self.periods) / 3600

    @staticmethod
    def covers(year: int) -> bool:
        """Whether the installed holiday data knows ``year``'s holidays."""
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            return False
        return True

    @staticmethod
    def is_workday(day: date) -> bool:
        """A working day: Monday–Friday unless a holiday, or a weekend day swapped to work."""
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:  # a year the package does not know yet: plain weekdays
            return day.weekday() < 5

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
