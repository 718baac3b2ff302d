"""Statutory reporting clocks inside the caller's transaction (the edge of deadlines.rules).

* When an incident opens, :func:`start` computes its clocks (``rules.open_clocks``: a phone
  and a written clock for every room that must receive the report), opens the alerts the
  grade requires at once (grade III and above: the parent room; grade I and II, or a
  sensitive event: every room to the top), and arms a ``deadline`` timer at the first instant
  a clock can be missed.
* An upgrade (or a newly sensitive event) restarts the clocks at the new grade
  (``rules.regrade``: a running clock only ever gets stricter) and opens the alerts the new
  grade requires.
* The phone clock to a room stops when that room acknowledges its alert (the phone-speed
  report was received there); the written clocks stop at sign-off (签发, :func:`sign_off`).
* When the ``deadline`` timer fires, every clock that ran out is recorded as late (迟报) with
  how late; the target room's alert opens if it had not, and the reporting room's leader on
  duty is paged.

Resolving the incident cancels the timer: no new late marks after closing, but a late
sign-off is still recorded as late.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from dutywatch import errors
from dutywatch.config import Settings
from dutywatch.contracts import PageReason, decode_report
from dutywatch.db import with_retries
from dutywatch.deadlines import store
from dutywatch.deadlines.rules import (
    Clock,
    DeadlineNotConfigured,
    IncidentFacts,
    Late,
    add_targets,
    ancestors_above,
    check_clocks,
    climbs_to_top,
    omitted_fields,
    open_clocks,
    opens_parent_alert_at_once,
    regrade,
    required_targets,
    stop_clock,
)
from dutywatch.deadlines.store import StoredClock
from dutywatch.deadlines.table import ReportKind
from dutywatch.escalation import engine
from dutywatch.escalation.alerts import Alert, OpenedReason
from dutywatch.incidents import store as incidents
from dutywatch.incidents.record import save_update
from dutywatch.incidents.rules import Fact, Incident, State
from dutywatch.orgs.store import known_orgs
from dutywatch.rosters.model import Role
from dutywatch.sql import Conn
from dutywatch.timeline import EntryKind, Source
from dutywatch.writes import Writes

log = structlog.get_logger(__name__)

TIMER_KIND = "deadline"


def facts_of(incident: Incident) -> IncidentFacts:
    return IncidentFacts(
        org_path=incident.org_path,
        grade=incident.grade,
        category=incident.category,
        sensitive=incident.sensitive,
        occurred_at=incident.occurred_at,
        learned_at=incident.learned_at or incident.opened_at,
        skip_to=incident.skip_to,
    )


@dataclass
class Clocks:
    """An incident's clocks as loaded, and the pure functions' results written back."""

    incident_id: int
    stored: list[StoredClock]

    @property
    def clocks(self) -> tuple[Clock, ...]:
        return tuple(s.clock for s in self.stored)

    async def replace_all(self, writes: Writes, conn: Conn, clocks: Sequence[Clock]) -> list[Clock]:
        """Save ``clocks`` (the old ones in order, maybe changed, then new ones); the new and
        replaced ones are returned (each starts a clock: ``clock_started``)."""
        started: list[Clock] = []
        result: list[StoredClock] = []
        for index, clock in enumerate(clocks):
            if index < len(self.stored):
                old = self.stored[index]
                if clock != old.clock:
                    updated = StoredClock(id=old.id, clock=clock)
                    row = store.clock_update_row(self.incident_id, updated)
                    writes.changed_clocks[old.id] = row
                    if clock.opened_at != old.clock.opened_at:
                        started.append(clock)
                    result.append(updated)
                else:
                    result.append(old)
            else:
                new = StoredClock(id=await writes.clock_ids.take(conn), clock=clock)
                writes.new_clocks.append(store.clock_row(self.incident_id, new))
                started.append(clock)
                result.append(new)
        self.stored = result
        return started

    def rearm(self, writes: Writes, *, resolved: bool = False) -> datetime | None:
        """Arm the incident's one ``deadline`` timer at the next instant a clock is missed."""
        writes.cancel_incident_timers(self.incident_id, TIMER_KIND)
        if resolved:
            return None
        upcoming = check_clocks(self.clocks, writes.now).next_check_at
        if upcoming is not None:
            writes.add_timer(kind=TIMER_KIND, due_at=upcoming, incident_id=self.incident_id)
        return upcoming


