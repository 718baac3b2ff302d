"""Supervision transactions: instruct, move assignments, remind (催办), re-check (回头看).

Each step is one transaction: lock the instruction's record (its incident, or the standalone
matter's instruction row, which holds the matter's chain head), then the assignment; decide
with :mod:`dutywatch.supervision.rules`; write the assignment, its ``supervision_events`` row,
the chained entries, the ``supervision_event.v1`` on ``dutywatch.event.<unit>.supervision``
and the assignment's next timer. A failed chain write fails the step.

Timers: kind ``supervision`` (the next reminder of an assignment) and ``supervision_recheck``
(its look-back), both keyed by ``timers.assignment_id`` and not by the incident, so resolving
the incident does not stop the chasing. The scheduler hands them to :func:`fire`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
import structlog

from dutywatch import auth, errors
from dutywatch.config import Settings
from dutywatch.contracts import (
    AlarmKind,
    AlarmV1,
    EventKind,
    NotificationV1,
    PageReason,
    SupervisionEventKind,
    SupervisionEventV1,
    SupervisionState,
)
from dutywatch.db import OUTBOX_CHANNEL, TIMERS_CHANNEL, with_retries
from dutywatch.escalation.engine import Rosters
from dutywatch.escalation.rules import LEADER_ON_DUTY
from dutywatch.incidents import events
from dutywatch.incidents import store as incidents
from dutywatch.incidents.notes import Attachment
from dutywatch.incidents.rules import Fact, Incident
from dutywatch.orgs.store import known_orgs
from dutywatch.rosters.rules import route_page
from dutywatch.sql import Conn, Queries
from dutywatch.supervision import rules
from dutywatch.supervision.rules import Action, State
from dutywatch.timeline import EntryKind, Source
from dutywatch.timeline.chain import ChainProblem, Entry, entry_hash, verify_chain
from dutywatch.timeline.store import append
from dutywatch.writes import Writes, flush

log = structlog.get_logger(__name__)
queries = Queries(__package__)

REMIND_KIND = "supervision"
RECHECK_KIND = "supervision_recheck"
TIMER_KINDS = (REMIND_KIND, RECHECK_KIND)
#: The policy version a supervision page is recorded with (it follows no escalation policy).
PAGE_POLICY = "supervision"
RESPONSIBLE_ROLE = "responsible"
SUPERVISOR_ROLE = "supervisor"
#: Who acts for the unit: accept, start, report back.
UNIT_ROLES = {auth.Role.OFFICER, auth.Role.LEADER}
#: The actor of the steps the service takes itself.
SYSTEM = "dutywatch"

_FACT_OF: dict[Action, EntryKind] = {
    Action.ACCEPT: EntryKind.ASSIGNMENT_ACCEPTED,
    Action.START: EntryKind.ASSIGNMENT_STARTED,
    Action.REPORT: EntryKind.FEEDBACK_REPORTED,
    Action.VERIFY: EntryKind.FEEDBACK_VERIFIED,
    Action.SEND_BACK: EntryKind.FEEDBACK_SENT_BACK,
    Action.CLOSE: EntryKind.ASSIGNMENT_CLOSED,
    Action.REOPEN: EntryKind.ASSIGNMENT_REOPENED,
}
_EVENT_OF: dict[Action, SupervisionEventKind] = {
    Action.ACCEPT: SupervisionEventKind.ACCEPTED,
    Action.START: SupervisionEventKind.STARTED,
    Action.REPORT: SupervisionEventKind.REPORTED,
    Action.VERIFY: SupervisionEventKind.VERIFIED,
    Action.SEND_BACK: SupervisionEventKind.SENT_BACK,
    Action.CLOSE: SupervisionEventKind.CLOSED,
    Action.REOPEN: SupervisionEventKind.REOPENED,
}


def assignment_of(row: Any) -> rules.Assignment:
    return rules.Assignment(
        id=row["id"],
        instruction_id=row["instruction_id"],
        unit=row["unit"],
        responsible=row["responsible"],
        supervisor=row["supervisor"],
        state=State(row["state"]),
        due_at=row["due_at"],
        first_due_at=row["first_due_at"],
        created_at=row["created_at"],
        clock_started_at=row["clock_started_at"],
        reminders=row["reminders"],
        reminded_at=row["reminded_at"],
        verified_at=row["verified_at"],
        closed_at=row["closed_at"],
        recheck_at=row["recheck_at"],
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def assignment_json(a: rules.Assignment, now: datetime) -> dict[str, Any]:
    return {
        "id": a.id,
        "instruction_id": a.instruction_id,
        "unit": a.unit,
        "responsible": a.responsible,
        "supervisor": a.supervisor,
        "state": str(a.state),
        "allowed": rules.allowed_actions(a.state),
        "due_at": a.due_at.isoformat(),
        "first_due_at": a.first_due_at.isoformat(),
        "overdue": rules.overdue(a, now),
        "created_at": a.created_at.isoformat(),
        "reminders": a.reminders,
        "reminded_at": _iso(a.reminded_at),
        "verified_at": _iso(a.verified_at),
        "closed_at": _iso(a.closed_at),
        "recheck_at": _iso(a.recheck_at),
    }


@dataclass
class Scope:
    """An instruction and the record its steps are chained on: the incident's timeline, or
    the standalone matter's own chain (``supervision_entries``, head on the instruction)."""

    conn: Conn
    writes: Writes
    settings: Settings
    instruction: asyncpg.Record
    incident: Incident | None
    matter_seq: int = 0
    matter_head: bytes = b""
    chained: list[Fact] = field(default_factory=list)

    @property
    def id(self) -> int:
        instruction_id: int = self.instruction["id"]
        return instruction_id

    @property
    def org(self) -> str:
        org: str = self.instruction["org_path"]
        return org

    async def chain(self, facts: Sequence[Fact], *, actor: str, source: Source) -> None:
        if not facts:
            return
        self.chained += facts
        if self.incident is not None:
            self.incident = append(self.writes, self.incident, facts, actor=actor, source=source)
            self.writes.save(self.incident)
            return
        now = self.writes.now
        for fact in facts:
            self.matter_seq += 1
            new_hash = entry_hash(
                incident_id=self.id,
                seq=self.matter_seq,
                kind=fact.kind,
                at=now,
                actor=actor,
                source=source,
                body=fact.body,
                personal_digest=None,
                prev_hash=self.matter_head,
            )
            await queries.exec(
                self.conn,
                "insert_matter_entry",
                self.id,
                self.matter_seq,
                str(fact.kind),
                now,
                actor,
                str(source),
                msgspec.json.encode(fact.body).decode(),
                self.matter_head,
                new_hash,
            )
            self.matter_head = new_hash
        await queries.exec(self.conn, "set_matter_head", self.id, self.matter_seq, self.matter_head)

    def announce(self, actor: str) -> None:
        """The incident's own event (its record changed); a matter has none."""
        if self.incident is not None and self.chained:
            events.emit(self.writes, self.settings, self.incident, EventKind.UPDATED, actor=actor)


