"""PostgreSQL pool and the retry rule for transactions the database asks us to repeat."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import structlog

from dutywatch.errors import RetryableDatabaseError

log = structlog.get_logger(__name__)
T = TypeVar("T")

#: SQLSTATEs worth repeating the whole transaction for: serialization failure, deadlock,
#: and unique violations raced by another replica inserting the same key first.
RETRYABLE = (
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.UniqueViolationError,
)

#: What PostgreSQL unreachable looks like (refused, reset, shut down by an operator, a
#: connection closed under us): a worker meeting one is restarted with backoff, not fatal.
#: asyncpg raises InternalClientError ("cannot switch to state N; another operation is in
#: progress") on a pooled connection whose server went away in the middle of a query.
_UNREACHABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InternalClientError,
)

#: Channels the service LISTENs on to wake a sleeping worker on another replica.
OUTBOX_CHANNEL = "dutywatch_outbox"
TIMERS_CHANNEL = "dutywatch_timers"


async def create_pool(database_url: str, *, size: int) -> asyncpg.Pool:
    # jsonb travels as JSON text both ways: callers encode and decode explicitly.
    pool = await asyncpg.create_pool(
        database_url,
        min_size=1,
        max_size=size,
        command_timeout=30,
        reset=_keep_session,
    )
    if pool is None:  # pragma: no cover - asyncpg returns None only when not awaited
        raise RuntimeError("asyncpg.create_pool returned no pool")
    return pool


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Return a connection to the pool without asyncpg's reset query.

    asyncpg still rolls back an open transaction first; its default reset then costs one
    more round trip per release (``UNLISTEN *``, ``RESET ALL``, advisory unlocks, ``CLOSE
    ALL``) to undo session state that pooled connections never take here: LISTEN has its own
    connection (service.py), the migration lock its own (migrations/), and every advisory
    lock on a pooled connection is transaction-scoped (``pg_advisory_xact_lock``). Keep it so.
    """


def unreachable(exc: BaseException) -> bool:
    """True when ``exc`` says PostgreSQL could not be reached, not that the work was wrong."""
    if isinstance(exc, _UNREACHABLE):
        return True
    # asyncpg's own wording for a pooled connection the server closed under us.
    return isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc)


async def with_retries(operation: Callable[[], Awaitable[T]], *, what: str, attempts: int = 5) -> T:
    """Run ``operation`` (one whole transaction) again when PostgreSQL says so."""
    for attempt in range(1, attempts + 1):
        try:
            return await operation()
        except RETRYABLE as exc:
            if attempt == attempts:
                raise RetryableDatabaseError(
                    f"{what}: gave up after {attempts} attempts ({exc.sqlstate})"
                ) from exc
            log.info("transaction_retry", what=what, attempt=attempt, sqlstate=exc.sqlstate)
            await asyncio.sleep(0.005 * 2**attempt)
    raise AssertionError("unreachable")
