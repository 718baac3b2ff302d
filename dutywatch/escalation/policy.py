"""Escalation policies: who is paged, in what order, until a duty room acknowledges.

A :class:`Policy` belongs to an organisation and applies to a set of grades and categories of
incidents in that organisation's subtree. Its steps run in order; each step waits its ``delay``
after the previous one (the delays add up), then acts:

* :class:`NotifyRole` pages whoever holds a roster role (duty officer, leader on duty, ...) of
  the duty room that holds the alert;
* :class:`NotifyPeople` pages named people;
* :class:`NotifyParent` opens a linked alert in the duty room ``levels`` up the tree (2 is
  skip-level reporting, 越级上报); :class:`NotifyDutyRoom` opens one in a named duty room
  (a peer, or a skip-level target by name). A linked alert runs its own policy and clock;
* :class:`Wait` only waits;
* :class:`Repeat`, allowed once and last, runs the whole policy ``times`` more times, the next
  pass starting ``delay`` after the last step of the previous one.

Evaluation is a pure function of (policy, state, now): :func:`evaluate` returns the actions due
now, the state after carrying them out, and when the next action falls due. The state
(:class:`EscalationState`) is a cursor that fits one database row: the policy version, when
it started, the next (repeat, step) position, and whether the alert was acknowledged or its
incident resolved. Due times come from the schedule (``started_at`` plus the cumulative
delays), never from when a step actually fired, so a late scheduler does not push later steps
back and evaluating at every tick fires exactly what evaluating once at the end would.

Note the spine's :class:`dutywatch.escalation.rules.Step` counts each delay from the policy
start; here each delay counts from the previous step (the way duty-room plans read: "if nobody
acknowledges within 10 minutes, page the leader").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Final, TypeAlias

from dutywatch.config import DEFAULT_ACK_TIMEOUTS
from dutywatch.contracts import Category, Grade
from dutywatch.errors import DutywatchError
from dutywatch.rosters.model import Role

_ORG_RE: Final = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")
#: Policy ids are short enough that ``ref`` fits the 64-character ``policy_version`` of pages.
_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,47}$")
_PERSON_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: More passes than this is a paging storm, not a policy.
MAX_REPEATS: Final = 100
MAX_STEPS: Final = 50

# ----------------------------------------------------------------------------------- steps


@dataclass(frozen=True, kw_only=True)
class NotifyRole:
    """Page whoever holds ``role`` of the alert's duty room (climbing past empty rosters)."""

    role: Role
    delay: timedelta = timedelta(0)


@dataclass(frozen=True, kw_only=True)
class NotifyPeople:
    """Page these people by id, whoever is on duty."""

    people: tuple[str, ...]
    delay: timedelta = timedelta(0)


@dataclass(frozen=True, kw_only=True)
class NotifyParent:
    """Open a linked alert ``levels`` up the tree: 1 is the parent, 2 skips a level."""

    levels: int = 1
    delay: timedelta = timedelta(0)


@dataclass(frozen=True, kw_only=True)
class NotifyDutyRoom:
    """Open a linked alert in the named duty room (a peer, or a skip-level target)."""

    org: str
    delay: timedelta = timedelta(0)


@dataclass(frozen=True, kw_only=True)
class Wait:
    """Wait ``delay`` and do nothing (reads better than a long delay on the next step)."""

    delay: timedelta


@dataclass(frozen=True, kw_only=True)
class Repeat:
    """Run the whole policy ``times`` more times, ``delay`` after the last step of a pass."""

    times: int
    delay: timedelta = timedelta(0)


#: A step that does something when it falls due.
ActionStep: TypeAlias = NotifyRole | NotifyPeople | NotifyParent | NotifyDutyRoom
#: A step that takes a place in the schedule.
ScheduledStep: TypeAlias = ActionStep | Wait
Step: TypeAlias = ScheduledStep | Repeat
DutyRoomStep: TypeAlias = NotifyParent | NotifyDutyRoom
PageStep: TypeAlias = NotifyRole | NotifyPeople


# ---------------------------------------------------------------------------------- policy


class InvalidPolicy(DutywatchError, ValueError):
    """The escalation policy is invalid; see `problems` for what to fix."""

    code = "invalid_policy"
    http_status = 422

    def __init__(self, message: str | None = None, *, problems: Sequence[Problem] = ()) -> None:
        if message is None and problems:
            message = "; ".join(p.message for p in problems)
        super().__init__(message, problems=[p.as_dict() for p in problems])
        self.problems = tuple(problems)


