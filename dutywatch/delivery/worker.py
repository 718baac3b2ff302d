"""Deliver one page over its person's contact methods, in priority order.

For each ``notification.v1`` read from NOTIFY: read the person's contact methods and the
page's receipts so far, plan (``delivery.plan``), make the try it says, record the receipt
(``delivery.receipts.record``: once per receipt id, a ``page_delivered`` / ``page_failed``
entry on the timeline), and plan again. A method that failed every try gets a dead letter and
the next method is tried at once; a method that failed but has tries left is retried after
its backoff by JetStream itself (``nak(delay)``): the message stays unacknowledged in the
stream until the page is delivered or every method gave up, so a crash anywhere loses
nothing — the redelivered message is planned again from the receipts.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import structlog

from dutywatch import errors
from dutywatch.clock import Clock
from dutywatch.config import Settings
from dutywatch.contracts import NotificationV1
from dutywatch.delivery import receipts
from dutywatch.delivery.channels import Channels
from dutywatch.delivery.plan import (
    GaveUp,
    Method,
    Plan,
    Tried,
    backoff,
    plan,
    receipt_id,
    tries,
)
from dutywatch.orgs.kinds import ContactKind
from dutywatch.timeline import Source

log = structlog.get_logger(__name__)
queries = receipts.queries

#: The actor of receipts the worker records.
WORKER_ACTOR = "dutywatch:delivery"
_notification_decoder = msgspec.json.Decoder(NotificationV1)


class Verdict(enum.StrEnum):
    DONE = "done"  # delivered, undeliverable, or not a page: acknowledge
    RETRY = "retry"  # a method has tries left: redeliver after ``delay``
    DROP = "drop"  # not a notification we can read: terminate (logged)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    verdict: Verdict
    delay: timedelta | None = None


class _Schema(msgspec.Struct):
    schema: str | None = None


async def deliver(
    pool: asyncpg.Pool,
    channels: Channels,
    settings: Settings,
    clock: Clock,
    data: bytes,
    *,
    keep_alive: Callable[[], Awaitable[None]] | None = None,
    prefetched: Mapping[int, State] | None = None,
) -> Outcome:
    """Carry a notification's delivery as far as it goes now; what to do with the message.

    ``keep_alive`` is awaited before each try so a slow channel does not let the message's
    ack wait run out. ``prefetched``: the stored states of the batch this message came in
    (:func:`states`), read once for all; a page missing from it has no row.
    """
    page = _page(data)
    if isinstance(page, Outcome):
        return page
    bound = log.bind(incident_id=page.incident_id, page_id=page.page_id, person_id=page.person_id)
    while True:
        # The batch's read serves the first plan; after a try, the state is read again.
        state = await _state(pool, settings, page, prefetched)
        prefetched = None
        if state is None:
            bound.error("notification_without_page")
            return Outcome(verdict=Verdict.DROP)
        incident_id, current = state
        for gave_up in current.gave_up:
            await _dead_letter(pool, page, incident_id, gave_up, data, clock.now())
        attempt = current.next
        if attempt is None:
            if current.undeliverable:
                bound.error("page_undeliverable")
            elif not current.delivered:
                # No contact method the worker delivers over: the NATS subject and the
                # console carry the page.
                bound.info("page_without_channels")
            return Outcome(verdict=Verdict.DONE)
        if keep_alive is not None:
            await keep_alive()
        kind = attempt.method.kind
        rid = receipt_id(page.page_id, kind, attempt.number)
        result = await channels.send(kind, attempt.method.address, page, data, rid)
        receipt = receipts.Receipt(
            receipt_id=rid,
            page_id=page.page_id,
            channel=kind,
            ok=result.ok,
            attempt=attempt.number,
            detail=result.detail[:500] if result.detail else None,
        )
        await receipts.record(
            pool, [receipt], actor=WORKER_ACTOR, source=Source.SYSTEM, now=clock.now()
        )
        if result.ok:
            return Outcome(verdict=Verdict.DONE)
        if result.permanent:
            # No use trying this method again: give it up now and go on with the next.
            await _dead_letter(
                pool,
                page,
                incident_id,
                GaveUp(
                    method=attempt.method,
                    first_attempt=attempt.number - attempt.failed,
                    last_attempt=attempt.number,
                    reason=result.detail,
                ),
                data,
                clock.now(),
            )
            continue
        if attempt.failed + 1 < tries(attempt.method.kind, settings.delivery_attempts):
            # Tries left: JetStream redelivers the message after the backoff.
            return Outcome(
                verdict=Verdict.RETRY, delay=backoff(attempt.failed + 1, settings.delivery_backoff)
            )


def page_id_of(data: bytes) -> int | None:
    """The page id a message carries, if it is a readable page (for :func:`states`)."""
    page = _page(data, quiet=True)
    return None if isinstance(page, Outcome) else page.page_id


def _page(data: bytes, *, quiet: bool = False) -> NotificationV1 | Outcome:
    """The page a message carries, or what to do with a message that is not one."""
    try:
        schema = msgspec.json.decode(data, type=_Schema).schema
    except msgspec.MsgspecError:
        schema = None
    if schema == "dutywatch.alarm.v1":
        # Alarms are not pages: no page row to hang receipts on. The person's NATS subject
        # carries them (and the console will show them); channels do not send them.
        return Outcome(verdict=Verdict.DONE)
    try:
        return _notification_decoder.decode(data)
    except msgspec.MsgspecError:
        if not quiet:
            log.exception("notification_undecodable", schema=schema)
        return Outcome(verdict=Verdict.DROP)


class _MethodRow(msgspec.Struct):
    id: int
    kind: ContactKind
    address: str
    priority: int


class _ReceiptRow(msgspec.Struct):
    channel: ContactKind
    attempt: int
    ok: bool
    detail: str | None


class _DeadRow(msgspec.Struct):
    contact_id: int
    last_attempt: int


#: A page's stored delivery state: (incident id, plan).
State = tuple[int, Plan]


async def states(
    pool: asyncpg.Pool, settings: Settings, page_ids: Sequence[int]
) -> dict[int, State]:
    """The stored state of each page that exists, by page id, in one round trip."""
    async with pool.acquire() as conn:
        rows = await queries.many(conn, "delivery_states", list(page_ids))
    return {row["page_id"]: _plan_of(row, settings) for row in rows}


async def _state(
    pool: asyncpg.Pool,
    settings: Settings,
    page: NotificationV1,
    prefetched: Mapping[int, State] | None = None,
) -> State | None:
    """(incident id, plan) of a page from its stored state, or None if there is no page."""
    known = prefetched if prefetched is not None else await states(pool, settings, [page.page_id])
    return known.get(page.page_id)


def _plan_of(row: asyncpg.Record, settings: Settings) -> State:
    methods = [
        Method(id=m.id, kind=m.kind, address=m.address, priority=m.priority)
        for m in msgspec.json.decode(row["methods"], type=list[_MethodRow])
    ]
    tried = [
        Tried(channel=r.channel, attempt=r.attempt, ok=r.ok, detail=r.detail)
        for r in msgspec.json.decode(row["receipts"], type=list[_ReceiptRow])
    ]
    dead = {
        d.contact_id: d.last_attempt for d in msgspec.json.decode(row["dead"], type=list[_DeadRow])
    }
    incident_id: int = row["incident_id"]
    return incident_id, plan(methods, tried, attempts=settings.delivery_attempts, dead=dead)


async def _dead_letter(
    pool: asyncpg.Pool,
    page: NotificationV1,
    incident_id: int,
    gave_up: GaveUp,
    data: bytes,
    now: datetime,
) -> None:
    log.warning(
        "delivery_dead_letter",
        incident_id=incident_id,
        page_id=page.page_id,
        person_id=page.person_id,
        channel=str(gave_up.method.kind),
        contact_id=gave_up.method.id,
        attempts=gave_up.last_attempt - gave_up.first_attempt + 1,
        reason=gave_up.reason,
    )
    async with pool.acquire() as conn:
        await queries.exec(
            conn,
            "insert_dead_letter",
            page.page_id,
            gave_up.method.id,
            incident_id,
            page.person_id,
            str(gave_up.method.kind),
            gave_up.first_attempt,
            gave_up.last_attempt,
            gave_up.reason,
            data.decode("utf-8"),
            now,
        )


async def dead_letters(
    pool: asyncpg.Pool, *, since: datetime | None, incident_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Dead letters, newest first, for ``GET /api/v1/dead-letters`` and the CLI."""
    if not 1 <= limit <= 1000:
        raise errors.SchemaViolation("limit must be from 1 to 1000", field="limit")
    async with pool.acquire() as conn:
        rows = await queries.many(conn, "list_dead_letters", since, incident_id, limit)
    return [
        {
            "page_id": r["page_id"],
            "contact_id": r["contact_id"],
            "incident_id": r["incident_id"],
            "person_id": r["person_id"],
            "channel": r["channel"],
            "first_attempt": r["first_attempt"],
            "last_attempt": r["last_attempt"],
            "reason": r["reason"],
            "notification": msgspec.json.decode(r["notification"]),
            "at": r["at"].isoformat(),
        }
        for r in rows
    ]
