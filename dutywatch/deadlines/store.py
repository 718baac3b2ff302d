"""Reading and writing reporting clocks and zero reports (the caller owns the transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dutywatch.contracts import Grade
from dutywatch.deadlines.rules import Clock
from dutywatch.deadlines.table import ReportKind
from dutywatch.sql import Conn, Queries

queries = Queries(__package__)


@dataclass(frozen=True, kw_only=True)
class StoredClock:
    """A clock and its row id."""

    id: int
    clock: Clock


def clock_from_row(row: Any) -> StoredClock:
    return StoredClock(
        id=row["id"],
        clock=Clock(
            target=row["target_org"],
            kind=ReportKind(row["kind"]),
            grade=Grade(row["grade"]),
            opened_at=row["opened_at"],
            due_at=row["due_at"],
            rules=tuple(row["rules"]),
            stopped_at=row["stopped_at"],
            missed_at=row["missed_at"],
        ),
    )


async def clocks_of(conn: Conn, incident_id: int) -> list[StoredClock]:
    return [clock_from_row(row) for row in await queries.many(conn, "clocks_of", incident_id)]


def clock_row(incident_id: int, stored: StoredClock) -> tuple[Any, ...]:
    c = stored.clock
    late_by = None
    if c.stopped_at is not None and c.stopped_at > c.due_at:
        late_by = c.stopped_at - c.due_at
    elif c.missed_at is not None:
        late_by = c.missed_at - c.due_at
    return (
        stored.id,
        incident_id,
        c.target,
        str(c.kind),
        str(c.grade),
        list(c.rules),
        c.opened_at,
        c.due_at,
        c.stopped_at,
        c.missed_at,
        late_by,
    )


def clock_update_row(incident_id: int, stored: StoredClock) -> tuple[Any, ...]:
    row = clock_row(incident_id, stored)
    return (row[0], *row[4:])