@dataclass(frozen=True, kw_only=True)
class Policy:
    """An ordered list of steps for incidents of ``org``'s subtree of some grades and categories.

    ``id`` names the policy; every change is a new ``version`` and the pair (``ref``) is what
    the timeline records for each page. Construction checks the shape (delays, a single last
    :class:`Repeat`, ...); :func:`validate_policy` checks it against the organisation tree and
    the rosters.
    """

    id: str
    version: int
    org: str
    steps: tuple[Step, ...]
    grades: frozenset[Grade] = frozenset(Grade)
    categories: frozenset[Category] = frozenset(Category)

    def __post_init__(self) -> None:
        problems = list(_shape_problems(self))
        if problems:
            raise InvalidPolicy(problems=problems)

    @property
    def ref(self) -> str:
        """``id@vN``: what the timeline and pages record as the driving policy version."""
        return f"{self.id}@v{self.version}"

    @property
    def scheduled(self) -> tuple[ScheduledStep, ...]:
        """The steps of one pass (everything but the trailing :class:`Repeat`)."""
        return tuple(s for s in self.steps if not isinstance(s, Repeat))

    @property
    def repeat(self) -> Repeat | None:
        last = self.steps[-1] if self.steps else None
        return last if isinstance(last, Repeat) else None

    @property
    def passes(self) -> int:
        """How many times the steps run in all: 1 plus the repeats."""
        repeat = self.repeat
        return 1 + (repeat.times if repeat is not None else 0)

    @property
    def period(self) -> timedelta:
        """Time from the start of one pass to the start of the next."""
        repeat = self.repeat
        gap = repeat.delay if repeat is not None else timedelta(0)
        return sum((s.delay for s in self.scheduled), timedelta(0)) + gap

    def applies_to(self, org_path: str, grade: Grade, category: Category) -> bool:
        return (
            is_within(org_path, self.org) and grade in self.grades and category in self.categories
        )


def _shape_problems(policy: Policy) -> Iterator[Problem]:
    if not _ID_RE.match(policy.id):
        yield Problem(
            code="bad_id",
            message=f"policy id {policy.id!r} must be 1-48 of A-Z a-z 0-9 _ . : - "
            "starting with a letter or digit",
        )
    if policy.version < 1:
        yield Problem(code="bad_version", message=f"version must be >= 1, not {policy.version}")
    if not _ORG_RE.match(policy.org):
        yield Problem(code="bad_org", message=f"{policy.org!r} is not an organisation path")
    if not policy.grades:
        yield Problem(code="no_grades", message="a policy must apply to at least one grade")
    if not policy.categories:
        yield Problem(code="no_categories", message="a policy must apply to at least one category")
    if len(policy.steps) > MAX_STEPS:
        yield Problem(code="too_many_steps", message=f"a policy has at most {MAX_STEPS} steps")
    if not any(isinstance(s, ActionStep) for s in policy.steps):
        yield Problem(code="no_action", message="a policy needs at least one step that notifies")
    for index, step in enumerate(policy.steps):
        yield from _step_shape_problems(index, step, last=index == len(policy.steps) - 1)


def _step_shape_problems(index: int, step: Step, *, last: bool) -> Iterator[Problem]:
    where = f"step {index} ({describe(step)})"
    if step.delay < timedelta(0):
        yield Problem(code="negative_delay", step=index, message=f"{where}: delay is negative")
    if isinstance(step, Repeat):
        if not last:
            yield Problem(code="repeat_not_last", step=index, message=f"{where}: must be last")
        if not 1 <= step.times <= MAX_REPEATS:
            yield Problem(
                code="bad_repeat",
                step=index,
                message=f"{where}: repeat 1 to {MAX_REPEATS} times, not {step.times}",
            )
    elif isinstance(step, NotifyPeople):
        yield from _people_problems(index, where, step.people)
    elif isinstance(step, NotifyParent) and step.levels < 1:
        yield Problem(code="bad_levels", step=index, message=f"{where}: levels must be >= 1")
    elif isinstance(step, NotifyDutyRoom) and not _ORG_RE.match(step.org):
        yield Problem(code="bad_org", step=index, message=f"{where}: not an organisation path")
    elif isinstance(step, NotifyRole) and step.role not in set(Role):
        yield Problem(code="bad_role", step=index, message=f"{where}: unknown role")


