"""Roster expansion (dutywatch.rosters.expansion): rotations, layers, overrides, gaps.

Random rosters in zones with DST (spring gaps, autumn folds, a 30-minute change, a change at
midnight) and without, checked against a brute-force reference written here from the rules in
the module docstring: it finds each zone's offset changes by scanning, steps every rotation
turn by turn from its start date, and asks "who" at every instant where anything could change.
Then tables: a month-long roster across the 2026 change in Berlin, Shanghai basics, a
double-cover holiday.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dutywatch.rosters.expansion import (
    Gap,
    apply_swap,
    expand,
    find_gaps,
    local_instant,
    on_duty_at,
    validate_rotation,
)
from dutywatch.rosters.holidays import day_matches, is_workday
from dutywatch.rosters.model import (
    DayKind,
    HolidayCalendar,
    Layer,
    Override,
    Role,
    Roster,
    Rotation,
    Swap,
)
from dutywatch.rosters.rules import Shift

H = timedelta(hours=1)
D = timedelta(days=1)
US = timedelta(microseconds=1)
QUARTER = timedelta(minutes=15)
HEAVY = settings(deadline=None, max_examples=150)

ZONES = (
    "Europe/Berlin",  # 02:00 → 03:00 in March, 03:00 → 02:00 in October
    "America/New_York",  # the fold is 01:00-02:00
    "Australia/Lord_Howe",  # half-hour changes
    "America/Santiago",  # changes at midnight: the fold spans two dates
    "Asia/Shanghai",  # no DST
)
PEOPLE = ("ann", "bo", "cy", "di", "ed", "fu")
ROLES = (Role.DUTY_OFFICER, Role.LEADER_ON_DUTY, Role.STANDBY)
LENGTHS = (H, 6 * H, 8 * H, 12 * H, D, D, 2 * D, 7 * D)
HANDOFFS = (
    time(0, 0),
    time(0, 30),
    time(1, 30),
    time(2, 0),
    time(2, 15),
    time(2, 30),
    time(3, 0),
    time(8, 30),
    time(23, 30),
)
SCAN_FROM = datetime(2025, 9, 1, tzinfo=UTC)
SCAN_TO = datetime(2027, 3, 1, tzinfo=UTC)


# ------------------------------------------------------------------ brute-force reference


@functools.cache
def zone_facts(name: str) -> tuple[tuple[datetime, ...], frozenset[timedelta]]:
    """Every instant the zone's UTC offset changes in the scan range, and every offset used,
    found by stepping through the range (six hours, then one minute at a time)."""
    zone = ZoneInfo(name)
    transitions: list[datetime] = []
    offset = SCAN_FROM.astimezone(zone).utcoffset()
    offsets = {offset}
    t = SCAN_FROM
    while t < SCAN_TO:
        later = t + 6 * H
        if later.astimezone(zone).utcoffset() != offset:
            u = t
            while u.astimezone(zone).utcoffset() == offset:
                u += timedelta(minutes=1)
            offset = u.astimezone(zone).utcoffset()
            offsets.add(offset)
            transitions.append(u)
        t = later
    return tuple(transitions), frozenset(o for o in offsets if o is not None)


def ref_local(instant: datetime, name: str) -> datetime:
    return instant.astimezone(ZoneInfo(name)).replace(tzinfo=None)


def ref_instant(wall: datetime, name: str) -> datetime:
    """The first instant at which the clock reads ``wall`` or later: either ``wall`` minus one
    of the zone's offsets, or an instant where the clock jumps past ``wall``."""
    transitions, offsets = zone_facts(name)
    candidates = [(wall - offset).replace(tzinfo=UTC) for offset in offsets]
    candidates += transitions
    return min(u for u in candidates if ref_local(u, name) >= wall)


def ref_workday(day: date, calendar: HolidayCalendar) -> bool:
    if day in calendar.makeup_workdays:
        return True
    return day.isoweekday() in {1, 2, 3, 4, 5} and day not in calendar.holidays


def ref_in_force(kind: DayKind, day: date, calendar: HolidayCalendar) -> bool:
    return {
        DayKind.EVERY_DAY: True,
        DayKind.WORKDAYS: ref_workday(day, calendar),
        DayKind.RESTDAYS: not ref_workday(day, calendar),
        DayKind.HOLIDAYS: day in calendar.holidays,
    }[kind]


Turn = tuple[datetime, datetime, str, bool, int]  # start, end, person, in force, turn number


def ref_turns(roster: Roster, layer: Layer, until: datetime) -> list[Turn]:
    """The layer's turns from its first one, one after the other, until ``until``."""
    rotation = layer.rotation
    wall = datetime(
        rotation.start.year,
        rotation.start.month,
        rotation.start.day,
        rotation.handoff.hour,
        rotation.handoff.minute,
    )
    turns: list[Turn] = []
    number = 0
    start = ref_instant(wall, roster.tz)
    while start < until:
        next_wall = wall + rotation.shift_length
        end = ref_instant(next_wall, roster.tz)
        in_force = ref_in_force(layer.days, wall.date(), roster.calendar)
        person = rotation.people[number % len(rotation.people)]
        turns.append((start, end, person, in_force, number))
        wall, start, number = next_wall, end, number + 1
    return turns


