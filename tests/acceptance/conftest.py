"""The whole service in-process on real PostgreSQL and NATS, with a clock tests move."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from dutywatch import demo
from dutywatch.clock import ManualClock
from dutywatch.config import Settings
from dutywatch.contracts import Grade
from dutywatch.service import Runtime
from dutywatch.web.app import RUNTIME, create_app

#: 10:00 in Shanghai, inside the demo's 08:30-to-08:30 duty day.
START = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
ACK_TIMEOUT = timedelta(minutes=10)


@dataclass
class Service:
    client: TestClient[Any, Any]
    runtime: Runtime
    clock: ManualClock
    tokens: demo.DemoTokens
    settings: Settings
    js: JetStreamContext

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def publish(
        self,
        report: dict[str, Any],
        *,
        msg_id: str | None = "report_id",
        subject: str | None = None,
    ) -> None:
        headers = {"Nats-Msg-Id": report["report_id"]} if msg_id == "report_id" else None
        if msg_id not in (None, "report_id"):
            headers = {"Nats-Msg-Id": msg_id}
        await self.js.publish(
            subject or self.settings.subject("report", report["org"]),
            json.dumps(report, ensure_ascii=False).encode(),
            headers=headers,
        )

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self.runtime.pool.acquire() as conn:
            return list(await conn.fetch(query, *args))


def make_report(**overrides: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "schema": "dutywatch.report.v1",
        "report_id": str(uuid4()),
        "incident_ref": f"ref-{uuid4().hex[:10]}",
        "org": "harbin.daoli.xinyang",
        "stage": "first",
        "grade": "III",
        "category": "accident",
        "title": "新阳路燃气管道泄漏",
        "occurred_at": "2026-11-25T09:52:00+08:00",
        "reported_at": "2026-11-25T09:58:00+08:00",
        "summary": "施工挖断中压燃气管道，已疏散周边居民。",
        "reporter": {"name": "周明", "phone": "13800000000"},
    }
    report.update(overrides)
    return report


async def timeline_kinds(service: Service, incident_id: int) -> list[str]:
    """The kinds of an incident's timeline entries, in order."""
    rows = await service.sql(
        "SELECT kind::text FROM timeline_entries WHERE incident_id = $1 ORDER BY seq", incident_id
    )
    return [r["kind"] for r in rows]


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 10.0, what: str = "condition"
) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


class Inbox:
    """Messages of a JetStream stream, read through an ephemeral ordered consumer.

    Reading the stream (not a core subscription) is what a channel worker does, so the
    duplicate window applies: a republished page with the same message id is not seen twice.
    """

    def __init__(self, js: JetStreamContext, subject: str, *, schema: str | None = None) -> None:
        self.js, self.subject, self.schema = js, subject, schema
        self.messages: list[Any] = []
        self._sub: Any = None

    async def start(self) -> Inbox:
        async def collect(msg: Any) -> None:
            # One subject tree can carry several contracts (incident and roster events).
            if self.schema is None or json.loads(msg.data).get("schema") == self.schema:
                self.messages.append(msg)

        self._sub = await self.js.subscribe(self.subject, cb=collect, ordered_consumer=True)
        return self

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(m.data) for m in self.messages]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        async def enough() -> bool:
            return len(self.messages) >= count

        await eventually(enough, timeout=timeout, what=f"{count} message(s) on {self.subject}")
        return self.payloads()

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def tokens(database_url: str, subject_prefix: str) -> demo.DemoTokens:
    conn = await asyncpg.connect(database_url)
    try:
        return await demo.load(conn, START, subject_prefix=subject_prefix)
    finally:
        await conn.close()


@pytest.fixture
def service_settings(settings: Settings) -> Settings:
    return settings.with_(
        ack_timeouts=dict.fromkeys(Grade, ACK_TIMEOUT), admin_token="admin-token-for-tests-0123"
    )


@contextlib.asynccontextmanager
async def running_service(
    settings: Settings, clock: ManualClock, tokens: demo.DemoTokens, nc: NatsClient
) -> AsyncIterator[Service]:
    """The app with its workers, serving HTTP on a test server, until the block ends."""
    app = create_app(settings, clock)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Service(
            client=client,
            runtime=app[RUNTIME],
            clock=clock,
            tokens=tokens,
            settings=settings,
            js=nc.jetstream(),
        )
    finally:
        await client.close()


@pytest.fixture
async def service(
    service_settings: Settings, clock: ManualClock, tokens: demo.DemoTokens, nc: NatsClient
) -> AsyncIterator[Service]:
    async with running_service(service_settings, clock, tokens, nc) as running:
        yield running


@pytest.fixture
async def pages(service: Service) -> AsyncIterator[Inbox]:
    inbox = await Inbox(service.js, service.settings.subject("notify", ">")).start()
    yield inbox
    await inbox.stop()


@pytest.fixture
async def rejected(service: Service) -> AsyncIterator[Inbox]:
    inbox = await Inbox(service.js, service.settings.subject("rejected")).start()
    yield inbox
    await inbox.stop()


@pytest.fixture
async def events(service: Service) -> AsyncIterator[Inbox]:
    inbox = await Inbox(
        service.js, service.settings.subject("event", ">"), schema="dutywatch.incident_event.v1"
    ).start()
    yield inbox
    await inbox.stop()


@pytest.fixture
async def roster_events(service: Service) -> AsyncIterator[Inbox]:
    inbox = await Inbox(
        service.js, service.settings.subject("event", ">"), schema="dutywatch.roster_event.v1"
    ).start()
    yield inbox
    await inbox.stop()
