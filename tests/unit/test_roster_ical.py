"""iCalendar export (dutywatch.rosters.ical): RFC 5545 text that the ``icalendar`` package reads
back to the same events, with lines folded at 75 octets between UTF-8 characters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dutywatch.rosters.ical import PRODID, fold_line, render_ics, shift_uid
from dutywatch.rosters.rules import Shift

NOW = datetime(2026, 2, 27, 9, 15, 42, tzinfo=UTC)
T0 = datetime(2026, 3, 1, 0, 30, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def shift(
    person: str = "zhang-wei",
    start: datetime = T0,
    hours: int = 24,
    role: str = "duty_officer",
    slot: int = 0,
    org: str = "harbin.daoli",
) -> Shift:
    return Shift(
        org_path=org,
        role=role,
        person_id=person,
        starts_at=start,
        ends_at=start + timedelta(hours=hours),
        slot=slot,
    )


def physical_lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n")
    lines = data[:-2].split(b"\r\n")
    assert all(b"\r" not in line and b"\n" not in line for line in lines)  # no bare CR or LF
    return lines


def logical_lines(data: bytes) -> list[str]:
    """Unfold (RFC 5545 3.1): a line starting with a space continues the previous one."""
    unfolded: list[bytes] = []
    for line in physical_lines(data):
        if line.startswith(b" "):
            unfolded[-1] += line[1:]
        else:
            unfolded.append(line)
    return [line.decode() for line in unfolded]


def events(data: bytes) -> list[icalendar.cal.Component]:
    return list(icalendar.Calendar.from_ical(data).walk("VEVENT"))


# ---------------------------------------------------------------------------------- tables


def test_exact_output_for_one_shift() -> None:
    data = render_ics(
        [shift()], calendar_name="道里区值班表", person_names={"zhang-wei": "张伟"}, now=NOW
    )
    uid = shift_uid(shift())
    assert data.decode().split("\r\n") == [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "NAME:道里区值班表",
        "X-WR-CALNAME:道里区值班表",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20260227T091542Z",
        "DTSTART:20260301T003000Z",
        "DTEND:20260302T003000Z",
        "SUMMARY:值班员 duty officer: 张伟",
        "DESCRIPTION:harbin.daoli duty_officer slot 0",
        "TRANSP:OPAQUE",
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]


def test_icalendar_reads_back_the_same_events() -> None:
    shifts = [
        shift("zhang-wei"),
        shift("zhao-lei", role="leader_on_duty"),
        shift("li-na", start=T0 + timedelta(days=1), hours=23),
        shift("chen-jing", role="deputy_officer", slot=1),
        shift("liu-yang", role="standby"),
        shift("ghost", role="night_watch"),  # a role without a label shows its name
        # an aware time in another zone is written in UTC
        shift("wang-fang", start=datetime(2026, 3, 5, 8, 30, tzinfo=SHANGHAI), hours=12),
    ]
    names = {
        "zhang-wei": "张伟",
        "zhao-lei": "赵磊",
        "li-na": "李娜",
        "chen-jing": "陈静",
        "liu-yang": "刘洋",
        "wang-fang": "王芳",
    }
    data = render_ics(shifts, calendar_name="harbin.daoli", person_names=names, now=NOW)
    parsed = icalendar.Calendar.from_ical(data)
    assert str(parsed["VERSION"]) == "2.0"
    assert str(parsed["PRODID"]) == PRODID
    found = events(data)
    assert [str(e["SUMMARY"]) for e in found] == [
        "值班员 duty officer: 张伟",
        "带班领导 leader on duty: 赵磊",
        "值班员 duty officer: 李娜",
        "副班 deputy officer: 陈静",
        "备班 standby: 刘洋",
        "night watch: ghost",
        "值班员 duty officer: 王芳",
    ]
    for event, s in zip(found, shifts, strict=True):
        assert event.decoded("DTSTART") == s.starts_at
        assert event.decoded("DTEND") == s.ends_at
        assert event.decoded("DTSTART").utcoffset() == timedelta(0)
        assert event.decoded("DTSTAMP") == NOW
        assert str(event["UID"]) == shift_uid(s)
    assert found[-1].decoded("DTSTART") == datetime(2026, 3, 5, 0, 30, tzinfo=UTC)
    assert len({str(e["UID"]) for e in found}) == len(found)


def test_no_shifts_is_an_empty_calendar() -> None:
    data = render_ics([], calendar_name="empty", now=NOW)
    assert events(data) == []
    assert logical_lines(data)[-1] == "END:VCALENDAR"


def test_uid_is_stable_per_duty() -> None:
    base = shift()
    assert shift_uid(base) == shift_uid(shift())
    # the end may move (an override shortens the duty): the calendar updates the same event
    assert shift_uid(base) == shift_uid(shift(hours=20))
    # the same start written in another zone is the same duty
    assert shift_uid(base) == shift_uid(shift(start=T0.astimezone(SHANGHAI)))
    others = [
        shift(start=T0 + timedelta(days=1)),
        shift(person="li-na"),
        shift(role="leader_on_duty"),
        shift(slot=1),
        shift(org="harbin.nangang"),
    ]
    uids = {shift_uid(s) for s in others}
    assert len(uids) == len(others)
    assert shift_uid(base) not in uids
    assert shift_uid(base).endswith("@dutywatch")


def test_text_is_escaped_and_control_characters_are_dropped() -> None:
    name = "Wang, Fang; \\ the 2nd\r\nline\x00\x07\tend"
    data = render_ics([shift()], calendar_name="a,b;c", person_names={"zhang-wei": name}, now=NOW)
    summary = next(line for line in logical_lines(data) if line.startswith("SUMMARY:"))
    assert summary == "SUMMARY:值班员 duty officer: Wang\\, Fang\\; \\\\ the 2nd\\nline\tend"
    assert (
        str(events(data)[0]["SUMMARY"]) == "值班员 duty officer: Wang, Fang; \\ the 2nd\nline\tend"
    )
    assert "X-WR-CALNAME:a\\,b\\;c" in logical_lines(data)


def test_times_must_be_aware_and_lose_their_microseconds() -> None:
    with pytest.raises(ValueError, match="aware"):
        render_ics([shift()], calendar_name="x", now=datetime(2026, 3, 1))
    naive = Shift(
        org_path="c",
        role="duty_officer",
        person_id="p",
        starts_at=datetime(2026, 3, 1),
        ends_at=datetime(2026, 3, 2),
    )
    with pytest.raises(ValueError, match="aware"):
        render_ics([naive], calendar_name="x", now=NOW)
    odd = shift(start=T0 + timedelta(microseconds=999_999))
    assert "DTSTART:20260301T003000Z" in logical_lines(
        render_ics([odd], calendar_name="x", now=NOW)
    )


# ---------------------------------------------------------------------------------- folding


@pytest.mark.parametrize(
    ("line", "octets"),
    [
        ("A" * 75, [75]),
        ("A" * 76, [75, 2]),
        ("A" * 74 + "值", [74, 4]),  # 74 + 3 octets would be 77: the character moves whole
        ("A" * 72 + "值", [75]),
        ("值" * 25, [75]),
        ("值" * 26, [75, 4]),
        ("A" * 73 + "😀", [73, 5]),
        ("A" * 75 + "B" * 74 + "C", [75, 75, 2]),
        ("", [0]),
    ],
)
def test_fold_line_table(line: str, octets: list[int]) -> None:
    folded = fold_line(line).split(b"\r\n")
    assert [len(part) for part in folded] == octets
    assert all(part.startswith(b" ") for part in folded[1:])
    assert b"".join([folded[0], *(part[1:] for part in folded[1:])]).decode() == line


TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
        st.sampled_from("值班员张伟😀,;:\\\n\t\"'"),
    ),
    max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(TEXT, st.sampled_from(["duty_officer", "leader_on_duty"])), max_size=4),
    TEXT,
)
def test_any_names_fold_and_read_back(people: list[tuple[str, str]], calendar_name: str) -> None:
    shifts = [
        shift(f"p{k}", start=T0 + timedelta(days=k), role=role)
        for k, (_, role) in enumerate(people)
    ]
    names = {f"p{k}": name for k, (name, _) in enumerate(people)}
    data = render_ics(shifts, calendar_name=calendar_name, person_names=names, now=NOW)
    for line in physical_lines(data):
        assert len(line) <= 75
        line.decode()  # each physical line is whole UTF-8: no character split by a fold
    found = events(data)
    labels = {"duty_officer": "值班员 duty officer", "leader_on_duty": "带班领导 leader on duty"}
    assert [str(e["SUMMARY"]) for e in found] == [
        f"{labels[role]}: {name}" for name, role in people
    ]
    assert [e.decoded("DTSTART") for e in found] == [s.starts_at for s in shifts]
    assert [e.decoded("DTEND") for e in found] == [s.ends_at for s in shifts]
    expected_name = icalendar.vText(calendar_name).to_ical().decode()
    assert f"X-WR-CALNAME:{expected_name}" in logical_lines(data)