async def _scope(
    conn: Conn, writes: Writes, settings: Settings, instruction_id: int, *, nowait: bool = False
) -> Scope | None:
    """Lock the instruction's record; None only when ``nowait`` and another holds it."""
    instruction = await queries.one(conn, "get_instruction", instruction_id)
    if instruction is None:
        raise errors.NotFound(f"instruction {instruction_id} does not exist", id=instruction_id)
    incident_id = instruction["incident_id"]
    if incident_id is None:
        lock = "lock_instruction_nowait" if nowait else "lock_instruction"
        locked = await queries.one(conn, lock, instruction_id)
        if locked is None:
            return None
        return Scope(
            conn,
            writes,
            settings,
            locked,
            None,
            matter_seq=locked["timeline_seq"],
            matter_head=bytes(locked["timeline_head"]),
        )
    incident = writes.changed_incidents.get(incident_id)
    if incident is None and nowait:
        # The scheduler never waits for an incident (an acknowledgement in flight may be
        # waiting for timer rows it holds): the timer stays pending for the next round.
        rows = await conn.fetch(
            "SELECT * FROM incidents WHERE id = $1 FOR UPDATE SKIP LOCKED", incident_id
        )
        if not rows:
            return None
        incident = incidents.from_row(rows[0])
    elif incident is None:
        incident = await incidents.lock_existing(conn, incident_id)
    return Scope(conn, writes, settings, instruction, incident)


