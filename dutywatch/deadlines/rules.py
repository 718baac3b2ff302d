"""Statutory reporting deadlines as pure functions of the incident's facts and the table.

Who must be told: :func:`required_targets` (grade III and above: the parent duty room at once;
grade I and II, or a sensitive event: every room up to the top; skip-level reporting adds
direct reports up to the chosen room). By when: :func:`deadlines_for` looks each target up in
the :class:`~dutywatch.deadlines.table.DeadlineTable` and gives a phone and a written deadline.
A running deadline is a :class:`Clock` (one database row); :func:`regrade` applies a grade
change, :func:`stop_clock` a submission, :func:`check_clocks` the passing of time.

Alongside: follow-up and final reports (:func:`next_report_due`), the supplementary window
(:func:`supplementary_until`), omitted items (:func:`omitted_fields`) and the daily zero
report (:func:`zero_report_status`). Nothing here reads the clock: ``now`` is an argument.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from dutywatch.contracts import Category, Grade, ReportV1, Stage
from dutywatch.deadlines.table import (
    DEFAULT_TABLE,
    Anchor,
    DeadlineTable,
    ReportKind,
    TargetLevel,
)
from dutywatch.errors import ConfigurationError
from dutywatch.rosters.rules import ancestors

#: The smallest step of time we store (PostgreSQL timestamptz has microseconds).
TICK: Final = timedelta(microseconds=1)


class DeadlineNotConfigured(ConfigurationError):
    """No deadline rule applies to this report; add a row to the deadline table."""

    code = "deadline_not_configured"


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _utc(value: datetime) -> datetime:
    """Durations are absolute: add them in UTC, never to a local wall clock (DST)."""
    return value.astimezone(UTC)


def ancestors_above(org_path: str) -> tuple[str, ...]:
    """The parent, grandparent, ... up to the top of the tree (nearest first)."""
    return tuple(ancestors(org_path)[1:])


# --------------------------------------------------------------------------------- targets


@dataclass(frozen=True, kw_only=True)
class ReportingRules:
    """Which rooms an incident must reach; configurable per deployment."""

    #: Grades that climb to the top of the tree (I and II: 特别重大, 重大).
    climb_grades: frozenset[Grade] = frozenset({Grade.I, Grade.II})
    #: Grades that open a linked alert in the parent duty room at once (III and above).
    at_once_grades: frozenset[Grade] = frozenset({Grade.I, Grade.II, Grade.III})
    #: A sensitive event climbs to the top, and alerts the parent at once, whatever its grade.
    sensitive_climbs: bool = True


DEFAULT_REPORTING: Final = ReportingRules()


@dataclass(frozen=True, kw_only=True)
class IncidentFacts:
    """What the deadline rules need to know about an incident."""

    org_path: str
    grade: Grade
    category: Category
    sensitive: bool
    occurred_at: datetime
    #: When the reporting office learned of it (接报时间); a forwarded report keeps it.
    learned_at: datetime
    #: Skip-level reporting (越级上报): report directly to this ancestor too.
    skip_to: str | None = None
    #: When each upper room received the report, once known (relay hops count from it).
    received_at: Mapping[str, datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _aware(self.occurred_at, "occurred_at")
        _aware(self.learned_at, "learned_at")
        for org, received in self.received_at.items():
            _aware(received, f"received_at[{org}]")
        if self.skip_to is not None and self.skip_to not in ancestors_above(self.org_path):
            raise ValueError(
                f"skip-level target {self.skip_to} is not above {self.org_path} in the tree"
            )


@dataclass(frozen=True, kw_only=True)
class Target:
    """A duty room that must receive the report, and from whom."""

    org: str
    #: The room that reports to it: the reporting office for a direct report, else the room
    #: below it on the way up.
    sender: str
    levels: frozenset[TargetLevel]

    @property
    def direct(self) -> bool:
        return TargetLevel.PARENT in self.levels


def climbs_to_top(facts: IncidentFacts, rules: ReportingRules = DEFAULT_REPORTING) -> bool:
    return facts.grade in rules.climb_grades or (facts.sensitive and rules.sensitive_climbs)


def opens_parent_alert_at_once(
    facts: IncidentFacts, rules: ReportingRules = DEFAULT_REPORTING
) -> bool:
    """Grade III and above (or a sensitive event) open an alert in the parent room at once."""
    return facts.grade in rules.at_once_grades or (facts.sensitive and rules.sensitive_climbs)


def required_targets(
    facts: IncidentFacts, rules: ReportingRules = DEFAULT_REPORTING
) -> tuple[Target, ...]:
    """The rooms above the reporting office that must receive the report, nearest first.

    Always the parent; every room to the top for a climbing grade or a sensitive event; with
    skip-level reporting, every room up to the chosen one receives it directly (the rooms
    skipped over are informed at the same time, not left out). The top of the tree reports to
    nobody here.
    """
    chain = ancestors_above(facts.org_path)
    if not chain:
        return ()
    last = len(chain) - 1 if climbs_to_top(facts, rules) else 0
    direct_up_to = 0
    if facts.skip_to is not None:
        direct_up_to = chain.index(facts.skip_to)
        last = max(last, direct_up_to)
    targets = []
    for index in range(last + 1):
        direct = index <= direct_up_to
        levels = {TargetLevel.PARENT if direct else TargetLevel.UPPER}
        if index == len(chain) - 1:
            levels.add(TargetLevel.TOP)
        targets.append(
            Target(
                org=chain[index],
                sender=facts.org_path if direct else chain[index - 1],
                levels=frozenset(levels),
            )
        )
    return tuple(targets)


# ------------------------------------------------------------------------------- deadlines


@dataclass(frozen=True, kw_only=True)
class Deadline:
    target: str
    kind: ReportKind
    grade: Grade
    due_at: datetime
    #: Ids of the table rows that set it (for the timeline and reviews).
    rules: tuple[str, ...]


def deadlines_for(
    facts: IncidentFacts,
    table: DeadlineTable = DEFAULT_TABLE,
    rules: ReportingRules = DEFAULT_REPORTING,
) -> tuple[Deadline, ...]:
    """A phone and a written deadline for every required target, nearest target first.

    A target that is several levels at once (the parent that is also the top) takes the
    stricter row. A relay hop anchored on when its sender received the report uses that time
    once known, and until then the sender's own deadline (the latest it may receive it). A
    room is never given longer than a room above it, since the report reaches (or is copied
    to) it first. Raises :class:`DeadlineNotConfigured` for a target no row covers.
    """
    targets = required_targets(facts, rules)
    computed: dict[tuple[str, ReportKind], tuple[datetime, tuple[str, ...]]] = {}
    for target in targets:
        for kind in ReportKind:
            computed[target.org, kind] = _deadline(facts, table, target, kind, computed)
    # Clamp from the top down: a lower room has it no later than the room above.
    for kind in ReportKind:
        for lower, upper in zip(reversed(targets[:-1]), reversed(targets[1:]), strict=True):
            if computed[upper.org, kind][0] < computed[lower.org, kind][0]:
                computed[lower.org, kind] = computed[upper.org, kind]
    return tuple(
        Deadline(
            target=target.org,
            kind=kind,
            grade=facts.grade,
            due_at=computed[target.org, kind][0],
            rules=computed[target.org, kind][1],
        )
        for target in targets
        for kind in ReportKind
    )


def _deadline(
    facts: IncidentFacts,
    table: DeadlineTable,
    target: Target,
    kind: ReportKind,
    computed: Mapping[tuple[str, ReportKind], tuple[datetime, tuple[str, ...]]],
) -> tuple[datetime, tuple[str, ...]]:
    candidates: list[tuple[datetime, str]] = []
    for level in sorted(target.levels):
        for row in table.lookup(facts.org_path, facts.category, facts.grade, level):
            limit = row.limit(kind)
            candidates.append(
                (_anchor(facts, target, kind, limit.anchor, computed) + limit.within, row.id)
            )
    if not candidates:
        levels = "/".join(sorted(target.levels))
        raise DeadlineNotConfigured(
            f"no deadline rule covers a grade {facts.grade} {facts.category} report from "
            f"{facts.org_path} to {target.org} ({levels}); add a row for this jurisdiction "
            "or a default (*) row",
            org=facts.org_path,
            target=target.org,
            grade=str(facts.grade),
            category=str(facts.category),
            levels=sorted(target.levels),
        )
    due = min(when for when, _ in candidates)
    return due, tuple(sorted({rule for when, rule in candidates if when == due}))


def _anchor(
    facts: IncidentFacts,
    target: Target,
    kind: ReportKind,
    anchor: Anchor,
    computed: Mapping[tuple[str, ReportKind], tuple[datetime, tuple[str, ...]]],
) -> datetime:
    if anchor is Anchor.OCCURRED:
        return _utc(facts.occurred_at)
    if anchor is Anchor.LEARNED or target.direct:
        return _utc(facts.learned_at)
    received = facts.received_at.get(target.sender)
    if received is not None:
        return _utc(received)
    return computed[target.sender, kind][0]


# ---------------------------------------------------------------------------------- clocks


@dataclass(frozen=True, kw_only=True)
class Clock:
    """A running (or stopped) deadline; one database row."""

    target: str
    kind: ReportKind
    grade: Grade
    #: When this clock was opened (the incident's opening, or an upgrade).
    opened_at: datetime
    due_at: datetime
    rules: tuple[str, ...]
    #: When the report counted as submitted (phone: sent; written: signed off).
    stopped_at: datetime | None = None
    #: When the miss was recorded (at most once per clock).
    missed_at: datetime | None = None

    @property
    def key(self) -> tuple[str, ReportKind]:
        return (self.target, self.kind)

    @property
    def running(self) -> bool:
        return self.stopped_at is None


def open_clocks(
    facts: IncidentFacts,
    *,
    at: datetime,
    table: DeadlineTable = DEFAULT_TABLE,
    rules: ReportingRules = DEFAULT_REPORTING,
) -> tuple[Clock, ...]:
    """The clocks of a newly opened incident."""
    _aware(at, "at")
    return tuple(_clock(d, at) for d in deadlines_for(facts, table, rules))


def _clock(deadline: Deadline, at: datetime) -> Clock:
    return Clock(
        target=deadline.target,
        kind=deadline.kind,
        grade=deadline.grade,
        opened_at=_utc(at),
        due_at=deadline.due_at,
        rules=deadline.rules,
    )


def is_escalation(before: IncidentFacts, after: IncidentFacts) -> bool:
    """An upgrade (a more severe grade), or an event newly marked sensitive."""
    return after.grade.rank < before.grade.rank or (after.sensitive and not before.sensitive)


def regrade(
    clocks: Sequence[Clock],
    before: IncidentFacts,
    after: IncidentFacts,
    *,
    at: datetime,
    table: DeadlineTable = DEFAULT_TABLE,
    rules: ReportingRules = DEFAULT_REPORTING,
) -> tuple[Clock, ...]:
    """Apply a change of grade (or of the sensitive flag) made at ``at``.

    Upgrade (or newly sensitive): the new grade's clocks start at ``at``, the moment the office
    knew the event was of that grade, for every target the new grade requires. A clock still
    running keeps whichever due time is earlier, so an upgrade never gives more time; a target
    already reported to gets a new clock (the upgraded report is owed too).

    Downgrade (or no change): every clock stays as it is: the stricter clocks already running
    are kept, and no new ones start.
    """
    _aware(at, "at")
    if not is_escalation(before, after):
        return tuple(clocks)
    fresh = deadlines_for(
        replace(after, occurred_at=at, learned_at=at, received_at={}), table, rules
    )
    result = list(clocks)
    latest = {clock.key: index for index, clock in enumerate(result)}
    for deadline in fresh:
        index = latest.get((deadline.target, deadline.kind))
        current = result[index] if index is not None else None
        if current is not None and index is not None and current.running:
            if deadline.due_at < current.due_at:
                result[index] = _clock(deadline, at)
        else:
            latest[deadline.target, deadline.kind] = len(result)
            result.append(_clock(deadline, at))
    return tuple(result)


def add_targets(
    clocks: Sequence[Clock],
    after: IncidentFacts,
    *,
    at: datetime,
    table: DeadlineTable = DEFAULT_TABLE,
    rules: ReportingRules = DEFAULT_REPORTING,
) -> tuple[Clock, ...]:
    """Apply a change of whom the report is owed to (skip-level chosen by hand, 越级上报).

    Nothing restarts: the deadlines are computed from the incident's own times (event, time
    learned), so a target the change adds gets the clock it would have had from the start, and
    a running clock that is now stricter (a direct report instead of a relay hop) tightens.
    A clock already stopped stays stopped.
    """
    _aware(at, "at")
    result = list(clocks)
    latest = {clock.key: index for index, clock in enumerate(result)}
    for deadline in deadlines_for(after, table, rules):
        index = latest.get((deadline.target, deadline.kind))
        if index is None:
            latest[deadline.target, deadline.kind] = len(result)
            result.append(_clock(deadline, at))
        elif result[index].running and deadline.due_at < result[index].due_at:
            result[index] = replace(
                result[index], due_at=deadline.due_at, rules=deadline.rules, opened_at=_utc(at)
            )
    return tuple(result)


def submitted_at(
    kind: ReportKind, *, sent_at: datetime, signed_off_at: datetime | None
) -> datetime | None:
    """When a report counts as submitted: a phone report when sent; a written one only once
    signed off (签发) by the unit's head or an authorised deputy, and sent."""
    if kind is ReportKind.PHONE:
        return sent_at
    if signed_off_at is None:
        return None
    return max(sent_at, signed_off_at)


