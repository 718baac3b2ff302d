"""Named SQL queries kept in ``queries.sql`` files beside the code that runs them.

Each query starts with a header ``-- name: claim_due_timers :many``; the suffix says the
result shape (``:one`` a row or None, ``:many`` a list, ``:val`` one value, ``:exec``
nothing). Files are read once, at import.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, TypeAlias

import asyncpg
import asyncpg.pool

#: A connection, or a pooled one; queries run on either.
Conn: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"

Shape = Literal["one", "many", "val", "exec"]
_HEADER = re.compile(r"^--\s*name:\s*(\w+)\s*:(one|many|val|exec)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Query:
    name: str
    shape: Shape
    sql: str


class Queries:
    """The queries of one ``queries.sql`` file, as attributes and callables."""

    def __init__(self, package: str, filename: str = "queries.sql") -> None:
        text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
        self._queries: dict[str, Query] = {}
        headers = list(_HEADER.finditer(text))
        if not headers:
            raise ValueError(f"{package}/{filename} holds no `-- name:` headers")
        for header, following in zip(headers, [*headers[1:], None], strict=True):
            end = following.start() if following else len(text)
            body = text[header.end() : end].strip()
            name, shape = header.group(1), header.group(2)
            if name in self._queries:
                raise ValueError(f"{package}/{filename}: query {name} defined twice")
            self._queries[name] = Query(name, shape, body)  # type: ignore[arg-type]

    def __getitem__(self, name: str) -> Query:
        return self._queries[name]

    def names(self) -> list[str]:
        return list(self._queries)

    async def one(self, conn: Conn, name: str, *args: Any) -> asyncpg.Record | None:
        query = self._checked(name, "one")
        return await conn.fetchrow(query.sql, *args)

    async def many(self, conn: Conn, name: str, *args: Any) -> list[asyncpg.Record]:
        query = self._checked(name, "many")
        return list(await conn.fetch(query.sql, *args))

    async def val(self, conn: Conn, name: str, *args: Any) -> Any:
        query = self._checked(name, "val")
        return await conn.fetchval(query.sql, *args)

    async def exec(self, conn: Conn, name: str, *args: Any) -> str:
        query = self._checked(name, "exec")
        return await conn.execute(query.sql, *args)

    async def exec_many(self, conn: Conn, name: str, rows: list[tuple[Any, ...]]) -> None:
        query = self._checked(name, "exec")
        if rows:
            await conn.executemany(query.sql, rows)

    async def exec_columns(self, conn: Conn, name: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """Run an ``:exec`` query once for all ``rows``: its parameters are the rows' columns,
        each as an array (``unnest($1::bigint[], $2::text[], ...)`` in the query).

        One statement instead of one execution per row (``exec_many``): PostgreSQL plans and
        runs the insert once, and its result travels once.
        """
        query = self._checked(name, "exec")
        if rows:
            await conn.execute(query.sql, *(list(column) for column in zip(*rows, strict=True)))

    def _checked(self, name: str, shape: Shape) -> Query:
        query = self._queries[name]
        if query.shape != shape:
            raise TypeError(f"query {name} returns :{query.shape}, called as :{shape}")
        return query