def _people_problems(index: int, where: str, people: tuple[str, ...]) -> Iterator[Problem]:
    if not people:
        yield Problem(code="no_people", step=index, message=f"{where}: names nobody")
    elif len(set(people)) != len(people):
        yield Problem(code="duplicate_people", step=index, message=f"{where}: names someone twice")
    for person in people:
        if not _PERSON_RE.match(person):
            yield Problem(
                code="bad_person", step=index, message=f"{where}: {person!r} is not a person id"
            )


def describe(step: Step) -> str:
    """A short human description of a step, for messages and the simulate command."""
    match step:
        case NotifyRole(role=role):
            text = f"notify {role}"
        case NotifyPeople(people=people):
            text = "notify " + ", ".join(people)
        case NotifyParent(levels=1):
            text = "notify the parent duty room"
        case NotifyParent(levels=levels):
            text = f"notify the duty room {levels} levels up"
        case NotifyDutyRoom(org=org):
            text = f"notify duty room {org}"
        case Wait(delay=delay):
            text = f"wait {delay}"
        case Repeat(times=times):
            text = f"repeat {times} times"
    return text


# ------------------------------------------------------------------------------ org paths


def is_within(org_path: str, ancestor: str) -> bool:
    """``org_path`` is ``ancestor`` or below it."""
    return org_path == ancestor or org_path.startswith(ancestor + ".")


def depth(org_path: str) -> int:
    """1 for the top of the tree."""
    return org_path.count(".") + 1


def duty_room_of(org_path: str, step: DutyRoomStep) -> str | None:
    """The duty room a step opens a linked alert in, seen from ``org_path``; None above the top."""
    if isinstance(step, NotifyDutyRoom):
        return step.org
    tokens = org_path.split(".")
    if step.levels >= len(tokens):
        return None
    return ".".join(tokens[: len(tokens) - step.levels])


# ------------------------------------------------------------------------------- selection


@functools.lru_cache(maxsize=1024)
def default_policy(org_path: str, grade: Grade, *, ack_timeout: timedelta) -> Policy:
    """Used where no policy applies: officer at once, leader, then the parent duty room.

    Each later step waits ``ack_timeout`` (the grade's acknowledgement timeout). The top of the
    tree has no parent, so its default stops at the leader on duty. Cached: a policy is
    immutable and checked when made, which cost more per report than the rest of selection.
    """
    top = "." not in org_path
    steps: list[Step] = [
        NotifyRole(role=Role.DUTY_OFFICER),
        NotifyRole(role=Role.LEADER_ON_DUTY, delay=ack_timeout),
    ]
    if not top:
        steps.append(NotifyParent(delay=ack_timeout))
    return Policy(
        id=f"default-{grade}-{_seconds(ack_timeout)}s" + ("-top" if top else ""),
        version=1,
        org=org_path.split(".", 1)[0],
        grades=frozenset({grade}),
        steps=tuple(steps),
    )


def _seconds(value: timedelta) -> str:
    """Seconds without loss down to the microsecond: ``900``, ``300.5``."""
    return f"{value.total_seconds():.6f}".rstrip("0").rstrip(".")


_DEFAULT_REF: Final = re.compile(r"^default-(I|II|III|IV)-([0-9]+(?:\.[0-9]+)?)s(-top)?@v1$")


def policy_for_ref(ref: str, policies: Iterable[Policy], org_path: str) -> Policy:
    """The policy version a running escalation started with (see ``EscalationState.policy``).

    Stored policies are found by ``ref``; a default policy is rebuilt from its ref, which
    encodes everything it depends on. Raises ``LookupError`` if neither applies.
    """
    for policy in policies:
        if policy.ref == ref:
            return policy
    match = _DEFAULT_REF.match(ref)
    if match is not None:
        rebuilt = default_policy(
            org_path, Grade(match[1]), ack_timeout=timedelta(seconds=float(match[2]))
        )
        if rebuilt.ref == ref:
            return rebuilt
    raise LookupError(f"policy {ref} is neither stored nor a default policy for {org_path}")


def specificity(policy: Policy) -> tuple[int, int, int]:
    """Larger is more specific: deeper organisation, then fewer grades, then fewer categories."""
    return (depth(policy.org), -len(policy.grades), -len(policy.categories))


def _rank(policy: Policy) -> tuple[int, int, int, str, int]:
    # Ties on specificity go to the smaller id (stable across input order), and among
    # versions of one id to the newest.
    d, g, c = specificity(policy)
    return (-d, -g, -c, policy.id, -policy.version)