class Reference:
    """Who holds each slot, computed the slow way."""

    def __init__(self, roster: Roster, until: datetime) -> None:
        self.roster = roster
        self.turns = [ref_turns(roster, layer, until) for layer in roster.layers]

    def who(self, role: Role, slot: int, at: datetime) -> tuple[str | None, object]:
        """(person or None, the source that put them there)."""
        best: tuple[int, int, str, int] | None = None
        for index, layer in enumerate(self.roster.layers):
            if layer.role != role or layer.slot != slot:
                continue
            for start, end, person, in_force, number in self.turns[index]:
                stronger = best is None or (layer.priority, index) >= best[:2]
                if in_force and start <= at < end and stronger:
                    best = (layer.priority, index, person, number)
        planned = best[2] if best else None
        chosen: tuple[str | None, object] = (
            (planned, ("layer", best[1], best[3])) if best else (None, None)
        )
        for index, override in enumerate(self.roster.overrides):
            if (
                override.role == role
                and override.slot == slot
                and override.starts_at <= at < override.ends_at
                and (override.replaces is None or override.replaces == planned)
            ):
                chosen = (override.person_id, ("override", index))
        if chosen[0] is None or chosen[0] in self.roster.removed:
            return None, None
        return chosen

    def breakpoints(self, role: Role, slot: int, start: datetime, end: datetime) -> list[datetime]:
        points = {start, end}
        for index, layer in enumerate(self.roster.layers):
            if layer.role == role and layer.slot == slot:
                for turn in self.turns[index]:
                    points.update(turn[:2])
        for override in self.roster.overrides:
            if override.role == role and override.slot == slot:
                points.update((override.starts_at, override.ends_at))
        return sorted(p for p in points if start <= p <= end)

    def runs(
        self, role: Role, slot: int, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime, str | None]]:
        """Maximal runs of one person from one source (or of nobody) within [start, end)."""
        runs: list[tuple[datetime, datetime, str | None, object]] = []
        points = self.breakpoints(role, slot, start, end)
        for left, right in zip(points, points[1:], strict=False):
            person, source = self.who(role, slot, left)
            if runs and runs[-1][2:] == (person, source):
                runs[-1] = (runs[-1][0], right, person, source)
            else:
                runs.append((left, right, person, source))
        return [(a, b, person) for a, b, person, _ in runs]


def all_slots(roster: Roster) -> set[tuple[Role, int]]:
    pairs = {(role, slot) for role, count in roster.slots.items() for slot in range(count)}
    pairs |= {(layer.role, layer.slot) for layer in roster.layers}
    pairs |= {(override.role, override.slot) for override in roster.overrides}
    return pairs


def clipped(shift: Shift, start: datetime, end: datetime) -> tuple[datetime, datetime, str]:
    return max(shift.starts_at, start), min(shift.ends_at, end), shift.person_id


# ------------------------------------------------------------------------------ strategies


@st.composite
def rotations(draw: st.DrawFn, around: date, number: int) -> Rotation:
    return Rotation(
        id=f"r{number}",
        people=tuple(draw(st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=4))),
        shift_length=draw(st.sampled_from(LENGTHS)),
        handoff=draw(
            st.one_of(
                st.sampled_from(HANDOFFS),
                st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
            )
        ),
        start=around - draw(st.integers(0, 12)) * D,
    )


@st.composite
def scenarios(draw: st.DrawFn, min_overrides: int = 0) -> tuple[Roster, datetime, datetime]:
    """(roster, start, end): a window of up to four days near one of the zone's changes."""
    tz = draw(st.sampled_from(ZONES))
    changes = [t for t in zone_facts(tz)[0] if t.year == 2026] or [datetime(2026, 5, 1, tzinfo=UTC)]
    anchor = draw(st.sampled_from(changes))
    start = anchor + QUARTER * draw(st.integers(-3 * 96, 96))
    start += US * draw(st.sampled_from([0, 0, 0, 1, -1]))
    end = start + QUARTER * draw(st.integers(1, 4 * 96))
    around = anchor.date()
    layers = tuple(
        Layer(
            id=f"l{number}",
            role=draw(st.sampled_from(ROLES[:2]) if number else st.sampled_from(ROLES)),
            rotation=draw(rotations(around, number)),
            days=draw(st.sampled_from(DayKind)),
            slot=draw(st.sampled_from([0, 0, 1])),
            priority=draw(st.integers(0, 1)),
        )
        for number in range(draw(st.integers(1, 3)))
    )
    overrides = tuple(
        Override(
            id=f"o{number}",
            role=draw(st.sampled_from([layer.role for layer in layers] + [Role.DUTY_OFFICER])),
            person_id=draw(st.sampled_from(PEOPLE)),
            starts_at=(o_start := start + QUARTER * draw(st.integers(-96, 4 * 96))),
            ends_at=o_start + QUARTER * draw(st.integers(1, 2 * 96)),
            slot=draw(st.sampled_from([0, 0, 1])),
            replaces=draw(st.one_of(st.none(), st.sampled_from(PEOPLE))),
        )
        for number in range(draw(st.integers(min_overrides, 4)))
    )
    days = st.sampled_from([around + k * D for k in range(-14, 7)])
    roster = Roster(
        id="r",
        org_path="c.d1",
        tz=tz,
        slots={
            Role.DUTY_OFFICER: draw(st.integers(1, 2)),
            Role.LEADER_ON_DUTY: draw(st.integers(0, 1)),
        },
        layers=layers,
        overrides=overrides,
        calendar=HolidayCalendar(
            holidays=draw(st.frozensets(days, max_size=6)),
            makeup_workdays=draw(st.frozensets(days, max_size=2)),
        ),
        removed=draw(st.frozensets(st.sampled_from(PEOPLE), max_size=2)),
    )
    return roster, start, end