async def clocks_of(conn: Conn, incident_id: int) -> Clocks:
    return Clocks(incident_id=incident_id, stored=await store.clocks_of(conn, incident_id))


def _started(clock: Clock, *, reason: str) -> Fact:
    return Fact(
        kind=EntryKind.CLOCK_STARTED,
        body={
            "target": clock.target,
            "kind": str(clock.kind),
            "grade": str(clock.grade),
            "opened_at": clock.opened_at.isoformat(),
            "due_at": clock.due_at.isoformat(),
            "rules": list(clock.rules),
            "reason": reason,
        },
    )


def _late(late: Late, *, clock_rules: Sequence[str] = ()) -> Fact:
    body: dict[str, Any] = {
        "target": late.target,
        "kind": str(late.kind),
        "grade": str(late.grade),
        "due_at": late.due_at.isoformat(),
        "late_by_s": late.late_by.total_seconds(),
        "submitted_at": late.submitted_at.isoformat() if late.submitted_at else None,
        "outstanding": late.submitted_at is None,
    }
    if clock_rules:
        body["rules"] = list(clock_rules)
    return Fact(kind=EntryKind.REPORT_LATE, body=body)


def _met(before: Sequence[Clock], after: Sequence[Clock]) -> list[Fact]:
    """The clocks that stopped between ``before`` and ``after`` (in time: the caller checked)."""
    return [
        Fact(
            kind=EntryKind.DEADLINE_MET,
            body={
                "target": new.target,
                "kind": str(new.kind),
                "grade": str(new.grade),
                "due_at": new.due_at.isoformat(),
                "met_at": new.stopped_at.isoformat(),
                "early_by_s": (new.due_at - new.stopped_at).total_seconds(),
            },
        )
        for old, new in zip(before, after, strict=True)
        if old.running and new.stopped_at is not None
    ]


async def _statutory_alerts(
    esc: engine.Escalation, incident: Incident
) -> tuple[Incident, list[Fact]]:
    """Open the alerts the grade requires at once, nearest room first, each linked below."""
    facts_ = facts_of(incident)
    targets = required_targets(facts_)
    if climbs_to_top(facts_):
        rooms = [t.org for t in targets]
    elif opens_parent_alert_at_once(facts_) and targets:
        rooms = [targets[0].org]
    else:
        return incident, []
    facts: list[Fact] = []
    below = esc.alerts_of(incident.id).get(incident.org_path)
    for room in rooms:
        incident, more = await engine.open_alert(
            esc, incident, room, reason=OpenedReason.STATUTORY, parent=below
        )
        facts += more
        below = esc.alerts_of(incident.id).get(room, below)
    return incident, facts


async def start(esc: engine.Escalation, incident: Incident) -> tuple[Incident, list[Fact]]:
    """A new incident: start its clocks and open the alerts its grade requires at once."""
    try:
        opened = open_clocks(facts_of(incident), at=esc.now)
    except DeadlineNotConfigured as exc:
        # A deployment's own table left a gap: the incident still pages; the log says what to fix.
        log.exception("deadline_not_configured", incident_id=incident.id, detail=exc.message)
        opened = ()
    clocks = Clocks(incident_id=incident.id, stored=[])
    started = await clocks.replace_all(esc.writes, esc.conn, opened)
    clocks.rearm(esc.writes)
    facts = [_started(c, reason="opened") for c in started]
    incident, more = await _statutory_alerts(esc, incident)
    return incident, facts + more


