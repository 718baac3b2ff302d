"""Reading duty shifts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from dutywatch.rosters.rules import Shift
from dutywatch.sql import Conn, Queries

queries = Queries(__package__)


async def shifts_at(conn: Conn, org_paths: Sequence[str], at: datetime) -> list[Shift]:
    rows = await queries.many(conn, "shifts_at", list(org_paths), at)
    return [
        Shift(
            org_path=row["org_path"],
            role=row["role"],
            person_id=row["person_id"],
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
        )
        for row in rows
    ]
