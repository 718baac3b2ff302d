"""Acknowledge and resolve: one transaction each, idempotent, replay-safe."""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from dutywatch.config import Settings
from dutywatch.contracts import EventKind
from dutywatch.db import OUTBOX_CHANNEL, with_retries
from dutywatch.deadlines import engine as deadlines
from dutywatch.deadlines import followup
from dutywatch.escalation import store as escalation_store
from dutywatch.escalation.alerts import acknowledged_by
from dutywatch.incidents import events, rules
from dutywatch.incidents import store as incidents
from dutywatch.incidents.rules import Incident, Transition
from dutywatch.sql import Conn
from dutywatch.timeline import EntryKind, Source
from dutywatch.timeline.store import append
from dutywatch.writes import Writes, flush

log = structlog.get_logger(__name__)

Authorize = Callable[[Incident], None]


def _no_check(_: Incident) -> None:
    return None


class Verb(enum.StrEnum):
    ACK = "ack"
    RESOLVE = "resolve"


_DECIDE = {Verb.ACK: rules.acknowledge, Verb.RESOLVE: rules.resolve}
_EVENTS = {Verb.ACK: EventKind.ACKNOWLEDGED, Verb.RESOLVE: EventKind.RESOLVED}


async def execute(
    pool: asyncpg.Pool,
    settings: Settings,
    verb: Verb,
    incident_id: int,
    *,
    actor: str,
    note: str | None,
    source: Source,
    now: datetime,
    command_id: UUID | None = None,
    authorize: Authorize = _no_check,
    duty_room: str | None = None,
) -> dict[str, Any]:
    """Acknowledge (stops the climb) or resolve (closes, cancels every timer) an incident.

    Acknowledging stops the alerts of the caller's ``duty_room`` (see
    :func:`dutywatch.escalation.alerts.acknowledged_by`; None, an administrator, stands for
    the origin room); the incident is acknowledged once its origin room's alert is.
    One transaction; idempotent; a replayed ``command_id`` returns the first result unchanged.
    """
    decide = _DECIDE[verb]

    async def transaction() -> dict[str, Any]:
        async with pool.acquire() as conn, conn.transaction():
            first = await incidents.replayed(conn, command_id)
            if first is not None:
                return first
            incident = await incidents.lock_existing(conn, incident_id)
            authorize(incident)
            writes = Writes(now=now)
            if verb is Verb.ACK:
                transition = await _acknowledge(
                    conn, writes, incident, actor=actor, note=note, duty_room=duty_room
                )
            else:
                transition = decide(incident, actor=actor, note=note, now=now)
                if transition.changed:
                    writes.cancel_timers(incident.id)
                    # The final report (终报) falls due now: its reminder timer.
                    await followup.rearm(conn, writes, settings, transition.incident)
            incident = transition.incident
            if transition.changed:
                incident = append(writes, incident, transition.facts, actor=actor, source=source)
                writes.save(incident)
                events.emit(writes, settings, incident, _EVENTS[verb], actor=actor)
                await flush(conn, writes)
                await conn.execute("SELECT pg_notify($1, '')", OUTBOX_CHANNEL)
            result = {
                "incident_id": incident.id,
                "state": str(incident.state),
                "changed": transition.changed,
                "acknowledged_at": _iso(incident.acknowledged_at),
                "acknowledged_by": incident.acknowledged_by,
                "resolved_at": _iso(incident.resolved_at),
            }
            await incidents.remember(
                conn,
                command_id,
                verb=verb,
                incident_id=incident.id,
                actor=actor,
                at=now,
                result=result,
            )
            log.info(
                f"incident_{verb}",
                incident_id=incident.id,
                org=incident.org_path,
                actor=actor,
                changed=transition.changed,
                state=str(incident.state),
            )
            return {**result, "replayed": False}

    return await with_retries(transaction, what=f"{verb} incident {incident_id}")


async def _acknowledge(
    conn: Conn,
    writes: Writes,
    incident: Incident,
    *,
    actor: str,
    note: str | None,
    duty_room: str | None,
) -> Transition:
    """Stop the climb of the duty room's alerts; the incident too if its origin room's is."""
    if incident.state is rules.State.RESOLVED:
        return Transition(incident=incident, changed=False, facts=())
    alerts = (await escalation_store.alerts_of(conn, [incident.id])).get(incident.id, {})
    if not alerts:
        # An incident from before alerts existed: the whole incident is the one alert.
        transition = rules.acknowledge(incident, actor=actor, note=note, now=writes.now)
        if transition.changed:
            writes.cancel_timers(incident.id)
        return transition
    landed = await escalation_store.landed_orgs(conn, incident.id)
    stopped = acknowledged_by(list(alerts.values()), duty_room or None, landed)
    if not stopped:
        return Transition(incident=incident, changed=False, facts=())
    for alert in stopped:
        writes.save_alert(alert.acknowledge(actor=actor, now=writes.now))
        writes.cancel_alert_timers(alert.id)
        if alert.origin:
            incident = rules.acknowledge(incident, actor=actor, note=note, now=writes.now).incident
    # One entry for one person's acknowledgement, naming every duty room's alert it stopped.
    body: dict[str, Any] = {
        "by": actor,
        "orgs": [a.org_path for a in stopped],
        "alert_ids": [a.id for a in stopped],
    }
    if note:
        body["note"] = note
    facts = [rules.Fact(kind=EntryKind.ACKNOWLEDGED, body=body)]
    # The rooms confirmed receipt: the phone-speed reports to them are made.
    facts += await deadlines.acknowledged(conn, writes, incident, stopped, room=duty_room)
    return Transition(incident=incident, changed=True, facts=tuple(facts))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