# ------------------------------------------------------------------------ properties


@HEAVY
@given(scenarios())
def test_expand_and_find_gaps_equal_the_reference(
    scenario: tuple[Roster, datetime, datetime],
) -> None:
    roster, start, end = scenario
    shifts = expand(roster, start, end)
    gaps = find_gaps(roster, start, end)
    reference = Reference(roster, end)
    assert shifts == sorted(shifts, key=lambda s: (s.role, s.slot, s.starts_at))
    assert gaps == sorted(gaps, key=lambda g: (g.role, g.slot, g.starts_at))
    required = {(role, slot) for role, count in roster.slots.items() for slot in range(count)}
    for role, slot in all_slots(roster):
        mine = [s for s in shifts if (s.role, s.slot) == (role, slot)]
        for shift in mine:
            assert shift.starts_at < shift.ends_at
            assert shift.starts_at < end
            assert shift.ends_at > start
            assert shift.org_path == roster.org_path
            assert shift.starts_at.utcoffset() == timedelta(0)
        for before, after in zip(mine, mine[1:], strict=False):
            assert before.ends_at <= after.starts_at  # never two people in one slot
        runs = reference.runs(role, slot, start, end)
        assert [clipped(s, start, end) for s in mine] == [r for r in runs if r[2] is not None]
        holes = [(g.starts_at, g.ends_at) for g in gaps if (g.role, g.slot) == (role, slot)]
        if (role, slot) in required:
            assert holes == [(a, b) for a, b, person in runs if person is None]
        else:
            assert holes == []


@HEAVY
@given(scenarios(), st.data())
def test_expand_is_the_same_through_any_window(
    scenario: tuple[Roster, datetime, datetime], data: st.DataObject
) -> None:
    """Shifts are whole: [a, c) gives the shifts of [a, b) and of [b, c), one spanning b once."""
    roster, a, c = scenario
    b = data.draw(st.sampled_from([a + (c - a) / 2, a + (c - a) / 3, c - US, a + US]))
    b = min(max(b, a), c)
    whole = expand(roster, a, c)
    halves = set(expand(roster, a, b)) | set(expand(roster, b, c))
    assert set(whole) == halves
    assert len(set(whole)) == len(whole)
    wider = expand(roster, a - 8 * D, c + 8 * D)
    assert whole == [s for s in wider if s.starts_at < c and s.ends_at > a]


@HEAVY
@given(scenarios(), st.data())
def test_on_duty_at_equals_the_reference_and_expand(
    scenario: tuple[Roster, datetime, datetime], data: st.DataObject
) -> None:
    roster, start, end = scenario
    shifts = expand(roster, start, end)
    reference = Reference(roster, end + D)
    edges = [s.starts_at for s in shifts] + [s.ends_at for s in shifts]
    instants = [start, end - US] + [e + d for e in edges for d in (-US, timedelta(0))]
    for at in data.draw(st.lists(st.sampled_from(instants), min_size=1, max_size=12)):
        if not start <= at < end:
            continue
        for role in {role for role, _ in all_slots(roster)}:
            expected = {
                reference.who(r, slot, at)[0] for r, slot in all_slots(roster) if r == role
            } - {None}
            assert on_duty_at(roster, role, at) == sorted(expected)
            assert on_duty_at(roster, role.value, at) == sorted(expected)
            holders = {s.person_id for s in shifts if s.role == role and s.covers(at)}
            assert holders == expected


@HEAVY
@given(scenarios(min_overrides=1))
def test_the_last_override_always_wins_and_removed_people_never_appear(
    scenario: tuple[Roster, datetime, datetime],
) -> None:
    roster, start, end = scenario
    last = replace(roster.overrides[-1], replaces=None)
    roster = replace(roster, overrides=(*roster.overrides[:-1], last))
    wide_start, wide_end = min(start, last.starts_at), max(end, last.ends_at)
    shifts = expand(roster, wide_start, wide_end)
    for at in (
        last.starts_at,
        last.starts_at + (last.ends_at - last.starts_at) / 2,
        last.ends_at - US,
    ):
        holders = [
            s.person_id
            for s in shifts
            if (s.role, s.slot) == (last.role, last.slot) and s.covers(at)
        ]
        assert holders == ([] if last.person_id in roster.removed else [last.person_id])
    assert not {s.person_id for s in shifts} & roster.removed
    for role in ROLES:
        assert not set(on_duty_at(roster, role, last.starts_at)) & roster.removed


@st.composite
def walls(draw: st.DrawFn) -> tuple[str, datetime]:
    """(zone, wall-clock time), mostly within three hours of one of the zone's changes."""
    tz = draw(st.sampled_from(ZONES))
    changes = zone_facts(tz)[0]
    if changes and draw(st.integers(0, 4)):
        near = ref_local(draw(st.sampled_from(changes)), tz)
        return tz, near + US * draw(st.integers(-3 * 3600 * 10**6, 3 * 3600 * 10**6))
    return tz, draw(st.datetimes(min_value=datetime(2025, 10, 1), max_value=datetime(2027, 1, 31)))


