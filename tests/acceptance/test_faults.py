"""Replicas and faults (issue 9): real ``dutywatch serve`` processes, real signals, bounded time.

Each test starts `dutywatch serve` as separate processes on the session's PostgreSQL and
nats-server (or, to restart it, a PostgreSQL of its own), publishes a load of reports through
JetStream as a reporting office would, injects a fault in the middle of the load (SIGKILL,
SIGTERM, PostgreSQL stopped and started) and then counts in PostgreSQL and on the NOTIFY
stream that nothing was lost or doubled.

Marked ``faults``; they run in CI with the rest of the suite (no skip, no xfail).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from nats.aio.client import Client as NatsClient

from dutywatch import demo
from dutywatch.config import Settings
from dutywatch.embedded import EmbeddedPostgres, free_port
from dutywatch.migrations import migrate
from dutywatch.timeline.store import verify_all
from tests.acceptance.conftest import START, Inbox, make_report

pytestmark = pytest.mark.faults

#: Reports per test: enough to keep every replica busy when the fault lands, small enough
#: that the file stays well under three minutes on a 2-core machine.
REPORTS = 2_000
#: Reports per incident (the first opens it, the others join it, often on another replica).
PER_INCIDENT = 5
#: The intake consumer's ack_wait (dutywatch.bus): a killed replica's unacknowledged batch
#: is redelivered after it, so settling waits at least this long.
INTAKE_ACK_WAIT = 30.0
READY_TIMEOUT = 60.0
SETTLE_TIMEOUT = INTAKE_ACK_WAIT + 60.0
#: A graceful stop finishes the batch in flight and drains NATS; it must not take longer.
GRACEFUL_STOP_BOUND = 15.0
ORGS = ("harbin.daoli.xinyang", "harbin.daoli")


class Replica:
    """One `dutywatch serve` process with its own HTTP port, logging JSON lines to a file."""

    def __init__(self, settings: Settings, log_dir: Path, name: str) -> None:
        self.settings, self.name = settings, name
        self.port = free_port()
        self.log_path = log_dir / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def readyz(self) -> str:
        return f"http://127.0.0.1:{self.port}/readyz"

    async def start(self) -> Replica:
        s = self.settings
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DUTYWATCH_")},
            "DUTYWATCH_DATABASE_URL": s.database_url,
            "DUTYWATCH_NATS_URL": s.nats_url,
            "DUTYWATCH_SUBJECT_PREFIX": s.subject_prefix,
            "DUTYWATCH_STREAM_PREFIX": s.stream_prefix,
            "DUTYWATCH_HTTP": f"127.0.0.1:{self.port}",
        }
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "dutywatch", "serve", env=env, stdout=log, stderr=log
            )
        return self

    async def status(self) -> int | None:
        """HTTP status of /readyz, or None when nothing answers."""
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
                http.get(self.readyz) as response,
            ):
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def wait_status(self, wanted: int, timeout: float) -> float:
        """Seconds until /readyz answers ``wanted``; fails with the log after ``timeout``."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            assert self.proc is not None
            if self.proc.returncode is not None:
                pytest.fail(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            if await self.status() == wanted:
                return time.monotonic() - started
            await asyncio.sleep(0.1)
        pytest.fail(f"{self.name}: /readyz not {wanted} within {timeout}s:\n{self.tail()}")

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            pytest.fail(f"{self.name} did not exit within {timeout}s:\n{self.tail()}")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def load(count: int = REPORTS) -> list[dict[str, Any]]:
    """``count`` reports over ``count / PER_INCIDENT`` incidents, interleaved."""
    incidents = count // PER_INCIDENT
    reports = []
    for i in range(count):
        n = i % incidents
        reports.append(
            make_report(
                org=ORGS[n % len(ORGS)],
                grade="IV",
                incident_ref=f"load-{n}",
                stage="first" if i < incidents else "follow_up",
            )
        )
    return reports


async def publish(nc: NatsClient, settings: Settings, reports: list[dict[str, Any]]) -> None:
    """Publish through JetStream as an office does (message id = report_id), in chunks."""
    js = nc.jetstream()
    for start in range(0, len(reports), 100):
        acks = [
            await js.publish_async(
                settings.subject("report", r["org"]),
                json.dumps(r, ensure_ascii=False).encode(),
                headers={"Nats-Msg-Id": r["report_id"]},
            )
            for r in reports[start : start + 100]
        ]
        await asyncio.gather(*acks)
        await asyncio.sleep(0.01)  # a load spread over time, so a fault lands mid-load


async def stored_reports(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM reports"))
    finally:
        await conn.close()


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> float:
    """Seconds until ``check`` holds (errors count as not yet); fails after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if await check():
                return time.monotonic() - started
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            pass
        await asyncio.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


async def load_under_way(
    nc: NatsClient, settings: Settings, share: int
) -> tuple[list[dict[str, Any]], asyncio.Task[None]]:
    """Start publishing the load; return (reports, the publishing) once 1/``share`` is stored."""
    reports = load()
    publishing = asyncio.create_task(publish(nc, settings, reports))

    async def far_enough() -> bool:
        return await stored_reports(settings.database_url) >= REPORTS // share

    await until(far_enough, 60, f"1/{share} of the load to be stored")
    return reports, publishing


async def settled(database_url: str) -> bool:
    """Every report stored and every outbox message published."""
    conn = await asyncpg.connect(database_url)
    try:
        reports = await conn.fetchval("SELECT count(*) FROM reports")
        pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    finally:
        await conn.close()
    return bool(reports == REPORTS and pending == 0)


async def assert_exactly_once(database_url: str, reports: list[dict[str, Any]]) -> None:
    """Each report stored once, on its incident; one opening per incident; chains verify."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """SELECT r.report_id::text AS report_id, i.incident_ref
               FROM reports r JOIN incidents i ON i.id = r.incident_id"""
        )
        stored = [r["report_id"] for r in rows]
        assert len(stored) == len(set(stored)) == len(reports)
        assert set(stored) == {r["report_id"] for r in reports}
        assert {r["report_id"]: r["incident_ref"] for r in rows} == {
            r["report_id"]: r["incident_ref"] for r in reports
        }
        incidents = len(reports) // PER_INCIDENT
        # A follow-up taken before its first report (on another replica, or while the first
        # waits for redelivery) opens the incident as "first report missing": still once.
        opened = await conn.fetch(
            """SELECT incident_id, count(*) AS n FROM timeline_entries
               WHERE kind IN ('incident_opened', 'first_report_missing') GROUP BY incident_id"""
        )
        assert len(opened) == incidents
        assert {r["n"] for r in opened} == {1}, "an incident was opened twice"
        assert await conn.fetchval("SELECT count(*) FROM incidents") == incidents
        checked, problems = await verify_all(conn)
        assert checked == incidents
        assert problems == []
    finally:
        await conn.close()


async def assert_pages_once(database_url: str, nc: NatsClient, settings: Settings) -> int:
    """Every page's outbox message is on NOTIFY exactly once by Nats-Msg-Id; returns pages."""
    conn = await asyncpg.connect(database_url)
    try:
        outbox = {
            str(r["id"])
            for r in await conn.fetch(
                "SELECT id FROM outbox WHERE subject LIKE $1", settings.subject("notify", "%")
            )
        }
        pages = await conn.fetchval("SELECT count(*) FROM pages")
    finally:
        await conn.close()
    assert pages > 0
    assert outbox, "the load paged no one"
    inbox = await Inbox(nc.jetstream(), settings.subject("notify", ">")).start()
    try:
        await inbox.wait_for(len(outbox), timeout=30)
        await asyncio.sleep(0.5)  # a copy the duplicate window let through would show now
        ids = [(m.headers or {}).get("Nats-Msg-Id") for m in inbox.messages]
    finally:
        await inbox.stop()
    assert len(ids) == len(set(ids)), "a page was delivered twice"
    assert set(ids) == outbox
    return len(ids)


@pytest.fixture
async def demo_loaded(database_url: str, subject_prefix: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await demo.load(conn, START, subject_prefix=subject_prefix)
    finally:
        await conn.close()


@pytest.fixture
async def replicas(tmp_path: Path) -> Any:
    started: list[Replica] = []

    async def start(settings: Settings, count: int) -> list[Replica]:
        new = [
            await Replica(settings, tmp_path, f"replica-{len(started) + i}").start()
            for i in range(count)
        ]
        started.extend(new)
        for replica in new:
            await replica.wait_status(200, READY_TIMEOUT)
        return new

    yield start
    for replica in started:
        await replica.stop()


@pytest.mark.timeout(180)
async def test_a_replica_killed_mid_load_loses_nothing_and_doubles_nothing(
    settings: Settings, demo_loaded: None, nc: NatsClient, replicas: Any
) -> None:
    first, second, third = await replicas(settings, 3)
    reports, publishing = await load_under_way(nc, settings, 3)
    second.signal(signal.SIGKILL)
    killed = time.monotonic()
    assert await second.wait_exit(5) == -signal.SIGKILL
    assert await stored_reports(settings.database_url) < REPORTS, "the kill came after the load"
    await publishing

    await until(lambda: settled(settings.database_url), SETTLE_TIMEOUT, "the load to settle")
    settle_seconds = time.monotonic() - killed
    await assert_exactly_once(settings.database_url, reports)
    pages = await assert_pages_once(settings.database_url, nc, settings)
    for survivor in (first, third):
        assert await survivor.status() == 200, survivor.tail()
    print(f"SIGKILL: load settled {settle_seconds:.1f}s after the kill; {pages} pages, once each")


async def intake_consumer(nc: NatsClient, settings: Settings) -> Any:
    from dutywatch import bus

    return await nc.jetstream().consumer_info(settings.stream("REPORTS"), bus.INTAKE_CONSUMER)


@pytest.mark.timeout(180)
async def test_sigterm_mid_load_exits_cleanly_and_acknowledges_only_what_it_committed(
    settings: Settings, demo_loaded: None, nc: NatsClient, replicas: Any
) -> None:
    [alone] = await replicas(settings, 1)
    reports, publishing = await load_under_way(nc, settings, 4)
    alone.signal(signal.SIGTERM)
    stopping = time.monotonic()
    assert await alone.wait_exit(GRACEFUL_STOP_BOUND) == 0, alone.tail()
    stop_seconds = time.monotonic() - stopping
    await publishing

    # It was the only consumer: what JetStream counts as acknowledged it acknowledged.
    info = await intake_consumer(nc, settings)
    assert info.num_redelivered == 0
    acknowledged = REPORTS - info.num_pending - info.num_ack_pending
    committed = await stored_reports(settings.database_url)
    assert 0 < acknowledged < REPORTS, "the stop did not land mid-load"
    assert acknowledged <= committed, f"acked {acknowledged} but committed {committed}"
    # The batch in flight was finished and acknowledged, not left for redelivery.
    assert committed == acknowledged, (committed, acknowledged)

    # What it never took is taken by the next replica: every report exactly once.
    await replicas(settings, 1)
    await until(lambda: settled(settings.database_url), SETTLE_TIMEOUT, "the load to settle")
    await assert_exactly_once(settings.database_url, reports)
    await assert_pages_once(settings.database_url, nc, settings)
    print(f"graceful stop took {stop_seconds:.2f}s; acknowledged {acknowledged} = committed")


#: How long PostgreSQL stays down: long enough for every replica to notice and back off.
POSTGRES_DOWN = 3.0


@pytest.mark.timeout(180)
async def test_postgres_restarted_mid_load_readiness_fails_then_the_service_resumes_by_itself(
    tmp_path: Path, settings: Settings, nc: NatsClient, replicas: Any
) -> None:
    # A PostgreSQL of its own: the session's serves every other test.
    server = EmbeddedPostgres(tmp_path / "pg", durable=False)
    dsn = await server.start()
    try:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
            await demo.load(conn, START, subject_prefix=settings.subject_prefix)
        finally:
            await conn.close()
        own = settings.with_(database_url=dsn)
        running = await replicas(own, 2)
        reports, publishing = await load_under_way(nc, own, 4)
        await server.stop()
        stopped = time.monotonic()
        noticed = [await r.wait_status(503, 15) for r in running]
        await asyncio.sleep(max(0.0, POSTGRES_DOWN - (time.monotonic() - stopped)))
        assert [await r.status() for r in running] == [503, 503]
        await server.start()  # same data directory, same port
        restarted = time.monotonic()
        down_seconds = restarted - stopped
        recovered = [await r.wait_status(200, 30) for r in running]
        await publishing

        await until(lambda: settled(dsn), SETTLE_TIMEOUT, "the load to settle")
        settle_seconds = time.monotonic() - restarted
        await assert_exactly_once(dsn, reports)
        await assert_pages_once(dsn, nc, own)
        for replica in running:
            assert replica.proc is not None
            assert replica.proc.returncode is None, replica.tail()
        print(
            f"PostgreSQL down {down_seconds:.1f}s; not-ready noticed after "
            f"{max(noticed):.2f}s; ready again {max(recovered):.2f}s after restart; "
            f"load settled {settle_seconds:.1f}s after restart"
        )
    finally:
        await server.stop()