async def _lock_assignment(conn: Conn, assignment_id: int) -> rules.Assignment:
    row = await queries.one(conn, "lock_assignment", assignment_id)
    if row is None:
        raise errors.NotFound(f"assignment {assignment_id} does not exist", id=assignment_id)
    return assignment_of(row)


async def _open_step(
    conn: Conn, settings: Settings, assignment_id: int, now: datetime
) -> tuple[Scope, rules.Assignment]:
    """Lock an assignment's record (incident or matter), then the assignment itself."""
    instruction = await queries.one(conn, "instruction_of_assignment", assignment_id)
    if instruction is None:
        raise errors.NotFound(f"assignment {assignment_id} does not exist", id=assignment_id)
    scope = await _scope(conn, Writes(now=now), settings, instruction["id"])
    assert scope is not None
    return scope, await _lock_assignment(conn, assignment_id)


async def _save(conn: Conn, a: rules.Assignment) -> None:
    await queries.exec(
        conn,
        "update_assignment",
        a.id,
        str(a.state),
        a.due_at,
        a.clock_started_at,
        a.reminders,
        a.reminded_at,
        a.verified_at,
        a.closed_at,
        a.recheck_at,
    )


async def _record(
    scope: Scope,
    a: rules.Assignment,
    kind: SupervisionEventKind,
    *,
    action: str,
    from_state: State | None,
    actor: str,
    body: dict[str, Any],
) -> int:
    """The step's ``supervision_events`` row and its ``supervision_event.v1``."""
    now = scope.writes.now
    event_id: int = await queries.val(
        scope.conn,
        "insert_event",
        a.id,
        action,
        str(from_state) if from_state is not None else None,
        str(a.state),
        now,
        actor,
        json.dumps(body, ensure_ascii=False, default=str),
    )
    scope.writes.enqueue(
        scope.settings.subject("event", *a.unit.split("."), "supervision"),
        SupervisionEventV1(
            event_id=event_id,
            kind=kind,
            instruction_id=a.instruction_id,
            assignment_id=a.id,
            incident_id=scope.incident.id if scope.incident is not None else None,
            org=a.unit,
            assigned_by=scope.org,
            responsible=a.responsible,
            supervisor=a.supervisor,
            state=SupervisionState(str(a.state)),
            due_at=a.due_at,
            overdue=rules.overdue(a, now),
            at=now,
            actor=actor,
        ),
    )
    return event_id


async def _rearm(conn: Conn, settings: Settings, a: rules.Assignment, now: datetime) -> None:
    """Cancel the assignment's pending reminder and arm the next one, if the unit owes any."""
    await queries.exec(conn, "cancel_timers", a.id, REMIND_KIND, now)
    at = rules.next_reminder(settings.supervision_reminders, a)
    if at is not None:
        await queries.exec(conn, "insert_timer", REMIND_KIND, a.reminders, max(at, now), now, a.id)


def _base(a: rules.Assignment) -> dict[str, Any]:
    return {
        "instruction_id": a.instruction_id,
        "assignment_id": a.id,
        "unit": a.unit,
        "state": str(a.state),
    }


async def _finish(scope: Scope, actor: str) -> None:
    scope.announce(actor)
    await flush(scope.conn, scope.writes)
    await scope.conn.execute(
        "SELECT pg_notify($1, ''), pg_notify($2, '')", OUTBOX_CHANNEL, TIMERS_CHANNEL
    )


# --- instructions ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NewAssignment:
    unit: str
    responsible: str
    supervisor: str
    due_at: datetime


async def _check_references(conn: Conn, assignments: Sequence[NewAssignment]) -> None:
    units = {a.unit for a in assignments}
    missing_units = units - await known_orgs(conn, units)
    if missing_units:
        raise errors.UnknownOrganisation(
            f"unknown unit(s) {sorted(missing_units)}; assign registered organisations",
            field="assignments.unit",
        )
    people = {p for a in assignments for p in (a.responsible, a.supervisor)}
    known = {row["id"] for row in await queries.many(conn, "people_exist", sorted(people))}
    if people - known:
        raise errors.UnknownReference(
            f"unknown person(s) {sorted(people - known)}; name registered people as "
            "responsible and supervisor",
            field="assignments.responsible",
        )