@settings(max_examples=300)
@given(walls())
def test_local_instant_is_the_first_instant_the_clock_reads_the_time(
    zone_and_wall: tuple[str, datetime],
) -> None:
    tz, wall = zone_and_wall
    instant = local_instant(wall, ZoneInfo(tz))
    assert instant == ref_instant(wall, tz)
    assert ref_local(instant, tz) >= wall
    assert ref_local(instant - US, tz) < wall
    assert local_instant(wall + US, ZoneInfo(tz)) >= instant  # never backwards


# ------------------------------------------------------------------------- wall clock


BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("tz", "wall", "instant"),
    [
        # spring gap 02:00-03:00: any time in it is 03:00 CEST
        ("Europe/Berlin", datetime(2026, 3, 29, 2, 0), datetime(2026, 3, 29, 1, 0)),
        ("Europe/Berlin", datetime(2026, 3, 29, 2, 30), datetime(2026, 3, 29, 1, 0)),
        ("Europe/Berlin", datetime(2026, 3, 29, 3, 0), datetime(2026, 3, 29, 1, 0)),
        ("Europe/Berlin", datetime(2026, 3, 29, 1, 59), datetime(2026, 3, 29, 0, 59)),
        # autumn fold 02:00-03:00: the first (CEST) occurrence
        ("Europe/Berlin", datetime(2026, 10, 25, 2, 30), datetime(2026, 10, 25, 0, 30)),
        ("Europe/Berlin", datetime(2026, 10, 25, 3, 0), datetime(2026, 10, 25, 2, 0)),
        ("America/New_York", datetime(2026, 3, 8, 2, 30), datetime(2026, 3, 8, 7, 0)),
        ("America/New_York", datetime(2026, 11, 1, 1, 30), datetime(2026, 11, 1, 5, 30)),
        # half-hour change
        ("Australia/Lord_Howe", datetime(2026, 10, 4, 2, 15), datetime(2026, 10, 3, 15, 30)),
        ("Australia/Lord_Howe", datetime(2026, 4, 5, 1, 45), datetime(2026, 4, 4, 14, 45)),
        # Santiago springs from 00:00 to 01:00: midnight itself does not exist
        ("America/Santiago", datetime(2026, 9, 6, 0, 0), datetime(2026, 9, 6, 4, 0)),
        ("Asia/Shanghai", datetime(2026, 3, 29, 8, 30), datetime(2026, 3, 29, 0, 30)),
    ],
)
def test_local_instant_table(tz: str, wall: datetime, instant: datetime) -> None:
    assert local_instant(wall, ZoneInfo(tz)) == instant.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- builders


def rotation(
    people: str,
    length: timedelta = D,
    handoff: time = time(8, 30),
    start: date = date(2026, 3, 2),
    name: str = "r",
) -> Rotation:
    return Rotation(
        id=name, people=tuple(people.split()), shift_length=length, handoff=handoff, start=start
    )


def layer(
    rot: Rotation,
    role: Role = Role.DUTY_OFFICER,
    days: DayKind = DayKind.EVERY_DAY,
    slot: int = 0,
    priority: int = 0,
    name: str = "l",
) -> Layer:
    return Layer(id=name, role=role, rotation=rot, days=days, slot=slot, priority=priority)


def override(
    person: str,
    starts_at: datetime,
    ends_at: datetime,
    *,
    replaces: str | None = None,
    role: Role = Role.DUTY_OFFICER,
    slot: int = 0,
    name: str = "o",
) -> Override:
    return Override(
        id=name,
        role=role,
        person_id=person,
        starts_at=starts_at,
        ends_at=ends_at,
        slot=slot,
        replaces=replaces,
    )


def roster(
    *layers: Layer,
    tz: str = "Europe/Berlin",
    overrides: tuple[Override, ...] = (),
    removed: frozenset[str] = frozenset(),
    slots: dict[Role, int] | None = None,
    calendar: HolidayCalendar | None = None,
) -> Roster:
    return Roster(
        id="demo",
        org_path="berlin.mitte",
        tz=tz,
        slots=slots if slots is not None else {Role.DUTY_OFFICER: 1},
        layers=layers,
        overrides=overrides,
        removed=removed,
        calendar=calendar or HolidayCalendar(),
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz))


def table(shifts: list[Shift]) -> list[tuple[str, datetime, datetime]]:
    return [(s.person_id, s.starts_at, s.ends_at) for s in shifts]


# ------------------------------------------------------------ month-long demo, Berlin DST


HOLIDAY = date(2026, 3, 19)  # a Thursday declared a holiday, so the rest-day layer covers it
OFFICERS = rotation("anna ben carl dora", start=date(2026, 2, 23), name="weekdays")
WEEKEND = rotation("emil fritz", start=date(2026, 2, 28), name="weekends")
LEADERS = rotation("greta hans", length=7 * D, start=date(2026, 2, 23), name="leaders")
SWAP = Swap(
    id="s1",
    # anna takes dora's Tuesday 10 March and dora takes anna's Wednesday (turns 15 and 16)
    first=override(
        "anna",
        local("Europe/Berlin", 2026, 3, 10, 8, 30),
        local("Europe/Berlin", 2026, 3, 11, 8, 30),
        replaces="dora",
        name="s1a",
    ),
    second=override(
        "dora",
        local("Europe/Berlin", 2026, 3, 11, 8, 30),
        local("Europe/Berlin", 2026, 3, 12, 8, 30),
        replaces="anna",
        name="s1b",
    ),
)
COVER = override(  # fritz covers four hours of dora's Monday after the change
    "fritz",
    local("Europe/Berlin", 2026, 3, 30, 14, 0),
    local("Europe/Berlin", 2026, 3, 30, 18, 0),
    name="o1",
)


