"""Carrying out escalation decisions inside the caller's transaction.

The rules (dutywatch.escalation.rules, dutywatch.rosters.rules) decide; this module turns a
decision into pages, outbox messages and the next timer in the transaction's
:class:`~dutywatch.writes.Writes`, and returns the facts for the timeline. The caller chains
them and saves the incident in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import timedelta

import structlog

from dutywatch.config import Settings
from dutywatch.contracts import NotificationV1, PageReason
from dutywatch.escalation.rules import Policy, Progress, due_steps, next_due_at, spine_policy
from dutywatch.incidents.rules import Fact, Incident, State
from dutywatch.rosters import store as roster_store
from dutywatch.rosters.expansion import expand
from dutywatch.rosters.rules import Shift, ancestors, route_page
from dutywatch.sql import Conn, Queries
from dutywatch.timeline import EntryKind
from dutywatch.writes import Writes

queries = Queries(__package__)
log = structlog.get_logger(__name__)

TIMER_KIND = "escalation"


#: The instant a page is routed for, as an interval: expansion answers for intervals.
_INSTANT = timedelta(microseconds=1)


class Rosters:
    """Shifts covering ``writes.now`` for the organisations a transaction pages, read once.

    The rosters of every organisation on the way up (a page climbs past empty ones) are read
    in one query, with only the overrides in force at ``now`` (nothing else can change who
    holds a slot at that instant), and expanded by the pure rules.
    """

    def __init__(self, shifts: Sequence[Shift]) -> None:
        self.shifts = list(shifts)

    @classmethod
    async def load(cls, conn: Conn, orgs: Iterable[str], writes: Writes) -> Rosters:
        chain = sorted({a for org in orgs for a in ancestors(org)})
        now = writes.now
        window = (now, now + _INSTANT)
        shifts: list[Shift] = []
        for roster in await roster_store.rosters_of_orgs(conn, chain, window=window):
            try:
                shifts += [s for s in expand(roster, *window) if s.covers(now)]
            except ValueError as exc:
                # The store refuses such rosters; if one slipped in (edited by hand), its
                # pages climb to the parent duty room instead of stopping intake for everyone.
                log.exception(
                    "roster_unexpandable", roster_id=roster.id, org=roster.org_path, error=str(exc)
                )
        return cls(shifts)


def policy_for(settings: Settings, incident: Incident) -> Policy:
    return spine_policy(incident.grade, settings.ack_timeouts)


def progress_of(incident: Incident) -> Progress:
    if incident.policy_started_at is None:
        raise ValueError(f"incident {incident.id} has no running policy")
    return Progress(
        started_at=incident.policy_started_at,
        fired=incident.policy_fired,
        acknowledged=incident.state is State.ACKNOWLEDGED,
        resolved=incident.state is State.RESOLVED,
    )


async def page_role(
    conn: Conn,
    writes: Writes,
    rosters: Rosters,
    settings: Settings,
    incident: Incident,
    *,
    role: str,
    step: int,
    reason: PageReason,
) -> list[Fact]:
    """Page whoever holds ``role`` for the incident's organisation, climbing past gaps."""
    now = writes.now
    recipients = route_page(rosters.shifts, incident.org_path, role, now)
    facts = [
        Fact(
            kind=EntryKind.ROSTER_GAP,
            body={"org": gap, "role": role, "climbed_to": recipients.org_path},
        )
        for gap in recipients.gaps
    ]
    if recipients.org_path is None:
        log.error(
            "nobody_on_duty",
            incident_id=incident.id,
            org=incident.org_path,
            role=role,
            hint="load a roster for this organisation or one of its parents",
        )
        return facts
    for person_id in recipients.people:
        page_id = await writes.page_ids.take(conn)
        writes.pages.append(
            (
                page_id,
                incident.id,
                person_id,
                role,
                recipients.org_path,
                str(reason),
                step,
                incident.policy_version,
                now,
            )
        )
        writes.enqueue(
            settings.subject("notify", person_id),
            NotificationV1(
                page_id=page_id,
                incident_id=incident.id,
                person_id=person_id,
                role=role,
                org=recipients.org_path,
                reason=reason,
                step=step,
                policy_version=incident.policy_version,
                grade=incident.grade,
                category=incident.category,
                title=incident.title,
                status=incident.status,
                created_at=now,
            ),
        )
        facts.append(
            Fact(
                kind=EntryKind.PAGED,
                body={
                    "page_id": page_id,
                    "person_id": person_id,
                    "role": role,
                    "org": recipients.org_path,
                    "reason": str(reason),
                    "step": step,
                    "policy_version": incident.policy_version,
                },
            )
        )
    return facts


async def start_policy(
    conn: Conn, writes: Writes, rosters: Rosters, settings: Settings, incident: Incident
) -> tuple[Incident, list[Fact]]:
    """(Re)start the escalation policy: cancel pending timers, fire what is due now."""
    policy = policy_for(settings, incident)
    writes.cancel_timers(incident.id)
    incident = replace(
        incident, policy_version=policy.version, policy_started_at=writes.now, policy_fired=0
    )
    return await fire_due(conn, writes, rosters, settings, incident, first=True)


async def fire_due(
    conn: Conn,
    writes: Writes,
    rosters: Rosters,
    settings: Settings,
    incident: Incident,
    *,
    first: bool = False,
) -> tuple[Incident, list[Fact]]:
    """Fire every step due now and arm a timer for the next one."""
    now = writes.now
    policy = policy_for(settings, incident)
    facts: list[Fact] = []
    for index in due_steps(policy, progress_of(incident), now):
        step = policy.steps[index]
        if index > 0:
            facts.append(
                Fact(
                    kind=EntryKind.ESCALATED,
                    body={
                        "step": index,
                        "role": step.role,
                        "policy_version": policy.version,
                        "unacknowledged_for_s": (now - incident.opened_at).total_seconds(),
                    },
                )
            )
        facts += await page_role(
            conn,
            writes,
            rosters,
            settings,
            incident,
            role=step.role,
            step=index,
            reason=PageReason.FIRST_PAGE if first and index == 0 else PageReason.ESCALATION,
        )
        incident = replace(incident, policy_fired=index + 1)
    upcoming = next_due_at(policy, progress_of(incident))
    if upcoming is not None:
        step_index, due_at = upcoming
        writes.add_timer(kind=TIMER_KIND, due_at=due_at, step=step_index, incident_id=incident.id)
    return incident, facts
