"""The escalation scheduler: durable timers claimed by any number of replicas."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import asyncpg
import structlog

from dutywatch.clock import Clock
from dutywatch.config import Settings
from dutywatch.contracts import EventKind
from dutywatch.db import OUTBOX_CHANNEL, with_retries
from dutywatch.escalation import engine
from dutywatch.incidents import events
from dutywatch.incidents import store as incidents
from dutywatch.incidents.rules import State
from dutywatch.timeline import Source
from dutywatch.timeline.store import append

log = structlog.get_logger(__name__)
queries = engine.queries

#: Longest sleep without looking at the table, in case a wake-up NOTIFY was missed.
POLL_INTERVAL = timedelta(seconds=1)
CLAIM_LIMIT = 200


async def fire_due_timers(pool: asyncpg.Pool, settings: Settings, now: datetime) -> int:
    """Fire every timer due at ``now`` (up to CLAIM_LIMIT); return how many were claimed."""

    async def transaction() -> int:
        fired_any = False
        async with pool.acquire() as conn, conn.transaction():
            timers = await queries.many(conn, "claim_due_timers", now, CLAIM_LIMIT)
            for timer in timers:
                row = await queries.one(conn, "lock_incident_nowait", timer["incident_id"])
                if row is None:
                    continue  # busy: its holder may cancel this timer; look again next round
                incident = incidents.from_row(row)
                await queries.exec(conn, "mark_timer_fired", timer["id"], now)
                if incident.state is not State.OPEN or incident.policy_started_at is None:
                    continue
                before = incident.policy_fired
                incident, facts = await engine.fire_due(conn, settings, incident, now)
                if not facts and incident.policy_fired == before:
                    continue
                incident = await append(
                    conn, incident, facts, at=now, actor="dutywatch", source=Source.SYSTEM
                )
                await incidents.update(conn, incident)
                await events.emit(
                    conn, settings, incident, EventKind.ESCALATED, actor="dutywatch", now=now
                )
                fired_any = True
                log.info(
                    "incident_escalated",
                    incident_id=incident.id,
                    org=incident.org_path,
                    step=incident.policy_fired - 1,
                    late_ms=round((now - timer["due_at"]).total_seconds() * 1000, 1),
                )
            if fired_any:
                await conn.execute("SELECT pg_notify($1, '')", OUTBOX_CHANNEL)
            return len(timers)

    return await with_retries(transaction, what="fire due timers")


async def next_due(pool: asyncpg.Pool) -> datetime | None:
    async with pool.acquire() as conn:
        value: datetime | None = await queries.val(conn, "next_due_at")
        return value


async def run(
    pool: asyncpg.Pool,
    settings: Settings,
    clock: Clock,
    wake: asyncio.Event,
    stop: asyncio.Event,
    on_fired: asyncio.Event | None = None,
) -> None:
    """Sleep until the earliest timer (or a wake-up), fire what is due, repeat until stop."""
    while not stop.is_set():
        wake.clear()
        claimed = await fire_due_timers(pool, settings, clock.now())
        if claimed and on_fired is not None:
            on_fired.set()
        if claimed >= CLAIM_LIMIT:
            continue
        upcoming = await next_due(pool)
        limit = clock.now() + POLL_INTERVAL
        until = min(upcoming, limit) if upcoming is not None else limit
        if stop.is_set():
            break
        # The supervisor sets ``wake`` when it sets ``stop``, so this returns promptly.
        await clock.sleep_until(until, wake)
