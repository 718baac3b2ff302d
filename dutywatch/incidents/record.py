"""Adding to an incident's record: one transaction that chains facts and announces them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from dutywatch.config import Settings
from dutywatch.contracts import EventKind
from dutywatch.db import OUTBOX_CHANNEL, TIMERS_CHANNEL, with_retries
from dutywatch.incidents import events
from dutywatch.incidents import store as incidents
from dutywatch.incidents.rules import Fact, Incident
from dutywatch.sql import Conn
from dutywatch.timeline import Source
from dutywatch.timeline.store import append
from dutywatch.writes import Writes, flush

log = structlog.get_logger(__name__)


async def save_update(
    conn: Conn,
    writes: Writes,
    settings: Settings,
    incident: Incident,
    facts: Sequence[Fact],
    *,
    actor: str,
    source: Source,
) -> Incident:
    """Chain ``facts``, save the incident, announce it updated, write all, wake the workers."""
    incident = append(writes, incident, facts, actor=actor, source=source)
    writes.save(incident)
    events.emit(writes, settings, incident, EventKind.UPDATED, actor=actor)
    await flush(conn, writes)
    await conn.execute(
        "SELECT pg_notify($1, ''), pg_notify($2, '')", OUTBOX_CHANNEL, TIMERS_CHANNEL
    )
    return incident


async def add_fact(
    pool: asyncpg.Pool,
    settings: Settings,
    incident_id: int,
    decide: Callable[[Incident], Fact],
    *,
    verb: str,
    actor: str,
    source: Source,
    now: datetime,
    authorize: Callable[[Incident], None],
    command_id: UUID | None = None,
) -> dict[str, Any]:
    """Chain the one fact ``decide`` makes of the locked incident (a note, a correction, an
    instruction); a replayed ``command_id`` returns the first result and adds nothing."""

    async def transaction() -> dict[str, Any]:
        async with pool.acquire() as conn, conn.transaction():
            first = await incidents.replayed(conn, command_id)
            if first is not None:
                return first
            incident = await incidents.lock_existing(conn, incident_id)
            authorize(incident)
            fact = decide(incident)
            writes = Writes(now=now)
            incident = await save_update(
                conn, writes, settings, incident, [fact], actor=actor, source=source
            )
            result = {
                "incident_id": incident.id,
                "seq": incident.timeline_seq,
                "kind": str(fact.kind),
                "at": now.isoformat(),
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
            log.info(f"incident_{verb}", incident_id=incident.id, actor=actor, seq=result["seq"])
            return {**result, "replayed": False}

    return await with_retries(transaction, what=f"{verb} on incident {incident_id}")