async def upgrade(
    esc: engine.Escalation, before: Incident, after: Incident
) -> tuple[Incident, list[Fact]]:
    """Restart the clocks at the new grade (stricter only) and open the rooms it requires."""
    clocks = await clocks_of(esc.conn, after.id)
    try:
        regraded = regrade(clocks.clocks, facts_of(before), facts_of(after), at=esc.now)
    except DeadlineNotConfigured as exc:
        log.exception("deadline_not_configured", incident_id=after.id, detail=exc.message)
        regraded = clocks.clocks
    started = await clocks.replace_all(esc.writes, esc.conn, regraded)
    clocks.rearm(esc.writes)
    facts = [_started(c, reason="upgraded") for c in started]
    incident, more = await _statutory_alerts(esc, after)
    return incident, facts + more


async def acknowledged(
    conn: Conn,
    writes: Writes,
    incident: Incident,
    alerts: Sequence[Alert],
    *,
    room: str | None = None,
) -> list[Fact]:
    """Rooms confirmed receipt: their phone clocks stop (late if after the due time).

    The rooms are those of the ``alerts`` stopped and the acknowledging duty ``room`` itself:
    a district officer who acknowledges a township's alert (paged in the district because the
    township had nobody on duty) has been told, so the phone report owed to the district is
    made even though no alert of the district's own was open.
    """
    clocks = await clocks_of(conn, incident.id)
    current = clocks.clocks
    facts: list[Fact] = []
    rooms = list(dict.fromkeys([*(a.org_path for a in alerts), *([room] if room else [])]))
    for target in rooms:
        before = current
        current, late = stop_clock(current, target=target, kind=ReportKind.PHONE, at=writes.now)
        if late is not None:
            facts.append(_late(late))
        elif current != before:
            facts.extend(_met(before, current))
    if current != clocks.clocks:
        await clocks.replace_all(writes, conn, current)
        clocks.rearm(writes, resolved=incident.state is State.RESOLVED)
    return facts


async def check(esc: engine.Escalation, incident: Incident) -> tuple[Incident, list[Fact]]:
    """The ``deadline`` timer fired: record every clock that ran out (迟报) and escalate."""
    clocks = await clocks_of(esc.conn, incident.id)
    result = check_clocks(clocks.clocks, esc.now)
    await clocks.replace_all(esc.writes, esc.conn, result.clocks)
    clocks.rearm(esc.writes)
    facts: list[Fact] = []
    by_key = {c.key: c for c in clocks.clocks}
    for late in result.missed:
        facts.append(_late(late, clock_rules=by_key[late.target, late.kind].rules))
        log.warning(
            "report_late",
            incident_id=incident.id,
            target=late.target,
            kind=str(late.kind),
            late_by_s=late.late_by.total_seconds(),
        )
    for target in dict.fromkeys(late.target for late in result.missed):
        incident, more = await _escalate_missed(esc, incident, target)
        facts += more
    return incident, facts


async def _escalate_missed(
    esc: engine.Escalation, incident: Incident, target: str
) -> tuple[Incident, list[Fact]]:
    """A clock to ``target`` ran out: tell that room (its alert), and the reporting room's
    leader on duty, who answers for the report (a page per transaction at most)."""
    alerts = esc.alerts_of(incident.id)
    origin = alerts.get(incident.org_path)
    facts: list[Fact] = []
    if target not in alerts:
        # Linked to the nearest room below it that has an alert.
        below = next(
            (alerts[o] for o in _between(incident.org_path, target) if o in alerts), origin
        )
        incident, facts = await engine.open_alert(
            esc,
            incident,
            target,
            reason=OpenedReason.DEADLINE_MISSED,
            parent=below,
        )
    if origin is not None and incident.state is not State.RESOLVED:
        await esc.ensure_rosters([origin.org_path])
        facts += await engine.page_role(
            esc,
            incident,
            origin,
            role=str(Role.LEADER_ON_DUTY),
            step=origin.escalation.step,
            reason=PageReason.ESCALATION,
        )
    return incident, facts