@dataclass(frozen=True, kw_only=True)
class Late:
    """A report that missed its clock (迟报), and by how much."""

    target: str
    kind: ReportKind
    grade: Grade
    due_at: datetime
    #: None while it is still outstanding.
    submitted_at: datetime | None
    late_by: timedelta


def lateness(due_at: datetime, submitted: datetime) -> timedelta | None:
    """How late a submission is: ``submitted - due_at`` when positive, else None (on time)."""
    late_by = submitted - due_at
    return late_by if late_by > timedelta(0) else None


def stop_clock(
    clocks: Sequence[Clock], *, target: str, kind: ReportKind, at: datetime
) -> tuple[tuple[Clock, ...], Late | None]:
    """Stop the running clock for (``target``, ``kind``) at ``at``; the late record if late.

    For a written report ``at`` is :func:`submitted_at` (its sign-off). With no running clock
    (already stopped, never required) nothing changes.
    """
    _aware(at, "at")
    result = list(clocks)
    for index in range(len(result) - 1, -1, -1):
        clock = result[index]
        if clock.key == (target, kind) and clock.running:
            result[index] = replace(clock, stopped_at=_utc(at))
            late_by = lateness(clock.due_at, at)
            late = (
                None
                if late_by is None
                else Late(
                    target=target,
                    kind=kind,
                    grade=clock.grade,
                    due_at=clock.due_at,
                    submitted_at=at,
                    late_by=late_by,
                )
            )
            return tuple(result), late
    return tuple(result), None