async def instruct(
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    who: auth.Principal,
    incident_id: int | None,
    org: str | None,
    text: str,
    leader: str | None,
    assignments: Sequence[NewAssignment],
    source: Source,
    now: datetime,
) -> dict[str, Any]:
    """批示 with its assignments: on an incident, or (``incident_id`` None) a standalone
    matter with its own chain. Leaders give instructions for the office ``org`` (default:
    their own), which must cover the incident when there is one."""
    text = text.strip()
    if not text:
        raise errors.SchemaViolation("`text` must not be blank", field="text")
    for new in assignments:
        rules.check_due(new.due_at, now)

    async def transaction() -> dict[str, Any]:
        async with pool.acquire() as conn, conn.transaction():
            writes = Writes(now=now)
            incident = None
            if incident_id is not None:
                incident = await incidents.lock_existing(conn, incident_id)
                who.require_any(
                    {auth.Role.LEADER},
                    [incident.org_path, incident.responsible_org],
                    "give an instruction on this incident",
                )
            office = org or (who.org_path if who.role is not auth.Role.ADMIN else None)
            if office is None and incident is not None:
                office = incident.responsible_org or incident.org_path
            if not office:
                raise errors.SchemaViolation("name the assigning office in `org`", field="org")
            who.require({auth.Role.LEADER}, office, "give an instruction")
            if not await known_orgs(conn, [office]):
                raise errors.UnknownOrganisation(f"unknown office {office!r}", field="org")
            await _check_references(conn, assignments)
            given_by = leader or who.actor
            instruction_id: int = await queries.val(
                conn, "insert_instruction", incident_id, office, text, given_by, now, who.actor
            )
            scope = await _scope(conn, writes, settings, instruction_id)
            assert scope is not None
            facts = [
                Fact(
                    kind=EntryKind.INSTRUCTION,
                    body={
                        "text": text,
                        "leader": given_by,
                        "instruction_id": instruction_id,
                        "org": office,
                    },
                )
            ]
            created: list[rules.Assignment] = []
            for new in assignments:
                assignment_id: int = await queries.val(
                    conn,
                    "insert_assignment",
                    instruction_id,
                    new.unit,
                    new.responsible,
                    new.supervisor,
                    new.due_at,
                    now,
                )
                a = assignment_of(await queries.one(conn, "lock_assignment", assignment_id))
                created.append(a)
                facts.append(
                    Fact(
                        kind=EntryKind.ASSIGNED,
                        body={
                            **_base(a),
                            "responsible": a.responsible,
                            "supervisor": a.supervisor,
                            "due_at": a.due_at.isoformat(),
                        },
                    )
                )
                await _record(
                    scope,
                    a,
                    SupervisionEventKind.ASSIGNED,
                    action="assign",
                    from_state=None,
                    actor=who.actor,
                    body={"text": text},
                )
                await _rearm(conn, settings, a, now)
            await scope.chain(facts, actor=who.actor, source=source)
            await _finish(scope, who.actor)
            log.info(
                "supervision_instructed",
                incident_id=incident_id,
                instruction_id=instruction_id,
                assignments=[a.id for a in created],
            )
            return {
                "id": instruction_id,
                "incident_id": incident_id,
                "org": office,
                "text": text,
                "leader": given_by,
                "given_at": now.isoformat(),
                "assignments": [assignment_json(a, now) for a in created],
            }

    return await with_retries(transaction, what="give an instruction")


# --- assignment steps -----------------------------------------------------------------------


def authorize(who: auth.Principal, action: Action, a: rules.Assignment, assigned_by: str) -> None:
    """The unit's officers and leaders accept, start and report; the supervisor (the person,
    with a token of any role covering the office that assigned) verifies, sends back, closes
    and answers re-checks. Administrators may do all."""
    if who.role is auth.Role.ADMIN:
        return
    if action in (Action.ACCEPT, Action.START, Action.REPORT):
        who.require(UNIT_ROLES, a.unit, f"{action} an assignment")
        return
    if who.person_id != a.supervisor:
        raise errors.Forbidden(
            f"only the supervisor {a.supervisor!r} may {action} assignment {a.id}; "
            f"this token is {who.person_id or who.label!r}",
            principal=who.label,
        )
    who.require(set(auth.Role), assigned_by, f"{action} an assignment")


