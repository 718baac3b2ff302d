"""Migrations: idempotent under the advisory lock; enums mirrored between code and SQL."""

from __future__ import annotations

import asyncio

import asyncpg

from dutywatch import migrations
from dutywatch.incidents.rules import State
from dutywatch.timeline import EntryKind


async def test_migrating_again_applies_nothing_even_concurrently(database_url: str) -> None:
    results = await asyncio.gather(*(migrations.migrate_url(database_url) for _ in range(3)))
    assert results == [[], [], []]
    conn = await asyncpg.connect(database_url)
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
    finally:
        await conn.close()
    assert versions == [version for version, _ in migrations.available()]


async def _enum(database_url: str, name: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetchval(f"SELECT enum_range(NULL::{name})::text[]"))
    finally:
        await conn.close()


async def test_timeline_kinds_are_the_same_in_python_and_postgresql(database_url: str) -> None:
    assert await _enum(database_url, "timeline_kind") == [k.value for k in EntryKind]


async def test_incident_states_are_the_same_in_python_and_postgresql(database_url: str) -> None:
    assert await _enum(database_url, "incident_state") == [s.value for s in State]


async def test_every_named_query_is_valid_sql(database_url: str) -> None:
    """PREPARE each query against the migrated schema: a typo fails here, not in production."""
    from dutywatch import auth, writes
    from dutywatch.escalation import engine
    from dutywatch.incidents import store as incidents
    from dutywatch.orgs import store as orgs
    from dutywatch.outbox import store as outbox
    from dutywatch.rosters import store as rosters
    from dutywatch.timeline import store as timeline

    conn = await asyncpg.connect(database_url)
    try:
        for module in (auth, engine, incidents, orgs, outbox, rosters, timeline, writes):
            for name in module.queries.names():
                await conn.prepare(module.queries[name].sql)
    finally:
        await conn.close()