@dataclass(frozen=True, kw_only=True)
class ClockCheck:
    clocks: tuple[Clock, ...]
    #: Clocks that ran out since the last check: record 迟报 and escalate.
    missed: tuple[Late, ...]
    #: The first instant at which another running clock is missed (arm a timer), or None.
    next_check_at: datetime | None


def check_clocks(clocks: Sequence[Clock], now: datetime) -> ClockCheck:
    """Which running clocks ran out by ``now`` (each reported once), and when to look again.

    A clock is missed once ``now`` is past its due time: a report at exactly the due time is
    on time, so the first instant of a miss is ``due_at`` plus one microsecond.
    """
    _aware(now, "now")
    result = list(clocks)
    missed = []
    for index, clock in enumerate(result):
        if clock.running and clock.missed_at is None and now > clock.due_at:
            result[index] = replace(clock, missed_at=now)
            missed.append(
                Late(
                    target=clock.target,
                    kind=clock.kind,
                    grade=clock.grade,
                    due_at=clock.due_at,
                    submitted_at=None,
                    late_by=now - clock.due_at,
                )
            )
    pending = [c.due_at for c in result if c.running and c.missed_at is None]
    return ClockCheck(
        clocks=tuple(result),
        missed=tuple(missed),
        next_check_at=min(pending) + TICK if pending else None,
    )