@dataclass(frozen=True, kw_only=True)
class Step:
    """What a person brings to a step (each field only where that step takes it)."""

    text: str | None = None
    attachments: Sequence[Attachment] = ()
    due_at: datetime | None = None
    recheck_at: datetime | None = None


async def act(
    pool: asyncpg.Pool,
    settings: Settings,
    assignment_id: int,
    action: Action,
    step: Step,
    *,
    who: auth.Principal,
    source: Source,
    now: datetime,
) -> dict[str, Any]:
    """Move one assignment (accept, start, report, verify, send back, close)."""
    if action is Action.SEND_BACK and not (step.text or "").strip():
        raise errors.SchemaViolation("a send-back needs its `reason`", field="reason")
    if action is Action.REPORT and not (step.text or "").strip():
        raise errors.SchemaViolation("feedback needs its `text`", field="text")

    async def transaction() -> dict[str, Any]:
        async with pool.acquire() as conn, conn.transaction():
            scope, before = await _open_step(conn, settings, assignment_id, now)
            authorize(who, action, before, scope.org)
            late = rules.overdue(before, now)
            after = rules.apply(before, action, now, due_at=step.due_at, recheck_at=step.recheck_at)
            body: dict[str, Any] = {**_base(after), "from": str(before.state)}
            if step.text:
                body["reason" if action is Action.SEND_BACK else "text"] = step.text.strip()
            if step.attachments:
                body["attachments"] = [msgspec.to_builtins(x) for x in step.attachments]
            if action is Action.REPORT:
                body["overdue"] = late
            if action is Action.SEND_BACK:
                body["due_at"] = after.due_at.isoformat()
            if action is Action.CLOSE:
                body["recheck_at"] = _iso(after.recheck_at)
                if after.recheck_at is not None:
                    await queries.exec(conn, "insert_recheck", after.id, after.recheck_at)
                    await queries.exec(
                        conn, "insert_timer", RECHECK_KIND, 0, after.recheck_at, now, after.id
                    )
            await _save(conn, after)
            await _record(
                scope,
                after,
                _EVENT_OF[action],
                action=str(action),
                from_state=before.state,
                actor=who.actor,
                body=body,
            )
            await _rearm(conn, settings, after, now)
            await scope.chain(
                [Fact(kind=_FACT_OF[action], body=body)], actor=who.actor, source=source
            )
            await _finish(scope, who.actor)
            log.info(
                f"assignment_{action}",
                incident_id=scope.incident.id if scope.incident else None,
                assignment_id=assignment_id,
                state=str(after.state),
            )
            return assignment_json(after, now)

    return await with_retries(transaction, what=f"{action} assignment {assignment_id}")


