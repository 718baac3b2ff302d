"""Escalation rules (dutywatch.escalation.rules): what is due, given policy, progress and clock.

The heart of this file is a simulated driver loop: a clock advances in random increments, an
acknowledgement or resolution may happen at any tick, and at every tick the driver asks
``due_steps`` what to fire and fires it (bumps ``fired``), the way the scheduler does. The
invariants the scheduler relies on are checked at every tick and at the end.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dutywatch.config import DEFAULT_ACK_TIMEOUTS
from dutywatch.contracts import Grade
from dutywatch.escalation.rules import (
    DUTY_OFFICER,
    LEADER_ON_DUTY,
    Policy,
    Progress,
    Step,
    due_steps,
    next_due_at,
    spine_policy,
)

US = timedelta(microseconds=1)
ROLES = (DUTY_OFFICER, LEADER_ON_DUTY, "standby", "parent_duty_room")

# ------------------------------------------------------------------------------ strategies

#: Delays at millisecond resolution up to two hours, so ties and zero delays are common.
delays_ms = st.lists(st.integers(min_value=0, max_value=7_200_000), min_size=1, max_size=6).map(
    sorted
)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    delays = draw(delays_ms)
    roles = draw(st.lists(st.sampled_from(ROLES), min_size=len(delays), max_size=len(delays)))
    return Policy(
        version=draw(st.text(min_size=1, max_size=20)),
        steps=tuple(
            Step(role=role, delay=timedelta(milliseconds=ms))
            for role, ms in zip(roles, delays, strict=True)
        ),
    )


start_times = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2090, 1, 1),
    timezones=st.just(UTC),
)

#: Clock increments: often zero or tiny, sometimes jumping past several steps at once.
increments = st.one_of(
    st.just(timedelta(0)),
    st.integers(min_value=1, max_value=1_000).map(lambda us: timedelta(microseconds=us)),
    st.integers(min_value=1, max_value=3_000_000).map(lambda ms: timedelta(milliseconds=ms)),
)


@st.composite
def progresses(draw: st.DrawFn, policy: Policy, started_at: datetime) -> Progress:
    return Progress(
        started_at=started_at,
        fired=draw(st.integers(min_value=0, max_value=len(policy.steps))),
        acknowledged=draw(st.booleans()),
        resolved=draw(st.booleans()),
    )


def due_time(policy: Policy, progress: Progress, index: int) -> datetime:
    return progress.started_at + policy.steps[index].delay


# ------------------------------------------------------------------- the simulated driver


@settings(deadline=None)
@given(
    policy=policies(),
    started_at=start_times,
    lead_in=st.integers(min_value=0, max_value=600_000).map(lambda ms: timedelta(milliseconds=ms)),
    ticks=st.lists(increments, min_size=0, max_size=40),
    ack_tick=st.none() | st.integers(min_value=0, max_value=40),
    resolve_tick=st.none() | st.integers(min_value=0, max_value=40),
)
def test_driver_loop_invariants(
    policy: Policy,
    started_at: datetime,
    lead_in: timedelta,
    ticks: list[timedelta],
    ack_tick: int | None,
    resolve_tick: int | None,
) -> None:
    progress = Progress(started_at=started_at, fired=0, acknowledged=False, resolved=False)
    now = started_at - lead_in  # the clock may read a little before the policy start
    fired_log: list[tuple[int, datetime, int]] = []  # (step, clock, tick number)
    stop_tick: int | None = None

    def tick(now: datetime, number: int) -> None:
        nonlocal progress
        upcoming = next_due_at(policy, progress)
        due = due_steps(policy, progress, now)
        if progress.acknowledged or progress.resolved:
            assert due == [], "an acknowledged or resolved incident got another step"
            assert upcoming is None
        # Due steps are the next ones in order, each of them really due...
        assert due == list(range(progress.fired, progress.fired + len(due)))
        for index in due:
            assert due_time(policy, progress, index) <= now
        # ... and maximal: the first step not returned is not due yet.
        following = progress.fired + len(due)
        if not (progress.acknowledged or progress.resolved) and following < len(policy.steps):
            assert due_time(policy, progress, following) > now
        # next_due_at agrees with due_steps at this instant.
        if upcoming is None:
            assert due == []
        else:
            index, when = upcoming
            assert index == progress.fired
            assert when == due_time(policy, progress, index)
            assert bool(due) == (when <= now)
        # Fire them, as the scheduler does.
        fired_log.extend((index, now, number) for index in due)
        progress = replace(progress, fired=progress.fired + len(due))

    tick(now, -1)
    for number, increment in enumerate(ticks):
        now += increment
        if number == ack_tick:
            progress = replace(progress, acknowledged=True)
        if number == resolve_tick:
            progress = replace(progress, resolved=True)
        if stop_tick is None and (progress.acknowledged or progress.resolved):
            stop_tick = number
        tick(now, number)

    indexes = [index for index, _, _ in fired_log]
    assert all(count == 1 for count in Counter(indexes).values()), "a step fired twice"
    assert indexes == sorted(indexes), "steps fired out of order"
    assert indexes == list(range(len(indexes))), "a step was skipped"
    for index, at, _ in fired_log:
        assert at >= started_at + policy.steps[index].delay, "a step fired before its delay"
    end_of_time = max(now, started_at + policy.steps[-1].delay)
    if stop_tick is not None:
        assert all(number < stop_tick for _, _, number in fired_log), "fired after ack/resolve"
        fired_before = progress.fired
        tick(end_of_time + timedelta(days=1), len(ticks))
        assert progress.fired == fired_before, "a step fired after ack/resolve"
    else:
        # Once the clock passes every delay without an ack, every step has fired exactly once.
        tick(end_of_time, len(ticks))
        assert progress.fired == len(policy.steps)
        assert [index for index, _, _ in fired_log] == list(range(len(policy.steps)))
        assert next_due_at(policy, progress) is None


# --------------------------------------------------------------- next_due_at vs due_steps


@settings(deadline=None)
@given(data=st.data(), policy=policies(), started_at=start_times)
def test_next_due_at_is_exactly_when_the_step_becomes_due(
    data: st.DataObject, policy: Policy, started_at: datetime
) -> None:
    progress = data.draw(progresses(policy, started_at))
    upcoming = next_due_at(policy, progress)
    if progress.acknowledged or progress.resolved or progress.fired == len(policy.steps):
        assert upcoming is None
        far = started_at + policy.steps[-1].delay + timedelta(days=365)
        assert due_steps(policy, progress, far) == []
        return
    assert upcoming is not None
    index, when = upcoming
    assert index == progress.fired
    assert when == started_at + policy.steps[index].delay
    # Nothing is due a microsecond before; the announced step is due exactly then.
    assert due_steps(policy, progress, when - US) == []
    assert due_steps(policy, progress, when)[:1] == [index]
    # Any instant before ``when`` has nothing due either.
    before = data.draw(st.integers(min_value=1, max_value=10**10).map(lambda us: when - US * us))
    assert due_steps(policy, progress, before) == []


@given(policy=policies(), started_at=start_times)
def test_all_steps_due_once_past_the_last_delay(policy: Policy, started_at: datetime) -> None:
    progress = Progress(started_at=started_at, fired=0, acknowledged=False, resolved=False)
    assert due_steps(policy, progress, started_at + policy.steps[-1].delay) == list(
        range(len(policy.steps))
    )


@given(policy=policies(), started_at=start_times, acknowledged=st.booleans())
def test_acknowledged_or_resolved_gets_nothing(
    policy: Policy, started_at: datetime, acknowledged: bool
) -> None:
    progress = Progress(
        started_at=started_at, fired=0, acknowledged=acknowledged, resolved=not acknowledged
    )
    far = started_at + policy.steps[-1].delay + timedelta(days=1)
    assert due_steps(policy, progress, far) == []
    assert next_due_at(policy, progress) is None


def test_due_steps_table() -> None:
    t0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
    policy = Policy(
        version="t",
        steps=(
            Step(role=DUTY_OFFICER, delay=timedelta(0)),
            Step(role=LEADER_ON_DUTY, delay=timedelta(minutes=5)),
            Step(role="parent_duty_room", delay=timedelta(minutes=5)),
            Step(role="standby", delay=timedelta(minutes=20)),
        ),
    )

    def progress(fired: int) -> Progress:
        return Progress(started_at=t0, fired=fired, acknowledged=False, resolved=False)

    assert due_steps(policy, progress(0), t0 - US) == []
    assert due_steps(policy, progress(0), t0) == [0]
    assert due_steps(policy, progress(1), t0 + timedelta(minutes=5) - US) == []
    assert due_steps(policy, progress(1), t0 + timedelta(minutes=5)) == [1, 2]
    assert due_steps(policy, progress(0), t0 + timedelta(hours=1)) == [0, 1, 2, 3]
    assert due_steps(policy, progress(4), t0 + timedelta(hours=1)) == []
    assert next_due_at(policy, progress(1)) == (1, t0 + timedelta(minutes=5))
    assert next_due_at(policy, progress(3)) == (3, t0 + timedelta(minutes=20))
    assert next_due_at(policy, progress(4)) is None


def test_times_in_other_zones_compare_by_instant() -> None:
    from zoneinfo import ZoneInfo

    shanghai = ZoneInfo("Asia/Shanghai")
    t0 = datetime(2025, 7, 1, 16, 0, tzinfo=shanghai)  # 08:00 UTC
    policy = spine_policy(Grade.III, DEFAULT_ACK_TIMEOUTS)
    progress = Progress(started_at=t0, fired=1, acknowledged=False, resolved=False)
    assert due_steps(policy, progress, datetime(2025, 7, 1, 8, 9, 59, tzinfo=UTC)) == []
    assert due_steps(policy, progress, datetime(2025, 7, 1, 8, 10, tzinfo=UTC)) == [1]


# ----------------------------------------------------------------------- policy validation


def test_policy_needs_a_step() -> None:
    with pytest.raises(ValueError, match="at least one step"):
        Policy(version="empty", steps=())


@pytest.mark.parametrize(
    "delays_s",
    [
        [-1],
        [0, -1],
        [10, 5],
        [0, 300, 299],
        [0, 600, 600, 300],
        [-5, 0, 5],
    ],
)
def test_policy_rejects_negative_or_decreasing_delays(delays_s: list[int]) -> None:
    steps = tuple(Step(role=DUTY_OFFICER, delay=timedelta(seconds=s)) for s in delays_s)
    with pytest.raises(ValueError, match="non-negative and non-decreasing"):
        Policy(version="bad", steps=steps)


@pytest.mark.parametrize("delays_s", [[0], [0, 0], [0, 300], [5, 5, 5, 6], [0, 1, 2, 3, 4, 5]])
def test_policy_accepts_non_decreasing_delays(delays_s: list[int]) -> None:
    steps = tuple(Step(role=DUTY_OFFICER, delay=timedelta(seconds=s)) for s in delays_s)
    assert Policy(version="ok", steps=steps).steps == steps


@given(st.lists(st.integers(min_value=-10_000, max_value=10_000), min_size=1, max_size=6))
def test_policy_valid_iff_non_negative_and_sorted(delays: list[int]) -> None:
    steps = tuple(Step(role=DUTY_OFFICER, delay=timedelta(milliseconds=d)) for d in delays)
    valid = all(d >= 0 for d in delays) and delays == sorted(delays)
    if valid:
        assert Policy(version="v", steps=steps).steps == steps
    else:
        with pytest.raises(ValueError, match="non-negative and non-decreasing"):
            Policy(version="v", steps=steps)


# ---------------------------------------------------------------------------- spine policy


@pytest.mark.parametrize("grade", list(Grade))
def test_spine_policy_shape(grade: Grade) -> None:
    policy = spine_policy(grade, DEFAULT_ACK_TIMEOUTS)
    assert [(s.role, s.delay) for s in policy.steps] == [
        (DUTY_OFFICER, timedelta(0)),
        (LEADER_ON_DUTY, DEFAULT_ACK_TIMEOUTS[grade]),
    ]
    assert str(grade) in policy.version


@pytest.mark.parametrize(
    ("grade", "minutes"), [(Grade.I, 5), (Grade.II, 5), (Grade.III, 10), (Grade.IV, 15)]
)
def test_spine_policy_default_timeouts(grade: Grade, minutes: int) -> None:
    assert spine_policy(grade, DEFAULT_ACK_TIMEOUTS).steps[1].delay == timedelta(minutes=minutes)


@given(
    grade=st.sampled_from(Grade),
    a=st.integers(min_value=0, max_value=86_400),
    b=st.integers(min_value=0, max_value=86_400),
)
def test_spine_version_differs_iff_whole_second_timeout_differs(
    grade: Grade, a: int, b: int
) -> None:
    va = spine_policy(grade, {grade: timedelta(seconds=a)}).version
    vb = spine_policy(grade, {grade: timedelta(seconds=b)}).version
    assert (va == vb) == (a == b)


@given(grades=st.lists(st.sampled_from(Grade), min_size=2, max_size=2, unique=True))
def test_spine_version_differs_by_grade(grades: list[Grade]) -> None:
    timeouts = dict.fromkeys(Grade, timedelta(minutes=10))
    assert spine_policy(grades[0], timeouts).version != spine_policy(grades[1], timeouts).version


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (timedelta(seconds=300), timedelta(seconds=300.5)),
        (timedelta(milliseconds=100), timedelta(milliseconds=900)),
    ],
)
def test_spine_version_differs_for_sub_second_timeouts(a: timedelta, b: timedelta) -> None:
    assert (
        spine_policy(Grade.I, {Grade.I: a}).version != spine_policy(Grade.I, {Grade.I: b}).version
    )


def test_spine_policy_refuses_a_negative_timeout() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        spine_policy(Grade.I, {Grade.I: timedelta(seconds=-1)})


def test_spine_policy_with_zero_timeout_pages_both_at_once() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    policy = spine_policy(Grade.I, {Grade.I: timedelta(0)})
    progress = Progress(started_at=t0, fired=0, acknowledged=False, resolved=False)
    assert due_steps(policy, progress, t0) == [0, 1]
