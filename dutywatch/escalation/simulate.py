"""What would happen to an incident if nobody ever acknowledged (pure; ``policy simulate``).

:func:`plan` lays out, from the policies in force and the statutory reporting rules, every
alert that would open, every page step and every reporting clock that would run out, in time
order, up to a horizon. It names roles and rooms, not people: the edge resolves each page
against the roster at its due time (a dry run against the real roster) and merges pages that
would reach the same person at the same instant, as the engine does.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dutywatch.contracts import Category, Grade
from dutywatch.deadlines.rules import (
    TICK,
    DeadlineNotConfigured,
    IncidentFacts,
    climbs_to_top,
    deadlines_for,
    opens_parent_alert_at_once,
    required_targets,
)
from dutywatch.escalation.alerts import OpenedReason
from dutywatch.escalation.policy import (
    Action,
    NotifyDutyRoom,
    NotifyParent,
    NotifyPeople,
    NotifyRole,
    Policy,
    describe,
    duty_room_of,
    schedule,
    select_policy,
)
from dutywatch.rosters.model import Role


class EventKind(enum.StrEnum):
    ALERT_OPENED = "alert_opened"
    PAGE_ROLE = "page_role"
    PAGE_PEOPLE = "page_people"
    REPORT_LATE = "report_late"
    NOTE = "note"


@dataclass(frozen=True, kw_only=True)
class Event:
    at: datetime
    kind: EventKind
    #: The duty room (alert) the event belongs to.
    org: str
    text: str
    policy: str | None = None
    step: int | None = None
    role: str | None = None
    people: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Plan:
    events: tuple[Event, ...]
    #: True if the horizon or the event limit cut the plan short.
    truncated: bool


@dataclass(order=True)
class _Open:
    at: datetime
    seq: int
    org: str = field(compare=False)
    reason: OpenedReason = field(compare=False)
    from_org: str | None = field(compare=False)
    #: The policy step that asked for it, for the record when the room is already alerted.
    step_text: str | None = field(compare=False, default=None)


def _statutory_rooms(facts: IncidentFacts) -> list[str]:
    targets = required_targets(facts)
    if climbs_to_top(facts):
        return [t.org for t in targets]
    if opens_parent_alert_at_once(facts) and targets:
        return [targets[0].org]
    return []


def _deadline_events(facts: IncidentFacts, end: datetime) -> list[Event]:
    """Nobody acknowledges or signs: every clock runs out (迟报), and each time the reporting
    room's leader on duty is paged (once per instant, as the engine does)."""
    try:
        deadlines = deadlines_for(facts)
    except DeadlineNotConfigured as exc:
        return [
            Event(at=facts.occurred_at, kind=EventKind.NOTE, org=facts.org_path, text=exc.message)
        ]
    events: list[Event] = []
    paged: set[datetime] = set()
    leader = str(Role.LEADER_ON_DUTY)
    for deadline in deadlines:
        missed = deadline.due_at + TICK
        if missed > end:
            continue
        events.append(
            Event(
                at=missed,
                kind=EventKind.REPORT_LATE,
                org=deadline.target,
                text=f"迟报: the {deadline.kind} report to {deadline.target} "
                f"(due {deadline.due_at.isoformat()}) runs out",
            )
        )
        if missed not in paged:
            paged.add(missed)
            events.append(
                Event(
                    at=missed,
                    kind=EventKind.PAGE_ROLE,
                    org=facts.org_path,
                    text=f"report late: notify {leader}",
                    role=leader,
                )
            )
    return events


def _action_event(org: str, policy: Policy, action: Action) -> Event | None:
    what = action.what
    label = f"step {action.step}" + (f" (pass {action.repeat + 1})" if action.repeat else "")
    if isinstance(what, NotifyRole | NotifyPeople):
        return Event(
            at=action.due_at,
            kind=EventKind.PAGE_ROLE if isinstance(what, NotifyRole) else EventKind.PAGE_PEOPLE,
            org=org,
            text=f"{label}: {describe(what)}",
            policy=policy.ref,
            step=action.step,
            role=str(what.role) if isinstance(what, NotifyRole) else None,
            people=what.people if isinstance(what, NotifyPeople) else (),
        )
    return None


def plan(
    *,
    org: str,
    grade: Grade,
    category: Category,
    start: datetime,
    policies: Sequence[Policy],
    orgs: Collection[str],
    ack_timeouts: Mapping[Grade, timedelta],
    horizon: timedelta = timedelta(hours=24),
    limit: int = 500,
    sensitive: bool = False,
) -> Plan:
    """Every event until ``start + horizon`` if nobody acknowledged, in time order."""
    end = start + horizon
    facts = IncidentFacts(
        org_path=org,
        grade=grade,
        category=category,
        sensitive=sensitive,
        occurred_at=start,
        learned_at=start,
    )
    events = _deadline_events(facts, end)
    queue: list[_Open] = []
    count = itertools.count()
    heapq.heappush(queue, _Open(start, next(count), org, OpenedReason.INCIDENT_OPENED, None))
    below = org
    for room in _statutory_rooms(facts):
        heapq.heappush(queue, _Open(start, next(count), room, OpenedReason.STATUTORY, below))
        below = room
    opened: set[str] = set()
    truncated = False
    while queue:
        request = heapq.heappop(queue)
        if request.org in opened:
            if request.step_text is not None:
                events.append(
                    Event(
                        at=request.at,
                        kind=EventKind.NOTE,
                        org=request.from_org or request.org,
                        text=f"{request.step_text}: {request.org} is already alerted",
                    )
                )
            continue
        opened.add(request.org)
        policy = select_policy(policies, request.org, grade, category, ack_timeouts=ack_timeouts)
        if request.reason is not OpenedReason.INCIDENT_OPENED:
            events.append(
                Event(
                    at=request.at,
                    kind=EventKind.ALERT_OPENED,
                    org=request.org,
                    text=f"alert opens in {request.org} ({request.reason}, from "
                    f"{request.from_org}) running {policy.ref}",
                    policy=policy.ref,
                )
            )
        for action in schedule(policy, request.at):
            if action.due_at > end:
                truncated = True
                break
            event = _action_event(request.org, policy, action)
            if event is not None:
                events.append(event)
                continue
            assert isinstance(action.what, NotifyParent | NotifyDutyRoom)
            target = duty_room_of(request.org, action.what)
            text = f"step {action.step}: {describe(action.what)}"
            if target is None or target not in orgs:
                events.append(
                    Event(
                        at=action.due_at,
                        kind=EventKind.NOTE,
                        org=request.org,
                        text=f"{text}: no such duty room",
                        policy=policy.ref,
                    )
                )
            else:
                heapq.heappush(
                    queue,
                    _Open(
                        action.due_at,
                        next(count),
                        target,
                        OpenedReason.POLICY_STEP,
                        request.org,
                        step_text=text,
                    ),
                )
    ordered = sorted(events, key=lambda e: e.at)
    if len(ordered) > limit:
        ordered, truncated = ordered[:limit], True
    return Plan(events=tuple(ordered), truncated=truncated)