async def answer_recheck(
    pool: asyncpg.Pool,
    settings: Settings,
    assignment_id: int,
    *,
    holds: bool,
    step: Step,
    who: auth.Principal,
    source: Source,
    now: datetime,
) -> dict[str, Any]:
    """二次反馈: the supervisor's answer to the look-back. A result that did not hold reopens
    the assignment to ``in_progress`` with the new ``due_at`` the supervisor gives."""
    if not holds and step.due_at is None:
        raise errors.SchemaViolation(
            "a failed re-check reopens the assignment: give its new `due_at`", field="due_at"
        )

    async def transaction() -> dict[str, Any]:
        async with pool.acquire() as conn, conn.transaction():
            scope, before = await _open_step(conn, settings, assignment_id, now)
            authorize(who, Action.REOPEN, before, scope.org)
            pending = await queries.one(conn, "pending_recheck", assignment_id)
            if pending is None or before.state is not State.CLOSED:
                raise errors.Conflict(
                    f"assignment {assignment_id} has no re-check waiting for an answer; "
                    "close it with a `recheck_at` to schedule one",
                    state=str(before.state),
                )
            attachments = [msgspec.to_builtins(x) for x in step.attachments]
            await queries.exec(
                conn,
                "answer_recheck",
                pending["id"],
                now,
                holds,
                step.text,
                json.dumps(attachments, ensure_ascii=False),
                who.actor,
            )
            await queries.exec(conn, "cancel_timers", before.id, RECHECK_KIND, now)
            answered: dict[str, Any] = {
                **_base(before),
                "recheck_id": pending["id"],
                "holds": holds,
                "text": step.text,
                "attachments": attachments,
            }
            facts = [Fact(kind=EntryKind.RECHECK_ANSWERED, body=answered)]
            after = before
            if holds:
                after = replace(before, recheck_at=None)  # it held: stays closed
                await _save(conn, after)
                await _record(
                    scope,
                    after,
                    SupervisionEventKind.RECHECK_HELD,
                    action="recheck",
                    from_state=before.state,
                    actor=who.actor,
                    body=answered,
                )
            else:
                after = rules.apply(before, Action.REOPEN, now, due_at=step.due_at)
                reopened = {**_base(after), "from": str(before.state), "due_at": _iso(after.due_at)}
                facts.append(Fact(kind=EntryKind.ASSIGNMENT_REOPENED, body=reopened))
                await _save(conn, after)
                await _record(
                    scope,
                    after,
                    SupervisionEventKind.REOPENED,
                    action="reopen",
                    from_state=before.state,
                    actor=who.actor,
                    body={**answered, "due_at": _iso(after.due_at)},
                )
                await _rearm(conn, settings, after, now)
            await scope.chain(facts, actor=who.actor, source=source)
            await _finish(scope, who.actor)
            log.info(
                "supervision_recheck_answered",
                incident_id=scope.incident.id if scope.incident else None,
                assignment_id=assignment_id,
                holds=holds,
            )
            return assignment_json(after, now)

    return await with_retries(transaction, what=f"answer the re-check of {assignment_id}")


# --- timers: reminders and re-checks --------------------------------------------------------


async def _page(
    scope: Scope, person_id: str, *, role: str, org: str, step: int, title: str, due: datetime
) -> dict[str, Any]:
    """One page: an incident page (``notification.v1``, reason ``supervision``) when the
    instruction is on an incident, else an alarm (``alarm.v1``, kind ``supervision``)."""
    writes, conn, settings = scope.writes, scope.conn, scope.settings
    subject = settings.subject("notify", person_id)
    incident = scope.incident
    if incident is not None:
        page_id = await writes.page_ids.take(conn)
        writes.pages.append(
            (
                page_id,
                incident.id,
                person_id,
                role,
                org,
                str(PageReason.SUPERVISION),
                step,
                PAGE_POLICY,
                writes.now,
                None,
            )
        )
        writes.enqueue(
            subject,
            NotificationV1(
                page_id=page_id,
                incident_id=incident.id,
                person_id=person_id,
                role=role,
                org=org,
                reason=PageReason.SUPERVISION,
                step=step,
                policy_version=PAGE_POLICY,
                grade=incident.grade,
                category=incident.category,
                title=incident.title,
                status=incident.status,
                created_at=writes.now,
            ),
        )
        return {"page_id": page_id, "person_id": person_id, "role": role, "org": org}
    alarm_id = await writes.alarm_ids.take(conn)
    writes.alarms.append(
        (
            alarm_id,
            str(AlarmKind.SUPERVISION),
            org,
            person_id,
            role,
            title,
            None,
            json.dumps({"instruction_id": scope.id, "due_at": due.isoformat()}),
            writes.now,
        )
    )
    writes.enqueue(
        subject,
        AlarmV1(
            alarm_id=alarm_id,
            kind=AlarmKind.SUPERVISION,
            person_id=person_id,
            role=role,
            org=org,
            title=title,
            created_at=writes.now,
            starts_at=due,
        ),
    )
    return {"alarm_id": alarm_id, "person_id": person_id, "role": role, "org": org}


def _title(scope: Scope, what: str) -> str:
    text: str = scope.instruction["text"]
    return f"{what}: {text}"[:200]


