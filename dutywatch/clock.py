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
        self._moved = asyncio.Condition()

    def now(self) -> datetime:
        return self._now

    async def advance(self, delta: timedelta) -> None:
        async with self._moved:
            self._now += delta
            self._moved.notify_all()

    async def sleep_until(self, when: datetime, wake: asyncio.Event) -> None:
        waiter = asyncio.ensure_future(wake.wait())
        try:
            async with self._moved:
                while self._now < when and not wake.is_set():
                    moved = asyncio.ensure_future(self._moved.wait())
                    done, _ = await asyncio.wait(
                        {moved, waiter}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if moved not in done:
                        moved.cancel()
                        # Condition.wait re-acquires the lock even when cancelled.
                        with contextlib.suppress(asyncio.CancelledError):
                            await moved
                        return
        finally:
            waiter.cancel()


def utc(value: datetime) -> datetime:
    """Normalise an aware datetime to UTC; refuse naive ones."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: dutywatch stores and compares only aware times")
    return value.astimezone(UTC)


ZERO = timedelta(0)