# ------------------------------------------------------------------- follow-ups and final


@dataclass(frozen=True, kw_only=True)
class FollowUpRule:
    """When follow-up (续报) and final (终报) reports fall due; configured per jurisdiction.

    Either every ``interval`` after the latest report, or daily by the local time
    ``daily_at`` (日报告): the next report is due at the first daily time more than
    ``early_window`` after the latest one, so a report sent shortly before the daily time counts
    for it, and an extra follow-up in the afternoon does not excuse the next morning's. A
    reminder (催办) goes ``reminder_lead`` before each due time. The final report is due
    ``final_within`` after the incident is resolved. The shipped numbers are project
    defaults, not statutory (see docs/DOMAIN.md).
    """

    interval: timedelta | None = None
    daily_at: time | None = time(8, 0)
    tz: str = "Asia/Shanghai"
    early_window: timedelta = timedelta(hours=2)
    reminder_lead: timedelta = timedelta(minutes=30)
    final_within: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if (self.interval is None) == (self.daily_at is None):
            raise ConfigurationError("a follow-up rule needs exactly one of interval, daily_at")
        if self.interval is not None and self.interval <= timedelta(0):
            raise ConfigurationError("the follow-up interval must be positive")
        if self.daily_at is not None and self.daily_at.tzinfo is not None:
            raise ConfigurationError("daily_at is a local time of day: give tz separately")
        for name in ("early_window", "reminder_lead", "final_within"):
            if getattr(self, name) < timedelta(0):
                raise ConfigurationError(f"{name} must not be negative")
        ZoneInfo(self.tz)  # an unknown zone fails here, at configuration time


