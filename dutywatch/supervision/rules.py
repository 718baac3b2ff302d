"""Supervision (督办): leaders' instructions assigned to units, chased and checked (pure).

An instruction (批示) belongs to an incident or stands alone as a matter; it has one or more
assignments, each naming a unit (an organisation), the person responsible there, a due date
and the supervisor who chases it (专人催办). An assignment moves through::

    assigned ─accept─► accepted ─start─► in_progress ─report─► reported
                                              ▲                  │  │
                                              │  ┌──send_back────┘  └──verify──► verified
                                              │  ▼                                   │
                                         start│ sent_back ─report─► reported       close
                                              │                                      ▼
                                              └─────────── reopen (re-check failed) closed

Overdue is a flag computed from the due date and ``now`` (:func:`overdue`), never a state.
Sending a feedback back restarts the clock: the supervisor gives a new due date, the reminder
count starts again from zero. A failed re-check (回头看) reopens a closed assignment to
``in_progress`` with a new due date. Everything here is a function of values and ``now``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from dutywatch import errors


class State(enum.StrEnum):
    ASSIGNED = "assigned"  # given to the unit, not yet taken on
    ACCEPTED = "accepted"  # the unit took it on
    IN_PROGRESS = "in_progress"  # the unit is carrying it out
    REPORTED = "reported"  # the unit reported back (反馈), waiting for the supervisor
    SENT_BACK = "sent_back"  # the supervisor refused the feedback (with a reason, new due date)
    VERIFIED = "verified"  # the supervisor accepted the feedback
    CLOSED = "closed"  # done; may be looked back at (回头看)


class Action(enum.StrEnum):
    ACCEPT = "accept"
    START = "start"
    REPORT = "report"
    VERIFY = "verify"
    SEND_BACK = "send_back"
    CLOSE = "close"
    REOPEN = "reopen"  # a failed re-check


#: The whole diagram: from each state, each allowed action and the state it leads to.
TRANSITIONS: Final[Mapping[State, Mapping[Action, State]]] = {
    State.ASSIGNED: {Action.ACCEPT: State.ACCEPTED},
    State.ACCEPTED: {Action.START: State.IN_PROGRESS},
    State.IN_PROGRESS: {Action.REPORT: State.REPORTED},
    State.REPORTED: {Action.VERIFY: State.VERIFIED, Action.SEND_BACK: State.SENT_BACK},
    State.SENT_BACK: {Action.START: State.IN_PROGRESS, Action.REPORT: State.REPORTED},
    State.VERIFIED: {Action.CLOSE: State.CLOSED},
    State.CLOSED: {Action.REOPEN: State.IN_PROGRESS},
}

#: States in which the unit owes nothing: no reminders, never overdue.
DONE: Final = frozenset({State.REPORTED, State.VERIFIED, State.CLOSED})
#: States listed as a unit's open work and on a supervisor's chase list.
OPEN: Final = frozenset(State) - {State.CLOSED}


class IllegalTransition(errors.Conflict):
    """This assignment cannot do that in its current state; see `allowed` for what it can do."""

    code = "illegal_transition"


def allowed_actions(state: State) -> list[str]:
    return [str(a) for a in TRANSITIONS[state]]


def next_state(state: State, action: Action) -> State:
    """The state ``action`` leads to from ``state``, or :class:`IllegalTransition`."""
    target = TRANSITIONS[state].get(action)
    if target is None:
        allowed = allowed_actions(state)
        targets = [str(s) for s in TRANSITIONS[state].values()]
        raise IllegalTransition(
            f"an assignment that is {state} cannot {action}; it can "
            + (", ".join(allowed) or "nothing")
            + f" (to {', '.join(targets)})",
            state=str(state),
            action=str(action),
            allowed=allowed,
            allowed_states=targets,
        )
    return target


@dataclass(frozen=True, kw_only=True)
class Assignment:
    id: int
    instruction_id: int
    unit: str
    responsible: str
    supervisor: str
    state: State
    #: The due date in force (a send-back or failed re-check sets a new one).
    due_at: datetime
    #: The first due date, kept for the figures.
    first_due_at: datetime
    created_at: datetime
    #: When the current clock started: creation, a send-back, a reopening.
    clock_started_at: datetime
    reminders: int = 0
    reminded_at: datetime | None = None
    verified_at: datetime | None = None
    closed_at: datetime | None = None
    recheck_at: datetime | None = None


def overdue(assignment: Assignment, now: datetime) -> bool:
    """Overdue: past the due date in force while the unit still owes its feedback."""
    return now > assignment.due_at and assignment.state not in DONE


def apply(
    assignment: Assignment,
    action: Action,
    now: datetime,
    *,
    due_at: datetime | None = None,
    recheck_at: datetime | None = None,
) -> Assignment:
    """The assignment after ``action`` at ``now``.

    ``due_at`` is required by a send-back and a reopening (the clock restarts), refused
    otherwise; ``recheck_at`` is allowed only when closing and must be after ``now``.
    """
    state = next_state(assignment.state, action)
    restarts = action in (Action.SEND_BACK, Action.REOPEN)
    if restarts and (due_at is None or due_at <= now):
        raise errors.SchemaViolation(
            f"{action} restarts the clock: give a new `due_at` after {now.isoformat()}",
            field="due_at",
        )
    if not restarts and due_at is not None:
        raise errors.SchemaViolation(
            f"only send_back and reopen set a new `due_at`, not {action}", field="due_at"
        )
    if recheck_at is not None and (action is not Action.CLOSE or recheck_at <= now):
        raise errors.SchemaViolation(
            f"`recheck_at` is a date after {now.isoformat()}, given when closing",
            field="recheck_at",
        )
    changed = replace(assignment, state=state)
    if restarts:
        assert due_at is not None
        changed = replace(
            changed,
            due_at=due_at,
            clock_started_at=now,
            reminders=0,
            verified_at=None if action is Action.REOPEN else changed.verified_at,
            closed_at=None,
            recheck_at=None,
        )
    if action is Action.VERIFY:
        changed = replace(changed, verified_at=now)
    if action is Action.CLOSE:
        changed = replace(changed, closed_at=now, recheck_at=recheck_at)
    return changed


# --- Reminders (催办) ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ReminderRule:
    """When reminders go out and when the unit's leader on duty is told too."""

    #: One reminder this long before the due date (zero: none before it).
    before: timedelta = timedelta(days=1)
    #: After the due date, one reminder every ``every``: at due + every, due + 2·every …
    every: timedelta = timedelta(days=1)
    #: From this many reminders sent on the current clock on, the leader is told as well.
    leader_after: int = 2

    def __post_init__(self) -> None:
        if self.before < timedelta(0) or self.every <= timedelta(0) or self.leader_after < 0:
            raise ValueError("reminders need before >= 0, every > 0 and leader_after >= 0")