def _paged_fact(scope: Scope, sent: dict[str, Any], step: int) -> list[Fact]:
    if "page_id" not in sent:
        return []
    body = {
        **sent,
        "reason": str(PageReason.SUPERVISION),
        "step": step,
        "policy_version": PAGE_POLICY,
        "alert_id": None,
        "alert_org": None,
    }
    return [Fact(kind=EntryKind.PAGED, body=body)]


async def _system_step(
    scope: Scope,
    a: rules.Assignment,
    kind: SupervisionEventKind,
    action: str,
    body: dict[str, Any],
    facts: list[Fact],
) -> None:
    """A step the service takes itself (a reminder, a re-check request): recorded, announced
    and chained as ``dutywatch``; the assignment's state does not change."""
    await _record(scope, a, kind, action=action, from_state=a.state, actor=SYSTEM, body=body)
    await scope.chain(facts, actor=SYSTEM, source=Source.SYSTEM)


async def _remind(scope: Scope, a: rules.Assignment) -> rules.Assignment:
    reminder = rules.remind(scope.settings.supervision_reminders, a, scope.writes.now)
    if reminder is None:
        return a
    targets: list[tuple[str, str, str]] = [(a.responsible, RESPONSIBLE_ROLE, a.unit)]
    if reminder.to_leader:
        rosters = await Rosters.load(scope.conn, [a.unit], scope.writes)
        leaders = route_page(rosters.shifts, a.unit, LEADER_ON_DUTY, scope.writes.now)
        if leaders.org_path is None:
            log.error("supervision_no_leader_on_duty", assignment_id=a.id, org=a.unit)
        targets += [(p, LEADER_ON_DUTY, leaders.org_path or a.unit) for p in leaders.people]
    what = "督办逾期" if reminder.overdue else "督办提醒"
    sent: list[dict[str, Any]] = []
    paged: list[Fact] = []
    for person_id, role, org in dict.fromkeys(targets):
        if any(s["person_id"] == person_id for s in sent):
            continue
        one = await _page(
            scope,
            person_id,
            role=role,
            org=org,
            step=reminder.number,
            title=_title(scope, what),
            due=a.due_at,
        )
        sent.append(one)
        paged += _paged_fact(scope, one, reminder.number)
    after = rules.reminded(a, scope.writes.now)
    body = {
        **_base(after),
        "number": reminder.number,
        "overdue": reminder.overdue,
        "due_at": a.due_at.isoformat(),
        "to": [s["person_id"] for s in sent],
    }
    await _save(scope.conn, after)
    await _system_step(
        scope,
        after,
        SupervisionEventKind.REMINDED,
        "remind",
        body,
        [Fact(kind=EntryKind.SUPERVISION_REMINDED, body=body), *paged],
    )
    log.info(
        "supervision_reminded",
        incident_id=scope.incident.id if scope.incident else None,
        assignment_id=a.id,
        number=reminder.number,
        overdue=reminder.overdue,
        to=body["to"],
    )
    return after


async def _ask_recheck(scope: Scope, a: rules.Assignment) -> None:
    pending = await queries.one(scope.conn, "pending_recheck", a.id)
    if pending is None or pending["asked_at"] is not None or a.state is not State.CLOSED:
        return
    await queries.exec(scope.conn, "mark_recheck_asked", pending["id"], scope.writes.now)
    sent = await _page(
        scope,
        a.supervisor,
        role=SUPERVISOR_ROLE,
        org=scope.org,
        step=0,
        title=_title(scope, "回头看"),
        due=pending["due_at"],
    )
    body = {**_base(a), "recheck_id": pending["id"], "to": [a.supervisor]}
    await _system_step(
        scope,
        a,
        SupervisionEventKind.RECHECK_REQUESTED,
        "recheck_requested",
        body,
        [Fact(kind=EntryKind.RECHECK_REQUESTED, body=body), *_paged_fact(scope, sent, 0)],
    )


