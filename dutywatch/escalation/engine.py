"""Carrying out escalation decisions inside the caller's transaction.

The rules decide (``policy.select_policy`` and ``policy.evaluate`` for each alert,
``rosters.rules.route_page`` for who holds a role); this module turns a decision into
alerts, pages, outbox messages and the next timer in the transaction's
:class:`~dutywatch.writes.Writes`, and returns the facts for the timeline. The caller chains
them and saves the incident in the same transaction.

Every duty room an incident reaches has one alert (``alerts``), running the policy selected
for that room, the incident's grade and category; ``NotifyParent`` / ``NotifyDutyRoom``
steps open a linked alert in another room, which starts its own policy there. The timeline
records which policy version drove each page.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import structlog

from dutywatch.config import Settings
from dutywatch.contracts import Category, Grade, NotificationV1, PageReason
from dutywatch.escalation import store
from dutywatch.escalation.alerts import Alert, OpenedReason
from dutywatch.escalation.policy import (
    DutyRoomStep,
    NotifyDutyRoom,
    NotifyParent,
    NotifyPeople,
    NotifyRole,
    Policy,
    describe,
    duty_room_of,
    evaluate,
    policy_for_ref,
    restart,
    select_policy,
    start,
)
from dutywatch.incidents.rules import Fact, Incident, State
from dutywatch.orgs.store import known_orgs
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


#: The role a page to a named person (``NotifyPeople``) is recorded with.
NAMED_ROLE = "named"


class Policies:
    """The escalation policies a transaction needs, read once per organisation."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._in_force: dict[str, list[Policy]] = {}
        self._by_ref: dict[str, Policy] = {}

    async def in_force(self, conn: Conn, org_path: str) -> list[Policy]:
        """The policies in force for ``org_path`` and its ancestors."""
        chain = ancestors(org_path)
        missing = [org for org in chain if org not in self._in_force]
        if missing:
            self._in_force.update(await store.current_policies(conn, missing))
        return [p for org in chain for p in self._in_force[org]]

    async def select(self, conn: Conn, org_path: str, grade: Grade, category: Category) -> Policy:
        policy = select_policy(
            await self.in_force(conn, org_path),
            org_path,
            grade,
            category,
            ack_timeouts=self.settings.ack_timeouts,
        )
        self._by_ref[policy.ref] = policy
        return policy

    async def by_ref(self, conn: Conn, ref: str, org_path: str) -> Policy:
        """The version a running alert started with (stored, or a default rebuilt)."""
        policy = self._by_ref.get(ref)
        if policy is None:
            stored = await store.stored_policy(conn, ref)
            policy = stored if stored is not None else policy_for_ref(ref, (), org_path)
            self._by_ref[ref] = policy
        return policy


@dataclass
class Escalation:
    """One transaction's escalation work: alerts, policies, rosters and people, read once."""

    conn: Conn
    writes: Writes
    settings: Settings
    rosters: Rosters
    policies: Policies
    #: incident id -> duty room -> alert, for the incidents this transaction holds locked.
    alerts: dict[int, dict[str, Alert]]
    _rostered: set[str] = field(default_factory=set)
    _orgs: dict[str, bool] = field(default_factory=dict)
    _people: dict[str, bool] = field(default_factory=dict)

    @classmethod
    async def load(
        cls,
        conn: Conn,
        writes: Writes,
        settings: Settings,
        *,
        incident_ids: Collection[int],
        orgs: Iterable[str],
    ) -> Escalation:
        """Alerts of ``incident_ids`` (locked by the caller) and rosters of ``orgs`` and theirs."""
        alerts = await store.alerts_of(conn, incident_ids)
        rooms = set(orgs) | {org for by_org in alerts.values() for org in by_org}
        rosters = await Rosters.load(conn, rooms, writes)
        return cls(
            conn=conn,
            writes=writes,
            settings=settings,
            rosters=rosters,
            policies=Policies(settings),
            alerts=alerts,
            _rostered={a for org in rooms for a in ancestors(org)},
        )

    @property
    def now(self) -> datetime:
        return self.writes.now

    def alerts_of(self, incident_id: int) -> dict[str, Alert]:
        return self.alerts.setdefault(incident_id, {})

    def alert(self, incident_id: int, alert_id: int) -> Alert | None:
        return next((a for a in self.alerts_of(incident_id).values() if a.id == alert_id), None)

    async def ensure_rosters(self, orgs: Iterable[str]) -> None:
        """Read the rosters of rooms not read yet (a peer room, say), and of their parents."""
        wanted = {a for org in orgs for a in ancestors(org)} - self._rostered
        if wanted:
            extra = await Rosters.load(self.conn, wanted, self.writes)
            self.rosters.shifts += [s for s in extra.shifts if s.org_path in wanted]
            self._rostered |= wanted

    async def org_exists(self, org_path: str) -> bool:
        if org_path not in self._orgs:
            self._orgs[org_path] = bool(await known_orgs(self.conn, [org_path]))
        return self._orgs[org_path]

    async def known_people(self, people: Collection[str]) -> set[str]:
        missing = [p for p in people if p not in self._people]
        if missing:
            found = await store.known_people(self.conn, missing)
            self._people.update({p: p in found for p in missing})
        return {p for p in people if self._people[p]}