def _between(org_path: str, target: str) -> list[str]:
    """The rooms from just below ``target`` down to ``org_path`` (nearest to target first)."""
    tokens = org_path.split(".")
    depth = target.count(".") + 1
    return [".".join(tokens[:n]) for n in range(len(tokens), depth, -1)][::-1]


# ---------------------------------------------------------------------------------- sign-off


async def sign_off(
    pool: asyncpg.Pool,
    settings: Settings,
    incident_id: int,
    *,
    actor: str,
    source: Source,
    now: datetime,
    report_id: UUID | None = None,
    note: str | None = None,
    authorize: Callable[[Incident], None] | None = None,
) -> dict[str, Any]:
    """A leader signs the written report off (签发): the written clocks stop.

    Each written clock still running stops now; one past its due time is recorded late (迟报,
    ``report_late`` with how late). Required items the signed report still lacks are recorded
    as omitted (漏报, ``fields_omitted``). The signed report is ``report_id``, or the latest.
    """

    async def transaction() -> dict[str, Any]:
        async with pool.acquire() as conn, conn.transaction():
            incident = await incidents.lock_existing(conn, incident_id)
            if authorize is not None:
                authorize(incident)
            row = await (
                store.queries.one(conn, "report_of_incident", incident.id, report_id)
                if report_id is not None
                else store.queries.one(conn, "latest_report", incident.id)
            )
            if row is None:
                raise errors.NotFound(
                    f"report {report_id} is not a report of incident {incident.id}",
                    field="report_id",
                )
            writes = Writes(now=now)
            clocks = await clocks_of(conn, incident.id)
            current = clocks.clocks
            stopped: list[dict[str, Any]] = []
            late_facts: list[Fact] = []
            for clock in clocks.clocks:
                if clock.kind is not ReportKind.WRITTEN or not clock.running:
                    continue
                current, late = stop_clock(
                    current, target=clock.target, kind=ReportKind.WRITTEN, at=now
                )
                stopped.append(
                    {
                        "target": clock.target,
                        "due_at": clock.due_at.isoformat(),
                        "late_by_s": late.late_by.total_seconds() if late else None,
                    }
                )
                if late is not None:
                    late_facts.append(_late(late, clock_rules=clock.rules))
            await clocks.replace_all(writes, conn, current)
            clocks.rearm(writes, resolved=incident.state is State.RESOLVED)
            omitted = omitted_fields(decode_report(row["payload"].encode()))
            body: dict[str, Any] = {
                "by": actor,
                "report_id": str(row["report_id"]),
                "stage": row["stage"],
                "stopped": stopped,
            }
            if note:
                body["note"] = note
            facts = [Fact(kind=EntryKind.SIGNED_OFF, body=body), *late_facts]
            if omitted:
                facts.append(
                    Fact(
                        kind=EntryKind.FIELDS_OMITTED,
                        body={"report_id": str(row["report_id"]), "fields": list(omitted)},
                    )
                )
            incident = await save_update(
                conn, writes, settings, incident, facts, actor=actor, source=source
            )
            log.info(
                "report_signed_off",
                incident_id=incident.id,
                report_id=str(row["report_id"]),
                late=[s["target"] for s in stopped if s["late_by_s"]],
                omitted=list(omitted),
            )
            return {
                "incident_id": incident.id,
                "report_id": str(row["report_id"]),
                "signed_off_at": now.isoformat(),
                "stopped": stopped,
                "omitted": list(omitted),
            }

    return await with_retries(transaction, what=f"sign off incident {incident_id}")


# ------------------------------------------------------------------------------ skip-level


