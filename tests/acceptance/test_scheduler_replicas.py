"""Durable timers across replicas: each fires exactly once, even when a replica dies mid-claim."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import timedelta

from dutywatch import db
from dutywatch.config import Settings
from dutywatch.escalation import scheduler
from handlers.reports import Inbound, ingest_batch
from tests.acceptance.conftest import ACK_TIMEOUT, Service, make_report

#: Ten claims' worth (scheduler.CLAIM_LIMIT each): the three replicas contend on every claim.
#: More proves nothing further here; timers at scale are `dutywatch bench --timers`.
INCIDENTS = 10 * scheduler.CLAIM_LIMIT


async def open_incidents(service: Service, count: int) -> None:
    """Through the real intake, in batches, as reports would arrive."""
    subject = service.settings.subject("report", "harbin.daoli")
    for start in range(0, count, 500):
        items = []
        for _ in range(start, min(start + 500, count)):
            # Grade IV: one duty room, one escalation timer (no parent alert at once).
            report = make_report(org="harbin.daoli", grade="IV")
            items.append(
                Inbound(
                    data=json.dumps(report).encode(), subject=subject, msg_id=report["report_id"]
                )
            )
        await ingest_batch(service.runtime.pool, service.settings, items, service.clock.now())


async def due_timer_ids(service: Service) -> list[int]:
    rows = await service.sql(
        """SELECT id FROM timers
           WHERE due_at <= $1 AND fired_at IS NULL AND cancelled_at IS NULL ORDER BY id""",
        service.clock.now(),
    )
    return [r["id"] for r in rows]


async def replica(settings: Settings, now_of: Service) -> int:
    """One scheduler replica with its own connections: fire until nothing is due."""
    pool = await db.create_pool(settings.database_url, size=2)
    fired = 0
    try:
        while claimed := await scheduler.fire_due_timers(pool, settings, now_of.clock.now()):
            fired += claimed
    finally:
        await pool.close()
    return fired


async def test_three_replicas_fire_every_due_timer_exactly_once(
    service_settings: Settings, service: Service
) -> None:
    # This test drives the schedulers itself: the service's own worker must stay out.
    await service.runtime.supervisor.shutdown()
    await open_incidents(service, INCIDENTS)
    await service.clock.advance(ACK_TIMEOUT + timedelta(seconds=1))
    due_now = await due_timer_ids(service)
    assert len(due_now) == INCIDENTS

    claimed = await asyncio.gather(*(replica(service_settings, service) for _ in range(3)))

    assert sum(claimed) == INCIDENTS, claimed
    assert all(c > 0 for c in claimed), f"a replica did no work: {claimed}"
    fired = await service.sql(
        "SELECT id FROM timers WHERE id = ANY($1::bigint[]) AND fired_at IS NOT NULL", due_now
    )
    assert len(fired) == INCIDENTS
    assert await due_timer_ids(service) == []
    [pages] = await service.sql(
        """SELECT count(*) AS n, count(DISTINCT incident_id) AS incidents
           FROM pages WHERE step = 1 AND role = 'leader_on_duty'"""
    )
    assert (pages["n"], pages["incidents"]) == (INCIDENTS, INCIDENTS)


CLAIMER = """
import asyncio, sys
import asyncpg
from dutywatch.escalation.scheduler import queries

async def main(url, now):
    conn = await asyncpg.connect(url)
    tx = conn.transaction()
    await tx.start()
    from datetime import datetime
    rows = await queries.many(conn, "claim_due_timers", datetime.fromisoformat(now), 200)
    print(len(rows), flush=True)
    await asyncio.sleep(3600)  # holds the claim until killed

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_a_replica_killed_mid_claim_loses_its_claim_and_the_timer_fires_once(
    service_settings: Settings, service: Service
) -> None:
    await service.runtime.supervisor.shutdown()
    await open_incidents(service, 3)
    await service.clock.advance(ACK_TIMEOUT + timedelta(seconds=1))
    now = service.clock.now()

    dying = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLAIMER,
        service_settings.database_url,
        now.isoformat(),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert dying.stdout is not None
    line = await asyncio.wait_for(dying.stdout.readline(), timeout=30)
    due_now = await due_timer_ids(service)
    assert int(line) == len(due_now) >= 3, "the dying replica claimed every due timer"

    # While it holds them, another replica finds nothing to fire (SKIP LOCKED), not doubles.
    pool = service.runtime.pool
    assert await scheduler.fire_due_timers(pool, service_settings, now) == 0

    dying.send_signal(signal.SIGKILL)
    await dying.wait()

    async def fire_after_disconnect() -> int:
        # PostgreSQL notices the dead connection and ends its transaction.
        for _ in range(100):
            if claimed := await scheduler.fire_due_timers(pool, service_settings, now):
                return claimed
            await asyncio.sleep(0.1)
        return 0

    assert await fire_after_disconnect() == len(due_now)
    assert await scheduler.fire_due_timers(pool, service_settings, now) == 0
    rows = await service.sql(
        "SELECT incident_id, count(*) AS n FROM pages WHERE step = 1 GROUP BY 1"
    )
    assert sorted(r["n"] for r in rows) == [1, 1, 1]


async def test_the_database_clock_decides_what_is_due(
    service_settings: Settings, service: Service
) -> None:
    """A replica whose own clock lags (skew) still fires what PostgreSQL's clock says is due."""
    await service.runtime.supervisor.shutdown()
    await open_incidents(service, 2)
    # The service's ManualClock started in 2026; PostgreSQL's clock is the real one. Whatever
    # the real date, the ManualClock (and a replica trusting it) would not fire these yet.
    pool = service.runtime.pool
    lagging_replica_now = service.clock.now()
    assert await scheduler.fire_due_timers(pool, service_settings, lagging_replica_now) == 0

    async with pool.acquire() as conn:
        db_now = await conn.fetchval("SELECT now()")
        await conn.execute(
            "UPDATE timers SET due_at = $1::timestamptz - interval '1 second' "
            "WHERE kind = 'escalation'",
            db_now,
        )
        # The reporting clocks and follow-up reminders were set from the ManualClock; against
        # the real time of day some would be due too (a reminder pages ahead of its due time).
        # Put them beyond today so that only the two escalations decide, whatever the hour.
        await conn.execute(
            "UPDATE timers SET due_at = $1::timestamptz + interval '2 days' "
            "WHERE kind <> 'escalation'",
            db_now,
        )
        due_by_database = await conn.fetchval(
            "SELECT count(*) FROM timers WHERE due_at <= now() "
            "AND fired_at IS NULL AND cancelled_at IS NULL"
        )
    assert due_by_database == 2  # both escalations, nothing else
    following_db = service_settings.with_(timers_follow_database_clock=True)
    if db_now > lagging_replica_now:
        assert await scheduler.fire_due_timers(pool, service_settings, lagging_replica_now) == 0
    assert (
        await scheduler.fire_due_timers(pool, following_db, lagging_replica_now) == due_by_database
    )
    leader_pages = await service.sql("SELECT count(*) AS n FROM pages WHERE step = 1")
    assert leader_pages[0]["n"] == 2