def demo_roster() -> Roster:
    plain = roster(
        layer(OFFICERS, days=DayKind.WORKDAYS, name="weekdays"),
        layer(WEEKEND, days=DayKind.RESTDAYS, priority=1, name="weekends"),
        layer(LEADERS, role=Role.LEADER_ON_DUTY, name="leaders"),
        overrides=(COVER,),
        slots={Role.DUTY_OFFICER: 1, Role.LEADER_ON_DUTY: 1},
        calendar=HolidayCalendar(holidays=frozenset({HOLIDAY})),
    )
    return apply_swap(plain, SWAP)


MARCH = (local("Europe/Berlin", 2026, 3, 1), local("Europe/Berlin", 2026, 4, 1))


def officers(start: datetime, end: datetime) -> list[tuple[str, datetime, datetime]]:
    return table([s for s in expand(demo_roster(), start, end) if s.role == Role.DUTY_OFFICER])


def test_demo_month_hands_over_at_0830_local_on_both_sides_of_the_change() -> None:
    shifts = [s for s in expand(demo_roster(), *MARCH) if s.role == Role.DUTY_OFFICER]
    handovers = {s.starts_at for s in shifts} - {COVER.starts_at, COVER.ends_at}
    before = {t for t in handovers if t < utc(2026, 3, 29)}
    after = handovers - before
    assert {t.time() for t in before} == {time(7, 30)}  # 08:30 CET
    assert {t.time() for t in after} == {time(6, 30)}  # 08:30 CEST
    assert len(handovers) == 32  # 28 Feb 08:30 to 1 Apr 08:30, one handover a day
    assert find_gaps(demo_roster(), *MARCH) == []


def test_demo_week_of_the_change_exactly() -> None:
    assert officers(utc(2026, 3, 26, 12), utc(2026, 3, 31, 12)) == [
        ("dora", utc(2026, 3, 26, 7, 30), utc(2026, 3, 27, 7, 30)),  # Thu, turn 31
        ("anna", utc(2026, 3, 27, 7, 30), utc(2026, 3, 28, 7, 30)),  # Fri
        # Saturday's duty: 23 hours, ending 08:30 CEST
        ("emil", utc(2026, 3, 28, 7, 30), utc(2026, 3, 29, 6, 30)),
        ("fritz", utc(2026, 3, 29, 6, 30), utc(2026, 3, 30, 6, 30)),  # Sun
        ("dora", utc(2026, 3, 30, 6, 30), utc(2026, 3, 30, 12, 0)),  # Mon, cut by the cover
        ("fritz", utc(2026, 3, 30, 12, 0), utc(2026, 3, 30, 16, 0)),
        ("dora", utc(2026, 3, 30, 16, 0), utc(2026, 3, 31, 6, 30)),
        ("anna", utc(2026, 3, 31, 6, 30), utc(2026, 4, 1, 6, 30)),
    ]
    saturday = [s for s in expand(demo_roster(), *MARCH) if s.starts_at == utc(2026, 3, 28, 7, 30)]
    assert [s.ends_at - s.starts_at for s in saturday] == [23 * H]


def test_demo_swap_holiday_and_leaders() -> None:
    assert officers(utc(2026, 3, 9, 12), utc(2026, 3, 12, 12)) == [
        ("carl", utc(2026, 3, 9, 7, 30), utc(2026, 3, 10, 7, 30)),
        ("anna", utc(2026, 3, 10, 7, 30), utc(2026, 3, 11, 7, 30)),  # dora's turn, swapped
        ("dora", utc(2026, 3, 11, 7, 30), utc(2026, 3, 12, 7, 30)),  # anna's turn, swapped
        ("ben", utc(2026, 3, 12, 7, 30), utc(2026, 3, 13, 7, 30)),
    ]
    # the holiday is a rest day: the weekend rotation covers it, counting on from Saturday
    assert on_duty_at(
        demo_roster(), Role.DUTY_OFFICER, local("Europe/Berlin", 2026, 3, 19, 12)
    ) == ["fritz"]
    leaders = [s for s in expand(demo_roster(), *MARCH) if s.role == Role.LEADER_ON_DUTY]
    assert [(s.person_id, s.ends_at - s.starts_at) for s in leaders] == [
        ("greta", 7 * D),  # 23 Feb
        ("hans", 7 * D),
        ("greta", 7 * D),
        ("hans", 7 * D),
        ("greta", 7 * D - H),  # 23 Mar: the week with the change is an hour short
        ("hans", 7 * D),
    ]


def test_swap_is_two_overrides_or_nothing() -> None:
    plain = roster(layer(OFFICERS))
    swapped = apply_swap(plain, SWAP)
    assert swapped.overrides == (SWAP.first, SWAP.second)
    assert plain.overrides == ()
    same_person = replace(SWAP, second=replace(SWAP.second, person_id="anna"))
    other_role = replace(SWAP, second=replace(SWAP.second, role=Role.LEADER_ON_DUTY))
    removed = replace(plain, removed=frozenset({"dora"}))
    for bad_roster, bad_swap, message in [
        (plain, same_person, "two"),
        (plain, other_role, "roles must match"),
        (removed, SWAP, "no longer on roster"),
        (swapped, SWAP, "already recorded"),
        (plain, replace(SWAP, second=replace(SWAP.second, id="s1a")), "same id|both overrides"),
        (
            plain,
            replace(SWAP, first=replace(SWAP.first, ends_at=SWAP.first.starts_at)),
            "must end after",
        ),
    ]:
        with pytest.raises(ValueError, match=message):
            apply_swap(bad_roster, bad_swap)


