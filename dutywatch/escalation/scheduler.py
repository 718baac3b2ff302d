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
from dutywatch.handover import service as handover
from dutywatch.incidents import events
from dutywatch.incidents import store as incidents
from dutywatch.incidents.rules import State
from dutywatch.timeline import Source
from dutywatch.timeline.store import append
from dutywatch.writes import Writes, flush

log = structlog.get_logger(__name__)
queries = engine.queries

#: Longest sleep without looking at the table, in case a wake-up NOTIFY was missed.
POLL_INTERVAL = timedelta(seconds=1)
CLAIM_LIMIT = 200


async def fire_due_timers(pool: asyncpg.Pool, settings: Settings, now: datetime) -> int:
    """Fire every timer due at ``now`` (up to CLAIM_LIMIT); return how many were claimed."""

    async def transaction() -> int:
        async with pool.acquire() as conn, conn.transaction():
            timers = await queries.many(conn, "claim_due_timers", now, CLAIM_LIMIT)
            if not timers:
                return 0
            writes = Writes(now=now)
            handover_timers = [t for t in timers if t["kind"] == handover.TIMER_KIND]
            writes.fired_timers += await handover.fire_overdue(
                conn, writes, settings, handover_timers
            )
            due = []
            for timer in timers:
                if timer["kind"] != engine.TIMER_KIND:
                    continue
                row = await queries.one(conn, "lock_incident_nowait", timer["incident_id"])
                if row is None:
                    continue  # busy: its holder may cancel this timer; look again next round
                writes.fired_timers.append(timer["id"])
                incident = incidents.from_row(row)
                if incident.state is State.OPEN and incident.policy_started_at is not None:
                    due.append((timer, incident))
            rosters = await engine.Rosters.load(conn, (i.org_path for _, i in due), writes)
            for timer, claimed in due:
                incident, facts = await engine.fire_due(conn, writes, rosters, settings, claimed)
                if not facts and incident.policy_fired == claimed.policy_fired:
                    continue
                incident = append(writes, incident, facts, actor="dutywatch", source=Source.SYSTEM)
                writes.save(incident)
                events.emit(writes, settings, incident, EventKind.ESCALATED, actor="dutywatch")
                log.info(
                    "incident_escalated",
                    incident_id=incident.id,
                    org=incident.org_path,
                    step=incident.policy_fired - 1,
                    late_ms=round((now - timer["due_at"]).total_seconds() * 1000, 1),
                )
            await flush(conn, writes)
            if writes.outbox:
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
