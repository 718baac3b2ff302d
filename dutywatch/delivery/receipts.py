"""Delivery receipts: each attempt a channel made to deliver a page, on the timeline.

A channel (the console, a webhook, e-mail, an SMS gateway) reports each attempt it made for a
page: delivered, or failed and why. Receipts are recorded idempotently by ``receipt_id`` in
``page_receipts`` and each one is an entry on its incident's timeline (``page_delivered`` /
``page_failed``), so a review shows who was reached, how, and which pages never arrived.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec
import structlog
from msgspec import Meta

from dutywatch import errors, metrics
from dutywatch.db import with_retries
from dutywatch.incidents import store as incidents
from dutywatch.incidents.rules import Fact
from dutywatch.orgs.kinds import ContactKind
from dutywatch.sql import Queries
from dutywatch.timeline import EntryKind, Source
from dutywatch.timeline.store import append
from dutywatch.writes import Writes, flush

log = structlog.get_logger(__name__)
queries = Queries(__package__)


class Receipt(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One delivery attempt of one page, as the channel reports it."""

    #: Chosen by the channel; a receipt sent twice is recorded once.
    receipt_id: UUID
    page_id: Annotated[int, Meta(ge=1)]
    channel: ContactKind
    ok: bool
    attempt: Annotated[int, Meta(ge=1, le=1000)] = 1
    #: Why it failed (or the gateway's message id when it succeeded); never an address.
    detail: Annotated[str, Meta(max_length=500)] | None = None


def fact(receipt: Receipt, *, person_id: str) -> Fact:
    """The timeline entry of one receipt."""
    body: dict[str, Any] = {
        "page_id": receipt.page_id,
        "person_id": person_id,
        "channel": str(receipt.channel),
        "attempt": receipt.attempt,
    }
    if receipt.detail:
        body["reason" if not receipt.ok else "detail"] = receipt.detail
    kind = EntryKind.PAGE_DELIVERED if receipt.ok else EntryKind.PAGE_FAILED
    return Fact(kind=kind, body=body)


async def record(
    pool: asyncpg.Pool,
    receipts: Sequence[Receipt],
    *,
    actor: str,
    source: Source,
    now: datetime,
) -> list[dict[str, Any]]:
    """Record ``receipts`` in one transaction; one result per receipt, in order.

    A receipt already recorded (same ``receipt_id``) changes nothing (``recorded`` false).
    A receipt for a page that does not exist refuses the whole call.
    """

    async def transaction() -> list[dict[str, Any]]:
        async with pool.acquire() as conn, conn.transaction():
            ids = [r.receipt_id for r in receipts]
            known = {row["receipt_id"] for row in await queries.many(conn, "known_receipts", ids)}
            pages = {
                row["id"]: row
                for row in await queries.many(
                    conn, "pages_by_id", sorted({r.page_id for r in receipts})
                )
            }
            missing = sorted({r.page_id for r in receipts} - set(pages))
            if missing:
                raise errors.NotFound(
                    f"no page with id {', '.join(map(str, missing))}; receipts name a page "
                    "from the notification's `page_id`",
                    page_ids=missing,
                )
            fresh: dict[UUID, Receipt] = {}
            for receipt in receipts:
                if receipt.receipt_id not in known:
                    fresh.setdefault(receipt.receipt_id, receipt)
            incident_ids = sorted({pages[r.page_id]["incident_id"] for r in fresh.values()})
            rows = await incidents.queries.many(conn, "lock_incidents", incident_ids)
            writes = Writes(now=now)
            for row in rows:
                incident = incidents.from_row(row)
                mine = [r for r in fresh.values() if pages[r.page_id]["incident_id"] == incident.id]
                facts = [fact(r, person_id=pages[r.page_id]["person_id"]) for r in mine]
                writes.save(append(writes, incident, facts, actor=actor, source=source))
            await queries.exec_many(
                conn,
                "insert_receipt",
                [
                    (
                        r.receipt_id,
                        r.page_id,
                        pages[r.page_id]["incident_id"],
                        str(r.channel),
                        r.attempt,
                        r.ok,
                        r.detail,
                        now,
                    )
                    for r in fresh.values()
                ],
            )
            await flush(conn, writes)
            for r in fresh.values():
                log.info(
                    "page_receipt",
                    incident_id=pages[r.page_id]["incident_id"],
                    page_id=r.page_id,
                    channel=str(r.channel),
                    ok=r.ok,
                    attempt=r.attempt,
                )
            return [
                {
                    "receipt_id": str(r.receipt_id),
                    "page_id": r.page_id,
                    "incident_id": pages[r.page_id]["incident_id"],
                    "recorded": r.receipt_id in fresh and fresh[r.receipt_id] is r,
                }
                for r in receipts
            ]

    results = await with_retries(transaction, what=f"record {len(receipts)} delivery receipts")
    for receipt, result in zip(receipts, results, strict=True):
        if result["recorded"]:  # counted once committed, not once per attempt
            metrics.PAGE_DELIVERIES.labels(
                channel=str(receipt.channel), result="delivered" if receipt.ok else "failed"
            ).inc()
    return results