async def skip_level(
    pool: asyncpg.Pool,
    settings: Settings,
    incident_id: int,
    *,
    to: str,
    reason: str,
    actor: str,
    source: Source,
    now: datetime,
    authorize: Callable[[Incident], None] | None = None,
) -> dict[str, Any]:
    """越级上报 chosen by hand: report directly to the ancestor room ``to``.

    Sets the incident's ``skip_to``; every room up to ``to`` is now owed the report directly
    (the rooms skipped over are informed at the same time), so their alerts open at once
    (``statutory``, linked below) and they get clocks per ``rules.required_targets`` counted
    from the incident's own times (``rules.add_targets``: nothing restarts). ``skip_level``
    goes on the timeline with who chose it and why. Choosing the same room again changes
    nothing; a resolved incident is refused.
    """

    async def transaction() -> dict[str, Any]:
        async with pool.acquire() as conn, conn.transaction():
            incident = await incidents.lock_existing(conn, incident_id)
            if authorize is not None:
                authorize(incident)
            above = ancestors_above(incident.org_path)
            if to not in above:
                raise errors.SchemaViolation(
                    f"{to!r} is not above {incident.org_path!r}; skip-level reporting goes to "
                    f"an ancestor room: {', '.join(above) or 'none (this is the top)'}",
                    field="to",
                )
            if incident.state is State.RESOLVED:
                raise errors.Conflict(f"incident {incident.id} is resolved", id=incident.id)
            changed = incident.skip_to != to
            if changed:
                incident = await _skip(
                    conn,
                    settings,
                    incident,
                    to=to,
                    reason=reason,
                    actor=actor,
                    source=source,
                    now=now,
                )
            log.info("skip_level", incident_id=incident.id, to=to, changed=changed, actor=actor)
            return {"incident_id": incident.id, "skip_to": to, "changed": changed}

    return await with_retries(transaction, what=f"skip-level report of incident {incident_id}")


async def _skip(
    conn: Conn,
    settings: Settings,
    incident: Incident,
    *,
    to: str,
    reason: str,
    actor: str,
    source: Source,
    now: datetime,
) -> Incident:
    writes = Writes(now=now)
    esc = await engine.Escalation.load(
        conn, writes, settings, incident_ids=[incident.id], orgs=[incident.org_path, to]
    )
    before = incident.skip_to
    incident = replace(incident, skip_to=to)
    facts = [
        Fact(
            kind=EntryKind.SKIP_LEVEL,
            body={
                "to": to,
                "from": incident.org_path,
                "by": actor,
                "reason": reason,
                "previous": before,
            },
        ),
        *await _add_targets(conn, writes, incident, facts_of(incident), reason="skip_level"),
    ]
    # Every room up to the chosen one is owed the report directly: open their alerts now.
    below = esc.alerts_of(incident.id).get(incident.org_path)
    for target in required_targets(facts_of(incident)):
        if not target.direct:
            break
        incident, more = await engine.open_alert(
            esc,
            incident,
            target.org,
            reason=OpenedReason.STATUTORY,
            parent=below,
            detail={"skip_level": True},
        )
        facts += more
        below = esc.alerts_of(incident.id).get(target.org, below)
    return await save_update(conn, writes, settings, incident, facts, actor=actor, source=source)


# ------------------------------------------------------------------------------ forwarding