async def _page(
    esc: Escalation,
    incident: Incident,
    alert: Alert,
    *,
    person_id: str,
    role: str,
    landed_in: str,
    step: int,
    reason: PageReason,
) -> list[Fact]:
    """Page one person for one alert, unless this transaction already paged them for it."""
    writes, now = esc.writes, esc.now
    if (incident.id, person_id) in writes.paged:
        log.info("page_merged", incident_id=incident.id, person_id=person_id, alert_id=alert.id)
        return []
    writes.paged.add((incident.id, person_id))
    policy_ref = alert.escalation.policy
    page_id = await writes.page_ids.take(esc.conn)
    writes.pages.append(
        (
            page_id,
            incident.id,
            person_id,
            role,
            landed_in,
            str(reason),
            step,
            policy_ref,
            now,
            alert.id,
        )
    )
    writes.enqueue(
        esc.settings.subject("notify", person_id),
        NotificationV1(
            page_id=page_id,
            incident_id=incident.id,
            person_id=person_id,
            role=role,
            org=landed_in,
            reason=reason,
            step=step,
            policy_version=policy_ref,
            grade=incident.grade,
            category=incident.category,
            title=incident.title,
            status=incident.status,
            created_at=now,
        ),
    )
    return [
        Fact(
            kind=EntryKind.PAGED,
            body={
                "page_id": page_id,
                "person_id": person_id,
                "role": role,
                "org": landed_in,
                "reason": str(reason),
                "step": step,
                "policy_version": policy_ref,
                "alert_id": alert.id,
                "alert_org": alert.org_path,
            },
        )
    ]


async def page_role(
    esc: Escalation,
    incident: Incident,
    alert: Alert,
    *,
    role: str,
    step: int,
    reason: PageReason,
) -> list[Fact]:
    """Page whoever holds ``role`` in the alert's duty room, climbing past gaps."""
    recipients = route_page(esc.rosters.shifts, alert.org_path, role, esc.now)
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
            org=alert.org_path,
            role=role,
            hint="load a roster for this organisation or one of its parents",
        )
        return facts
    for person_id in recipients.people:
        facts += await _page(
            esc,
            incident,
            alert,
            person_id=person_id,
            role=role,
            landed_in=recipients.org_path,
            step=step,
            reason=reason,
        )
    return facts


async def page_people(
    esc: Escalation,
    incident: Incident,
    alert: Alert,
    *,
    people: Sequence[str],
    step: int,
    reason: PageReason,
) -> list[Fact]:
    """Page named people (``NotifyPeople``); an id no longer known is logged, not paged."""
    known = await esc.known_people(people)
    facts: list[Fact] = []
    for person_id in people:
        if person_id not in known:
            log.error(
                "unknown_person_in_policy", person_id=person_id, policy=alert.escalation.policy
            )
            continue
        facts += await _page(
            esc,
            incident,
            alert,
            person_id=person_id,
            role=NAMED_ROLE,
            landed_in=alert.org_path,
            step=step,
            reason=reason,
        )
    return facts


async def open_alert(
    esc: Escalation,
    incident: Incident,
    org_path: str,
    *,
    reason: OpenedReason,
    parent: Alert | None = None,
    detail: dict[str, Any] | None = None,
) -> tuple[Incident, list[Fact]]:
    """Open the alert of ``org_path`` for the incident (nothing if it has one) and fire it.

    The new alert runs the policy selected for its room and the incident's grade and
    category, from now; what is due at once (its first step) fires in this transaction.
    """
    existing = esc.alerts_of(incident.id).get(org_path)
    if existing is not None:
        return incident, []
    if not await esc.org_exists(org_path):
        log.error("alert_for_unknown_org", incident_id=incident.id, org=org_path)
        return incident, []
    policy = await esc.policies.select(esc.conn, org_path, incident.grade, incident.category)
    alert = Alert(
        id=await esc.writes.alert_ids.take(esc.conn),
        incident_id=incident.id,
        org_path=org_path,
        parent_alert_id=parent.id if parent is not None else None,
        opened_reason=reason,
        escalation=start(policy, esc.now),
        created_at=esc.now,
    )
    esc.alerts_of(incident.id)[org_path] = alert
    esc.writes.save_alert(alert, new=True)
    facts: list[Fact] = []
    if alert.origin:
        incident = replace(
            incident, policy_version=policy.ref, policy_started_at=esc.now, policy_fired=0
        )
    else:
        facts.append(
            Fact(
                kind=EntryKind.ALERT_OPENED,
                body={
                    "alert_id": alert.id,
                    "org": org_path,
                    "reason": str(reason),
                    "policy_version": policy.ref,
                    "parent_alert_id": alert.parent_alert_id,
                    "from_org": parent.org_path if parent is not None else None,
                    **(detail or {}),
                },
            )
        )
    await esc.ensure_rosters([org_path])
    incident, more = await fire_alert(esc, incident, alert, first_reason=PageReason.FIRST_PAGE)
    return incident, facts + more


