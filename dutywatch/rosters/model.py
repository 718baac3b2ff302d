"""The roster model (值班表): what a duty office plans, before it is expanded into shifts.

A :class:`Roster` belongs to one organisation and has role slots (``duty_officer`` needs one
person, ``leader_on_duty`` one; a holiday roster may ask two of each: 双带班). Each role is filled
by :class:`Layer` s stacked in priority order, each layer a :class:`Rotation` (people taking turns
for a shift length, handing over at a local time of day) restricted to some days (weekdays,
weekends, holidays). :class:`Override` s replace a person for an interval and always win; a
:class:`Swap` is two overrides made together. Times of day are in the roster's time zone, so a
24-hour duty that hands over at 08:30 still hands over at 08:30 local time across a DST change.

Everything here is a frozen value; the rules in ``dutywatch.rosters.expansion`` turn a roster
and an interval into :class:`dutywatch.rosters.rules.Shift` s.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta


class Role(enum.StrEnum):
    DUTY_OFFICER = "duty_officer"  # 值班员
    LEADER_ON_DUTY = "leader_on_duty"  # 带班领导
    DEPUTY_OFFICER = "deputy_officer"  # 副班
    STANDBY = "standby"  # 备班


class DayKind(enum.StrEnum):
    """Which days a layer applies to; holidays come from the roster's holiday calendar."""

    EVERY_DAY = "every_day"
    WORKDAYS = "workdays"  # Monday-Friday that are not holidays, plus make-up workdays (调休)
    RESTDAYS = "restdays"  # Saturday, Sunday and holidays, minus make-up workdays
    HOLIDAYS = "holidays"  # holidays only


@dataclass(frozen=True, kw_only=True)
class Rotation:
    """People taking turns: person ``k`` holds shift ``k mod len(people)`` from ``start``.

    Shift ``n`` starts at local ``start + n * shift_length`` for lengths that are whole days
    (handing over at ``handoff`` local time, DST-safe); shorter lengths (e.g. 12 h) must divide
    a day and hand over at ``handoff`` and every ``shift_length`` after it, in local time.
    """

    id: str
    people: tuple[str, ...]
    shift_length: timedelta
    handoff: time
    start: date


@dataclass(frozen=True, kw_only=True)
class Layer:
    """One rotation filling ``slot`` of ``role`` on ``days``; higher ``priority`` wins."""

    id: str
    role: Role
    rotation: Rotation
    days: DayKind = DayKind.EVERY_DAY
    slot: int = 0
    priority: int = 0


@dataclass(frozen=True, kw_only=True)
class Override:
    """``person_id`` holds ``slot`` of ``role`` from ``starts_at`` to ``ends_at`` (exclusive).

    ``replaces`` names the person taken off (None: whoever the layers put there).
    """

    id: str
    role: Role
    person_id: str
    starts_at: datetime
    ends_at: datetime
    slot: int = 0
    replaces: str | None = None
    reason: str = ""
    #: The swap this override is half of, so both halves are shown and undone together.
    swap_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Swap:
    """Two people trade shifts: two overrides recorded together (approved and audited)."""

    id: str
    first: Override
    second: Override


@dataclass(frozen=True, kw_only=True)
class HolidayCalendar:
    """Public holidays and make-up workdays (调休) of a jurisdiction, loaded per year."""

    holidays: frozenset[date] = frozenset()
    makeup_workdays: frozenset[date] = frozenset()


@dataclass(frozen=True, kw_only=True)
class Roster:
    id: str
    org_path: str
    tz: str = "Asia/Shanghai"
    #: How many people each role needs at once (slots 0 .. n-1).
    slots: dict[Role, int] = field(
        default_factory=lambda: {Role.DUTY_OFFICER: 1, Role.LEADER_ON_DUTY: 1}
    )
    layers: tuple[Layer, ...] = ()
    overrides: tuple[Override, ...] = ()
    calendar: HolidayCalendar = field(default_factory=HolidayCalendar)
    #: People no longer on this roster (left, long absence): never on duty, even if a
    #: rotation or override still names them.
    removed: frozenset[str] = frozenset()
