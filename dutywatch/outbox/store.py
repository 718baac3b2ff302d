"""Writing to the outbox inside the caller's transaction, and recording rejections."""

from __future__ import annotations

import base64
from datetime import datetime

import msgspec
import structlog

from dutywatch.config import Settings
from dutywatch.contracts import RejectionV1, encode
from dutywatch.errors import RejectedInput
from dutywatch.sql import Conn, Queries

queries = Queries(__package__)
log = structlog.get_logger(__name__)

#: The raw bytes carried on dutywatch.rejected are cut here (PostgreSQL keeps them all),
#: so a rejection of an oversized payload still fits in one NATS message.
REJECTED_RAW_LIMIT = 256 * 1024


async def enqueue(conn: Conn, subject: str, message: msgspec.Struct, now: datetime) -> None:
    await queries.exec(conn, "enqueue", subject, encode(message), now)


async def record_rejection(
    conn: Conn,
    settings: Settings,
    error: RejectedInput,
    *,
    raw: bytes,
    source: str,
    subject: str | None,
    msg_id: str | None,
    now: datetime,
) -> RejectionV1:
    """Keep the refused message and its reason, and queue it for ``dutywatch.rejected``."""
    field = error.fields.get("field")
    rejection_id = await queries.val(
        conn,
        "insert_rejection",
        now,
        source,
        subject,
        msg_id,
        error.code,
        error.message,
        field,
        raw,
    )
    carried = raw[:REJECTED_RAW_LIMIT]
    rejection = RejectionV1(
        rejection_id=rejection_id,
        received_at=now,
        source=source,
        subject=subject,
        msg_id=msg_id,
        reason=error.code,
        message=error.message,
        field=field,
        raw_base64=base64.b64encode(carried).decode("ascii"),
        raw_size=len(raw),
        raw_truncated=len(carried) < len(raw),
    )
    await enqueue(conn, settings.subject("rejected"), rejection, now)
    log.warning(
        "message_rejected",
        rejection_id=rejection_id,
        reason=error.code,
        field=field,
        subject=subject,
        msg_id=msg_id,
        detail=error.message,
    )
    return rejection