DEFAULT_FOLLOW_UP: Final = FollowUpRule()


@dataclass(frozen=True, kw_only=True)
class ReportDue:
    stage: Stage
    #: The follow-up's number (续报1, 续报2, ...); None for the final report.
    number: int | None
    due_at: datetime
    remind_at: datetime


def next_daily(at: datetime, time_of_day: time, tz: str) -> datetime:
    """The first local ``time_of_day`` in ``tz`` strictly after ``at``."""
    _aware(at, "at")
    zone = ZoneInfo(tz)
    local = at.astimezone(zone)
    candidate = datetime.combine(local.date(), time_of_day, tzinfo=zone)
    while candidate <= at:
        candidate = datetime.combine(candidate.date() + timedelta(days=1), time_of_day, tzinfo=zone)
    return candidate


def _follow_up_due(rule: FollowUpRule, last_report: datetime) -> datetime:
    if rule.interval is not None:
        return _utc(last_report) + rule.interval
    if rule.daily_at is not None:
        return next_daily(last_report + rule.early_window, rule.daily_at, rule.tz)
    raise ConfigurationError("a follow-up rule needs exactly one of interval, daily_at")


def next_report_due(
    rule: FollowUpRule,
    *,
    first_report_at: datetime,
    follow_ups: Iterable[datetime] = (),
    resolved_at: datetime | None = None,
    final_at: datetime | None = None,
) -> ReportDue | None:
    """The next report owed, given the history: a follow-up while open, then the final.

    Follow-ups are numbered from 1 in the order received; the due time depends only on the
    latest report. None once the final report is in. A reminder never falls before the report
    that set its due time.
    """
    _aware(first_report_at, "first_report_at")
    if final_at is not None:
        return None
    if resolved_at is not None:
        due = _utc(resolved_at) + rule.final_within
        return ReportDue(
            stage=Stage.FINAL,
            number=None,
            due_at=due,
            remind_at=max(due - rule.reminder_lead, resolved_at),
        )
    history = [first_report_at, *follow_ups]
    last = max(history)
    due = _follow_up_due(rule, last)
    return ReportDue(
        stage=Stage.FOLLOW_UP,
        number=len(history),
        due_at=due,
        remind_at=max(due - rule.reminder_lead, last),
    )


#: Subtypes whose supplementary window is 7 days (Order 493 Art. 13: road traffic, fire).
SHORT_SUPPLEMENTARY_SUBTYPES: Final = frozenset({"road_traffic", "fire"})


def supplementary_until(
    occurred_at: datetime,
    subtype: str | None,
    *,
    days: int = 30,
    short_days: int = 7,
    short_subtypes: Collection[str] = SHORT_SUPPLEMENTARY_SUBTYPES,
) -> datetime:
    """Until when a change in casualties must be reported as a supplementary report (补报).

    Order 493 Art. 13 counts "from the day the accident occurred"; this takes the day as a
    full ``days * 24`` hours from the event, the reading that never closes the window early.
    """
    _aware(occurred_at, "occurred_at")
    window = short_days if subtype in short_subtypes else days
    return _utc(occurred_at) + timedelta(days=window)


# --------------------------------------------------------------------------------- omitted