# ------------------------------------------------------------------------ Shanghai basics


def test_shanghai_24h_and_12h_rotations() -> None:
    tz = "Asia/Shanghai"
    daily = roster(layer(rotation("li wang", start=date(2026, 5, 1))), tz=tz)
    assert table(expand(daily, utc(2026, 5, 1), utc(2026, 5, 3))) == [
        ("li", utc(2026, 5, 1, 0, 30), utc(2026, 5, 2, 0, 30)),  # 08:30 CST = 00:30Z
        ("wang", utc(2026, 5, 2, 0, 30), utc(2026, 5, 3, 0, 30)),
    ]
    # before the rotation's first turn nobody is on duty, and that is a gap
    assert find_gaps(daily, utc(2026, 4, 30), utc(2026, 5, 2)) == [
        Gap(role="duty_officer", slot=0, starts_at=utc(2026, 4, 30), ends_at=utc(2026, 5, 1, 0, 30))
    ]
    assert on_duty_at(daily, Role.DUTY_OFFICER, utc(2026, 5, 1, 0, 29)) == []
    assert on_duty_at(daily, "duty_officer", utc(2026, 5, 1, 0, 30)) == ["li"]
    halves = roster(layer(rotation("a b c", length=12 * H, handoff=time(8))), tz=tz)
    assert table(expand(halves, local(tz, 2026, 3, 2, 8), local(tz, 2026, 3, 3, 8))) == [
        ("a", utc(2026, 3, 2, 0), utc(2026, 3, 2, 12)),
        ("b", utc(2026, 3, 2, 12), utc(2026, 3, 3, 0)),
    ]
    assert on_duty_at(halves, Role.DUTY_OFFICER, local(tz, 2026, 3, 3, 7, 59)) == ["b"]
    assert on_duty_at(halves, Role.DUTY_OFFICER, local(tz, 2026, 3, 3, 8)) == ["c"]


def test_shifts_are_reported_whole_and_consecutive_turns_are_not_merged() -> None:
    alone = roster(layer(rotation("solo", start=date(2026, 3, 2))), tz="Asia/Shanghai")
    assert table(expand(alone, utc(2026, 3, 3, 5), utc(2026, 3, 3, 5, 1))) == [
        ("solo", utc(2026, 3, 3, 0, 30), utc(2026, 3, 4, 0, 30))
    ]
    assert len(expand(alone, utc(2026, 3, 3, 5), utc(2026, 3, 5, 5))) == 3
    # an override naming the person already on duty is its own shift
    again = replace(alone, overrides=(override("solo", utc(2026, 3, 3, 2), utc(2026, 3, 3, 3)),))
    assert table(expand(again, utc(2026, 3, 3, 1), utc(2026, 3, 3, 4))) == [
        ("solo", utc(2026, 3, 3, 0, 30), utc(2026, 3, 3, 2)),
        ("solo", utc(2026, 3, 3, 2), utc(2026, 3, 3, 3)),
        ("solo", utc(2026, 3, 3, 3), utc(2026, 3, 4, 0, 30)),
    ]
    # a weaker layer's handoffs do not cut a stronger layer's turn
    under = layer(rotation("x y", length=6 * H, name="six"), priority=-1, name="under")
    stacked = replace(alone, layers=(*alone.layers, under))
    assert table(expand(stacked, utc(2026, 3, 3, 5), utc(2026, 3, 3, 6))) == [
        ("solo", utc(2026, 3, 3, 0, 30), utc(2026, 3, 4, 0, 30))
    ]


# --------------------------------------------------------------- double cover on holidays


NATIONAL_DAY = HolidayCalendar(
    holidays=frozenset(date(2026, 10, d) for d in range(1, 8)),
    makeup_workdays=frozenset({date(2026, 9, 27), date(2026, 10, 10)}),
)


def test_double_cover_on_holidays() -> None:
    tz = "Asia/Shanghai"
    doubled = roster(
        layer(rotation("a b c", start=date(2026, 9, 1)), name="first"),
        layer(rotation("d e", start=date(2026, 9, 1)), days=DayKind.HOLIDAYS, slot=1, name="hol"),
        tz=tz,
        slots={Role.DUTY_OFFICER: 2},
        calendar=NATIONAL_DAY,
    )
    start, end = local(tz, 2026, 9, 30, 8, 30), local(tz, 2026, 10, 9, 8, 30)
    assert on_duty_at(doubled, Role.DUTY_OFFICER, local(tz, 2026, 10, 3, 12)) == ["c", "d"]
    assert on_duty_at(doubled, Role.DUTY_OFFICER, local(tz, 2026, 10, 8, 12)) == ["b"]
    # slot 1 is required every day but filled only on the seven holidays (each 24 h turn that
    # starts on one, so the duty that begins on 7 October ends on the 8th)
    assert find_gaps(doubled, start, end) == [
        Gap(role="duty_officer", slot=1, starts_at=start, ends_at=local(tz, 2026, 10, 1, 8, 30)),
        Gap(role="duty_officer", slot=1, starts_at=local(tz, 2026, 10, 8, 8, 30), ends_at=end),
    ]
    second = [s for s in expand(doubled, start, end) if s.slot == 1]
    assert [s.person_id for s in second] == ["d", "e", "d", "e", "d", "e", "d"]


