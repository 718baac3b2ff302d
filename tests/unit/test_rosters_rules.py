"""Roster rules (dutywatch.rosters.rules): who is on duty at T, where a page goes.

Random shift sets over a small organisation tree, checked against a brute-force model::

    c ─┬─ c.d1 ── c.d1.t1
       └─ c.d2
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dutywatch.escalation.rules import DUTY_OFFICER, LEADER_ON_DUTY
from dutywatch.rosters.rules import Recipients, Shift, ancestors, on_duty, route_page

ORGS = ("c", "c.d1", "c.d2", "c.d1.t1")
ROLES = (DUTY_OFFICER, LEADER_ON_DUTY)
PEOPLE = ("p1", "p2", "p3", "p4", "p5")
T0 = datetime(2025, 10, 1, 0, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
US = timedelta(microseconds=1)
CHAINS = {
    "c": ["c"],
    "c.d1": ["c.d1", "c"],
    "c.d2": ["c.d2", "c"],
    "c.d1.t1": ["c.d1.t1", "c.d1", "c"],
}


@st.composite
def shifts(draw: st.DrawFn) -> Shift:
    start = draw(st.integers(min_value=0, max_value=40))
    length = draw(st.integers(min_value=1, max_value=40))
    return Shift(
        org_path=draw(st.sampled_from(ORGS)),
        role=draw(st.sampled_from(ROLES)),
        person_id=draw(st.sampled_from(PEOPLE)),
        starts_at=T0 + start * MIN,
        ends_at=T0 + (start + length) * MIN,
    )


shift_sets = st.lists(shifts(), max_size=12)
#: Instants on the minute grid (so they often hit a shift boundary) or just off it.
instants = st.builds(
    lambda minute, us: T0 + minute * MIN + timedelta(microseconds=us),
    st.integers(min_value=-1, max_value=85),
    st.sampled_from([0, 0, 0, 1, -1]),
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Shift], str, str, datetime]:
    """(shifts, org, role, at); half the time aimed at one of the shifts, so someone is
    often on duty somewhere in the chain, at or next to a shift boundary."""
    shift_list = draw(shift_sets)
    if not shift_list or draw(st.booleans()):
        return shift_list, draw(st.sampled_from(ORGS)), draw(st.sampled_from(ROLES)), draw(instants)
    anchor = draw(st.sampled_from(shift_list))
    below = [o for o in ORGS if o == anchor.org_path or o.startswith(anchor.org_path + ".")]
    length = anchor.ends_at - anchor.starts_at
    at = draw(
        st.sampled_from(
            [
                anchor.starts_at - US,
                anchor.starts_at,
                anchor.starts_at + length / 2,
                anchor.ends_at - US,
                anchor.ends_at,
            ]
        )
    )
    return shift_list, draw(st.sampled_from(below)), anchor.role, at


def brute_on_duty(shifts: list[Shift], org: str, role: str, at: datetime) -> list[str]:
    people: list[str] = []
    for s in shifts:
        if s.org_path == org and s.role == role and s.starts_at <= at < s.ends_at:
            people.append(s.person_id)
    return sorted(set(people))


# ---------------------------------------------------------------------------- ancestors


@pytest.mark.parametrize(("org", "chain"), list(CHAINS.items()))
def test_ancestors_of_the_tree(org: str, chain: list[str]) -> None:
    assert ancestors(org) == chain


@pytest.mark.parametrize(
    ("org", "chain"),
    [
        ("harbin", ["harbin"]),
        ("harbin.daoli.xinyang", ["harbin.daoli.xinyang", "harbin.daoli", "harbin"]),
        ("a.b.c.d", ["a.b.c.d", "a.b.c", "a.b", "a"]),
    ],
)
def test_ancestors_table(org: str, chain: list[str]) -> None:
    assert ancestors(org) == chain


@given(st.lists(st.from_regex(r"[a-z0-9_-]{1,6}", fullmatch=True), min_size=1, max_size=6))
def test_ancestors_property(tokens: list[str]) -> None:
    org = ".".join(tokens)
    chain = ancestors(org)
    assert len(chain) == len(tokens)
    assert chain[0] == org
    assert chain[-1] == tokens[0]
    for child, parent in zip(chain, chain[1:], strict=False):
        assert child.startswith(parent + ".")
        assert child.count(".") == parent.count(".") + 1


# ------------------------------------------------------------------------------ on_duty


@given(scenarios())
def test_on_duty_equals_brute_force(scenario: tuple[list[Shift], str, str, datetime]) -> None:
    shift_list, org, role, at = scenario
    people = on_duty(shift_list, org, role, at)
    assert people == brute_on_duty(shift_list, org, role, at)
    assert people == sorted(people)
    assert len(people) == len(set(people))


@given(scenarios())
def test_on_duty_accepts_a_one_shot_iterable(
    scenario: tuple[list[Shift], str, str, datetime],
) -> None:
    shift_list, org, role, at = scenario
    assert on_duty(iter(shift_list), org, role, at) == brute_on_duty(shift_list, org, role, at)


def _shift(org: str, role: str, person: str, start: datetime, end: datetime) -> Shift:
    return Shift(org_path=org, role=role, person_id=person, starts_at=start, ends_at=end)


def test_shift_end_is_exclusive_and_start_inclusive() -> None:
    t = T0 + timedelta(hours=8)
    shift_list = [
        _shift("c", DUTY_OFFICER, "night", t - timedelta(hours=12), t),
        _shift("c", DUTY_OFFICER, "day", t, t + timedelta(hours=12)),
    ]
    assert on_duty(shift_list, "c", DUTY_OFFICER, t - timedelta(microseconds=1)) == ["night"]
    assert on_duty(shift_list, "c", DUTY_OFFICER, t) == ["day"]
    assert on_duty(shift_list, "c", DUTY_OFFICER, t + timedelta(hours=12)) == []
    assert route_page(shift_list, "c", DUTY_OFFICER, t).people == ("day",)


@given(shifts(), st.integers(min_value=-2, max_value=2))
def test_shift_boundaries_property(shift: Shift, us: int) -> None:
    delta = timedelta(microseconds=us)
    at_start = on_duty([shift], shift.org_path, shift.role, shift.starts_at + delta)
    at_end = on_duty([shift], shift.org_path, shift.role, shift.ends_at + delta)
    assert at_start == ([shift.person_id] if us >= 0 else [])
    assert at_end == ([shift.person_id] if us < 0 else [])


def test_shift_in_another_zone_compares_by_instant() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    shift = _shift(
        "c",
        LEADER_ON_DUTY,
        "p1",
        datetime(2025, 10, 1, 8, 0, tzinfo=shanghai),  # 00:00 UTC
        datetime(2025, 10, 2, 8, 0, tzinfo=shanghai),
    )
    assert on_duty([shift], "c", LEADER_ON_DUTY, datetime(2025, 10, 1, 0, 0, tzinfo=UTC)) == ["p1"]
    assert on_duty([shift], "c", LEADER_ON_DUTY, datetime(2025, 9, 30, 23, 59, tzinfo=UTC)) == []
    assert on_duty([shift], "c", LEADER_ON_DUTY, datetime(2025, 10, 2, 0, 0, tzinfo=UTC)) == []


def test_on_duty_ignores_other_roles_and_orgs_and_dedupes() -> None:
    end = T0 + timedelta(hours=1)
    shift_list = [
        _shift("c.d1", DUTY_OFFICER, "p2", T0, end),
        _shift("c.d1", DUTY_OFFICER, "p1", T0, end),
        _shift("c.d1", DUTY_OFFICER, "p2", T0, end),  # two overlapping shifts, one person
        _shift("c.d1", LEADER_ON_DUTY, "p3", T0, end),
        _shift("c.d1.t1", DUTY_OFFICER, "p4", T0, end),
        _shift("c", DUTY_OFFICER, "p5", T0, end),
    ]
    assert on_duty(shift_list, "c.d1", DUTY_OFFICER, T0) == ["p1", "p2"]
    assert on_duty(shift_list, "c.d1", LEADER_ON_DUTY, T0) == ["p3"]
    assert on_duty(shift_list, "c.d2", DUTY_OFFICER, T0) == []
    # A prefix of the path is not the organisation: "c.d" is not "c.d1".
    assert on_duty(shift_list, "c.d", DUTY_OFFICER, T0) == []


# ---------------------------------------------------------------------------- route_page


@given(scenarios())
def test_route_page_never_silently_returns_nobody(
    scenario: tuple[list[Shift], str, str, datetime],
) -> None:
    shift_list, org, role, at = scenario
    result = route_page(shift_list, org, role, at)
    chain = CHAINS[org]
    if result.people:
        assert result.org_path is not None
        assert result.org_path in chain, "paged a duty room outside the chain (sibling/child)"
        climbed = chain.index(result.org_path)
        # People are exactly those on duty there for the role.
        assert list(result.people) == brute_on_duty(shift_list, result.org_path, role, at)
        # Every organisation below the one paged is a gap and has nobody.
        assert list(result.gaps) == chain[:climbed]
        for gap in result.gaps:
            assert brute_on_duty(shift_list, gap, role, at) == []
    else:
        assert result.org_path is None
        assert list(result.gaps) == chain
        for level in chain:
            assert brute_on_duty(shift_list, level, role, at) == []


@given(scenarios())
def test_route_page_picks_the_nearest_staffed_level(
    scenario: tuple[list[Shift], str, str, datetime],
) -> None:
    shift_list, org, role, at = scenario
    staffed = [level for level in CHAINS[org] if brute_on_duty(shift_list, level, role, at)]
    result = route_page(shift_list, org, role, at)
    expected = staffed[0] if staffed else None
    assert result.org_path == expected


@given(scenarios())
def test_route_page_ignores_shifts_outside_the_chain(
    scenario: tuple[list[Shift], str, str, datetime],
) -> None:
    shift_list, org, role, at = scenario
    chain = CHAINS[org]
    relevant = [s for s in shift_list if s.org_path in chain and s.role == role]
    assert route_page(shift_list, org, role, at) == route_page(relevant, org, role, at)


def test_route_page_table() -> None:
    end = T0 + timedelta(hours=1)
    shift_list = [
        _shift("c", LEADER_ON_DUTY, "mayor-office", T0, end),
        _shift("c.d1", DUTY_OFFICER, "d1-officer", T0, end),
        _shift("c.d2", DUTY_OFFICER, "d2-officer", T0, end),
        _shift("c.d1.t1", DUTY_OFFICER, "t1-officer", T0, T0 + timedelta(minutes=30)),
    ]
    t_early = T0 + timedelta(minutes=10)
    t_late = T0 + timedelta(minutes=30)
    assert route_page(shift_list, "c.d1.t1", DUTY_OFFICER, t_early) == Recipients(
        org_path="c.d1.t1", people=("t1-officer",), gaps=()
    )
    assert route_page(shift_list, "c.d1.t1", DUTY_OFFICER, t_late) == Recipients(
        org_path="c.d1", people=("d1-officer",), gaps=("c.d1.t1",)
    )
    assert route_page(shift_list, "c.d1.t1", LEADER_ON_DUTY, t_early) == Recipients(
        org_path="c", people=("mayor-office",), gaps=("c.d1.t1", "c.d1")
    )
    # The city has no duty officer and c.d2's officer is a sibling, never paged for c.d1.
    assert route_page(shift_list, "c", DUTY_OFFICER, t_early) == Recipients(
        org_path=None, people=(), gaps=("c",)
    )
    assert route_page(shift_list, "c.d1.t1", DUTY_OFFICER, end) == Recipients(
        org_path=None, people=(), gaps=("c.d1.t1", "c.d1", "c")
    )


def test_route_page_with_no_shifts_reports_every_level() -> None:
    assert route_page([], "c.d1.t1", DUTY_OFFICER, T0) == Recipients(
        org_path=None, people=(), gaps=("c.d1.t1", "c.d1", "c")
    )
