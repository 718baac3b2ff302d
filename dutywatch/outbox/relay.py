"""The outbox relay: publish committed messages to JetStream, then mark them published.

Each message's Nats-Msg-Id is its outbox row id. If the relay dies after publishing but
before marking, the rows are published again on restart and JetStream's duplicate window
drops the copies, so a subscriber sees each page once.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

import asyncpg
import structlog
from nats.js import JetStreamContext

from dutywatch.clock import Clock
from dutywatch.outbox.store import queries

log = structlog.get_logger(__name__)

BATCH = 500
POLL_SECONDS = 1.0


async def publish_rows(js: JetStreamContext, rows: list[asyncpg.Record]) -> None:
    """Publish rows concurrently and wait for every JetStream acknowledgement."""
    await asyncio.gather(
        *(
            js.publish(
                row["subject"],
                bytes(row["payload"]),
                headers={"Nats-Msg-Id": str(row["id"])},
                timeout=10,
            )
            for row in rows
        )
    )


async def relay_once(pool: asyncpg.Pool, js: JetStreamContext, now: datetime) -> int:
    """Publish up to BATCH pending messages; return how many."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await queries.many(conn, "claim_pending", BATCH)
        if not rows:
            return 0
        await publish_rows(js, rows)
        await queries.exec(conn, "mark_published", [row["id"] for row in rows], now)
    log.debug("outbox_published", count=len(rows), last_id=rows[-1]["id"])
    return len(rows)


async def run(
    pool: asyncpg.Pool,
    js: JetStreamContext,
    clock: Clock,
    wake: asyncio.Event,
    stop: asyncio.Event,
) -> None:
    backoff = 0.1
    while not stop.is_set():
        wake.clear()
        try:
            count = await relay_once(pool, js, clock.now())
        except (TimeoutError, asyncpg.PostgresConnectionError, OSError) as exc:
            # Nothing is lost: unpublished rows stay pending and are retried.
            log.warning("outbox_relay_retry", error=repr(exc), backoff_s=backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
            continue
        backoff = 0.1
        if count == BATCH:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=POLL_SECONDS)