async def fire(
    conn: Conn, writes: Writes, settings: Settings, timers: Sequence[asyncpg.Record]
) -> None:
    """The scheduler's ``supervision`` and ``supervision_recheck`` timers that are due, in the
    scheduler's transaction (after the incident timers, whose changes it builds on)."""
    if not timers:
        return
    owners = {
        row["id"]: row["assignment_id"]
        for row in await queries.many(conn, "timer_assignments", [t["id"] for t in timers])
    }
    for timer in sorted(timers, key=lambda t: (owners[t["id"]], t["id"])):
        assignment_id = owners[timer["id"]]
        instruction = await queries.one(conn, "instruction_of_assignment", assignment_id)
        assert instruction is not None
        scope = await _scope(conn, writes, settings, instruction["id"], nowait=True)
        if scope is None:
            continue
        await queries.exec(conn, "mark_fired", [timer["id"]], writes.now)
        a = await _lock_assignment(conn, assignment_id)
        if timer["kind"] == REMIND_KIND:
            a = await _remind(scope, a)
            await _rearm(conn, settings, a, writes.now)
        else:
            await _ask_recheck(scope, a)
        scope.announce(SYSTEM)


# --- reading --------------------------------------------------------------------------------


def _listed(row: Any, now: datetime) -> dict[str, Any]:
    return {
        **assignment_json(assignment_of(row), now),
        "instruction": row["instruction"],
        "incident_id": row["incident_id"],
        "assigned_by": row["assigned_by"],
    }


async def open_of_unit(conn: Conn, unit: str, now: datetime) -> list[dict[str, Any]]:
    return [_listed(r, now) for r in await queries.many(conn, "open_of_units", unit)]


async def chase_list(conn: Conn, supervisor: str, now: datetime) -> list[dict[str, Any]]:
    return [_listed(r, now) for r in await queries.many(conn, "chase_list", supervisor)]


async def instruction(conn: Conn, instruction_id: int, now: datetime) -> dict[str, Any]:
    row = await queries.one(conn, "get_instruction", instruction_id)
    if row is None:
        raise errors.NotFound(f"instruction {instruction_id} does not exist", id=instruction_id)
    assignments = await queries.many(conn, "assignments_of_instruction", instruction_id)
    return {
        "id": row["id"],
        "incident_id": row["incident_id"],
        "org": row["org_path"],
        "text": row["text"],
        "leader": row["leader"],
        "given_at": row["given_at"].isoformat(),
        "assignments": [assignment_json(assignment_of(a), now) for a in assignments],
    }


async def records(conn: Conn, org: str, start: datetime, end: datetime) -> list[rules.Record]:
    return [
        rules.Record(
            unit=r["unit"],
            state=State(r["state"]),
            created_at=r["created_at"],
            first_due_at=r["first_due_at"],
            due_at=r["due_at"],
            closed_at=r["closed_at"],
            verified=r["verified"],
            reported_late=r["reported_late"],
            rechecks_answered=r["rechecks_answered"],
            rechecks_failed=r["rechecks_failed"],
        )
        for r in await queries.many(conn, "figure_records", org, start, end)
    ]


async def figures_for(
    conn: Conn, org: str, start: datetime, end: datetime, now: datetime
) -> rules.Figures:
    """The supervision figures of the units in ``org``'s subtree for assignments first due in
    ``[start, end)``: what the review report calls to include them."""
    return rules.figures(await records(conn, org, start, end), start=start, end=end, now=now)


async def matter_entries(conn: Conn, instruction_id: int) -> list[Entry]:
    return [
        Entry(
            incident_id=row["instruction_id"],
            seq=row["seq"],
            kind=EntryKind(row["kind"]),
            at=row["at"],
            actor=row["actor"],
            source=Source(row["source"]),
            body=msgspec.json.decode(row["body"]),
            personal_digest=None,
            prev_hash=bytes(row["prev_hash"]),
            hash=bytes(row["hash"]),
        )
        for row in await queries.many(conn, "matter_entries", instruction_id)
    ]


async def verify_matters(conn: Conn) -> tuple[int, list[ChainProblem]]:
    """Check every standalone matter's chain (``incident_id`` of a problem is the matter's
    instruction id); return (matters checked, problems)."""
    problems: list[ChainProblem] = []
    heads = await queries.many(conn, "matter_heads")
    for row in heads:
        entries = await matter_entries(conn, row["id"])
        problems += verify_chain(row["id"], entries, head=bytes(row["timeline_head"]))
    return len(heads), problems
