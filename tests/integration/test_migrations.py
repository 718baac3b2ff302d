"""Migrations: idempotent under the advisory lock; enums mirrored between code and SQL."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from dutywatch import migrations
from dutywatch.contracts import RosterChange
from dutywatch.incidents.rules import State
from dutywatch.orgs.store import ContactKind
from dutywatch.rosters.audit import AuditEntity
from dutywatch.rosters.model import DayKind, Role
from dutywatch.timeline import EntryKind
from tests.conftest import url_with_database


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


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("roster_role", [r.value for r in Role]),
        ("day_kind", [d.value for d in DayKind]),
        ("contact_kind", [k.value for k in ContactKind]),
        ("audit_entity", [e.value for e in AuditEntity]),
        ("audit_action", [c.value for c in RosterChange]),
    ],
)
async def test_roster_enums_are_the_same_in_python_and_postgresql(
    database_url: str, name: str, values: list[str]
) -> None:
    assert await _enum(database_url, name) == values


async def test_shifts_of_a_database_made_before_rosters_become_overrides(
    postgres_url: str,
) -> None:
    """0002 carries duty_shifts into rosters (overlapping shifts into separate slots)."""
    name = f"m_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    conn = await asyncpg.connect(url_with_database(postgres_url, name))
    try:
        (spine_version, spine_sql), *_ = migrations.available()
        await conn.execute(spine_sql)
        await conn.execute(
            "CREATE TABLE schema_migrations (version text PRIMARY KEY, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        await conn.execute(
            "INSERT INTO schema_migrations (version, checksum) VALUES ($1, 'x')", spine_version
        )
        await conn.execute(
            """
            INSERT INTO orgs (path, name, parent_path) VALUES ('c', 'City', NULL),
                ('c.d', 'District', 'c');
            INSERT INTO people (id, name, org_path) VALUES ('a', 'A', 'c.d'), ('b', 'B', 'c.d'),
                ('l', 'L', 'c.d');
            INSERT INTO duty_shifts (org_path, role, person_id, starts_at, ends_at) VALUES
                ('c.d', 'duty_officer', 'a', '2026-01-01T00:00Z', '2026-01-02T00:00Z'),
                ('c.d', 'duty_officer', 'b', '2026-01-01T12:00Z', '2026-01-02T12:00Z'),
                ('c.d', 'duty_officer', 'a', '2026-01-02T00:00Z', '2026-01-03T00:00Z'),
                ('c.d', 'leader_on_duty', 'l', '2026-01-01T00:00Z', '2026-01-03T00:00Z');
            """
        )
        await migrations.migrate(conn)
        overrides = await conn.fetch(
            "SELECT role::text, slot, person_id, starts_at FROM roster_overrides"
            " ORDER BY role, starts_at"
        )
        assert [(o["role"], o["slot"], o["person_id"]) for o in overrides] == [
            ("duty_officer", 0, "a"),
            ("duty_officer", 1, "b"),
            ("duty_officer", 0, "a"),
            ("leader_on_duty", 0, "l"),
        ]
        slots = await conn.fetch("SELECT role::text, people FROM roster_slots ORDER BY role")
        assert [(s["role"], s["people"]) for s in slots] == [
            ("duty_officer", 2),
            ("leader_on_duty", 1),
        ]
        assert await conn.fetchval("SELECT to_regclass('duty_shifts')") is None
        assert await conn.fetchval("SELECT count(*) FROM roster_audit") == 1
    finally:
        await conn.close()
        admin = await asyncpg.connect(postgres_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_every_named_query_is_valid_sql(database_url: str) -> None:
    """PREPARE each query against the migrated schema: a typo fails here, not in production."""
    from dutywatch import auth, writes
    from dutywatch.deadlines import store as deadlines
    from dutywatch.escalation import engine
    from dutywatch.incidents import store as incidents
    from dutywatch.orgs import store as orgs
    from dutywatch.outbox import store as outbox
    from dutywatch.rosters import store as rosters
    from dutywatch.timeline import store as timeline

    conn = await asyncpg.connect(database_url)
    try:
        for module in (auth, deadlines, engine, incidents, orgs, outbox, rosters, timeline, writes):
            for name in module.queries.names():
                await conn.prepare(module.queries[name].sql)
    finally:
        await conn.close()


async def test_0004_gives_escalating_spine_incidents_their_origin_alert(postgres_url: str) -> None:
    """An incident the spine was escalating keeps escalating under the default policy."""
    from tests.conftest import _admin, _drop_database, url_with_database

    name = f"m_{uuid.uuid4().hex}"
    admin = await _admin(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        conn = await asyncpg.connect(url_with_database(postgres_url, name))
        try:
            before = dict(migrations.available())
            for version in ("0001_spine", "0003_handover"):
                await conn.execute(before[version])
            await conn.execute(
                """
                INSERT INTO orgs (path, name, parent_path) VALUES
                    ('harbin', 'h', NULL), ('harbin.daoli', 'd', 'harbin');
                INSERT INTO incidents (id, org_path, incident_ref, state, grade, category, title,
                    status, occurred_at, opened_at, last_report_at, policy_version,
                    policy_started_at, policy_fired)
                VALUES
                    (1, 'harbin.daoli', 'a', 'open', 'III', 'accident', 't', 'actual', now(),
                     now(), now(), 'spine-1:III:600s', '2026-11-25T02:00:00Z', 1),
                    (2, 'harbin.daoli', 'b', 'resolved', 'IV', 'accident', 't', 'actual', now(),
                     now(), now(), 'spine-1:IV:900s', '2026-11-25T02:00:00Z', 1);
                INSERT INTO timers (incident_id, kind, step, due_at, created_at)
                VALUES (1, 'escalation', 1, '2026-11-25T02:10:00Z', now()),
                       (2, 'escalation', 1, '2026-11-25T02:15:00Z', now());
                UPDATE timers SET cancelled_at = now() WHERE incident_id = 2;
                """
            )
            await conn.execute(before["0004_escalation"])
            alerts = await conn.fetch(
                "SELECT incident_id, org_path, policy_ref, cursor_step FROM alerts"
            )
            assert [tuple(a) for a in alerts] == [(1, "harbin.daoli", "default-III-600s@v1", 1)]
            timers = await conn.fetch("SELECT incident_id, alert_id FROM timers ORDER BY id")
            assert [tuple(t) for t in timers] == [(1, 1), (2, None)]
        finally:
            await conn.close()
    finally:
        await _drop_database(postgres_url, name)


def test_the_backfilled_policy_ref_is_a_default_policy_ref() -> None:
    from datetime import timedelta

    from dutywatch.contracts import Grade
    from dutywatch.escalation.policy import policy_for_ref

    policy = policy_for_ref("default-III-600s@v1", [], "harbin.daoli")
    assert policy.steps[1].delay == timedelta(minutes=10)
    assert policy.grades == {Grade.III}
