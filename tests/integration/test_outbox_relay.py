"""The outbox relay's publishing, against a real nats-server and PostgreSQL.

A batch's publishes are bounded by one deadline (``relay.PUBLISH_TIMEOUT``), not nats-py's
per-message ``wait_stall``: these tests check the bound still holds when JetStream's limit of
unacknowledged publishes is reached, and that a batch that is answered is published whole.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import asyncpg
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient

from dutywatch.outbox import relay
from dutywatch.outbox.store import queries as outbox_queries
from dutywatch.writes import queries as writes_queries

NOW = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


async def claim(conn: asyncpg.Connection, subject: str, count: int) -> list[asyncpg.Record]:
    for n in range(count):
        await outbox_queries.exec(conn, "enqueue", subject, f"{n}".encode(), NOW)
    return await outbox_queries.many(conn, "claim_pending", count)


async def test_a_stalled_batch_ends_within_the_publish_timeout(
    nc: NatsClient,
    conn: asyncpg.Connection,
    subject_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(relay, "PUBLISH_TIMEOUT", 0.5)
    subject = f"{subject_prefix}.stall.x"
    # A plain subscriber takes the messages and never answers: no publish is acknowledged,
    # so with one unacknowledged publish allowed, the second waits for a slot that never frees.
    silent = await nc.subscribe(subject)
    rows = await claim(conn, subject, 3)
    started = time.monotonic()
    with pytest.raises((TimeoutError, nats.errors.Error)):
        await relay.publish_rows(nc.jetstream(publish_async_max_pending=1), rows)
    assert time.monotonic() - started < 2.0
    await silent.unsubscribe()


async def test_every_row_of_an_answered_batch_is_published_in_order(
    nc: NatsClient, conn: asyncpg.Connection, subject_prefix: str, stream_prefix: str
) -> None:
    subject = f"{subject_prefix}.relay.x"
    js = nc.jetstream()
    await js.add_stream(name=f"{stream_prefix}RELAY", subjects=[subject])
    rows = await claim(conn, subject, 50)
    assert await relay.publish_rows(js, rows) == [None] * 50
    sub = await js.pull_subscribe(subject, durable="check")
    msgs = await sub.fetch(50, timeout=5)
    assert [m.data for m in msgs] == [bytes(row["payload"]) for row in rows]
    assert [m.headers["Nats-Msg-Id"] for m in msgs if m.headers] == [str(r["id"]) for r in rows]


async def test_a_batch_of_outbox_rows_gets_ids_in_the_order_given(
    conn: asyncpg.Connection, subject_prefix: str
) -> None:
    """One ``unnest`` insert per batch (writes.flush): the relay publishes by id, so the ids
    must follow the order the transaction wrote the messages in."""
    subject = f"{subject_prefix}.order.x"
    payloads = [f"{n:03}".encode() for n in reversed(range(40))]
    await writes_queries.exec_columns(
        conn, "enqueue_all", [(subject, payload, NOW) for payload in payloads]
    )
    stored = await conn.fetch("SELECT payload FROM outbox WHERE subject = $1 ORDER BY id", subject)
    assert [bytes(row["payload"]) for row in stored] == payloads
