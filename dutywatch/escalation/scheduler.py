"""The escalation scheduler: durable timers claimed by any number of replicas."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg
import structlog

from dutywatch import metrics
from dutywatch.clock import Clock
from dutywatch.config import Settings
from dutywatch.contracts import EventKind, PageReason
from dutywatch.db import OUTBOX_CHANNEL, with_retries
from dutywatch.deadlines import engine as deadlines
from dutywatch.deadlines import followup, zero
from dutywatch.escalation import engine
from dutywatch.handover import service as handover
from dutywatch.incidents import events
from dutywatch.incidents import store as incidents
from dutywatch.incidents.rules import Fact, State
from dutywatch.sql import Conn
from dutywatch.supervision import service as supervision
from dutywatch.timeline import Source
from dutywatch.timeline.store import append
from dutywatch.writes import Writes, flush

log = structlog.get_logger(__name__)
queries = engine.queries

#: Longest sleep without looking at the table, in case a wake-up NOTIFY was missed.
POLL_INTERVAL = timedelta(seconds=1)
CLAIM_LIMIT = 200


async def fire_due_timers(pool: asyncpg.Pool, settings: Settings, clock_now: datetime) -> int:
    """Fire every timer due now (up to CLAIM_LIMIT); return how many were claimed.

    With ``timers_follow_database_clock`` (production), "now" is PostgreSQL's, so replicas
    whose clocks drift apart still agree on what is due; tests with a ManualClock pass theirs.
    """

    async def transaction() -> int:
        async with pool.acquire() as conn, conn.transaction():
            now = clock_now
            if settings.timers_follow_database_clock:
                now = await conn.fetchval("SELECT now()")
            timers = await queries.many(conn, "claim_due_timers", now, CLAIM_LIMIT)
            if not timers:
                return 0
            writes = Writes(now=now)
            handover_timers = [t for t in timers if t["kind"] == handover.TIMER_KIND]
            writes.fired_timers += await handover.fire_overdue(
                conn, writes, settings, handover_timers
            )
            writes.fired_timers += await zero.fire(
                conn, writes, settings, [t for t in timers if t["kind"] == zero.TIMER_KIND]
            )
            await _fire_incident_timers(conn, writes, settings, timers)
            # After the incident timers: a reminder chains after their entries.
            await supervision.fire(
                conn,
                writes,
                settings,
                [t for t in timers if t["kind"] in supervision.TIMER_KINDS],
            )
            await flush(conn, writes)
            if writes.outbox:
                await conn.execute("SELECT pg_notify($1, '')", OUTBOX_CHANNEL)
            fired = set(writes.fired_timers)
            for timer in timers:
                if timer["id"] in fired:
                    lateness = (now - timer["due_at"]).total_seconds()
                    metrics.TIMER_LATENESS_SECONDS.observe(max(0.0, lateness))
            return len(timers)

    return await with_retries(transaction, what="fire due timers")


async def _fire_incident_timers(
    conn: Conn, writes: Writes, settings: Settings, timers: Sequence[asyncpg.Record]
) -> None:
    """Escalation, deadline and follow-up timers: fire each alert's due steps, check each
    incident's reporting clocks and follow-up reports, per incident, in one chain append.
    A resolved incident still owes its final report: only its ``follow_up`` timer fires."""
    kinds = (engine.TIMER_KIND, deadlines.TIMER_KIND, followup.TIMER_KIND)
    mine = [t for t in timers if t["kind"] in kinds]
    if not mine:
        return
    # An incident another transaction holds (an acknowledgement in flight) is skipped:
    # waiting for it while it waits for our timer rows would deadlock. Its timers stay
    # pending and are claimed again next round.
    rows = await queries.many(
        conn, "lock_incidents_nowait", sorted({t["incident_id"] for t in mine})
    )
    locked = {row["id"]: incidents.from_row(row) for row in rows}
    mine = [t for t in mine if t["incident_id"] in locked]
    writes.fired_timers += [t["id"] for t in mine]
    esc = await engine.Escalation.load(
        conn,
        writes,
        settings,
        incident_ids=list(locked),
        orgs=[i.org_path for i in locked.values()],
    )
    for incident_id, claimed in sorted(locked.items()):
        incident, facts = claimed, []
        reminded: list[Fact] = []
        for timer in (t for t in mine if t["incident_id"] == incident_id):
            if timer["kind"] == followup.TIMER_KIND:
                reminded += await followup.fire(esc, incident)
                continue
            if claimed.state is State.RESOLVED:
                continue
            if timer["kind"] == deadlines.TIMER_KIND:
                incident, more = await deadlines.check(esc, incident)
                facts += more
                continue
            alert = esc.alert(incident_id, timer["alert_id"])
            if alert is None or alert.acknowledged:
                continue
            incident, more = await engine.fire_alert(
                esc, incident, alert, first_reason=PageReason.ESCALATION
            )
            facts += more
            log.info(
                "alert_escalated",
                incident_id=incident.id,
                org=alert.org_path,
                alert_id=alert.id,
                late_ms=round((writes.now - timer["due_at"]).total_seconds() * 1000, 1),
            )
        if facts or reminded:
            incident = append(
                writes, incident, facts + reminded, actor="dutywatch", source=Source.SYSTEM
            )
            kind = EventKind.ESCALATED if facts else EventKind.UPDATED
            events.emit(writes, settings, incident, kind, actor="dutywatch")
        if incident != claimed:
            writes.save(incident)


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
    await zero.arm_all(pool, settings, clock.now())
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