DEFAULT_REMINDERS: Final = ReminderRule()


def _reminder_times(rule: ReminderRule, due_at: datetime) -> Iterator[datetime]:
    if rule.before > timedelta(0):
        yield due_at - rule.before
    n = 1
    while True:
        yield due_at + n * rule.every
        n += 1


def next_reminder(rule: ReminderRule, assignment: Assignment) -> datetime | None:
    """The next reminder's time on the current clock; None while the unit owes nothing.

    Reminder instants are ``due - before`` and ``due + n·every`` (n ≥ 1); the next one is the
    first strictly after both the clock's start and the last reminder sent.
    """
    if assignment.state in DONE:
        return None
    after = assignment.clock_started_at
    if assignment.reminded_at is not None and assignment.reminded_at > after:
        after = assignment.reminded_at
    for at in _reminder_times(rule, assignment.due_at):
        if at > after:
            return at
    raise AssertionError("unreachable: reminder times are unbounded")  # pragma: no cover


@dataclass(frozen=True, kw_only=True)
class Reminder:
    number: int  # 1-based, on the current clock
    overdue: bool
    to_leader: bool


def remind(rule: ReminderRule, assignment: Assignment, now: datetime) -> Reminder | None:
    """The reminder due at ``now``, if any: the responsible person always, the unit's leader
    on duty too once the assignment is overdue or ``leader_after`` reminders went out."""
    at = next_reminder(rule, assignment)
    if at is None or at > now:
        return None
    late = overdue(assignment, now)
    return Reminder(
        number=assignment.reminders + 1,
        overdue=late,
        to_leader=late or assignment.reminders >= rule.leader_after,
    )


def reminded(assignment: Assignment, now: datetime) -> Assignment:
    return replace(assignment, reminders=assignment.reminders + 1, reminded_at=now)


# --- Figures -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Record:
    """What the figures need of one assignment (its state now and its history)."""

    unit: str
    state: State
    created_at: datetime
    first_due_at: datetime
    due_at: datetime
    closed_at: datetime | None
    #: True if the supervisor ever verified its feedback.
    verified: bool
    #: True if any of its feedback came after the due date in force when it was reported
    #: (a send-back gives a new due date but does not excuse an earlier late feedback).
    reported_late: bool = False
    rechecks_answered: int = 0
    rechecks_failed: int = 0


@dataclass(frozen=True, kw_only=True)
class Figures:
    due: int
    on_time: int
    #: 落实率: on_time / due; None when nothing fell due in the period.
    completion_rate: float | None
    overdue_by_unit: dict[str, int]
    closed: int
    average_days_to_close: float | None
    rechecks_answered: int
    rechecks_failed: int


def figures(records: Sequence[Record], *, start: datetime, end: datetime, now: datetime) -> Figures:
    """The supervision figures of the assignments first due in ``[start, end)``.

    See docs/DOMAIN.md "Supervision figures" for the definitions.
    """
    due = [r for r in records if start <= r.first_due_at < end]
    on_time = sum(1 for r in due if r.verified and not r.reported_late)
    by_unit: dict[str, int] = {}
    for r in due:
        if now > r.due_at and r.state not in DONE:
            by_unit[r.unit] = by_unit.get(r.unit, 0) + 1
    closed = [r for r in due if r.state is State.CLOSED and r.closed_at is not None]
    days = [(r.closed_at - r.created_at).total_seconds() / 86400 for r in closed if r.closed_at]
    return Figures(
        due=len(due),
        on_time=on_time,
        completion_rate=on_time / len(due) if due else None,
        overdue_by_unit=dict(sorted(by_unit.items())),
        closed=len(closed),
        average_days_to_close=sum(days) / len(days) if days else None,
        rechecks_answered=sum(r.rechecks_answered for r in due),
        rechecks_failed=sum(r.rechecks_failed for r in due),
    )


def check_due(due_at: datetime, now: datetime) -> None:
    """A new assignment falls due in the future."""
    if due_at <= now:
        raise errors.SchemaViolation(
            f"`due_at` must be after now ({now.isoformat()})", field="assignments.due_at"
        )
