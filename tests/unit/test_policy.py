"""Escalation policies (dutywatch.escalation.policy): evaluation, selection, validation.

The properties drive :func:`evaluate` the way the scheduler does (a clock advancing in random
increments, an acknowledgement or resolution at a random tick, the returned state saved after
every call) and check it against a brute-force schedule computed here from the step delays.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dutywatch.contracts import Category, Grade
from dutywatch.escalation.policy import (
    Action,
    EscalationState,
    InvalidPolicy,
    NotifyDutyRoom,
    NotifyParent,
    NotifyPeople,
    NotifyRole,
    PageStep,
    Policy,
    Repeat,
    ScheduledStep,
    Step,
    Wait,
    acknowledge,
    check_policy,
    default_policy,
    due_at,
    duty_room_of,
    evaluate,
    policy_for_ref,
    resolve,
    restart,
    schedule,
    select_policy,
    specificity,
    start,
    validate_policy,
)
from dutywatch.rosters.model import Role

US = timedelta(microseconds=1)
MIN = timedelta(minutes=1)
T0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
OFFICER = NotifyRole(role=Role.DUTY_OFFICER)

# ------------------------------------------------------------------------------ strategies

delays = st.one_of(
    st.just(timedelta(0)),
    st.integers(min_value=0, max_value=7_200_000).map(lambda ms: timedelta(milliseconds=ms)),
)


@st.composite
def scheduled_steps(draw: st.DrawFn) -> ScheduledStep:
    delay = draw(delays)
    kind = draw(st.sampled_from(["role", "people", "parent", "room", "wait"]))
    if kind == "role":
        return NotifyRole(role=draw(st.sampled_from(Role)), delay=delay)
    if kind == "people":
        people = draw(st.lists(st.sampled_from(["p1", "p2", "p3"]), min_size=1, unique=True))
        return NotifyPeople(people=tuple(people), delay=delay)
    if kind == "parent":
        return NotifyParent(levels=draw(st.integers(1, 2)), delay=delay)
    if kind == "room":
        return NotifyDutyRoom(org="c.peer", delay=delay)
    return Wait(delay=delay)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    steps: list[Step] = draw(st.lists(scheduled_steps(), min_size=1, max_size=6))
    if not any(not isinstance(s, Wait) for s in steps):
        steps.insert(draw(st.integers(0, len(steps))), OFFICER)
    if draw(st.booleans()):
        steps.append(Repeat(times=draw(st.integers(1, 3)), delay=draw(delays)))
    return Policy(id="p", version=draw(st.integers(1, 5)), org="c.d", steps=tuple(steps))


start_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)

#: Clock increments: often zero or tiny, sometimes jumping past several steps at once.
increments = st.one_of(
    st.just(timedelta(0)),
    st.integers(min_value=1, max_value=1_000).map(lambda us: timedelta(microseconds=us)),
    st.integers(min_value=1, max_value=5_000_000).map(lambda ms: timedelta(milliseconds=ms)),
)


def model_schedule(policy: Policy, started_at: datetime) -> list[tuple[int, int, datetime]]:
    """Every action position and its due time, computed from scratch from the delays."""
    steps = [s for s in policy.steps if not isinstance(s, Repeat)]
    repeat = policy.steps[-1] if isinstance(policy.steps[-1], Repeat) else None
    passes = 1 + (repeat.times if repeat else 0)
    out = []
    clock = started_at
    for r in range(passes):
        for i, step in enumerate(steps):
            clock += step.delay
            if not isinstance(step, Wait):
                out.append((r, i, clock))
        if repeat is not None:
            clock += repeat.delay
    return out


def end_of(policy: Policy, started_at: datetime) -> datetime:
    return started_at + policy.period * policy.passes + timedelta(days=1)


def fired(actions: tuple[Action, ...] | list[Action]) -> list[tuple[int, int, datetime]]:
    return [(a.repeat, a.step, a.due_at) for a in actions]


# ---------------------------------------------------------------------- the driver loop


@settings(deadline=None, max_examples=300)
@given(
    policy=policies(),
    started_at=start_times,
    lead_in=st.integers(min_value=0, max_value=600_000).map(lambda ms: timedelta(milliseconds=ms)),
    ticks=st.lists(increments, max_size=40),
    stop_tick=st.none() | st.integers(min_value=0, max_value=40),
    stop_by_resolving=st.booleans(),
)
def test_driver_loop_invariants(
    policy: Policy,
    started_at: datetime,
    lead_in: timedelta,
    ticks: list[timedelta],
    stop_tick: int | None,
    stop_by_resolving: bool,
) -> None:
    state = start(policy, started_at)
    now = started_at - lead_in  # the scheduler's clock may read a little before the start
    log: list[tuple[int, int, datetime, datetime]] = []  # (repeat, step, due_at, fired at)
    stopped_at_tick: int | None = None
    expected = {(r, i): when for r, i, when in model_schedule(policy, started_at)}

    def tick(now: datetime) -> None:
        nonlocal state
        result = evaluate(policy, state, now)
        if state.stopped:
            assert result.actions == ()
            assert result.next_due_at is None
        for action in result.actions:
            assert action.policy == policy.ref
            assert action.due_at == expected[action.position], "wrong due time"
            assert action.due_at <= now, "an action fired before its cumulative delay"
            assert isinstance(action.what, type(policy.steps[action.step]))
        log.extend((a.repeat, a.step, a.due_at, now) for a in result.actions)
        # Nothing that was left behind is due: the first action not fired is in the future.
        if result.next_due_at is not None:
            assert result.next_due_at > now
        state = result.state

    tick(now)
    for number, increment in enumerate(ticks):
        now += increment
        if number == stop_tick:
            state = resolve(state) if stop_by_resolving else acknowledge(state)
            stopped_at_tick = len(log)
        tick(now)

    positions = [(r, i) for r, i, _, _ in log]
    assert len(set(positions)) == len(positions), "a step fired twice in one repeat"
    assert positions == sorted(positions), "steps fired out of (repeat, step) order"
    if stopped_at_tick is not None:
        assert len(log) == stopped_at_tick, "an action after acknowledge/resolve"
        tick(end_of(policy, started_at))
        assert len(log) == stopped_at_tick, "an action after acknowledge/resolve"
    else:
        tick(end_of(policy, started_at))
        assert [(r, i, when) for r, i, when, _ in log] == model_schedule(policy, started_at)
        assert evaluate(policy, state, end_of(policy, started_at)).next_due_at is None


@settings(deadline=None, max_examples=300)
@given(
    policy=policies(),
    started_at=start_times,
    ticks=st.lists(increments, max_size=40),
)
def test_batching_invariance(policy: Policy, started_at: datetime, ticks: list[timedelta]) -> None:
    """Evaluating at every tick fires exactly what evaluating once at the last tick fires."""
    state = start(policy, started_at)
    now = started_at
    stepwise: list[Action] = []
    for increment in [timedelta(0), *ticks]:
        now += increment
        result = evaluate(policy, state, now)
        stepwise += result.actions
        state = result.state
    once = evaluate(policy, start(policy, started_at), now)
    assert stepwise == list(once.actions)
    assert state == once.state
    assert evaluate(policy, state, now).next_due_at == once.next_due_at


@settings(deadline=None, max_examples=300)
@given(data=st.data(), policy=policies(), started_at=start_times)
def test_next_due_is_exactly_when_the_next_action_becomes_due(
    data: st.DataObject, policy: Policy, started_at: datetime
) -> None:
    # Reach an arbitrary cursor by evaluating at an arbitrary time.
    horizon = int((policy.period * policy.passes).total_seconds() * 1000) + 1
    offset = data.draw(st.integers(min_value=-1000, max_value=horizon))
    result = evaluate(
        policy, start(policy, started_at), started_at + timedelta(milliseconds=offset)
    )
    state = result.state
    upcoming = result.next_due_at
    remaining = [
        w for r, i, w in model_schedule(policy, started_at) if (r, i) >= (state.repeat, state.step)
    ]
    if upcoming is None:
        assert remaining == []
        assert evaluate(policy, state, end_of(policy, started_at)).actions == ()
        return
    assert upcoming == min(remaining)
    assert evaluate(policy, state, upcoming - US).actions == ()
    at_due = evaluate(policy, state, upcoming)
    assert at_due.actions, "nothing fired at the announced due time"
    assert at_due.actions[0].due_at == upcoming
    before = data.draw(st.integers(min_value=1, max_value=10**10))
    assert evaluate(policy, state, upcoming - US * before).actions == ()


@given(
    policy=policies(),
    started_at=start_times,
    repeat_step=st.tuples(st.integers(0, 3), st.integers(0, 6)),
    acknowledged=st.booleans(),
    at=st.integers(min_value=-(10**6), max_value=10**7).map(lambda s: timedelta(seconds=s)),
)
def test_stopped_escalations_never_act(
    policy: Policy,
    started_at: datetime,
    repeat_step: tuple[int, int],
    acknowledged: bool,
    at: timedelta,
) -> None:
    repeat, step = repeat_step
    if not (repeat < policy.passes and step < len(policy.scheduled)):
        repeat, step = policy.passes, 0
    state = EscalationState(
        policy=policy.ref,
        started_at=started_at,
        repeat=repeat,
        step=step,
        acknowledged=acknowledged,
        resolved=not acknowledged,
    )
    result = evaluate(policy, state, started_at + at)
    assert result.actions == ()
    assert result.next_due_at is None
    assert result.state == state


@given(policy=policies(), started_at=start_times)
def test_schedule_matches_the_model(policy: Policy, started_at: datetime) -> None:
    assert fired(list(schedule(policy, started_at))) == model_schedule(policy, started_at)
    for action in schedule(policy, started_at):
        assert due_at(policy, started_at, action.repeat, action.step) == action.due_at


# ------------------------------------------------------------------------- table tests


POLICY = Policy(
    id="daoli-main",
    version=3,
    org="harbin.daoli",
    steps=(
        NotifyRole(role=Role.DUTY_OFFICER),
        NotifyRole(role=Role.LEADER_ON_DUTY, delay=10 * MIN),
        Wait(delay=5 * MIN),
        NotifyParent(delay=5 * MIN),
        Repeat(times=1, delay=30 * MIN),
    ),
)


def test_a_policy_schedule_reads_like_the_plan() -> None:
    assert POLICY.period == 50 * MIN
    assert POLICY.passes == 2
    assert [(a.position, a.due_at - T0) for a in schedule(POLICY, T0)] == [
        ((0, 0), 0 * MIN),
        ((0, 1), 10 * MIN),
        ((0, 3), 20 * MIN),
        ((1, 0), 50 * MIN),
        ((1, 1), 60 * MIN),
        ((1, 3), 70 * MIN),
    ]


def test_evaluate_step_by_step() -> None:
    state = start(POLICY, T0)
    first = evaluate(POLICY, state, T0)
    assert [a.position for a in first.actions] == [(0, 0)]
    assert first.next_due_at == T0 + 10 * MIN
    assert first.state == replace(state, step=1)
    # Nothing between steps.
    assert evaluate(POLICY, first.state, T0 + 10 * MIN - US).actions == ()
    second = evaluate(POLICY, first.state, T0 + 12 * MIN)
    assert [a.what for a in second.actions] == [
        NotifyRole(role=Role.LEADER_ON_DUTY, delay=10 * MIN)
    ]
    # The wait is not an action: the next due time is the parent step after it.
    assert second.next_due_at == T0 + 20 * MIN
    third = evaluate(POLICY, second.state, T0 + 16 * MIN)
    assert third.actions == ()
    assert third.state.step == 3  # the wait is over, the cursor moved past it
    assert third.next_due_at == T0 + 20 * MIN
    # A scheduler that wakes up late fires everything due, in order, once.
    late = evaluate(POLICY, third.state, T0 + 5 * 60 * MIN)
    assert [a.position for a in late.actions] == [(0, 3), (1, 0), (1, 1), (1, 3)]
    assert late.next_due_at is None
    assert (late.state.repeat, late.state.step) == (2, 0)


def test_acknowledging_stops_and_restart_keeps_flags() -> None:
    state = evaluate(POLICY, start(POLICY, T0), T0).state
    acked = acknowledge(state)
    assert evaluate(POLICY, acked, T0 + 99 * MIN).actions == ()
    upgraded = restart(acked, POLICY, T0 + 30 * MIN)
    assert upgraded.acknowledged
    assert (upgraded.repeat, upgraded.step, upgraded.started_at) == (0, 0, T0 + 30 * MIN)
    rearmed = replace(upgraded, acknowledged=False)
    assert [a.due_at for a in evaluate(POLICY, rearmed, T0 + 30 * MIN).actions] == [T0 + 30 * MIN]
    assert resolve(state).stopped


def test_trailing_wait_announces_nothing() -> None:
    policy = Policy(id="w", version=1, org="c", steps=(OFFICER, Wait(delay=MIN)))
    result = evaluate(policy, start(policy, T0), T0)
    assert len(result.actions) == 1
    assert result.next_due_at is None
    assert evaluate(policy, result.state, T0 + 2 * MIN).actions == ()


def test_evaluate_refuses_another_version_and_bad_positions() -> None:
    state = start(POLICY, T0)
    with pytest.raises(ValueError, match="daoli-main@v3"):
        evaluate(replace(POLICY, version=4), state, T0)
    with pytest.raises(ValueError, match="outside policy"):
        evaluate(POLICY, replace(state, step=4), T0)
    with pytest.raises(ValueError, match="outside policy"):
        evaluate(POLICY, replace(state, repeat=2, step=1), T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(POLICY, state, datetime(2025, 7, 1, 8, 0))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"steps": ()}, "no_action"),
        ({"steps": (Wait(delay=MIN),)}, "no_action"),
        ({"steps": (NotifyRole(role=Role.DUTY_OFFICER, delay=-MIN),)}, "negative_delay"),
        ({"steps": (Repeat(times=1), OFFICER)}, "repeat_not_last"),
        ({"steps": (OFFICER, Repeat(times=0))}, "bad_repeat"),
        ({"steps": (OFFICER, Repeat(times=101))}, "bad_repeat"),
        ({"steps": (NotifyPeople(people=()),)}, "no_people"),
        ({"steps": (NotifyPeople(people=("a", "a")),)}, "duplicate_people"),
        ({"steps": (NotifyPeople(people=("a b",)),)}, "bad_person"),
        ({"steps": (NotifyParent(levels=0),)}, "bad_levels"),
        ({"steps": (NotifyDutyRoom(org="Bad Org"),)}, "bad_org"),
        ({"version": 0}, "bad_version"),
        ({"id": "has space"}, "bad_id"),
        ({"id": "x" * 49}, "bad_id"),
        ({"org": "Harbin"}, "bad_org"),
        ({"grades": frozenset()}, "no_grades"),
        ({"categories": frozenset()}, "no_categories"),
        ({"steps": (OFFICER,) * 51}, "too_many_steps"),
    ],
)
def test_policy_shape_is_checked_at_construction(kwargs: dict[str, object], code: str) -> None:
    fields: dict[str, object] = {"id": "p", "version": 1, "org": "c", "steps": (OFFICER,)}
    fields.update(kwargs)
    with pytest.raises(InvalidPolicy) as caught:
        Policy(**fields)  # type: ignore[arg-type]
    assert code in {p.code for p in caught.value.problems}
    assert caught.value.code == "invalid_policy"
    assert caught.value.fields["problems"]


def test_ref_fits_the_page_column() -> None:
    assert len(Policy(id="x" * 48, version=10**9, org="c", steps=(OFFICER,)).ref) <= 64


@pytest.mark.parametrize(
    ("org", "step", "target"),
    [
        ("c.d.t", NotifyParent(), "c.d"),
        ("c.d.t", NotifyParent(levels=2), "c"),
        ("c.d.t", NotifyParent(levels=3), None),
        ("c", NotifyParent(), None),
        ("c.d", NotifyDutyRoom(org="c.e"), "c.e"),
    ],
)
def test_duty_room_of(org: str, step: NotifyParent | NotifyDutyRoom, target: str | None) -> None:
    assert duty_room_of(org, step) == target


# ------------------------------------------------------------------------------- selection


def _p(
    id: str,
    org: str,
    grades: set[Grade] | None = None,
    categories: set[Category] | None = None,
    version: int = 1,
) -> Policy:
    return Policy(
        id=id,
        version=version,
        org=org,
        steps=(OFFICER,),
        grades=frozenset(grades) if grades else frozenset(Grade),
        categories=frozenset(categories) if categories else frozenset(Category),
    )


CATALOGUE = [
    _p("city", "c"),
    _p("city-severe", "c", {Grade.I, Grade.II}),
    _p("city-fire", "c", {Grade.I, Grade.II}, {Category.ACCIDENT}),
    _p("district", "c.d"),
    _p("district-health", "c.d", None, {Category.PUBLIC_HEALTH}),
    _p("district-iv", "c.d", {Grade.IV}),
    _p("a-tie", "c.e", {Grade.III}),
    _p("b-tie", "c.e", {Grade.III}),
    _p("versioned", "c.v", version=1),
    _p("versioned", "c.v", version=2),
]


@pytest.mark.parametrize(
    ("org", "grade", "category", "expected"),
    [
        ("c", Grade.IV, Category.ACCIDENT, "city@v1"),
        ("c", Grade.II, Category.SOCIAL_SAFETY, "city-severe@v1"),
        ("c", Grade.II, Category.ACCIDENT, "city-fire@v1"),
        ("c.x.y", Grade.I, Category.ACCIDENT, "city-fire@v1"),
        # A deeper organisation beats a narrower scope higher up.
        ("c.d", Grade.I, Category.ACCIDENT, "district@v1"),
        ("c.d.t", Grade.III, Category.PUBLIC_HEALTH, "district-health@v1"),
        # At the same depth, fewer grades is compared before fewer categories.
        ("c.d", Grade.IV, Category.PUBLIC_HEALTH, "district-iv@v1"),
        # Exact ties go to the smaller id; versions of one id to the newest.
        ("c.e", Grade.III, Category.ACCIDENT, "a-tie@v1"),
        ("c.v", Grade.III, Category.ACCIDENT, "versioned@v2"),
    ],
)
def test_select_policy_table(org: str, grade: Grade, category: Category, expected: str) -> None:
    assert select_policy(CATALOGUE, org, grade, category).ref == expected


def test_select_policy_default() -> None:
    chosen = select_policy([_p("other", "x")], "c.d", Grade.III, Category.ACCIDENT)
    assert chosen == default_policy("c.d", Grade.III, ack_timeout=10 * MIN)
    assert chosen.id.startswith("default-III-600s")
    assert chosen.steps == (
        NotifyRole(role=Role.DUTY_OFFICER),
        NotifyRole(role=Role.LEADER_ON_DUTY, delay=10 * MIN),
        NotifyParent(delay=10 * MIN),
    )
    top = select_policy([], "c", Grade.I, Category.ACCIDENT)
    assert top.id.endswith("-top")
    assert not any(isinstance(s, NotifyParent) for s in top.steps)
    custom = select_policy(
        [], "c.d", Grade.I, Category.ACCIDENT, ack_timeouts={Grade.I: timedelta(seconds=90)}
    )
    assert custom.steps[1].delay == timedelta(seconds=90)
    assert custom.ref != select_policy([], "c.d", Grade.I, Category.ACCIDENT).ref


orgs = st.sampled_from(["c", "c.d", "c.e", "c.d.t", "c.d.u", "c.e.t"])


@st.composite
def catalogue_policies(draw: st.DrawFn) -> Policy:
    return _p(
        draw(st.sampled_from(["a", "b", "c", "d"])),
        draw(orgs),
        set(draw(st.lists(st.sampled_from(Grade), min_size=1, max_size=4))),
        set(draw(st.lists(st.sampled_from(Category), min_size=1, max_size=4))),
        version=draw(st.integers(1, 3)),
    )


@given(
    catalogue=st.lists(catalogue_policies(), max_size=8),
    org=orgs,
    grade=st.sampled_from(Grade),
    category=st.sampled_from(Category),
    permutation=st.randoms(use_true_random=False),
)
def test_select_policy_picks_a_most_specific_match_whatever_the_order(
    catalogue: list[Policy],
    org: str,
    grade: Grade,
    category: Category,
    permutation: object,
) -> None:
    chosen = select_policy(catalogue, org, grade, category)
    matching = [p for p in catalogue if p.applies_to(org, grade, category)]
    if not matching:
        assert chosen.id.startswith("default-")
        return
    assert chosen in matching
    assert all(specificity(p) <= specificity(chosen) for p in matching)
    shuffled = list(catalogue)
    permutation.shuffle(shuffled)  # type: ignore[attr-defined]
    assert select_policy(shuffled, org, grade, category) == chosen


# ------------------------------------------------------------------------------ validation

ORGS = {"c", "c.d", "c.e", "c.d.t"}


def everyone(org: str, step: PageStep) -> bool:
    return True


def nobody(org: str, step: PageStep) -> bool:
    return False


def only_at(*rooms: str) -> Callable[[str, PageStep], bool]:
    return lambda org, step: org in rooms


def codes(problems: tuple[object, ...]) -> set[str]:
    return {p.code for p in problems}  # type: ignore[attr-defined]


def test_a_sound_policy_has_no_problems() -> None:
    policy = replace(POLICY, org="c.d")
    assert validate_policy(policy, orgs=ORGS, reachable=everyone) == ()
    assert check_policy(policy, orgs=ORGS, reachable=everyone) == ()


def test_nobody_reachable_is_refused() -> None:
    policy = _p("lonely", "c.d")
    problems = validate_policy(policy, orgs=ORGS, reachable=nobody)
    assert codes(problems) == {"unreachable_step", "nobody_reachable"}
    with pytest.raises(InvalidPolicy, match="reaches nobody for any grade or category") as caught:
        check_policy(policy, orgs=ORGS, reachable=nobody)
    assert [p.code for p in caught.value.problems] == ["nobody_reachable"]


def test_reaching_people_through_the_parent_is_enough() -> None:
    policy = Policy(id="up", version=1, org="c.d", steps=(OFFICER, NotifyParent(delay=MIN)))
    # Nobody at c.d, but the parent's (default) policy reaches someone at c.
    warnings = check_policy(policy, orgs=ORGS, reachable=only_at("c"))
    assert codes(warnings) == {"unreachable_step"}
    assert all(not w.fatal for w in warnings)


def test_a_loop_through_organisations_is_refused() -> None:
    d = Policy(
        id="d", version=1, org="c.d", steps=(NotifyDutyRoom(org="c.e"),), grades=frozenset(Grade)
    )
    e = Policy(id="e", version=1, org="c.e", steps=(OFFICER, NotifyDutyRoom(org="c.d")))
    problems = validate_policy(d, orgs=ORGS, reachable=everyone, policies=[e])
    loops = [p for p in problems if p.code == "org_loop"]
    assert loops
    assert "c.d → c.e → c.d" in loops[0].message
    with pytest.raises(InvalidPolicy, match="loop"):
        check_policy(d, orgs=ORGS, reachable=everyone, policies=[e])


def test_a_loop_through_a_descendant_is_refused() -> None:
    # c.d sends to its child c.d.t, whose own policy sends it back to its parent c.d.
    down = Policy(id="down", version=1, org="c.d", steps=(OFFICER, NotifyDutyRoom(org="c.d.t")))
    back = Policy(id="back", version=1, org="c.d.t", steps=(OFFICER, NotifyParent()))
    assert "org_loop" in codes(
        validate_policy(down, orgs=ORGS, reachable=everyone, policies=[back])
    )


@pytest.mark.parametrize(
    ("org", "steps", "code"),
    [
        ("c", (OFFICER, NotifyParent()), "no_duty_room"),
        ("c.d", (OFFICER, NotifyParent(levels=2)), "no_duty_room"),
        ("c.d", (OFFICER, NotifyDutyRoom(org="c.zz")), "unknown_duty_room"),
        ("c.d", (OFFICER, NotifyDutyRoom(org="c.d")), "self_duty_room"),
        ("c.zz", (OFFICER,), "unknown_org"),
        ("c.d", (OFFICER, Repeat(times=2)), "repeat_without_delay"),
    ],
)
def test_structural_problems_against_the_tree(org: str, steps: tuple[Step, ...], code: str) -> None:
    policy = Policy(id="p", version=1, org=org, steps=steps)
    problems = validate_policy(policy, orgs=ORGS, reachable=everyone)
    assert code in codes(problems)
    assert all(p.fatal for p in problems if p.code == code)


def test_ambiguous_policies_are_refused() -> None:
    a = _p("a", "c.d", {Grade.III, Grade.IV}, {Category.ACCIDENT})
    b = _p("b", "c.d", {Grade.II, Grade.III}, {Category.ACCIDENT})
    narrower = _p("n", "c.d", {Grade.III}, {Category.ACCIDENT})
    assert "ambiguous" in codes(validate_policy(a, orgs=ORGS, reachable=everyone, policies=[b]))
    assert validate_policy(a, orgs=ORGS, reachable=everyone, policies=[narrower]) == ()
    # A new version of the same policy is not a rival.
    assert validate_policy(a, orgs=ORGS, reachable=everyone, policies=[replace(a, version=2)]) == ()


@given(
    steps=st.lists(scheduled_steps(), min_size=1, max_size=5),
    reachable_rooms=st.sets(st.sampled_from(sorted(ORGS))),
)
def test_validation_never_crashes_and_fatal_iff_refused(
    steps: list[ScheduledStep], reachable_rooms: set[str]
) -> None:
    if all(isinstance(s, Wait) for s in steps):
        steps = [*steps, OFFICER]
    steps = [replace(s, org="c.e") if isinstance(s, NotifyDutyRoom) else s for s in steps]
    policy = Policy(id="p", version=1, org="c.d.t", steps=tuple(steps))
    problems = validate_policy(policy, orgs=ORGS, reachable=only_at(*reachable_rooms))
    fatal = [p for p in problems if p.fatal]
    if fatal:
        with pytest.raises(InvalidPolicy):
            check_policy(policy, orgs=ORGS, reachable=only_at(*reachable_rooms))
    else:
        check_policy(policy, orgs=ORGS, reachable=only_at(*reachable_rooms))
    # Upward climbs and a lateral room with the default policy never loop.
    assert "org_loop" not in codes(problems)


def test_every_problem_has_a_message() -> None:
    bad = Policy(
        id="p",
        version=1,
        org="c",
        steps=tuple(
            itertools.chain(
                (OFFICER,), (NotifyParent(), NotifyDutyRoom(org="c.q")), (Repeat(times=1),)
            )
        ),
    )
    for problem in validate_policy(bad, orgs=ORGS, reachable=nobody):
        assert problem.message
        assert problem.as_dict()["code"] == problem.code


def test_delays_are_absolute_across_a_daylight_saving_change() -> None:
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    # 01:30 local on 30 March 2025; clocks jump from 02:00 to 03:00.
    started = datetime(2025, 3, 30, 1, 30, tzinfo=berlin)
    policy = Policy(id="dst", version=1, org="c", steps=(OFFICER, NotifyParent(delay=60 * MIN)))
    state = start(policy, started)
    first = evaluate(policy, state, started)
    assert first.next_due_at == started.astimezone(UTC) + 60 * MIN
    assert first.next_due_at is not None
    assert first.next_due_at - started == 60 * MIN


@given(
    org=st.sampled_from(["c", "c.d", "c.d.t"]),
    grade=st.sampled_from(Grade),
    timeout=st.integers(min_value=0, max_value=10**12).map(lambda us: US * us),
)
def test_a_running_default_policy_is_found_again_by_its_ref(
    org: str, grade: Grade, timeout: timedelta
) -> None:
    policy = default_policy(org, grade, ack_timeout=timeout)
    assert policy_for_ref(policy.ref, [], org) == policy
    assert policy.steps[1].delay == timeout


def test_policy_for_ref_finds_stored_versions_and_refuses_unknown_refs() -> None:
    v1, v2 = _p("x", "c", version=1), _p("x", "c", version=2)
    assert policy_for_ref("x@v1", [v2, v1], "c.d") is v1
    with pytest.raises(LookupError, match="x@v3"):
        policy_for_ref("x@v3", [v1, v2], "c.d")
    # A top-of-tree default ref does not rebuild for a room below the top, nor the reverse.
    top = default_policy("c", Grade.I, ack_timeout=MIN)
    with pytest.raises(LookupError):
        policy_for_ref(top.ref, [], "c.d")
    assert default_policy("c.d", Grade.I, ack_timeout=timedelta(seconds=300.5)).id == (
        "default-I-300.5s"
    )
