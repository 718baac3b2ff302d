"""The running service: its resources and its supervised background workers.

Every long-running coroutine is a named task under one :class:`Supervisor`. A worker that
dies because PostgreSQL is unreachable (down, restarting, a connection closed under it) is
started again with exponential backoff while ``/readyz`` says why it is not ready; any other
death is recorded, readiness fails and the process stops instead of limping on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from dutywatch import bus, db, metrics
from dutywatch.clock import Clock
from dutywatch.config import Settings
from dutywatch.escalation import scheduler
from dutywatch.outbox import relay
from dutywatch.rosters import gaps
from dutywatch.timeline import anchoring, purge
from handlers import cap as cap_handlers
from handlers import commands as command_handlers
from handlers import notify as notify_handlers
from handlers import reports as report_handlers

log = structlog.get_logger(__name__)


#: Backoff between restarts of a worker that met an unreachable database: doubles from the
#: first to the last, and starts again from the first once a run lasted ``RESTART_RESET``.
RESTART_BACKOFF = (0.2, 5.0)
RESTART_RESET = 30.0
#: How often the LISTEN connection is looked at (a lost one is reconnected by the supervisor).
LISTENER_CHECK = 0.5


class Supervisor:
    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.failed: str | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._on_stop: list[Callable[[], None]] = []

    def on_stop(self, callback: Callable[[], None]) -> None:
        self._on_stop.append(callback)

    def spawn(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        async def guarded() -> None:
            backoff = RESTART_BACKOFF[0]
            while True:
                started = time.monotonic()
                try:
                    await work()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not db.unreachable(exc):
                        self.failed = f"{name}: {exc!r}"
                        log.exception("worker_died", worker=name)
                        self.request_stop()
                        return
                    if self.stop.is_set():
                        return  # stopping anyway; the database going away is no failure
                    if time.monotonic() - started >= RESTART_RESET:
                        backoff = RESTART_BACKOFF[0]
                    log.warning(
                        "worker_restarting", worker=name, error=repr(exc), backoff_s=backoff
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), timeout=backoff)
                    backoff = min(backoff * 2, RESTART_BACKOFF[1])
                    if self.stop.is_set():
                        return
                    continue
                if not self.stop.is_set():
                    self.failed = f"{name}: returned unexpectedly"
                    log.error("worker_exited", worker=name)
                    self.request_stop()
                return

        self._tasks[name] = asyncio.create_task(guarded(), name=name)

    def request_stop(self) -> None:
        self.stop.set()
        for callback in self._on_stop:
            callback()

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Ask workers to finish their in-flight batch, then cancel what is left."""
        self.request_stop()
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            log.warning("worker_cancelled", worker=task.get_name())
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    @property
    def alive(self) -> bool:
        return self.failed is None and all(not t.done() for t in self._tasks.values())


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    pool: asyncpg.Pool
    nc: Client
    js: JetStreamContext
    supervisor: Supervisor = field(default_factory=Supervisor)
    relay_wake: asyncio.Event = field(default_factory=asyncio.Event)
    scheduler_wake: asyncio.Event = field(default_factory=asyncio.Event)
    gap_wake: asyncio.Event = field(default_factory=asyncio.Event)
    anchor_wake: asyncio.Event = field(default_factory=asyncio.Event)
    retention_wake: asyncio.Event = field(default_factory=asyncio.Event)
    _listener: asyncpg.Connection | None = None
    _subscriptions: list[Subscription] = field(default_factory=list)

    def wake_workers(self) -> None:
        self.relay_wake.set()
        self.scheduler_wake.set()

    def wake_all(self) -> None:
        self.wake_workers()
        self.gap_wake.set()
        self.anchor_wake.set()
        self.retention_wake.set()

    async def start_workers(self) -> None:
        s, sup = self.settings, self.supervisor
        sup.on_stop(self.wake_all)
        self._listener = await self._listen()
        sup.spawn("listener", self._keep_listening)
        if s.run_intake:
            sup.spawn(
                "intake",
                lambda: report_handlers.consume(
                    self.js, self.pool, s, self.clock, sup.stop, self.wake_workers
                ),
            )
            sup.spawn(
                "cap-intake",
                lambda: cap_handlers.consume(
                    self.js, self.pool, s, self.clock, sup.stop, self.wake_workers
                ),
            )
            self._subscriptions.append(
                await command_handlers.subscribe(self.nc, self.pool, s, self.clock)
            )
        if s.run_relay:
            sup.spawn(
                "outbox-relay",
                lambda: relay.run(self.pool, self.js, self.clock, self.relay_wake, sup.stop),
            )
        if s.run_delivery:
            sup.spawn(
                "delivery",
                lambda: notify_handlers.consume(self.js, self.pool, s, self.clock, sup.stop),
            )
        if s.run_gap_check:
            sup.spawn(
                "roster-gap-check",
                lambda: gaps.run(self.pool, s, self.clock, self.gap_wake, sup.stop),
            )
        if s.run_anchors:
            sup.spawn(
                "timeline-anchors",
                lambda: anchoring.run(
                    self.pool, self.clock, s.anchor_grace, self.anchor_wake, sup.stop
                ),
            )
        if s.run_retention and s.retention is not None:
            sup.spawn(
                "retention-purge",
                lambda: purge.run(self.pool, s, self.clock, self.retention_wake, sup.stop),
            )
        sup.spawn("metrics", lambda: metrics.run(self.pool, self.js, s, self.clock, sup.stop))
        if s.run_scheduler:
            sup.spawn(
                "scheduler",
                lambda: scheduler.run(self.pool, s, self.clock, self.scheduler_wake, sup.stop),
            )

    async def _listen(self) -> asyncpg.Connection:
        # A dedicated connection for LISTEN: a pooled one would drop it when returned.
        conn = await asyncpg.connect(self.settings.database_url)
        await conn.add_listener(db.OUTBOX_CHANNEL, self._on_notify(self.relay_wake))
        await conn.add_listener(db.TIMERS_CHANNEL, self._on_notify(self.scheduler_wake))
        return conn

    async def _keep_listening(self) -> None:
        """Hold the LISTEN connection; when PostgreSQL drops it, fail so the supervisor
        reconnects with backoff (and wake the workers: NOTIFYs sent meanwhile were missed)."""
        stop = self.supervisor.stop
        if self._listener is None or self._listener.is_closed():
            self._listener = await self._listen()
            self.wake_workers()
        while not stop.is_set():
            if self._listener.is_closed():
                raise asyncpg.exceptions.ConnectionDoesNotExistError(
                    "the LISTEN connection was closed"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=LISTENER_CHECK)

    @staticmethod
    def _on_notify(event: asyncio.Event) -> Callable[..., None]:
        def callback(*_: Any) -> None:
            event.set()

        return callback

    async def close(self) -> None:
        for sub in self._subscriptions:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        await self.supervisor.shutdown()
        if self._listener is not None:
            with contextlib.suppress(Exception):  # already closed under us, say
                await self._listener.close()
        with contextlib.suppress(Exception):
            await self.nc.drain()
        await self.pool.close()

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """(ready, per-dependency result): "ok" or what is wrong."""
        checks: dict[str, str] = {
            "workers": "ok" if self.supervisor.alive else f"stopped: {self.supervisor.failed}"
        }
        try:
            async with self.pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1")
            checks["postgres"] = "ok"
        except Exception as exc:  # any failure means "not ready"; the reason is reported
            checks["postgres"] = f"unreachable: {exc!r}"
        checks["nats"] = "ok" if self.nc.is_connected else "disconnected"
        if self.nc.is_connected:
            try:
                missing = await bus.streams_present(self.js, self.settings)
                checks["streams"] = "ok" if not missing else f"missing: {', '.join(missing)}"
            except Exception as exc:  # as above
                checks["streams"] = f"unknown: {exc!r}"
        else:
            checks["streams"] = "unknown: NATS disconnected"
        return all(v == "ok" for v in checks.values()), checks


async def open_runtime(settings: Settings, clock: Clock, *, migrate: bool = True) -> Runtime:
    """Connect to PostgreSQL and NATS, apply migrations and ensure the streams exist."""
    from dutywatch import migrations

    if migrate:
        await migrations.migrate_url(settings.database_url)
    pool = await db.create_pool(settings.database_url, size=settings.db_pool_size)
    try:
        nc = await bus.connect(settings)
    except Exception:
        await pool.close()
        raise
    js = nc.jetstream()
    await bus.ensure_streams(js, settings)
    return Runtime(settings=settings, clock=clock, pool=pool, nc=nc, js=js)
