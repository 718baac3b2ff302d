"""Reading and writing the organisation tree and its people."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dutywatch.sql import Conn, Queries

queries = Queries(__package__)


async def known_orgs(conn: Conn, paths: Iterable[str]) -> set[str]:
    wanted = sorted(set(paths))
    if not wanted:
        return set()
    return {row["path"] for row in await queries.many(conn, "known_orgs", wanted)}


async def list_orgs(conn: Conn) -> list[dict[str, Any]]:
    return [dict(row) for row in await queries.many(conn, "list_orgs")]
