"""Handover transactions: start, accept, and the overdue alarm the scheduler raises."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from dutywatch import errors
from dutywatch.config import Settings
from dutywatch.contracts import AlarmKind, AlarmV1
from dutywatch.db import OUTBOX_CHANNEL, TIMERS_CHANNEL, with_retries
from dutywatch.escalation.engine import Rosters
from dutywatch.escalation.rules import LEADER_ON_DUTY
from dutywatch.handover import rules
from dutywatch.handover.rules import Handover
from dutywatch.incidents import store as incidents
from dutywatch.rosters.rules import route_page
from dutywatch.sql import Conn, Queries
from dutywatch.timeline import Source
from dutywatch.timeline.store import append
from dutywatch.writes import Writes, flush

queries = Queries(__package__)
log = structlog.get_logger(__name__)

TIMER_KIND = "handover"
Authorize = Callable[[str], None]


def from_row(row: Any) -> Handover:
    return Handover(
        id=row["id"],
        org_path=row["org_path"],
        outgoing_person=row["outgoing_person"],
        expected_incoming=row["expected_incoming"],
        note=row["note"],
        open_items=tuple(json.loads(row["open_items"])),
        created_at=row["created_at"],
        due_at=row["due_at"],
        accepted_at=row["accepted_at"],
        accepted_by=row["accepted_by"],
        accept_note=row["accept_note"],
        overdue_paged_at=row["overdue_paged_at"],
    )


def as_json(h: Handover) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": h.id,
        "org": h.org_path,
        "outgoing": h.outgoing_person,
        "expected_incoming": h.expected_incoming,
        "note": h.note,
        "open_items": list(h.open_items),
        "created_at": iso(h.created_at),
        "due_at": iso(h.due_at),
        "accepted_at": iso(h.accepted_at),
        "accepted_by": h.accepted_by,
        "accept_note": h.accept_note,
        "overdue_paged_at": iso(h.overdue_paged_at),
    }


async def start(
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    org_path: str,
    outgoing: str,
    note: str,
    expected_incoming: str | None,
    source: Source,
    now: datetime,
) -> Handover:
    """Hand the duty room over: carry its open incidents, start the acceptance clock."""

    async def transaction() -> Handover:
        async with pool.acquire() as conn, conn.transaction():
            if expected_incoming is not None and not await queries.val(
                conn, "person_exists", expected_incoming
            ):
                raise errors.SchemaViolation(
                    f"no person {expected_incoming!r}; name the incoming officer by person id",
                    field="incoming",
                )
            rows = await queries.many(conn, "lock_open_incidents_of_duty_room", org_path)
            carried = [incidents.from_row(row) for row in rows]
            new_id: int = await queries.val(conn, "next_handover_id")
            handover, fact = rules.start(
                new_id=new_id,
                org_path=org_path,
                outgoing=outgoing,
                expected_incoming=expected_incoming,
                note=note,
                carried=carried,
                now=now,
                accept_within=settings.handover_accept_timeout,
            )
            await queries.exec(
                conn,
                "insert_handover",
                handover.id,
                handover.org_path,
                handover.outgoing_person,
                handover.expected_incoming,
                handover.note,
                json.dumps(list(handover.open_items), ensure_ascii=False),
                handover.created_at,
                handover.due_at,
            )
            writes = Writes(now=now)
            for incident in carried:
                writes.save(
                    append(writes, incident, [fact], actor=f"person:{outgoing}", source=source)
                )
            writes.add_timer(kind=TIMER_KIND, due_at=handover.due_at, handover_id=handover.id)
            await flush(conn, writes)
            await conn.execute("SELECT pg_notify($1, '')", TIMERS_CHANNEL)
            log.info(
                "handover_started",
                handover_id=handover.id,
                org=org_path,
                outgoing=outgoing,
                carried=handover.incident_ids,
            )
            return handover

    return await with_retries(transaction, what=f"handover of {org_path}")


async def accept(
    pool: asyncpg.Pool,
    handover_id: int,
    *,
    person: str,
    note: str | None,
    source: Source,
    now: datetime,
    authorize: Authorize,
) -> tuple[Handover, bool]:
    """The incoming officer takes over; the carried incidents' timelines record it."""

    async def transaction() -> tuple[Handover, bool]:
        async with pool.acquire() as conn, conn.transaction():
            row = await queries.one(conn, "get_handover", handover_id)
            if row is None:
                raise errors.NotFound(f"handover {handover_id} does not exist")
            authorize(row["org_path"])
            # Incidents first, then the handover: the same lock order as `start`.
            locked = await queries.many(
                conn, "lock_incidents", [int(i["incident_id"]) for i in from_row(row).open_items]
            )
            handover = from_row(await queries.one(conn, "lock_handover", handover_id))
            outcome = rules.accept(handover, person=person, note=note, now=now)
            if outcome.changed and outcome.fact is not None:
                await queries.exec(conn, "mark_accepted", handover.id, now, person, note)
                writes = Writes(now=now)
                writes.cancel_handover_timer(handover.id)
                for incident_row in locked:
                    incident = incidents.from_row(incident_row)
                    writes.save(
                        append(
                            writes,
                            incident,
                            [outcome.fact],
                            actor=f"person:{person}",
                            source=source,
                        )
                    )
                await flush(conn, writes)
                log.info("handover_accepted", handover_id=handover.id, by=person)
            return outcome.handover, outcome.changed

    return await with_retries(transaction, what=f"accept handover {handover_id}")