def select_policy(
    policies: Iterable[Policy],
    org_path: str,
    grade: Grade,
    category: Category,
    *,
    ack_timeouts: Mapping[Grade, timedelta] = DEFAULT_ACK_TIMEOUTS,
) -> Policy:
    """The policy for an alert in ``org_path`` of this grade and category.

    Among the policies that apply (their organisation is ``org_path`` or one of its ancestors,
    and they list the grade and category), the most specific wins: the deepest organisation,
    then the fewest grades, then the fewest categories. Remaining ties go to the smallest
    ``id``, then the highest ``version`` (so passing every stored version is harmless). With
    none, :func:`default_policy` of the grade's acknowledgement timeout.
    """
    candidates = [p for p in policies if p.applies_to(org_path, grade, category)]
    if candidates:
        return min(candidates, key=_rank)
    return default_policy(org_path, grade, ack_timeout=ack_timeouts[grade])


# ------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True, kw_only=True)
class EscalationState:
    """Where one alert stands in its policy; one database row.

    Every position before (``repeat``, ``step``) in (repeat, step) order has fired (a
    :class:`Wait` "fires" silently). ``policy`` is the ``ref`` of the version that started, so
    a policy edited mid-incident does not change a running escalation.
    """

    policy: str
    started_at: datetime
    repeat: int = 0
    step: int = 0
    acknowledged: bool = False
    resolved: bool = False

    @property
    def stopped(self) -> bool:
        return self.acknowledged or self.resolved


@dataclass(frozen=True, kw_only=True)
class Action:
    """One step to carry out now: page, or open a linked alert."""

    policy: str
    repeat: int
    step: int
    due_at: datetime
    what: ActionStep

    @property
    def position(self) -> tuple[int, int]:
        return (self.repeat, self.step)


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    #: Due now, in (repeat, step) order.
    actions: tuple[Action, ...]
    #: The state once they are carried out: save it in the same transaction.
    state: EscalationState
    #: When the next action falls due (arm a timer), or None if nothing more will happen.
    next_due_at: datetime | None


def start(policy: Policy, now: datetime) -> EscalationState:
    """A new escalation of ``policy`` starting at ``now``."""
    _require_aware(now, "now")
    return EscalationState(policy=policy.ref, started_at=now.astimezone(UTC))


def restart(state: EscalationState, policy: Policy, now: datetime) -> EscalationState:
    """Start ``policy`` again from its first step at ``now`` (after an upgrade).

    Acknowledged and resolved carry over: resolving is final, and whether an upgrade re-arms
    an acknowledged duty room is the caller's decision (clear ``acknowledged`` to re-arm).
    """
    _require_aware(now, "now")
    return replace(state, policy=policy.ref, started_at=now.astimezone(UTC), repeat=0, step=0)


def acknowledge(state: EscalationState) -> EscalationState:
    return replace(state, acknowledged=True)


def resolve(state: EscalationState) -> EscalationState:
    return replace(state, resolved=True)


def due_at(policy: Policy, started_at: datetime, repeat: int, step: int) -> datetime:
    """When position (``repeat``, ``step``) falls due: start + whole passes + delays so far."""
    offsets = _offsets(policy)
    return started_at.astimezone(UTC) + policy.period * repeat + offsets[step]


def _offsets(policy: Policy) -> list[timedelta]:
    total = timedelta(0)
    offsets = []
    for step in policy.scheduled:
        total += step.delay
        offsets.append(total)
    return offsets


def schedule(policy: Policy, started_at: datetime) -> Iterator[Action]:
    """Every action of the policy with its due time, if nobody ever acknowledged."""
    offsets = _offsets(policy)
    period = policy.period
    started_at = started_at.astimezone(UTC)
    for repeat in range(policy.passes):
        for index, step in enumerate(policy.scheduled):
            if not isinstance(step, Wait):
                yield Action(
                    policy=policy.ref,
                    repeat=repeat,
                    step=index,
                    due_at=started_at + period * repeat + offsets[index],
                    what=step,
                )


