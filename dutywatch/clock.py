"""The one business clock.

Every decision takes ``now`` as an argument; the edges get it from a :class:`Clock`.
Tests use :class:`ManualClock` and fast-forward it instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    async def sleep_until(self, when: datetime, wake: asyncio.Event) -> None:
        """Return at ``when`` (business time) or as soon as ``wake`` is set."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime, wake: asyncio.Event) -> None:
        delay = (when - self.now()).total_seconds()
        if delay <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=delay)


class ManualClock:
    """A clock that moves only when told to; sleepers wake when it passes their time."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start
        self._sleepers: set[tuple[datetime, asyncio.Future[None]]] = set()

    def now(self) -> datetime:
        return self._now

    async def advance(self, delta: timedelta) -> None:
        self._now += delta
        for when, woken in list(self._sleepers):
            if when <= self._now and not woken.done():
                woken.set_result(None)

    async def sleep_until(self, when: datetime, wake: asyncio.Event) -> None:
        if self._now >= when or wake.is_set():
            return
        sleeper = (when, asyncio.get_running_loop().create_future())
        self._sleepers.add(sleeper)
        waiter = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper[1], waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._sleepers.discard(sleeper)
            sleeper[1].cancel()
            waiter.cancel()


def utc(value: datetime) -> datetime:
    """Normalise an aware datetime to UTC; refuse naive ones."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: dutywatch stores and compares only aware times")
    return value.astimezone(UTC)


ZERO = timedelta(0)