async def fire_overdue(
    conn: Conn, writes: Writes, settings: Settings, timers: Sequence[asyncpg.Record]
) -> list[int]:
    """Alert the leader on duty of each overdue handover; return the timer ids handled."""
    handled: list[int] = []
    overdue: list[Handover] = []
    for timer in timers:
        row = await queries.one(conn, "lock_handover_nowait", timer["handover_id"])
        if row is None:
            continue  # being accepted right now; look again next round
        handled.append(timer["id"])
        handover = from_row(row)
        if rules.is_overdue(handover, writes.now):
            overdue.append(handover)
    if not overdue:
        return handled
    rosters = await Rosters.load(conn, (h.org_path for h in overdue), writes)
    for handover in overdue:
        await _alert_leader(conn, writes, rosters, settings, handover)
        await queries.exec(conn, "mark_overdue_paged", handover.id, writes.now)
    await conn.execute("SELECT pg_notify($1, '')", OUTBOX_CHANNEL)
    return handled


async def _alert_leader(
    conn: Conn, writes: Writes, rosters: Rosters, settings: Settings, handover: Handover
) -> None:
    recipients = route_page(rosters.shifts, handover.org_path, LEADER_ON_DUTY, writes.now)
    title = f"交接班未确认 handover not taken over: {handover.org_path}"
    if not recipients.people:
        log.error("handover_overdue_nobody_to_alert", handover_id=handover.id)
        return
    for person_id in recipients.people:
        alarm_id = await writes.alarm_ids.take(conn)
        writes.alarms.append(
            (
                alarm_id,
                str(AlarmKind.HANDOVER_OVERDUE),
                handover.org_path,
                person_id,
                LEADER_ON_DUTY,
                title,
                handover.id,
                json.dumps({"outgoing": handover.outgoing_person, "due_at": str(handover.due_at)}),
                writes.now,
            )
        )
        writes.enqueue(
            settings.subject("notify", person_id),
            AlarmV1(
                alarm_id=alarm_id,
                kind=AlarmKind.HANDOVER_OVERDUE,
                person_id=person_id,
                role=LEADER_ON_DUTY,
                org=recipients.org_path or handover.org_path,
                title=title,
                created_at=writes.now,
                handover_id=handover.id,
                starts_at=handover.due_at,
            ),
        )
    log.warning(
        "handover_overdue",
        handover_id=handover.id,
        org=handover.org_path,
        alerted=list(recipients.people),
    )