def evaluate(policy: Policy, state: EscalationState, now: datetime) -> Evaluation:
    """What is due at ``now``: the actions, the state after them, and the next due time.

    Nothing is ever due once the alert is acknowledged or its incident resolved. Positions
    fire in (repeat, step) order, each at most once, and none before ``started_at`` plus its
    cumulative delay.
    """
    _require_aware(now, "now")
    if state.policy != policy.ref:
        raise ValueError(
            f"the escalation runs policy {state.policy}, not {policy.ref}: evaluate it with "
            "the version that started it"
        )
    steps = policy.scheduled
    inside = 0 <= state.repeat < policy.passes and 0 <= state.step < len(steps)
    finished = state.repeat == policy.passes and state.step == 0
    if not (inside or finished):
        raise ValueError(f"position ({state.repeat}, {state.step}) is outside policy {policy.ref}")
    if state.stopped:
        return Evaluation(actions=(), state=state, next_due_at=None)
    offsets = _offsets(policy)
    period = policy.period
    # Durations are absolute: add them in UTC, never to a local wall clock.
    started_at = state.started_at.astimezone(UTC)
    repeat, index = state.repeat, state.step
    actions: list[Action] = []
    next_due: datetime | None = None
    while repeat < policy.passes:
        when = started_at + period * repeat + offsets[index]
        step = steps[index]
        if when > now:
            if not isinstance(step, Wait):
                next_due = when
                break
            # A wait not yet over holds the cursor, but the next due time is the next action.
            next_due = _next_action_due(policy, started_at, repeat, index)
            break
        if not isinstance(step, Wait):
            actions.append(
                Action(policy=policy.ref, repeat=repeat, step=index, due_at=when, what=step)
            )
        index += 1
        if index == len(steps):
            repeat, index = repeat + 1, 0
    return Evaluation(
        actions=tuple(actions),
        state=replace(state, repeat=repeat, step=index),
        next_due_at=next_due,
    )


def _next_action_due(
    policy: Policy, started_at: datetime, repeat: int, index: int
) -> datetime | None:
    """Due time of the first action after position (``repeat``, ``index``), if any."""
    steps = policy.scheduled
    while True:
        index += 1
        if index == len(steps):
            repeat, index = repeat + 1, 0
        if repeat >= policy.passes:
            return None  # only waits are left: nothing more will happen
        if not isinstance(steps[index], Wait):
            return due_at(policy, started_at, repeat, index)


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


