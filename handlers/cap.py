"""CAP 1.2 messages from the CAP stream (``dutywatch.cap.<org path>``) into the intake path.

Offices publish CAP XML with JetStream (the stream's ack is their receipt). This consumer
translates each message exactly as ``POST /api/v1/cap`` does and publishes its report into
REPORTS with the deterministic ``report_id``, then acks: a crash between the two redelivers
the message, whose report is then a duplicate. A Cancel also resolves its incident through
the commands once intake has taken its report in; until then the message is nak'ed with a
short delay (the command is keyed on the message, so a replay changes nothing). Invalid CAP
is recorded on ``dutywatch.rejected`` naming the element and terminated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from dutywatch import bus, errors
from dutywatch.clock import Clock
from dutywatch.config import Settings
from dutywatch.db import unreachable, with_retries
from dutywatch.inbound import intake
from dutywatch.outbox.store import record_rejection
from dutywatch.timeline import Source

log = structlog.get_logger(__name__)

#: Seconds before a Cancel whose report is not taken in yet is tried again.
CANCEL_RETRY_DELAY = 0.5
#: Seconds before a message that failed for another reason (bus, database) is redelivered.
REDELIVERY_DELAY = 5.0
BATCH = 20


def org_of_subject(settings: Settings, subject: str) -> str | None:
    prefix = settings.subject("cap") + "."
    return subject[len(prefix) :] if subject.startswith(prefix) else None


async def consume(
    js: JetStreamContext,
    pool: asyncpg.Pool,
    settings: Settings,
    clock: Clock,
    stop: asyncio.Event,
    after_commit: Callable[[], None],
) -> None:
    """Pull CAP messages from the durable ``cap-intake`` consumer until ``stop``."""
    sub = await js.pull_subscribe_bind(durable=bus.CAP_CONSUMER, stream=settings.stream("CAP"))
    try:
        while not stop.is_set():
            msgs = await bus.fetch_waiting(sub, BATCH, what="cap")
            if not msgs:
                continue
            for index, msg in enumerate(msgs):
                try:
                    await handle(msg, js, pool, settings, clock)
                except Exception as exc:
                    if not unreachable(exc):
                        raise
                    # Not the messages' fault: give them back for soon, and let the supervisor
                    # start this worker again with backoff instead of failing each in turn.
                    for held in msgs[index:]:
                        await held.nak(delay=bus.UNREACHABLE_REDELIVERY_DELAY)
                    raise
            after_commit()
    finally:
        await sub.unsubscribe()


async def handle(
    msg: Msg, js: JetStreamContext, pool: asyncpg.Pool, settings: Settings, clock: Clock
) -> None:
    msg_id = (msg.headers or {}).get("Nats-Msg-Id")
    org = org_of_subject(settings, msg.subject) or ""
    try:
        taken = await intake.submit_cap(
            pool, js, settings, msg.data, org=org, source="nats", now=clock.now()
        )
        if taken.cancels:
            await intake.cancel_cap(
                pool,
                settings,
                taken,
                actor=f"office:{org}",
                now=clock.now(),
                wait=0.0,
                source=Source.NATS,
            )
    except errors.RejectedInput as exc:
        await _reject(pool, settings, exc, msg, msg_id, clock)
        await msg.term()
        return
    except intake.NotTakenInYet:
        await msg.nak(delay=CANCEL_RETRY_DELAY)
        return
    except Exception as exc:
        if unreachable(exc):
            raise  # the whole batch waits for the database (consume)
        # Kept, not dropped: redelivered after the delay, and the log says why.
        log.exception("cap_intake_failed", subject=msg.subject, msg_id=msg_id)
        await msg.nak(delay=REDELIVERY_DELAY)
        return
    log.info(
        "cap_taken_in",
        org=org,
        report_id=str(taken.report.report_id),
        msg_type=taken.message.msg_type,
        identifier=taken.message.identifier,
    )
    await msg.ack()


async def _reject(
    pool: asyncpg.Pool,
    settings: Settings,
    exc: errors.RejectedInput,
    msg: Msg,
    msg_id: str | None,
    clock: Clock,
) -> None:
    async def transaction() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await record_rejection(
                conn,
                settings,
                exc,
                raw=msg.data,
                source="nats",
                subject=msg.subject,
                msg_id=msg_id,
                now=clock.now(),
            )

    await with_retries(transaction, what="record a CAP rejection")
    log.info("cap_rejected", subject=msg.subject, reason=exc.code, field=exc.fields.get("field"))