async def fire_alert(
    esc: Escalation, incident: Incident, alert: Alert, *, first_reason: PageReason
) -> tuple[Incident, list[Fact]]:
    """Carry out the alert's actions due now and arm a timer for the next one."""
    policy = await esc.policies.by_ref(esc.conn, alert.escalation.policy, alert.org_path)
    state = replace(alert.escalation, resolved=incident.state is State.RESOLVED)
    evaluation = evaluate(policy, state, esc.now)
    facts: list[Fact] = []
    for action in evaluation.actions:
        what = action.what
        if action.position != (0, 0):
            facts.append(
                Fact(
                    kind=EntryKind.ESCALATED,
                    body={
                        "alert_id": alert.id,
                        "org": alert.org_path,
                        "repeat": action.repeat,
                        "step": action.step,
                        "action": describe(what),
                        **({"role": str(what.role)} if isinstance(what, NotifyRole) else {}),
                        "policy_version": policy.ref,
                        "unacknowledged_for_s": (
                            esc.now - alert.escalation.started_at
                        ).total_seconds(),
                    },
                )
            )
        reason = first_reason if action.position == (0, 0) else PageReason.ESCALATION
        if isinstance(what, NotifyRole):
            facts += await page_role(
                esc, incident, alert, role=str(what.role), step=action.step, reason=reason
            )
        elif isinstance(what, NotifyPeople):
            facts += await page_people(
                esc, incident, alert, people=what.people, step=action.step, reason=reason
            )
        else:
            incident, more = await _open_linked(esc, incident, alert, what)
            facts += more
    alert = replace(alert, escalation=replace(evaluation.state, resolved=False))
    if alert.id not in esc.writes.new_alerts:
        esc.writes.cancel_alert_timers(alert.id)
    if evaluation.next_due_at is not None:
        esc.writes.add_timer(
            kind=TIMER_KIND,
            due_at=evaluation.next_due_at,
            step=evaluation.state.step,
            incident_id=incident.id,
            alert_id=alert.id,
        )
    esc.alerts_of(incident.id)[alert.org_path] = alert
    esc.writes.save_alert(alert)
    if alert.origin:
        incident = replace(incident, policy_fired=evaluation.state.step)
    return incident, facts


async def _open_linked(
    esc: Escalation, incident: Incident, alert: Alert, step: DutyRoomStep
) -> tuple[Incident, list[Fact]]:
    target = duty_room_of(alert.org_path, step)
    if target is None or not await esc.org_exists(target):
        log.error(
            "linked_duty_room_missing",
            incident_id=incident.id,
            org=alert.org_path,
            step=describe(step),
            target=target,
        )
        return incident, []
    if isinstance(step, NotifyParent | NotifyDutyRoom):
        return await open_alert(
            esc,
            incident,
            target,
            reason=OpenedReason.POLICY_STEP,
            parent=alert,
            detail={"step": describe(step)},
        )
    raise AssertionError(step)  # pragma: no cover


async def open_incident(esc: Escalation, incident: Incident) -> tuple[Incident, list[Fact]]:
    """A new incident: open the origin room's alert, which pages at once."""
    return await open_alert(esc, incident, incident.org_path, reason=OpenedReason.INCIDENT_OPENED)


async def upgrade(esc: Escalation, incident: Incident) -> tuple[Incident, list[Fact]]:
    """The grade went up (or the event became sensitive): restart every unacknowledged alert.

    Each restarts at once, from its first step, with the policy selected for the new grade
    (pages say ``new_report``). Alerts already acknowledged stay stopped: those rooms know of
    the incident, and see the upgrade on its timeline and events.
    """
    facts: list[Fact] = []
    for alert in sorted(esc.alerts_of(incident.id).values(), key=lambda a: a.id):
        if alert.acknowledged:
            continue
        policy = await esc.policies.select(
            esc.conn, alert.org_path, incident.grade, incident.category
        )
        restarted = replace(alert, escalation=restart(alert.escalation, policy, esc.now))
        if alert.origin:
            incident = replace(incident, policy_version=policy.ref, policy_started_at=esc.now)
        incident, more = await fire_alert(
            esc, incident, restarted, first_reason=PageReason.NEW_REPORT
        )
        facts += more
    return incident, facts
