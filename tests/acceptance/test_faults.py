"""Replicas and faults (issue 9): real ``dutywatch serve`` processes, real signals, bounded time.

Each test starts `dutywatch serve` as separate processes on the session's PostgreSQL and
nats-server (or, to restart it, a PostgreSQL of its own; to lose a node, a 3-node NATS cluster
of its own), publishes a load of reports through JetStream as a reporting office would, injects
a fault in the middle of the load (SIGKILL, SIGTERM, PostgreSQL stopped and started, a NATS
node killed) and then counts in PostgreSQL and on the NOTIFY stream that nothing was lost or
doubled. The replicas run with a 3 s intake ack_wait (DUTYWATCH_INTAKE_ACK_WAIT) so that
redelivery after a fault does not cost the default 30 s.

Marked ``faults``; they run in CI with the rest of the suite (no skip, no xfail).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import nats
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient

from dutywatch import bus, demo
from dutywatch.config import Settings
from dutywatch.contracts import Grade
from dutywatch.embedded import EmbeddedPostgres, free_port, spawn_nats_server
from dutywatch.escalation.policy import NotifyRole, Policy
from dutywatch.escalation.store import insert_policy
from dutywatch.migrations import migrate
from dutywatch.rosters.model import Role
from dutywatch.timeline.store import verify_all
from tests.acceptance.conftest import START, Inbox, make_report

pytestmark = pytest.mark.faults

#: Reports of the SIGKILL test, as the issue asks: a load that keeps three replicas busy.
KILL_LOAD = 10_000
#: Reports of the other tests: enough to keep the replicas busy when the fault lands; what
#: they prove does not grow with the size.
LOAD = 2_000
#: Reports per incident (the first opens it, the others join it, often on another replica).
PER_INCIDENT = 5
#: The replicas' intake ack_wait (DUTYWATCH_INTAKE_ACK_WAIT; 30 s by default): what a killed
#: or stopped replica held is redelivered after it, so settling waits at least this long.
INTAKE_ACK_WAIT = 3.0
#: Seconds an incident of the SIGKILL load stays unacknowledged before its leader on duty is
#: paged (a stored policy: officer at once, the leader after this, nothing more).
ESCALATE_AFTER = 4.0
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
            "DUTYWATCH_STREAM_REPLICAS": str(s.stream_replicas),
            "DUTYWATCH_NATS_PING_INTERVAL": str(s.nats_ping_interval),
            "DUTYWATCH_INTAKE_ACK_WAIT": str(INTAKE_ACK_WAIT),
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

    def events(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far."""
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
        return [e for e in found if isinstance(e, dict)]


def load(count: int) -> list[dict[str, Any]]:
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
    """Publish through JetStream as an office does (message id = report_id), in chunks; a
    chunk whose acknowledgements do not all come (a NATS node lost, a leader elected) is sent
    again with the same ids, which the stream's duplicate window makes safe."""
    js = nc.jetstream()
    for start in range(0, len(reports), 100):
        chunk = reports[start : start + 100]
        for attempt in range(1, 31):
            try:
                await asyncio.gather(
                    *(
                        js.publish(
                            settings.subject("report", r["org"]),
                            json.dumps(r, ensure_ascii=False).encode(),
                            headers={"Nats-Msg-Id": r["report_id"]},
                            timeout=2,
                        )
                        for r in chunk
                    )
                )
                break
            except (nats.errors.Error, TimeoutError):
                if attempt == 30:
                    raise
                await asyncio.sleep(0.5)
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
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, nats.errors.Error):
            pass
        await asyncio.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


async def load_under_way(
    nc: NatsClient, settings: Settings, count: int, share: int
) -> tuple[list[dict[str, Any]], asyncio.Task[None]]:
    """Start publishing ``count`` reports; return (reports, the publishing) once 1/``share``
    of them is stored."""
    reports = load(count)
    publishing = asyncio.create_task(publish(nc, settings, reports))

    async def far_enough() -> bool:
        return await stored_reports(settings.database_url) >= count // share

    await until(far_enough, 60, f"1/{share} of the load to be stored")
    return reports, publishing


