"""The embedded PostgreSQL and nats-server, and the per-test isolation fixtures built on them."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
from pathlib import Path

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from dutywatch import embedded
from dutywatch.config import Settings
from dutywatch.embedded import EmbeddedNats, EmbeddedPostgres, EmbeddedServiceError, free_port


def gone(pid: int) -> bool:
    """True when neither the process nor anything in its process group is alive."""
    for kill in (os.kill, os.killpg):
        try:
            kill(pid, 0)
        except ProcessLookupError:
            continue
        return False
    return True


async def fetchval(dsn: str, sql: str) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


# ------------------------------------------------------------------------------- PostgreSQL


async def test_postgres_starts_in_fresh_dir_answers_and_stops(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", durable=False)
    announced = pg.dsn  # known before start, e.g. to hand to other processes
    dsn = await pg.start()

    assert dsn == announced == f"postgresql://postgres@127.0.0.1:{pg.port}/dutywatch"
    assert pg.admin_dsn.endswith(f":{pg.port}/postgres")
    assert await fetchval(dsn, "SELECT current_database()") == "dutywatch"
    assert await fetchval(dsn, "SELECT 40 + 2") == 42
    assert await pg.start() == dsn  # idempotent while running
    assert pg.socket_dir is not None
    assert len(str(pg.socket_dir / f".s.PGSQL.{pg.port}")) < 100
    assert (pg.socket_dir / f".s.PGSQL.{pg.port}").is_socket()
    socket_dir = pg.socket_dir
    pid = pg.pid
    assert pid is not None

    await pg.stop()
    assert gone(pid)
    assert pg.pid is None
    assert not socket_dir.exists()
    await pg.stop()  # idempotent
    with pytest.raises(ConnectionRefusedError):
        await asyncpg.connect(dsn, timeout=2)


async def test_postgres_restart_on_same_dir_keeps_data_and_port(tmp_path: Path) -> None:
    async with EmbeddedPostgres(tmp_path / "pg", durable=False) as first:
        dsn = first.dsn
        await execute(dsn, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives')")
    assert (tmp_path / "pg" / "port").read_text().strip() == str(first.port)

    async with EmbeddedPostgres(tmp_path / "pg", durable=False) as second:
        assert second.dsn == dsn
        assert await fetchval(dsn, "SELECT v FROM kept") == "survives"


async def test_postgres_explicit_port_wins_over_remembered(tmp_path: Path) -> None:
    async with EmbeddedPostgres(tmp_path / "pg", durable=False) as first:
        remembered = first.port
    port = free_port()
    assert port != remembered
    async with EmbeddedPostgres(tmp_path / "pg", port=port, durable=False) as second:
        assert second.dsn == f"postgresql://postgres@127.0.0.1:{port}/dutywatch"
        assert await fetchval(second.dsn, "SELECT 1") == 1


async def test_postgres_restarts_after_sigkill(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", durable=False)
    dsn = await pg.start()
    await execute(dsn, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (1)")
    assert pg.pid is not None
    os.kill(pg.pid, signal.SIGKILL)  # crash: postmaster.pid and shared memory left behind
    # Until this process reaps it, the dead server is a zombie whose pid still answers: a
    # crashed server's parent is another process in real life, which would have reaped it.
    async with asyncio.timeout(10):
        while pg.pid is not None:
            await asyncio.sleep(0.01)

    # A new process (new object) on the same directory recovers.
    other = EmbeddedPostgres(tmp_path / "pg", durable=False)
    try:
        assert await other.start() == dsn
        assert await fetchval(dsn, "SELECT v FROM kept") == 1
        assert other.pid is not None
        os.kill(other.pid, signal.SIGKILL)
        async with asyncio.timeout(10):
            while other.pid is not None:  # until the event loop has reaped it
                await asyncio.sleep(0.01)
        # The same object notices its server died and starts it again.
        assert await other.start() == dsn
        assert await fetchval(dsn, "SELECT count(*) FROM kept") == 1
    finally:
        await other.stop()
        await pg.stop()  # reaps the killed process; must not touch anything else


async def test_postgres_ignores_a_pid_file_whose_pid_was_reused(tmp_path: Path) -> None:
    async with EmbeddedPostgres(tmp_path / "pg", durable=False) as pg:
        dsn = pg.dsn
        pid_file = pg.pgdata / "postmaster.pid"
        lines = pid_file.read_text().splitlines()
    # As after a reboot: the recorded pid now belongs to an unrelated live process (us).
    pid_file.write_text("\n".join([str(os.getpid()), *lines[1:]]) + "\n")
    async with EmbeddedPostgres(tmp_path / "pg", durable=False) as again:
        assert again.dsn == dsn
        assert await fetchval(dsn, "SELECT 1") == 1


async def test_postgres_refuses_a_second_server_on_the_same_dir(tmp_path: Path) -> None:
    async with EmbeddedPostgres(tmp_path / "pg", durable=False) as running:
        with pytest.raises(EmbeddedServiceError, match=f"already running.*kill -INT {running.pid}"):
            await EmbeddedPostgres(tmp_path / "pg", durable=False).start()
        assert await fetchval(running.dsn, "SELECT 1") == 1


async def test_postgres_refuses_a_busy_port_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "_PORT_FREE_WAIT", 0.2)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        pg = EmbeddedPostgres(tmp_path / "pg", port=port, durable=False)
        with pytest.raises(EmbeddedServiceError, match="port is in use"):
            await pg.start()
        assert pg.pid is None


# -------------------------------------------------------------------------------------- NATS


async def test_nats_starts_with_jetstream_and_leaves_no_process(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    announced = server.url
    url = await server.start()
    assert url == announced == f"nats://127.0.0.1:{server.port}"
    assert await server.start() == url  # idempotent while running
    pid = server.pid
    assert pid is not None

    client = await nats.connect(url, allow_reconnect=False)
    try:
        js = client.jetstream()
        await js.add_stream(name="EMBEDDED", subjects=["embedded.>"])
        ack = await js.publish("embedded.hello", b"hi", headers={"Nats-Msg-Id": "m1"})
        again = await js.publish("embedded.hello", b"hi", headers={"Nats-Msg-Id": "m1"})
        assert ack.seq == again.seq == 1
        assert again.duplicate
        msg = await js.get_msg("EMBEDDED", 1)
        assert msg.data == b"hi"
        assert msg.subject == "embedded.hello"
    finally:
        await client.close()

    await server.stop()
    assert gone(pid)
    assert server.pid is None
    await server.stop()  # idempotent
    assert (tmp_path / "nats" / "jetstream").is_dir()


async def test_nats_restart_keeps_streams_and_url(tmp_path: Path) -> None:
    async with EmbeddedNats(tmp_path / "nats", durable=True) as first:
        url = first.url
        client = await nats.connect(url, allow_reconnect=False)
        try:
            await client.jetstream().add_stream(name="KEPT", subjects=["kept.>"])
            await client.jetstream().publish("kept.one", b"1")
        finally:
            await client.close()
    assert "sync_interval: always" in (tmp_path / "nats" / "nats-server.conf").read_text()

    async with EmbeddedNats(tmp_path / "nats") as second:
        assert second.url == url
        client = await nats.connect(url, allow_reconnect=False)
        try:
            info = await client.jetstream().stream_info("KEPT")
            assert info.state.messages == 1
        finally:
            await client.close()


# -------------------------------------------------------------------------------- fixtures

_seen: dict[str, str] = {}


async def test_fixture_isolation_first(
    database_url: str, settings: Settings, nc: NatsClient, subject_prefix: str, stream_prefix: str
) -> None:
    assert re.fullmatch(r"t[0-9a-f]{10}", subject_prefix)
    assert stream_prefix == f"T{subject_prefix[1:].upper()}_"
    assert settings.database_url == database_url
    assert settings.subject("report", "x") == f"{subject_prefix}.report.x"
    assert settings.stream("REPORTS") == f"{stream_prefix}REPORTS"
    # the template was migrated
    assert await fetchval(database_url, "SELECT to_regclass('schema_migrations') IS NOT NULL")
    await execute(database_url, "CREATE TABLE leaked_between_tests (v int)")
    await nc.jetstream().add_stream(
        name=settings.stream("REPORTS"), subjects=[f"{subject_prefix}.>"]
    )
    _seen.update(
        database_url=database_url, subject_prefix=subject_prefix, stream=settings.stream("REPORTS")
    )


async def test_fixture_isolation_second(
    database_url: str, postgres_url: str, subject_prefix: str, nc: NatsClient
) -> None:
    # Fixture teardown can only be observed from a later test: this one checks what the
    # previous test left. Run alone, it fails (never skips) and says why.
    assert _seen, "run this module whole: test_fixture_isolation_first must run first"
    assert database_url != _seen["database_url"]
    assert subject_prefix != _seen["subject_prefix"]
    assert not await fetchval(
        database_url, "SELECT to_regclass('leaked_between_tests') IS NOT NULL"
    )
    # the first test's database was dropped and its streams deleted
    first_db = _seen["database_url"].rsplit("/", 1)[1]
    assert not await fetchval(
        postgres_url, f"SELECT count(*) FROM pg_database WHERE datname = '{first_db}'"
    )
    with pytest.raises(NotFoundError):
        await nc.jetstream().stream_info(_seen["stream"])