async def forward(
    pool: asyncpg.Pool,
    settings: Settings,
    incident_id: int,
    *,
    to: str,
    note: str | None,
    actor: str,
    source: Source,
    now: datetime,
    authorize: Callable[[Incident], None] | None = None,
) -> dict[str, Any]:
    """Forward a report that reached an office not responsible for it (转办) to the room ``to``.

    ``org_path`` stays the office that received it (its follow-ups still find the incident by
    (org, incident_ref)); ``responsible_org`` becomes ``to``. The target room's alert opens at
    once (``forwarded``, its own policy) and it gets the clocks it owes as the reporting
    office, counted from the incident's own times (``rules.add_targets``: nothing restarts,
    the time learned is kept). ``forwarded`` goes on the timeline. An unknown room, the room
    already responsible and a resolved incident are refused.
    """

    async def transaction() -> dict[str, Any]:
        async with pool.acquire() as conn, conn.transaction():
            incident = await incidents.lock_existing(conn, incident_id)
            if authorize is not None:
                authorize(incident)
            if not await known_orgs(conn, [to]):
                raise errors.SchemaViolation(f"{to!r} is not a known duty room", field="to")
            current = incident.responsible_org or incident.org_path
            if to == current:
                raise errors.Conflict(
                    f"incident {incident.id} is already with {to!r}", id=incident.id
                )
            if incident.state is State.RESOLVED:
                raise errors.Conflict(f"incident {incident.id} is resolved", id=incident.id)
            incident = await _forward(
                conn,
                settings,
                incident,
                to=to,
                note=note,
                actor=actor,
                source=source,
                now=now,
            )
            log.info("forwarded", incident_id=incident.id, to=to, actor=actor)
            return {"incident_id": incident.id, "from": current, "responsible_org": to}

    return await with_retries(transaction, what=f"forward incident {incident_id}")


async def _forward(
    conn: Conn,
    settings: Settings,
    incident: Incident,
    *,
    to: str,
    note: str | None,
    actor: str,
    source: Source,
    now: datetime,
) -> Incident:
    writes = Writes(now=now)
    before = incident.responsible_org or incident.org_path
    esc = await engine.Escalation.load(
        conn, writes, settings, incident_ids=[incident.id], orgs=[incident.org_path, before, to]
    )
    incident = replace(incident, responsible_org=to)
    # The target now reports as the responsible office, from the incident's own times.
    owed = replace(facts_of(incident), org_path=to, skip_to=None)
    facts = [
        Fact(
            kind=EntryKind.FORWARDED,
            body={"from": before, "to": to, "by": actor, "note": note},
        ),
        *await _add_targets(conn, writes, incident, owed, reason="forwarded"),
    ]
    incident, more = await engine.open_alert(
        esc,
        incident,
        to,
        reason=OpenedReason.FORWARDED,
        parent=esc.alerts_of(incident.id).get(before),
        detail={"forwarded_from": before},
    )
    facts += more
    return await save_update(conn, writes, settings, incident, facts, actor=actor, source=source)


async def _add_targets(
    conn: Conn, writes: Writes, incident: Incident, facts: IncidentFacts, *, reason: str
) -> list[Fact]:
    """Give the rooms ``facts`` requires their clocks, counted from the incident's own times
    (nothing restarts; a running clock only tightens); the facts of the clocks started."""
    clocks = await clocks_of(conn, incident.id)
    try:
        changed = add_targets(clocks.clocks, facts, at=writes.now)
    except DeadlineNotConfigured as exc:
        log.exception("deadline_not_configured", incident_id=incident.id, detail=exc.message)
        changed = clocks.clocks
    started = await clocks.replace_all(writes, conn, changed)
    clocks.rearm(writes)
    return [_started(c, reason=reason) for c in started]


def clock_json(clock: Clock) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    late_by = None
    if clock.stopped_at is not None and clock.stopped_at > clock.due_at:
        late_by = (clock.stopped_at - clock.due_at).total_seconds()
    return {
        "target": clock.target,
        "kind": str(clock.kind),
        "grade": str(clock.grade),
        "opened_at": iso(clock.opened_at),
        "due_at": iso(clock.due_at),
        "stopped_at": iso(clock.stopped_at),
        "missed_at": iso(clock.missed_at),
        "late_by_s": late_by,
        "rules": list(clock.rules),
    }


def next_deadline(clocks: Sequence[Clock]) -> dict[str, Any] | None:
    """The running clock due soonest that has not run out yet, if any."""
    pending = [c for c in clocks if c.running and c.missed_at is None]
    if not pending:
        return None
    soonest = min(pending, key=lambda c: (c.due_at, c.target, c.kind))
    return {
        "target": soonest.target,
        "kind": str(soonest.kind),
        "due_at": soonest.due_at.isoformat(),
    }
