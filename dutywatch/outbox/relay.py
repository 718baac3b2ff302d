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
import nats.errors
import structlog
from nats.js import JetStreamContext

from dutywatch.clock import Clock
from dutywatch.outbox.store import queries

log = structlog.get_logger(__name__)

BATCH = 500
#: Seconds to wait for JetStream's acks of a batch. Acks come in milliseconds; a batch whose
#: acks never come (its NATS node lost, a stream leader elected) is published again after it,
#: so this is how late pages are after a node loss.
PUBLISH_TIMEOUT = 5.0
POLL_SECONDS = 1.0


async def publish_rows(
    js: JetStreamContext, rows: list[asyncpg.Record]
) -> list[BaseException | None]:
    """Publish rows without waiting for each other; the error of each row, or None.

    The publishes are bounded by one deadline for the whole batch, not nats-py's
    ``wait_stall`` per message: that wraps each publish in ``asyncio.wait_for``, a task and a
    turn of the event loop per message, and the client's flusher then wrote to the socket
    between publishes. Without it the batch goes out in one write. A stall (JetStream's
    limit of unacknowledged publishes reached) still ends after PUBLISH_TIMEOUT (in
    ``TimeoutError``, or nats-py's ``TooManyStalledMsgsError`` when the deadline cancels it
    inside a publish; ``run`` retries on both), and the rows stay pending.
    """
    async with asyncio.timeout(PUBLISH_TIMEOUT):
        acks = [
            await js.publish_async(
                row["subject"], bytes(row["payload"]), headers={"Nats-Msg-Id": str(row["id"])}
            )
            for row in rows
        ]
    # A timeout leaves the whole batch unmarked; it is published again later and the
    # duplicate window drops the copies that did get through.
    results = await asyncio.wait_for(
        asyncio.gather(*acks, return_exceptions=True), timeout=PUBLISH_TIMEOUT
    )
    return [r if isinstance(r, BaseException) else None for r in results]


async def relay_once(pool: asyncpg.Pool, js: JetStreamContext, now: datetime) -> int:
    """Publish up to BATCH pending messages; return how many."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await queries.many(conn, "claim_pending", BATCH)
        if not rows:
            return 0
        errors = await publish_rows(js, rows)
        published = [row["id"] for row, error in zip(rows, errors, strict=True) if error is None]
        failed = [(row, error) for row, error in zip(rows, errors, strict=True) if error]
        await queries.exec(conn, "mark_published", published, now)
    if failed:
        # A message no stream takes (say, a misconfigured subject prefix) stays pending and
        # is retried, without holding up the others behind it.
        log.error(
            "outbox_publish_failed",
            count=len(failed),
            first_id=failed[0][0]["id"],
            subject=failed[0][0]["subject"],
            error=repr(failed[0][1]),
        )
        if not published:
            raise failed[0][1]
    log.debug("outbox_published", count=len(published))
    return len(published)


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
        except (TimeoutError, asyncpg.PostgresConnectionError, OSError, nats.errors.Error) as exc:
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