async def settled(database_url: str, count: int) -> bool:
    """Every report stored and every outbox message published."""
    conn = await asyncpg.connect(database_url)
    try:
        reports = await conn.fetchval("SELECT count(*) FROM reports")
        pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    finally:
        await conn.close()
    return bool(reports == count and pending == 0)


async def assert_exactly_once(database_url: str, reports: list[dict[str, Any]]) -> None:
    """Each report of the load stored once, on its incident; one opening per incident; every
    chain verifies."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """SELECT r.report_id::text AS report_id, i.incident_ref
               FROM reports r JOIN incidents i ON i.id = r.incident_id
               WHERE i.org_path = ANY($1::text[])""",
            ORGS,
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
            """SELECT t.incident_id, count(*) AS n FROM timeline_entries t
               JOIN incidents i ON i.id = t.incident_id
               WHERE t.kind IN ('incident_opened', 'first_report_missing')
                 AND i.org_path = ANY($1::text[])
               GROUP BY t.incident_id""",
            ORGS,
        )
        assert len(opened) == incidents
        assert {r["n"] for r in opened} == {1}, "an incident was opened twice"
        in_load = "SELECT count(*) FROM incidents WHERE org_path = ANY($1::text[])"
        assert await conn.fetchval(in_load, ORGS) == incidents
        checked, problems = await verify_all(conn)
        assert checked == await conn.fetchval("SELECT count(*) FROM incidents")
        assert problems == []
    finally:
        await conn.close()


async def assert_pages_once(
    database_url: str, nc: NatsClient, settings: Settings
) -> list[dict[str, Any]]:
    """Every page's outbox message is on NOTIFY exactly once by Nats-Msg-Id; returns them."""
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
    return inbox.payloads()


def logged(replicas: list[Replica], event: str) -> list[dict[str, Any]]:
    return [e for r in replicas for e in r.events() if e.get("event") == event]


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


async def short_escalation(database_url: str) -> None:
    """Grade IV incidents page the duty officer at once and the leader on duty after
    :data:`ESCALATE_AFTER` of real time, then nothing more (so the test has an end)."""
    policy = Policy(
        id="faults-short",
        version=1,
        org="harbin",
        grades=frozenset({Grade.IV}),
        steps=(
            NotifyRole(role=Role.DUTY_OFFICER),
            NotifyRole(role=Role.LEADER_ON_DUTY, delay=timedelta(seconds=ESCALATE_AFTER)),
        ),
    )
    conn = await asyncpg.connect(database_url)
    try:
        await insert_policy(conn, policy, by="test", now=START)
    finally:
        await conn.close()


async def escalations_done(database_url: str) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        waiting = await conn.fetchval(
            """SELECT count(*) FROM timers
               WHERE kind = 'escalation' AND fired_at IS NULL AND cancelled_at IS NULL"""
        )
    finally:
        await conn.close()
    return bool(waiting == 0)


async def assert_escalated_once(database_url: str, pages: list[dict[str, Any]]) -> int:
    """Every alert paged its leader on duty exactly once (one timer, fired by one replica),
    and each of those pages reached NOTIFY once; returns how many."""
    conn = await asyncpg.connect(database_url)
    try:
        per_alert = await conn.fetch(
            """SELECT a.id, count(p.id) AS n FROM alerts a
               LEFT JOIN pages p ON p.alert_id = a.id AND p.step = 1
               GROUP BY a.id"""
        )
        fired = await conn.fetchval(
            "SELECT count(*) FROM timers WHERE kind = 'escalation' AND fired_at IS NOT NULL"
        )
    finally:
        await conn.close()
    assert per_alert, "no alert was opened"
    assert {r["n"] for r in per_alert} == {1}, "an alert escalated twice, or never"
    assert fired == len(per_alert)
    escalations = [p for p in pages if p.get("reason") == "escalation"]
    assert len(escalations) == len(per_alert)
    return len(escalations)