# ------------------------------------------------------------------------------ validation


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One thing wrong with a policy. ``fatal`` problems refuse it; others are warnings."""

    code: str
    message: str
    step: int | None = None
    fatal: bool = True

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "step": self.step, "fatal": self.fatal}


#: Can this page step reach at least one person when run for this duty room?
Reachable: TypeAlias = Callable[[str, PageStep], bool]


@dataclass(kw_only=True)
class _Walk:
    policy: Policy
    orgs: Collection[str]
    reachable: Reachable
    others: Sequence[Policy]
    ack_timeouts: Mapping[Grade, timedelta]
    problems: list[Problem] = field(default_factory=list)
    seen_loops: set[tuple[str, ...]] = field(default_factory=set)

    def policy_at(self, org: str, grade: Grade, category: Category) -> Policy:
        if org == self.policy.org and self.policy.applies_to(org, grade, category):
            return self.policy
        return select_policy(
            [*self.others, self.policy], org, grade, category, ack_timeouts=self.ack_timeouts
        )

    def reaches(self, org: str, grade: Grade, category: Category, path: tuple[str, ...]) -> bool:
        """Does the alert opened at ``org`` reach a person, directly or via linked alerts?"""
        policy = self.policy_at(org, grade, category)
        reached = False
        for step in policy.scheduled:
            if isinstance(step, NotifyRole | NotifyPeople):
                reached = self.reachable(org, step) or reached
            elif isinstance(step, NotifyParent | NotifyDutyRoom):
                target = duty_room_of(org, step)
                if target is None or target not in self.orgs:
                    continue  # reported for the policy under validation; elsewhere not ours
                if target in path:
                    loop = (*path[path.index(target) :], target)
                    if loop not in self.seen_loops:
                        self.seen_loops.add(loop)
                        self.problems.append(
                            Problem(
                                code="org_loop",
                                message=f"grade {grade} {category}: linked alerts loop through "
                                + " → ".join(loop)
                                + f" (policy {policy.ref} of {org} sends it back)",
                            )
                        )
                    continue
                reached = self.reaches(target, grade, category, (*path, target)) or reached
        return reached


def validate_policy(
    policy: Policy,
    *,
    orgs: Collection[str],
    reachable: Reachable,
    policies: Sequence[Policy] = (),
    ack_timeouts: Mapping[Grade, timedelta] = DEFAULT_ACK_TIMEOUTS,
) -> tuple[Problem, ...]:
    """Everything wrong with ``policy`` in this organisation tree; empty if it is sound.

    ``orgs`` is every organisation path (the tree is in the paths); ``reachable(org, step)``
    says whether a page step run for ``org`` reaches anybody (the edge answers from the
    rosters and people); ``policies`` are the other policies in force, which linked alerts
    run. Fatal: unknown organisations, a duty room above the top of the tree, an alert that
    loops back through organisations, a policy that reaches nobody for some grade and
    category, an ambiguous tie with another policy, repeats with nothing between them.
    Warnings: a single step that reaches nobody.
    """
    others = [p for p in policies if p.id != policy.id]
    problems: list[Problem] = []
    if policy.org not in orgs:
        problems.append(
            Problem(code="unknown_org", message=f"organisation {policy.org} does not exist")
        )
    if policy.repeat is not None and policy.period <= timedelta(0):
        problems.append(
            Problem(
                code="repeat_without_delay",
                step=len(policy.steps) - 1,
                message="repeating a policy whose steps take no time pages everyone at once; "
                "give the steps or the Repeat a delay",
            )
        )
    for index, step in enumerate(policy.steps):
        where = f"step {index} ({describe(step)})"
        if isinstance(step, NotifyRole | NotifyPeople) and not reachable(policy.org, step):
            problems.append(
                Problem(
                    code="unreachable_step",
                    step=index,
                    fatal=False,
                    message=f"{where}: nobody can be reached for {policy.org}",
                )
            )
        elif isinstance(step, NotifyParent | NotifyDutyRoom):
            target = duty_room_of(policy.org, step)
            if target is None:
                problems.append(
                    Problem(
                        code="no_duty_room",
                        step=index,
                        message=f"{where}: {policy.org} has no organisation {step.levels} "
                        "level(s) up"
                        if isinstance(step, NotifyParent)
                        else f"{where}: no such duty room",
                    )
                )
            elif target not in orgs:
                problems.append(
                    Problem(
                        code="unknown_duty_room",
                        step=index,
                        message=f"{where}: organisation {target} does not exist",
                    )
                )
            elif target == policy.org:
                problems.append(
                    Problem(
                        code="self_duty_room",
                        step=index,
                        message=f"{where}: opens an alert in its own duty room",
                    )
                )
    problems += _ambiguities(policy, others)
    walk = _Walk(
        policy=policy,
        orgs=orgs,
        reachable=reachable,
        others=others,
        ack_timeouts=ack_timeouts,
    )
    silent: list[str] = []
    for grade in sorted(policy.grades, key=_severity):
        for category in sorted(policy.categories):
            if not walk.reaches(policy.org, grade, category, (policy.org,)):
                silent.append(f"grade {grade} {category}")
    problems += walk.problems
    if silent:
        scope = (
            "for any grade or category"
            if len(silent) == len(policy.grades) * len(policy.categories)
            else f"for {', '.join(silent)}"
        )
        problems.append(
            Problem(
                code="nobody_reachable",
                message=f"policy {policy.ref} reaches nobody {scope}: no step pages a person "
                "on a roster, and no linked duty room does either",
            )
        )
    return tuple(problems)


def _ambiguities(policy: Policy, others: Sequence[Policy]) -> Iterator[Problem]:
    for other in others:
        if (
            other.org == policy.org
            and specificity(other) == specificity(policy)
            and policy.grades & other.grades
            and policy.categories & other.categories
        ):
            yield Problem(
                code="ambiguous",
                message=f"policy {other.id} of {policy.org} applies to the same incidents "
                f"({_scope(policy.grades & other.grades, policy.categories & other.categories)}) "
                "with the same specificity; narrow one of them or merge them",
            )


def _scope(grades: frozenset[Grade], categories: frozenset[Category]) -> str:
    ordered: list[Grade] = sorted(grades, key=_severity)
    return f"grade {'/'.join(ordered)}, {'/'.join(sorted(categories))}"


def _severity(grade: Grade) -> int:
    return grade.rank


def check_policy(
    policy: Policy,
    *,
    orgs: Collection[str],
    reachable: Reachable,
    policies: Sequence[Policy] = (),
    ack_timeouts: Mapping[Grade, timedelta] = DEFAULT_ACK_TIMEOUTS,
) -> tuple[Problem, ...]:
    """Raise :class:`InvalidPolicy` on fatal problems; return the warnings."""
    problems = validate_policy(
        policy, orgs=orgs, reachable=reachable, policies=policies, ack_timeouts=ack_timeouts
    )
    fatal = [p for p in problems if p.fatal]
    if fatal:
        raise InvalidPolicy(problems=fatal)
    return problems
