"""Pure roster checks (dutywatch.rosters.validation) and the CSV row parser."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dutywatch.rosters.csv_import import parse, plan
from dutywatch.rosters.model import DayKind, Layer, Override, Role, Roster, Rotation
from dutywatch.rosters.validation import (
    format_handoff,
    format_shift_length,
    parse_handoff,
    parse_shift_length,
    problems,
    shift_length_problem,
)

H = timedelta(hours=1)
D = timedelta(days=1)
T0 = datetime(2026, 11, 25, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("1d", D),
        ("24h", D),
        ("12h", 12 * H),
        ("8H", 8 * H),
        ("1w", 7 * D),
        ("90m", 90 * H / 60),
        (" 2d ", 2 * D),
        ("366d", 366 * D),
    ],
)
def test_shift_lengths_read(text: str, length: timedelta) -> None:
    assert parse_shift_length(text) == length


@pytest.mark.parametrize(
    "text", ["", "d", "1", "1y", "7h", "30m", "367d", "0d", "1.5d", "-1d", "1d12h"]
)
def test_shift_lengths_refused(text: str) -> None:
    with pytest.raises(ValueError, match=repr(text) if text.strip() else "expected"):
        parse_shift_length(text)


@given(st.sampled_from([1, 2, 3, 4, 6, 8, 12, 24, 48, 24 * 7, 24 * 366]))
def test_every_valid_length_formats_to_text_that_reads_back(hours: int) -> None:
    length = hours * H
    assert shift_length_problem(length) is None
    assert parse_shift_length(format_shift_length(length)) == length


def test_handoff_times() -> None:
    assert parse_handoff("08:30") == time(8, 30)
    assert format_handoff(time(20, 5)) == "20:05"
    for bad in ("8:30", "24:00", "08:60", "0830", "08:30:00"):
        with pytest.raises(ValueError, match="HH:MM"):
            parse_handoff(bad)


def rotation(people: tuple[str, ...] = ("a", "b"), length: timedelta = D) -> Rotation:
    return Rotation(
        id="r", people=people, shift_length=length, handoff=time(8, 30), start=date(2026, 11, 23)
    )


def override(slot: int, start: datetime, hours: int, oid: str) -> Override:
    return Override(
        id=oid,
        role=Role.DUTY_OFFICER,
        person_id="c",
        starts_at=start,
        ends_at=start + hours * H,
        slot=slot,
    )


def test_a_sound_roster_has_no_problems() -> None:
    roster = Roster(
        id="1",
        org_path="c.d",
        layers=(Layer(id="l", role=Role.DUTY_OFFICER, rotation=rotation()),),
        overrides=(override(0, T0, 4, "o1"), override(0, T0 + 4 * H, 4, "o2")),
    )
    assert problems(roster) == []


@pytest.mark.parametrize(
    ("roster", "field", "words"),
    [
        (Roster(id="1", org_path="c", tz="Mars/Base"), "tz", "IANA"),
        (
            Roster(id="1", org_path="c", slots={Role.DUTY_OFFICER: 1}),
            "slots.leader_on_duty",
            "needs a leader_on_duty",
        ),
        (
            Roster(id="1", org_path="c", slots={Role.DUTY_OFFICER: 1, Role.LEADER_ON_DUTY: 10}),
            "slots.leader_on_duty",
            "1 to 9",
        ),
        (
            Roster(
                id="1",
                org_path="c",
                layers=(Layer(id="l", role=Role.DUTY_OFFICER, rotation=rotation(), slot=1),),
            ),
            "slot",
            "slots 0 to 0",
        ),
        (
            Roster(
                id="1",
                org_path="c",
                layers=(Layer(id="l", role=Role.STANDBY, rotation=rotation()),),
            ),
            "slot",
            "asks for 0",
        ),
        (
            Roster(
                id="1",
                org_path="c",
                layers=(Layer(id="l", role=Role.DUTY_OFFICER, rotation=rotation(people=())),),
            ),
            "people",
            "nobody",
        ),
        (
            Roster(
                id="1",
                org_path="c",
                layers=(Layer(id="l", role=Role.DUTY_OFFICER, rotation=rotation(length=7 * H)),),
            ),
            "shift_length",
            "divides",
        ),
        (Roster(id="1", org_path="c", overrides=(override(2, T0, 1, "o"),)), "slot", "override o"),
        (
            Roster(
                id="1",
                org_path="c",
                overrides=(override(0, T0, 4, "o1"), override(0, T0 + H, 1, "o2")),
            ),
            "starts_at",
            "both hold slot 0",
        ),
    ],
)
def test_problems_name_the_field(roster: Roster, field: str, words: str) -> None:
    found = problems(roster)
    assert found, roster
    assert found[0].field == field
    assert words in found[0].message


HEADER = "org,role,days,rotation,shift_length,handoff,start_date,order,person"


def test_csv_rows_in_chinese_and_blank_rows() -> None:
    rows, found = parse(
        f"{HEADER}\n"
        "c.d,值班员,工作日,a,1d,08:30,2026-11-23,1,p1\n"
        ",,,,,,,,\n"
        '"c.d","带班领导","节假日","b","12h","20:30","2026-11-23","1","p2"\n'
    )
    assert found == []
    assert [(r.line, r.role, r.days, r.slot, r.priority) for r in rows] == [
        (2, Role.DUTY_OFFICER, DayKind.WORKDAYS, 0, 0),
        (4, Role.LEADER_ON_DUTY, DayKind.HOLIDAYS, 0, 0),
    ]


def test_csv_line_numbers_count_physical_lines() -> None:
    rows, found = parse(
        f"{HEADER},person_name\n"
        'c.d,duty_officer,workdays,a,1d,08:30,2026-11-23,1,p1,"two\nlines"\n'
        "c.d,duty_officer,workdays,a,1d,08:30,2026-11-23,x,p2,\n"
    )
    assert [(p.line, p.column) for p in found] == [(4, "order")]
    assert rows[0].person_name == "two\nlines"


def test_csv_rows_of_a_rotation_must_agree() -> None:
    rows, found = parse(
        f"{HEADER}\n"
        "c.d,duty_officer,workdays,a,1d,08:30,2026-11-23,1,p1\n"
        "c.d,duty_officer,workdays,a,24h,08:30,2026-11-23,2,p2\n"
        "c.d,duty_officer,restdays,a,1d,09:00,2026-11-23,3,p3\n"
    )
    assert found == []
    plans, found = plan(rows)
    assert [(p.line, p.column) for p in found] == [(4, "days"), (4, "handoff")]
    assert plans["c.d"].rotations["a"].people == ["p1", "p2", "p3"]
