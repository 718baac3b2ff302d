"""Supervision rules (督办): the assignment diagram, reminders, overdue, figures (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dutywatch import errors
from dutywatch.supervision import rules
from dutywatch.supervision.rules import Action, Assignment, ReminderRule, State

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
DUE = T0 + timedelta(days=3)
RULE = ReminderRule(before=timedelta(hours=6), every=timedelta(hours=4), leader_after=2)

#: The diagram as drawn in docs/ARCHITECTURE.md, written out edge by edge.
DRAWN = {
    (State.ASSIGNED, State.ACCEPTED),
    (State.ACCEPTED, State.IN_PROGRESS),
    (State.IN_PROGRESS, State.REPORTED),
    (State.REPORTED, State.VERIFIED),
    (State.REPORTED, State.SENT_BACK),
    (State.SENT_BACK, State.IN_PROGRESS),
    (State.SENT_BACK, State.REPORTED),
    (State.VERIFIED, State.CLOSED),
    (State.CLOSED, State.IN_PROGRESS),
}


def fresh(**changes: object) -> Assignment:
    a = Assignment(
        id=1,
        instruction_id=1,
        unit="harbin.daoli",
        responsible="li-na",
        supervisor="zhang-wei",
        state=State.ASSIGNED,
        due_at=DUE,
        first_due_at=DUE,
        created_at=T0,
        clock_started_at=T0,
    )
    return replace(a, **changes)  # type: ignore[arg-type]


def attempt(a: Assignment, action: Action, now: datetime) -> Assignment:
    """Apply with the arguments each action takes (a new due date where the clock restarts)."""
    restarts = action in (Action.SEND_BACK, Action.REOPEN)
    return rules.apply(a, action, now, due_at=now + timedelta(days=1) if restarts else None)


actions = st.lists(
    st.tuples(st.sampled_from(list(Action)), st.integers(min_value=0, max_value=48 * 3600)),
    max_size=30,
)


@given(actions)
def test_no_sequence_reaches_a_state_the_diagram_forbids(steps: list[tuple[Action, int]]) -> None:
    a, now = fresh(), T0
    for action, seconds in steps:
        now += timedelta(seconds=seconds)
        before = a.state
        if action not in rules.TRANSITIONS[before]:
            with pytest.raises(rules.IllegalTransition) as refused:
                attempt(a, action, now)
            assert refused.value.fields["allowed"] == rules.allowed_actions(before)
            assert refused.value.http_status == 409
            continue
        a = attempt(a, action, now)
        assert (before, a.state) in DRAWN
        if a.state is State.CLOSED:
            assert a.closed_at == now
            assert a.verified_at is not None
        assert a.due_at > a.clock_started_at or a.due_at == DUE


def test_the_table_is_the_drawn_diagram() -> None:
    table = {(s, t) for s, edges in rules.TRANSITIONS.items() for t in edges.values()}
    assert table == DRAWN
    assert set(rules.TRANSITIONS) == set(State)


def test_an_illegal_step_names_what_is_allowed() -> None:
    with pytest.raises(rules.IllegalTransition) as caught:
        rules.apply(fresh(), Action.VERIFY, T0)
    assert caught.value.fields["allowed"] == ["accept"]
    assert "can accept" in caught.value.message


def test_send_back_and_reopen_need_a_new_due_date_after_now() -> None:
    reported = fresh(state=State.REPORTED)
    with pytest.raises(errors.SchemaViolation) as caught:
        rules.apply(reported, Action.SEND_BACK, T0)
    assert caught.value.fields["field"] == "due_at"
    with pytest.raises(errors.SchemaViolation):
        rules.apply(reported, Action.SEND_BACK, T0, due_at=T0)
    with pytest.raises(errors.SchemaViolation):
        rules.apply(fresh(), Action.ACCEPT, T0, due_at=DUE)
    later = T0 + timedelta(days=5)
    sent = rules.apply(
        replace(reported, reminders=3), Action.SEND_BACK, later, due_at=later + timedelta(days=1)
    )
    assert (sent.due_at, sent.clock_started_at, sent.reminders) == (
        later + timedelta(days=1),
        later,
        0,
    )
    assert sent.first_due_at == DUE


def test_recheck_only_when_closing_and_in_the_future() -> None:
    verified = fresh(state=State.VERIFIED, verified_at=T0)
    with pytest.raises(errors.SchemaViolation):
        rules.apply(verified, Action.CLOSE, T0, recheck_at=T0)
    closed = rules.apply(verified, Action.CLOSE, T0, recheck_at=T0 + timedelta(days=30))
    assert closed.recheck_at == T0 + timedelta(days=30)
    reopened = rules.apply(closed, Action.REOPEN, T0 + timedelta(days=31), due_at=DUE + 40 * DAY)
    assert (reopened.state, reopened.closed_at, reopened.recheck_at) == (
        State.IN_PROGRESS,
        None,
        None,
    )


DAY = timedelta(days=1)


@given(
    st.sampled_from(list(State)),
    st.integers(min_value=-10 * 86400, max_value=10 * 86400),
)
def test_overdue_iff_past_due_and_still_owing(state: State, offset: int) -> None:
    now = DUE + timedelta(seconds=offset)
    a = fresh(state=state)
    owing = state not in (State.REPORTED, State.VERIFIED, State.CLOSED)
    assert rules.overdue(a, now) == (now > DUE and owing)


@given(st.sampled_from(sorted(rules.DONE)), st.integers(min_value=0, max_value=40))
def test_an_assignment_done_gets_no_reminders(state: State, hours: int) -> None:
    a = fresh(state=state)
    assert rules.next_reminder(RULE, a) is None
    assert rules.remind(RULE, a, DUE + timedelta(hours=hours)) is None


@given(actions, st.integers(min_value=0, max_value=20 * 86400))
def test_a_closed_assignment_never_gets_reminders(
    steps: list[tuple[Action, int]], later: int
) -> None:
    a, now = fresh(), T0
    for action, seconds in steps:
        now += timedelta(seconds=seconds)
        try:
            a = attempt(a, action, now)
        except rules.IllegalTransition:
            continue
    if a.state is State.CLOSED:
        assert rules.remind(RULE, a, now + timedelta(seconds=later)) is None


def test_reminders_before_and_after_the_due_date_then_the_leader() -> None:
    a = fresh(state=State.IN_PROGRESS)
    sent: list[tuple[datetime, rules.Reminder]] = []
    now = T0
    while now < DUE + timedelta(hours=13):
        reminder = rules.remind(RULE, a, now)
        if reminder is not None:
            sent.append((now, reminder))
            a = rules.reminded(a, now)
        now += timedelta(minutes=30)
    assert [(at - DUE, r.number, r.overdue, r.to_leader) for at, r in sent] == [
        (-timedelta(hours=6), 1, False, False),
        (timedelta(hours=4), 2, True, True),
        (timedelta(hours=8), 3, True, True),
        (timedelta(hours=12), 4, True, True),
    ]


def test_the_leader_is_told_after_n_reminders_even_before_the_due_date() -> None:
    rule = ReminderRule(before=timedelta(hours=6), every=timedelta(hours=4), leader_after=0)
    reminder = rules.remind(rule, fresh(), DUE - timedelta(hours=6))
    assert reminder is not None
    assert (reminder.overdue, reminder.to_leader) == (False, True)


def test_a_late_start_skips_the_stale_reminders() -> None:
    # Assigned two hours before its due date: no "due soon" reminder from the past.
    a = fresh(clock_started_at=DUE - timedelta(hours=2), created_at=DUE - timedelta(hours=2))
    assert rules.next_reminder(RULE, a) == DUE + timedelta(hours=4)


# --- figures -------------------------------------------------------------------------------

records = st.builds(
    rules.Record,
    unit=st.sampled_from(["harbin.daoli", "harbin.daoli.xinyang", "harbin.nangang"]),
    state=st.sampled_from(list(State)),
    created_at=st.just(T0),
    first_due_at=st.integers(min_value=0, max_value=20).map(lambda d: T0 + timedelta(days=d)),
    due_at=st.integers(min_value=0, max_value=30).map(lambda d: T0 + timedelta(days=d)),
    closed_at=st.one_of(
        st.none(), st.integers(min_value=0, max_value=30).map(lambda d: T0 + timedelta(days=d))
    ),
    verified=st.booleans(),
    reported_late=st.booleans(),
    rechecks_answered=st.integers(min_value=0, max_value=3),
    rechecks_failed=st.integers(min_value=0, max_value=3),
).filter(lambda r: r.rechecks_failed <= r.rechecks_answered)


@given(st.lists(records, max_size=40), st.integers(0, 20), st.integers(1, 20), st.integers(0, 40))
def test_figures_invariants(
    found: list[rules.Record], start_day: int, length: int, now_day: int
) -> None:
    start = T0 + timedelta(days=start_day)
    end = start + timedelta(days=length)
    now = T0 + timedelta(days=now_day)
    f = rules.figures(found, start=start, end=end, now=now)
    due = [r for r in found if start <= r.first_due_at < end]
    assert f.due == len(due)
    assert 0 <= f.on_time <= f.due
    assert f.completion_rate is None if f.due == 0 else f.completion_rate == f.on_time / f.due
    if f.completion_rate is not None:
        assert 0.0 <= f.completion_rate <= 1.0
    assert sum(f.overdue_by_unit.values()) <= f.due
    assert all(count > 0 for count in f.overdue_by_unit.values())
    assert f.closed <= f.due
    assert (f.average_days_to_close is None) == (f.closed == 0)
    assert 0 <= f.rechecks_failed <= f.rechecks_answered
    # Records outside the period change nothing.
    outside = [replace(r, first_due_at=end + timedelta(days=1)) for r in found]
    assert rules.figures(found + outside, start=start, end=end, now=now) == f


def test_figures_count_a_late_feedback_as_not_on_time_even_after_a_send_back() -> None:
    on_time = rules.Record(
        unit="a",
        state=State.CLOSED,
        created_at=T0,
        first_due_at=DUE,
        due_at=DUE,
        closed_at=T0 + timedelta(days=2),
        verified=True,
    )
    late = replace(on_time, unit="b", reported_late=True, closed_at=T0 + timedelta(days=4))
    still_open = replace(on_time, unit="b", state=State.IN_PROGRESS, closed_at=None, verified=False)
    f = rules.figures([on_time, late, still_open], start=T0, end=DUE + DAY, now=DUE + DAY)
    assert (f.due, f.on_time, f.completion_rate) == (3, 1, 1 / 3)
    assert f.overdue_by_unit == {"b": 1}
    assert f.average_days_to_close == 3.0
