"""Commands on ``dutywatch.cmd.<verb>`` (request/reply), authenticated like HTTP."""

from __future__ import annotations

import asyncpg
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from dutywatch import auth, errors
from dutywatch.clock import Clock
from dutywatch.config import Settings
from dutywatch.contracts import CommandReplyV1, decode_ack, encode
from dutywatch.incidents import commands
from dutywatch.incidents.rules import Incident
from dutywatch.outbox.store import record_rejection
from dutywatch.timeline import Source

log = structlog.get_logger(__name__)

QUEUE_GROUP = "dutywatch-commands"


async def subscribe(
    nc: Client, pool: asyncpg.Pool, settings: Settings, clock: Clock
) -> Subscription:
    async def on_ack(msg: Msg) -> None:
        reply = await handle_ack(msg.data, msg.subject, pool, settings, clock)
        if msg.reply:
            await msg.respond(encode(reply))

    sub: Subscription = await nc.subscribe(settings.subject("cmd", "ack"), QUEUE_GROUP, cb=on_ack)
    return sub


async def handle_ack(
    data: bytes, subject: str, pool: asyncpg.Pool, settings: Settings, clock: Clock
) -> CommandReplyV1:
    now = clock.now()
    try:
        command = decode_ack(data)
    except errors.RejectedInput as exc:
        async with pool.acquire() as conn, conn.transaction():
            await record_rejection(
                conn, settings, exc, raw=data, source="nats", subject=subject, msg_id=None, now=now
            )
        return CommandReplyV1(command_id=None, ok=False, error=exc.code, message=exc.message)
    structlog.contextvars.bind_contextvars(incident_id=command.incident_id)
    try:
        async with pool.acquire() as conn:
            principal = await auth.authenticate(
                conn,
                command.token,
                admin_token=settings.admin_token,
                now=now,
                key=settings.token_key,
            )

        def authorize(incident: Incident) -> None:
            principal.require_any(
                {auth.Role.OFFICER, auth.Role.LEADER},
                [incident.org_path, incident.responsible_org],
                "acknowledge",
            )

        result = await commands.execute(
            pool,
            settings,
            commands.Verb.ACK,
            command.incident_id,
            actor=principal.actor,
            source=Source.NATS,
            note=command.note,
            now=now,
            command_id=command.command_id,
            authorize=authorize,
            duty_room=principal.duty_room,
        )
    except errors.DutywatchError as exc:
        log.warning(
            "command_refused",
            verb="ack",
            command_id=str(command.command_id),
            reason=exc.code,
            detail=exc.message,
        )
        return CommandReplyV1(
            command_id=command.command_id, ok=False, error=exc.code, message=exc.message
        )
    finally:
        structlog.contextvars.unbind_contextvars("incident_id")
    return CommandReplyV1(
        command_id=command.command_id,
        ok=True,
        incident_id=result["incident_id"],
        state=result["state"],
    )
