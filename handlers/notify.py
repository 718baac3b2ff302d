"""Delivery of pages from the NOTIFY stream over people's contact methods.

Thin: pull from the durable ``delivery`` consumer (shared by every replica), hand each
message to ``dutywatch.delivery.worker.deliver`` and settle it as it says: ack when done,
``nak(delay)`` for a retry after the backoff, ``term`` for what can never be read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import asyncpg
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from dutywatch import bus
from dutywatch.clock import Clock
from dutywatch.config import Settings
from dutywatch.db import unreachable
from dutywatch.delivery.channels import Channels
from dutywatch.delivery.worker import State, Verdict, deliver, page_id_of, states

log = structlog.get_logger(__name__)

#: Pages handled at once by one replica (each may wait on a slow webhook or SMTP server).
BATCH = 32
#: Seconds before a page whose handling failed (database or bus trouble) is tried again.
REDELIVERY_DELAY = 5.0


async def consume(
    js: JetStreamContext, pool: asyncpg.Pool, settings: Settings, clock: Clock, stop: asyncio.Event
) -> None:
    """Deliver pages until ``stop``; each message is settled after its receipts are recorded."""
    sub = await js.pull_subscribe_bind(
        durable=bus.DELIVERY_CONSUMER, stream=settings.stream("NOTIFY")
    )
    channels = Channels(settings, clock)
    try:
        while not stop.is_set():
            msgs = await bus.fetch_waiting(sub, BATCH, what="delivery")
            if not msgs:
                continue
            try:
                known = await _prefetch(msgs, pool, settings)
            except Exception as exc:
                if unreachable(exc):
                    for msg in msgs:
                        await msg.nak(delay=bus.UNREACHABLE_REDELIVERY_DELAY)
                raise
            results = await asyncio.gather(
                *(_handle(msg, pool, channels, settings, clock, known) for msg in msgs),
                return_exceptions=True,
            )
            # Only an unreachable database gets out of _handle: each page was given back, and
            # the supervisor starts this worker again with backoff instead of churning.
            for result in results:
                if isinstance(result, BaseException):
                    raise result
    finally:
        await channels.close()
        await sub.unsubscribe()


async def _prefetch(
    msgs: list[Msg], pool: asyncpg.Pool, settings: Settings
) -> Mapping[int, State] | None:
    """The batch's pages' stored states in one round trip instead of one per page; None
    when that read fails (each page then reads its own, and is handed back if that fails)."""
    page_ids = [i for i in map(page_id_of, (m.data for m in msgs)) if i is not None]
    if not page_ids:
        return None
    try:
        return await states(pool, settings, page_ids)
    except Exception as exc:
        log.warning("delivery_prefetch_failed", error=repr(exc), pages=len(page_ids))
        return None


async def _handle(
    msg: Msg,
    pool: asyncpg.Pool,
    channels: Channels,
    settings: Settings,
    clock: Clock,
    known: Mapping[int, State] | None = None,
) -> None:
    try:
        outcome = await deliver(
            pool, channels, settings, clock, msg.data, keep_alive=msg.in_progress, prefetched=known
        )
    except Exception as exc:
        if unreachable(exc):
            await msg.nak(delay=bus.UNREACHABLE_REDELIVERY_DELAY)
            raise
        # Kept, not dropped: redelivered after the delay and planned again from its receipts.
        log.exception("delivery_failed", subject=msg.subject)
        await msg.nak(delay=REDELIVERY_DELAY)
        return
    if outcome.verdict is Verdict.RETRY and outcome.delay is not None:
        await msg.nak(delay=outcome.delay.total_seconds())
    elif outcome.verdict is Verdict.DROP:
        await msg.term()
    else:
        await msg.ack()