#: Items a written report must carry when it is signed off (missing ones are 漏报). From the
#: attested report-content lists (DESIGN.md "Report content"); items "if known" (cause,
#: requests to the higher level) are not required. Configurable.
REQUIRED_AT_SIGN_OFF: Final = (
    "learned_at",
    "location",
    "summary",
    "casualties",
    "losses",
    "impact",
    "measures",
    "commander",
    "reporting_unit",
)


def omitted_fields(
    report: ReportV1, required: Iterable[str] = REQUIRED_AT_SIGN_OFF
) -> tuple[str, ...]:
    """Required items still missing (None, empty text, empty list) when a report is signed.

    Zero casualties reported as zeros are present; casualties not reported at all are missing.
    """
    missing = []
    fields = set(ReportV1.__struct_fields__)
    for name in required:
        if name not in fields:
            raise ConfigurationError(f"{name!r} is not a field of a report")
        value = getattr(report, name)
        if value is None or (isinstance(value, str | list) and not value):
            missing.append(name)
    return tuple(missing)


# ----------------------------------------------------------------------------- zero report


@dataclass(frozen=True, kw_only=True)
class ZeroReportRule:
    """Each subordinate room owes a daily report (零报告: "nothing to report" allowed) by a
    local time of day. The shipped time is a project default, configurable."""

    due_by: time = time(9, 0)
    tz: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        if self.due_by.tzinfo is not None:
            raise ConfigurationError("due_by is a local time of day: give tz separately")
        ZoneInfo(self.tz)


DEFAULT_ZERO_REPORT: Final = ZeroReportRule()


@dataclass(frozen=True, kw_only=True)
class DailyReport:
    """A room's daily report for a (local) duty day, zero or not, and when it arrived."""

    org: str
    day: date
    received_at: datetime


class ZeroReportStatus(enum.StrEnum):
    NOT_DUE = "not_due"  # not in yet, but there is still time
    ON_TIME = "on_time"
    LATE = "late"  # in, after the due time
    MISSING = "missing"  # not in, and the due time has passed: an alarm


def zero_report_due_at(rule: ZeroReportRule, day: date) -> datetime:
    """The instant the daily report for ``day`` is due (local ``due_by`` in ``rule.tz``)."""
    return datetime.combine(day, rule.due_by, tzinfo=ZoneInfo(rule.tz)).astimezone(UTC)


def subordinate_rooms(orgs: Iterable[str], parent: str) -> tuple[str, ...]:
    """The duty rooms directly below ``parent``, sorted."""
    prefix = parent + "."
    return tuple(sorted({o for o in orgs if o.startswith(prefix) and "." not in o[len(prefix) :]}))


def zero_report_status(
    rooms: Iterable[str],
    reports: Iterable[DailyReport],
    *,
    day: date,
    now: datetime,
    rule: ZeroReportRule = DEFAULT_ZERO_REPORT,
) -> dict[str, ZeroReportStatus]:
    """Each room's daily report for ``day`` as seen at ``now``.

    A report counts if it is for ``day`` and arrived by ``now``; it is on time if it arrived by
    the due time (inclusive). A room with none is missing once ``now`` is past the due time.
    """
    _aware(now, "now")
    due = zero_report_due_at(rule, day)
    first: dict[str, datetime] = {}
    for report in reports:
        _aware(report.received_at, "received_at")
        if report.day == day and report.received_at <= now:
            seen = first.get(report.org)
            first[report.org] = (
                report.received_at if seen is None else min(seen, report.received_at)
            )
    status = {}
    for room in rooms:
        received = first.get(room)
        if received is not None:
            status[room] = ZeroReportStatus.ON_TIME if received <= due else ZeroReportStatus.LATE
        else:
            status[room] = ZeroReportStatus.MISSING if now > due else ZeroReportStatus.NOT_DUE
    return status


def missing_zero_reports(
    rooms: Iterable[str],
    reports: Iterable[DailyReport],
    *,
    day: date,
    now: datetime,
    rule: ZeroReportRule = DEFAULT_ZERO_REPORT,
) -> tuple[str, ...]:
    """The rooms whose daily report for ``day`` is missing at ``now``, sorted."""
    status = zero_report_status(rooms, reports, day=day, now=now, rule=rule)
    return tuple(sorted(r for r, s in status.items() if s is ZeroReportStatus.MISSING))
