"""The Supervisor's policy: an unreachable database restarts a worker, anything else stops."""

from __future__ import annotations

import asyncio

import asyncpg

from dutywatch.service import Supervisor


async def test_a_worker_that_meets_an_unreachable_database_is_started_again() -> None:
    sup = Supervisor()
    runs = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise ConnectionRefusedError(111, "Connect call failed")
        if runs == 2:
            raise asyncpg.exceptions.AdminShutdownError("terminating connection")
        await sup.stop.wait()

    sup.spawn("flaky", flaky)
    async with asyncio.timeout(5):
        while runs < 3:
            await asyncio.sleep(0.01)
    assert sup.alive
    assert sup.failed is None
    await sup.shutdown(timeout=2)
    assert sup.failed is None


async def test_a_worker_that_fails_otherwise_stops_the_service() -> None:
    sup = Supervisor()
    runs = 0

    async def broken() -> None:
        nonlocal runs
        runs += 1
        raise ValueError("a bug, not an outage")

    sup.spawn("broken", broken)
    async with asyncio.timeout(5):
        await sup.stop.wait()
    await asyncio.sleep(0.3)  # longer than the first backoff: no second run
    assert runs == 1
    assert not sup.alive
    assert sup.failed == "broken: ValueError('a bug, not an outage')"
    await sup.shutdown(timeout=2)