@pytest.mark.timeout(120)
async def test_a_replica_killed_mid_load_loses_nothing_and_doubles_nothing(
    settings: Settings, demo_loaded: None, nc: NatsClient, replicas: Any
) -> None:
    await short_escalation(settings.database_url)
    first, second, third = await replicas(settings, 3)
    started = time.monotonic()
    reports, publishing = await load_under_way(nc, settings, KILL_LOAD, 3)
    second.signal(signal.SIGKILL)
    killed = time.monotonic()
    assert await second.wait_exit(5) == -signal.SIGKILL
    assert await stored_reports(settings.database_url) < KILL_LOAD, "the kill came after the load"
    await publishing

    await until(
        lambda: settled(settings.database_url, KILL_LOAD), SETTLE_TIMEOUT, "the load to settle"
    )
    settle_seconds = time.monotonic() - killed
    await until(
        lambda: escalations_done(settings.database_url),
        ESCALATE_AFTER + 30,
        "every escalation to fire",
    )
    await until(lambda: settled(settings.database_url, KILL_LOAD), 30, "the escalations' pages")
    await assert_exactly_once(settings.database_url, reports)
    pages = await assert_pages_once(settings.database_url, nc, settings)
    escalated = await assert_escalated_once(settings.database_url, pages)
    for survivor in (first, third):
        assert await survivor.status() == 200, survivor.tail()
    print(
        f"SIGKILL: {KILL_LOAD} reports settled {settle_seconds:.1f}s after the kill; "
        f"{len(pages)} pages once each, {escalated} of them escalations; "
        f"{time.monotonic() - started:.1f}s from the first report to the last escalation"
    )


async def intake_consumer(nc: NatsClient, settings: Settings) -> Any:
    return await nc.jetstream().consumer_info(settings.stream("REPORTS"), bus.INTAKE_CONSUMER)


@pytest.mark.timeout(120)
async def test_sigterm_mid_load_exits_cleanly_and_acknowledges_only_what_it_committed(
    settings: Settings, demo_loaded: None, nc: NatsClient, replicas: Any
) -> None:
    [alone] = await replicas(settings, 1)
    reports, publishing = await load_under_way(nc, settings, LOAD, 4)
    alone.signal(signal.SIGTERM)
    stopping = time.monotonic()
    assert await alone.wait_exit(GRACEFUL_STOP_BOUND) == 0, alone.tail()
    stop_seconds = time.monotonic() - stopping
    await publishing

    # It was the only consumer: what JetStream counts as acknowledged it acknowledged.
    info = await intake_consumer(nc, settings)
    assert info.num_redelivered == 0
    acknowledged = LOAD - info.num_pending - info.num_ack_pending
    committed = await stored_reports(settings.database_url)
    assert 0 < acknowledged < LOAD, "the stop did not land mid-load"
    assert acknowledged <= committed, f"acked {acknowledged} but committed {committed}"
    # The batch in flight was finished and acknowledged, not left for redelivery.
    assert committed == acknowledged, (committed, acknowledged)

    # What it never took is taken by the next replica: every report exactly once.
    await replicas(settings, 1)
    await until(lambda: settled(settings.database_url, LOAD), SETTLE_TIMEOUT, "the load to settle")
    await assert_exactly_once(settings.database_url, reports)
    await assert_pages_once(settings.database_url, nc, settings)
    print(f"graceful stop took {stop_seconds:.2f}s; acknowledged {acknowledged} = committed")


#: How long PostgreSQL stays down: long enough for every replica to notice and back off.
POSTGRES_DOWN = 3.0
#: CAP alerts offices send while PostgreSQL is down (to the city, outside the load's orgs).
CAP_WHILE_DOWN = 5
CAP_ORG = "harbin"
CAP_SAMPLE = Path(__file__).resolve().parents[2] / "contracts" / "samples" / "cap" / "01-alert.xml"


async def publish_cap_alerts(nc: NatsClient, settings: Settings, count: int) -> None:
    sample = CAP_SAMPLE.read_bytes()
    for n in range(count):
        data = sample.replace(b"XY-GAS-20261125-0001", f"XY-GAS-FAULTS-{n}".encode())
        await nc.jetstream().publish(settings.subject("cap", CAP_ORG), data)


