"""The gap check (值班空档): a role slot with nobody on duty in the coming days raises an alarm.

Runs continuously on every replica. Each gap found is recorded once (a unique row), and only
the replica whose insert wins alarms the organisation's leader on duty and the parent duty
room, so a gap raises exactly one alarm per person alerted, however often it is seen.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import asyncpg
import structlog

from dutywatch.clock import Clock
from dutywatch.config import Settings
from dutywatch.contracts import AlarmKind, AlarmV1
from dutywatch.db import OUTBOX_CHANNEL, with_retries
from dutywatch.escalation.engine import Rosters
from dutywatch.escalation.rules import DUTY_OFFICER, LEADER_ON_DUTY
from dutywatch.rosters import store
from dutywatch.rosters.expansion import Gap, find_gaps
from dutywatch.rosters.rules import parent_of, route_page
from dutywatch.sql import Conn, Queries
from dutywatch.writes import Writes, flush

queries = Queries(__package__, "queries_gaps.sql")
log = structlog.get_logger(__name__)

ROLE_NAMES = {"duty_officer": "值班员", "leader_on_duty": "带班领导"}


async def check_gaps(pool: asyncpg.Pool, settings: Settings, now: datetime) -> int:
    """Record and alarm every new gap in [now, now + horizon); return how many were new."""

    async def transaction() -> int:
        async with pool.acquire() as conn, conn.transaction():
            window = (now, now + settings.gap_horizon)
            found: list[tuple[store.RosterRecord, Gap]] = []
            every = [row["id"] for row in await store.list_rosters(conn)]
            for record in await store.load(conn, ids=every, window=window):
                try:
                    gaps = find_gaps(record.model(), *window)
                except ValueError as exc:
                    log.exception("roster_unexpandable", roster_id=record.id, error=str(exc))
                    continue
                found += [(record, gap) for gap in gaps]
            writes = Writes(now=now)
            new = 0
            if found:
                orgs = {r.org_path for r, _ in found}
                orgs |= {p for p in map(parent_of, orgs) if p is not None}
                rosters = await Rosters.load(conn, orgs, writes)
                for roster_id in sorted({r.id for r, _ in found}):
                    await queries.exec(conn, "lock_roster_gaps", roster_id)
                for record, gap in found:
                    if await _record(conn, record, gap, now):
                        new += 1
                        await _alarm(conn, writes, rosters, settings, record, gap)
            await flush(conn, writes)
            if writes.outbox:
                await conn.execute("SELECT pg_notify($1, '')", OUTBOX_CHANNEL)
            return new

    return await with_retries(transaction, what="roster gap check")


async def _record(conn: Conn, record: store.RosterRecord, gap: Gap, now: datetime) -> bool:
    """Record a gap; True if it is new (not the continuation of one recorded before)."""
    key = (record.id, gap.role, gap.slot)
    known = await queries.val(conn, "known_gap", *key, gap.starts_at, gap.ends_at)
    if known is not None:
        await queries.exec(conn, "extend_gap", known, gap.starts_at, gap.ends_at)
        return False
    await queries.exec(
        conn,
        "insert_gap",
        record.id,
        record.org_path,
        gap.role,
        gap.slot,
        gap.starts_at,
        gap.ends_at,
        now,
    )
    return True


async def _alarm(
    conn: Conn,
    writes: Writes,
    rosters: Rosters,
    settings: Settings,
    record: store.RosterRecord,
    gap: Gap,
) -> None:
    """To the organisation's leader on duty and to the parent duty room's duty officer."""
    title = (
        f"值班空档 roster gap: {record.org_path} {ROLE_NAMES.get(gap.role, gap.role)} "
        f"({gap.role}) slot {gap.slot}, {gap.starts_at.isoformat()} to {gap.ends_at.isoformat()}"
    )[:200]
    targets = [(record.org_path, LEADER_ON_DUTY)]
    parent = parent_of(record.org_path)
    if parent is not None:
        targets.append((parent, DUTY_OFFICER))
    alerted: set[str] = set()
    for org, role in targets:
        recipients = route_page(rosters.shifts, org, role, writes.now)
        for person_id in recipients.people:
            if person_id in alerted:
                continue
            alerted.add(person_id)
            alarm_id = await writes.alarm_ids.take(conn)
            await queries.exec(
                conn,
                "insert_gap_alarm",
                alarm_id,
                record.org_path,
                person_id,
                role,
                title,
                record.id,
                json.dumps({"gap_role": gap.role, "slot": gap.slot}),
                writes.now,
            )
            writes.enqueue(
                settings.subject("notify", person_id),
                AlarmV1(
                    alarm_id=alarm_id,
                    kind=AlarmKind.ROSTER_GAP,
                    person_id=person_id,
                    role=role,
                    org=record.org_path,
                    title=title,
                    created_at=writes.now,
                    roster_id=str(record.id),
                    starts_at=gap.starts_at,
                    ends_at=gap.ends_at,
                ),
            )
    log.warning(
        "roster_gap",
        roster_id=record.id,
        org=record.org_path,
        role=gap.role,
        slot=gap.slot,
        starts_at=gap.starts_at.isoformat(),
        ends_at=gap.ends_at.isoformat(),
        alerted=sorted(alerted),
    )


async def run(
    pool: asyncpg.Pool,
    settings: Settings,
    clock: Clock,
    wake: asyncio.Event,
    stop: asyncio.Event,
) -> None:
    """Check now, then every ``gap_check_interval`` (or when woken), until stop."""
    while not stop.is_set():
        wake.clear()
        await check_gaps(pool, settings, clock.now())
        await clock.sleep_until(clock.now() + settings.gap_check_interval, wake)