def test_day_kinds_with_holidays_and_makeup_workdays() -> None:
    cal = NATIONAL_DAY
    sunday_workday, saturday_workday = date(2026, 9, 27), date(2026, 10, 10)
    thursday_holiday, plain_saturday = date(2026, 10, 1), date(2026, 10, 17)
    assert is_workday(sunday_workday, cal)
    assert is_workday(saturday_workday, cal)
    assert not is_workday(thursday_holiday, cal)
    assert not is_workday(plain_saturday, cal)
    assert is_workday(date(2026, 10, 9), cal)  # a plain Friday
    assert day_matches(DayKind.HOLIDAYS, thursday_holiday, cal)
    assert not day_matches(DayKind.HOLIDAYS, plain_saturday, cal)
    assert day_matches(DayKind.RESTDAYS, plain_saturday, cal)
    assert not day_matches(DayKind.RESTDAYS, saturday_workday, cal)
    assert day_matches(DayKind("workdays"), sunday_workday, cal)
    for day in (sunday_workday, thursday_holiday, plain_saturday):
        assert day_matches(DayKind.EVERY_DAY, day, cal)


def test_a_24h_duty_belongs_to_the_day_it_starts() -> None:
    tz = "Asia/Shanghai"
    weekend = roster(layer(rotation("we", start=date(2026, 3, 2)), days=DayKind.RESTDAYS), tz=tz)
    # Saturday 08:30 to Sunday 08:30 and Sunday 08:30 to Monday 08:30; not Friday's night
    assert table(expand(weekend, local(tz, 2026, 3, 6), local(tz, 2026, 3, 10))) == [
        ("we", local(tz, 2026, 3, 7, 8, 30), local(tz, 2026, 3, 8, 8, 30)),
        ("we", local(tz, 2026, 3, 8, 8, 30), local(tz, 2026, 3, 9, 8, 30)),
    ]


# ------------------------------------------------------------ DST with sub-day rotations


def test_12h_rotation_across_berlin_changes() -> None:
    halves = roster(layer(rotation("a b", length=12 * H, handoff=time(8), start=date(2026, 3, 1))))
    spring = table(expand(halves, utc(2026, 3, 28, 12), utc(2026, 3, 29, 12)))
    assert [(p, e - s) for p, s, e in spring] == [("a", 12 * H), ("b", 11 * H), ("a", 12 * H)]
    assert spring[1][1:] == (utc(2026, 3, 28, 19), utc(2026, 3, 29, 6))
    autumn = table(expand(halves, utc(2026, 10, 24, 12), utc(2026, 10, 25, 12)))
    assert [e - s for _, s, e in autumn] == [12 * H, 13 * H, 12 * H]


def test_hourly_rotation_skips_the_hour_that_does_not_exist() -> None:
    hourly = roster(layer(rotation("a b c", length=H, handoff=time(0), start=date(2026, 3, 29))))
    spring = table(expand(hourly, local("Europe/Berlin", 2026, 3, 29), utc(2026, 3, 29, 2)))
    # 00:00 a, 01:00 b, 02:00 c (does not exist: skipped), 03:00 a
    assert [p for p, _, _ in spring] == ["a", "b", "a"]
    assert all(e - s == H for _, s, e in spring)
    fall = replace(
        hourly,
        layers=(layer(rotation("a b c", length=H, handoff=time(0), start=date(2026, 10, 25))),),
    )
    autumn = table(expand(fall, local("Europe/Berlin", 2026, 10, 25), utc(2026, 10, 25, 3)))
    # 02:00 CEST..03:00 CET is two hours: the 02:00 turn holds through the repeated hour
    assert [(p, e - s) for p, s, e in autumn] == [("a", H), ("b", H), ("c", 2 * H), ("a", H)]


def test_24h_duty_at_0230_on_the_night_of_the_change() -> None:
    duty = roster(layer(rotation("a b", handoff=time(2, 30), start=date(2026, 3, 28))))
    assert table(expand(duty, utc(2026, 3, 28, 2), utc(2026, 3, 30))) == [
        ("a", utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1)),  # 02:30 CET to 03:00 CEST
        ("b", utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)),
    ]


# -------------------------------------------------------------- overrides and removal


def test_replaces_applies_only_where_the_layers_put_that_person() -> None:
    tz = "Asia/Shanghai"
    base = roster(layer(rotation("a b", start=date(2026, 3, 2))), tz=tz)
    # the override says "x replaces a" over two days: only a's day is taken
    cover = override("x", local(tz, 2026, 3, 2, 8, 30), local(tz, 2026, 3, 4, 8, 30), replaces="a")
    covered = replace(base, overrides=(cover,))
    assert [p for p, _, _ in table(expand(covered, cover.starts_at, cover.ends_at))] == ["x", "b"]
    # replacing somebody in an empty slot does nothing; without `replaces` it fills the slot
    early = local(tz, 2026, 3, 1, 12)
    stale = override("x", early - H, early + H, replaces="a")
    fill = override("y", early - H, early + H)
    assert on_duty_at(replace(base, overrides=(stale,)), Role.DUTY_OFFICER, early) == []
    assert on_duty_at(replace(base, overrides=(fill,)), Role.DUTY_OFFICER, early) == ["y"]
    # later overrides win over earlier ones
    both = replace(base, overrides=(fill, replace(fill, id="o2", person_id="z")))
    assert on_duty_at(both, Role.DUTY_OFFICER, early) == ["z"]