async def cap_reports(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(
            await conn.fetchval(
                """SELECT count(DISTINCT r.report_id) FROM reports r
                   JOIN incidents i ON i.id = r.incident_id WHERE i.org_path = $1""",
                CAP_ORG,
            )
        )
    finally:
        await conn.close()


@pytest.mark.timeout(120)
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
        reports, publishing = await load_under_way(nc, own, LOAD, 4)
        await server.stop()
        stopped = time.monotonic()
        noticed = [await r.wait_status(503, 15) for r in running]
        # Offices go on sending CAP meanwhile: the CAP intake gives them back and backs off.
        await publish_cap_alerts(nc, own, CAP_WHILE_DOWN)
        await asyncio.sleep(max(0.0, POSTGRES_DOWN - (time.monotonic() - stopped)))
        assert [await r.status() for r in running] == [503, 503]
        await server.start()  # same data directory, same port
        restarted = time.monotonic()
        down_seconds = restarted - stopped
        recovered = [await r.wait_status(200, 30) for r in running]
        await publishing

        async def all_taken_in() -> bool:
            return await cap_reports(dsn) == CAP_WHILE_DOWN and await settled(
                dsn, LOAD + CAP_WHILE_DOWN
            )

        await until(all_taken_in, SETTLE_TIMEOUT, "the load and the CAP alerts to settle")
        settle_seconds = time.monotonic() - restarted
        await assert_exactly_once(dsn, reports)
        await assert_pages_once(dsn, nc, own)
        for replica in running:
            assert replica.proc is not None
            assert replica.proc.returncode is None, replica.tail()
        # Workers that met the database gone waited for it instead of failing message after
        # message: no CAP message or page was handled (and logged as failed) meanwhile.
        restarted_workers = {e["worker"] for e in logged(running, "worker_restarting")}
        assert {"intake", "cap-intake"} <= restarted_workers, restarted_workers
        assert logged(running, "cap_intake_failed") == []
        assert logged(running, "delivery_failed") == []
        print(
            f"PostgreSQL down {down_seconds:.1f}s; not-ready noticed after "
            f"{max(noticed):.2f}s; ready again {max(recovered):.2f}s after restart; "
            f"load settled {settle_seconds:.1f}s after restart; workers that waited: "
            f"{sorted(restarted_workers)}"
        )
    finally:
        await server.stop()


class NatsNode:
    """One nats-server of a 3-node JetStream cluster on loopback (plain, no accounts: the
    shipped TLS cluster config is checked in tests/integration/test_deploy.py)."""

    def __init__(self, base: Path, name: str) -> None:
        self.name, self.dir = name, base / name
        self.client_port, self.http_port, self.route_port = free_port(), free_port(), free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    async def start(self, routes: list[int]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self.dir / "server.conf"
        config.write_text(
            "\n".join(
                [
                    f'server_name: "{self.name}"',
                    f'listen: "127.0.0.1:{self.client_port}"',
                    f'http: "127.0.0.1:{self.http_port}"',
                    f"jetstream {{ store_dir: {json.dumps(str(self.dir / 'js'))} }}",
                    "cluster {",
                    '  name: "faults"',
                    f'  listen: "127.0.0.1:{self.route_port}"',
                    "  routes: ["
                    + ", ".join(f'"nats-route://127.0.0.1:{p}"' for p in routes)
                    + "]",
                    "}",
                ]
            ),
            encoding="utf-8",
        )
        self.proc = await spawn_nats_server(config, self.dir / "nats-server.log")

    async def connections(self, name: str) -> int:
        """Client connections named ``name`` this node holds (its monitoring endpoint)."""
        url = f"http://127.0.0.1:{self.http_port}/connz"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            body = await response.json()
        return sum(1 for c in body.get("connections") or [] if c.get("name") == name)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()  # a frozen (SIGSTOPped) node too
            await self.proc.wait()

    def freeze(self) -> None:
        """Stopped, its connections left open: a paused VM, a partition."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)


@pytest.fixture
async def nats_cluster(tmp_path: Path) -> AsyncIterator[list[NatsNode]]:
    nodes = [NatsNode(tmp_path / "nats", f"n{i}") for i in (1, 2, 3)]
    try:
        for node in nodes:
            await node.start([n.route_port for n in nodes])
        yield nodes
    finally:
        for node in nodes:
            await node.stop()


async def cluster_client(nodes: list[NatsNode]) -> NatsClient:
    async def quiet(_: Exception) -> None:
        return None

    return await asyncio.wait_for(
        nats.connect(
            servers=[n.url for n in nodes],
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.2,
            connect_timeout=2,
            error_cb=quiet,
        ),
        30,
    )


#: The NATS clients' ping interval here (DUTYWATCH_NATS_PING_INTERVAL; 10 s by default): a
#: frozen node is left after three unanswered pings.
PING_INTERVAL = 1


@pytest.mark.timeout(120)
@pytest.mark.parametrize("loss", ["killed", "frozen"])
async def test_a_nats_node_lost_mid_load_loses_nothing_and_the_service_reconnects(
    loss: str,
    settings: Settings,
    demo_loaded: None,
    nats_cluster: list[NatsNode],
    replicas: Any,
) -> None:
    nodes = nats_cluster
    clustered = settings.with_(
        nats_url=",".join(n.url for n in nodes),
        stream_replicas=3,
        nats_ping_interval=PING_INTERVAL,
    )
    setup = await cluster_client(nodes)
    try:
        deadline = time.monotonic() + 30
        while True:  # the cluster elects its JetStream meta leader
            try:
                await bus.ensure_streams(setup.jetstream(), clustered)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.25)
        info = await setup.jetstream().stream_info(clustered.stream("REPORTS"))
        assert info.config.num_replicas == 3
    finally:
        await setup.close()

    [service] = await replicas(clustered, 1)
    held = [await n.connections("dutywatch") for n in nodes]
    assert sum(held) == 1, held
    # The node the service is connected to will be lost; the offices are on the others (the
    # test is the service's failover, not nats-py's, which leaks a frozen connection's socket).
    victim = nodes[held.index(1)]
    survivors = [n for n in nodes if n is not victim]
    office = await cluster_client(survivors)
    try:
        reports, publishing = await load_under_way(office, clustered, LOAD, 4)
        # Lose it: killed, its connections close at once; frozen, only the pings tell.
        if loss == "killed":
            await victim.stop()
        else:
            victim.freeze()
        lost = time.monotonic()
        assert await stored_reports(clustered.database_url) < LOAD, "the loss came after the load"
        await publishing

        async def reconnected() -> bool:
            return sum([await n.connections("dutywatch") for n in survivors]) == 1

        reconnect_seconds = await until(reconnected, 30, "the service to reconnect")
        await until(
            lambda: settled(clustered.database_url, LOAD), SETTLE_TIMEOUT, "the load to settle"
        )
        settle_seconds = time.monotonic() - lost

        async def notify_answers() -> bool:
            # The test's own client rides out the elections the loss started before reading.
            await office.jetstream().stream_info(clustered.stream("NOTIFY"))
            await office.jetstream().find_stream_name_by_subject(clustered.subject("notify", ">"))
            return True

        await until(notify_answers, 30, "NOTIFY to answer after the node loss")
        await assert_exactly_once(clustered.database_url, reports)
        pages = await assert_pages_once(clustered.database_url, office, clustered)
        # Ready again by itself (it may answer 503 while a stream elects its new leader).
        ready_seconds = await service.wait_status(200, 30)
        assert logged([service], "nats_reconnected"), service.tail()
        print(
            f"NATS node {loss}: reconnected within {reconnect_seconds:.1f}s, load settled "
            f"{settle_seconds:.1f}s after the loss; {len(pages)} pages once each; ready "
            f"{ready_seconds:.1f}s after that"
        )
    finally:
        await office.close()
