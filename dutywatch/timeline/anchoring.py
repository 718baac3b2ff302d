"""Writing the daily anchors (a supervised worker and ``dutywatch anchor``) and reading them
back for ``dutywatch verify``. The rules are in :mod:`dutywatch.timeline.anchors`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import structlog

from dutywatch.clock import Clock
from dutywatch.db import with_retries
from dutywatch.sql import Conn, Queries
from dutywatch.timeline.anchors import (
    Anchor,
    AnchorProblem,
    Head,
    day_bounds,
    day_of,
    days_to_anchor,
    heads_from_json,
    heads_to_json,
    make_anchor,
    verify_anchors,
)

queries = Queries(__package__)
log = structlog.get_logger(__name__)


def _anchor(row: Any) -> Anchor:
    heads = row["heads"]
    return Anchor(
        day=row["day"],
        heads=heads_from_json(msgspec.json.decode(heads) if isinstance(heads, str) else heads),
        digest=bytes(row["digest"]),
        prev_hash=bytes(row["prev_hash"]),
        hash=bytes(row["hash"]),
    )


async def anchor_complete_days(pool: asyncpg.Pool, now: datetime, grace: timedelta) -> list[Anchor]:
    """Anchor every complete UTC day not anchored yet (one transaction); return the new ones."""

    async def transaction() -> list[Anchor]:
        async with pool.acquire() as conn, conn.transaction():
            await queries.exec(conn, "lock_anchoring")
            last_row = await queries.one(conn, "last_anchor")
            previous = _anchor(last_row) if last_row is not None else None
            first_at = await queries.val(conn, "first_entry_at")
            days = days_to_anchor(
                previous.day if previous else None,
                day_of(first_at) if first_at is not None else None,
                now,
                grace,
            )
            made: list[Anchor] = []
            for day in days:
                rows = await queries.many(conn, "heads_between", *day_bounds(day))
                heads = [Head(r["incident_id"], r["seq"], bytes(r["hash"])) for r in rows]
                previous = make_anchor(day, heads, previous)
                await queries.exec(
                    conn,
                    "insert_anchor",
                    day,
                    msgspec.json.encode(heads_to_json(previous.heads)).decode(),
                    previous.digest,
                    previous.prev_hash,
                    previous.hash,
                    now,
                )
                made.append(previous)
            return made

    made = await with_retries(transaction, what="timeline anchoring")
    for anchor in made:
        log.info(
            "timeline_anchored",
            day=anchor.day.isoformat(),
            incidents=len(anchor.heads),
            hash=anchor.hash.hex(),
        )
    return made


def next_anchor_time(now: datetime, grace: timedelta) -> datetime:
    """When the next day becomes complete: the end of the day now - grace is in, plus grace."""
    return day_bounds(day_of(now - grace))[1] + grace


async def run(
    pool: asyncpg.Pool,
    clock: Clock,
    grace: timedelta,
    wake: asyncio.Event,
    stop: asyncio.Event,
) -> None:
    """Anchor what is complete, then sleep until the next day is (or until woken)."""
    while not stop.is_set():
        wake.clear()
        now = clock.now()
        await anchor_complete_days(pool, now, grace)
        await clock.sleep_until(next_anchor_time(now, grace), wake)


@dataclass(frozen=True)
class AnchorStatus:
    problems: list[AnchorProblem]
    anchors: int
    latest: Anchor | None


async def verify_stored_anchors(conn: Conn) -> AnchorStatus:
    """Check the stored anchors against the entries the database holds now."""
    anchors = [_anchor(r) for r in await queries.many(conn, "anchors")]
    if not anchors:
        return AnchorStatus([], 0, None)
    start, end = day_bounds(anchors[0].day)[0], day_bounds(anchors[-1].day)[1]
    current: dict[date, dict[int, tuple[int, bytes]]] = {}
    for row in await queries.many(conn, "heads_by_day", start, end):
        current.setdefault(row["day"], {})[row["incident_id"]] = (row["seq"], bytes(row["hash"]))
    pairs = [(h.incident_id, h.seq) for a in anchors for h in a.heads]
    anchored_now = {
        (r["incident_id"], r["seq"]): bytes(r["hash"])
        for r in await queries.many(conn, "hashes_at", [p[0] for p in pairs], [p[1] for p in pairs])
    }
    present = {
        r["incident_id"]
        for r in await queries.many(conn, "incidents_with_entries", sorted({p[0] for p in pairs}))
    }
    first_at = await queries.val(conn, "first_entry_at")
    problems = verify_anchors(
        anchors,
        current=current,
        anchored_now=anchored_now,
        incidents_present=present,
        first_entry_day=day_of(first_at) if first_at is not None else None,
    )
    return AnchorStatus(problems, len(anchors), anchors[-1])