def test_removed_people_leave_a_gap_nobody_is_promoted() -> None:
    tz = "Asia/Shanghai"
    cover = override("b", local(tz, 2026, 3, 2, 12), local(tz, 2026, 3, 2, 13))
    gone = roster(
        layer(rotation("a b", start=date(2026, 3, 2))),
        layer(rotation("w", start=date(2026, 3, 2), name="weak"), priority=-1, name="weak"),
        tz=tz,
        overrides=(cover,),
        removed=frozenset({"b"}),
    )
    day = (local(tz, 2026, 3, 2, 8, 30), local(tz, 2026, 3, 4, 8, 30))
    assert table(expand(gone, *day)) == [
        ("a", local(tz, 2026, 3, 2, 8, 30), local(tz, 2026, 3, 2, 12)),
        ("a", local(tz, 2026, 3, 2, 13), local(tz, 2026, 3, 3, 8, 30)),
    ]
    assert find_gaps(gone, *day) == [
        Gap(
            role="duty_officer",
            slot=0,
            starts_at=local(tz, 2026, 3, 2, 12),
            ends_at=local(tz, 2026, 3, 2, 13),
        ),
        Gap(
            role="duty_officer",
            slot=0,
            starts_at=local(tz, 2026, 3, 3, 8, 30),
            ends_at=local(tz, 2026, 3, 4, 8, 30),
        ),
    ]


def test_equal_priorities_go_to_the_later_layer() -> None:
    tz = "Asia/Shanghai"
    tie = roster(
        layer(rotation("first", start=date(2026, 3, 2)), name="one"),
        layer(rotation("second", start=date(2026, 3, 2)), name="two"),
        tz=tz,
    )
    assert on_duty_at(tie, Role.DUTY_OFFICER, local(tz, 2026, 3, 3)) == ["second"]


def test_optional_slots_are_expanded_but_never_gaps() -> None:
    tz = "Asia/Shanghai"
    standby = roster(
        layer(rotation("s", start=date(2026, 3, 3)), role=Role.STANDBY),
        layer(rotation("a", start=date(2026, 3, 1)), name="a"),
        tz=tz,
    )
    window = (local(tz, 2026, 3, 2, 8, 30), local(tz, 2026, 3, 4, 8, 30))
    assert [s.role for s in expand(standby, *window)] == ["duty_officer", "duty_officer", "standby"]
    assert find_gaps(standby, *window) == []
    assert on_duty_at(standby, Role.STANDBY, local(tz, 2026, 3, 2, 12)) == []


# ------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"people": ()}, "needs at least one person"),
        ({"shift_length": timedelta(0)}, "shift length must be positive"),
        ({"shift_length": -D}, "shift length must be positive"),
        ({"shift_length": 7 * H}, "must divide 24 hours"),
        ({"shift_length": 36 * H}, "whole days"),
        ({"handoff": time(8, 30, tzinfo=UTC)}, "must not carry a tzinfo"),
    ],
)
def test_invalid_rotations_are_refused(changes: dict[str, object], message: str) -> None:
    bad = replace(rotation("a b"), **changes)
    with pytest.raises(ValueError, match=message):
        validate_rotation(bad)
    with pytest.raises(ValueError, match=f"rotation 'r': .*{message}"):
        expand(roster(layer(bad)), utc(2026, 3, 1), utc(2026, 3, 2))


@pytest.mark.parametrize("length", [H, 45 * timedelta(minutes=1), 8 * H, 12 * H, D, 14 * D])
def test_valid_lengths(length: timedelta) -> None:
    validate_rotation(replace(rotation("a"), shift_length=length))


def test_windows_and_rosters_are_checked() -> None:
    ok = roster(layer(rotation("a")))
    with pytest.raises(ValueError, match="aware"):
        expand(ok, datetime(2026, 3, 1), utc(2026, 3, 2))
    with pytest.raises(ValueError, match="before it starts"):
        find_gaps(ok, utc(2026, 3, 2), utc(2026, 3, 1))
    with pytest.raises(ValueError, match="aware"):
        on_duty_at(ok, Role.DUTY_OFFICER, datetime(2026, 3, 1))
    with pytest.raises(ValueError, match="unknown time zone"):
        expand(replace(ok, tz="Mars/Olympus"), utc(2026, 3, 1), utc(2026, 3, 2))
    naive = override("x", datetime(2026, 3, 1), datetime(2026, 3, 2))
    with pytest.raises(ValueError, match="override 'o' starts_at must be an aware"):
        expand(replace(ok, overrides=(naive,)), utc(2026, 3, 1), utc(2026, 3, 2))
    with pytest.raises(ValueError, match="is not a valid Role"):
        on_duty_at(ok, "janitor", utc(2026, 3, 1))
    assert expand(ok, utc(2026, 3, 5), utc(2026, 3, 5)) == []
    assert find_gaps(ok, utc(2026, 3, 5), utc(2026, 3, 5)) == []
