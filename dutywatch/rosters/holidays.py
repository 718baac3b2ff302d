"""Which days a layer applies to: workdays, rest days and holidays of a holiday calendar.

Chinese public holidays move whole weekends around (调休): a Saturday can be a make-up workday
and a Wednesday a holiday. So a workday is Monday-Friday minus holidays, plus make-up workdays;
a rest day is every other day. A date listed both as a holiday and as a make-up workday is a
workday (the make-up list is the more specific statement) and still a holiday for ``HOLIDAYS``.
"""

from __future__ import annotations

from datetime import date
from typing import assert_never

from dutywatch.rosters.model import DayKind, HolidayCalendar

_FRIDAY = 4


def is_workday(day: date, calendar: HolidayCalendar) -> bool:
    if day in calendar.makeup_workdays:
        return True
    return day.weekday() <= _FRIDAY and day not in calendar.holidays


def day_matches(kind: DayKind, day: date, calendar: HolidayCalendar) -> bool:
    """Whether a layer restricted to ``kind`` applies to the (local) date ``day``."""
    match DayKind(kind):  # a plain string read from storage works too
        case DayKind.EVERY_DAY:
            return True
        case DayKind.WORKDAYS:
            return is_workday(day, calendar)
        case DayKind.RESTDAYS:
            return not is_workday(day, calendar)
        case DayKind.HOLIDAYS:
            return day in calendar.holidays
        case unknown:
            assert_never(unknown)
