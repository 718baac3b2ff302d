"""Publishing with message ids against a real nats-server."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NatsClient

from dutywatch import bus, errors
from dutywatch.config import Settings


async def test_publish_is_idempotent_by_message_id(settings: Settings, nc: NatsClient) -> None:
    js = nc.jetstream()
    await bus.ensure_streams(js, settings)
    subject = settings.subject("report", "harbin")
    first = await bus.publish_idempotent(js, subject, b"{}", msg_id="r-1")
    again = await bus.publish_idempotent(js, subject, b"{}", msg_id="r-1")
    assert not first.duplicate
    assert again.duplicate
    assert again.seq == first.seq
    info = await js.stream_info(settings.stream("REPORTS"))
    assert info.state.messages == 1


async def test_publish_without_a_stream_fails_with_advice(
    settings: Settings, nc: NatsClient
) -> None:
    with pytest.raises(errors.BusUnavailable, match="send the same report again"):
        await bus.publish_idempotent(
            nc.jetstream(),
            settings.subject("nowhere"),
            b"{}",
            msg_id="r-2",
            attempts=2,
            timeout=0.5,
        )


async def test_streams_are_created_once_and_reported(settings: Settings, nc: NatsClient) -> None:
    js = nc.jetstream()
    assert len(await bus.streams_present(js, settings)) == 5
    await bus.ensure_streams(js, settings)
    await bus.ensure_streams(js, settings)  # updating in place is harmless
    assert await bus.streams_present(js, settings) == []
    consumer = await js.consumer_info(settings.stream("REPORTS"), bus.INTAKE_CONSUMER)
    assert consumer.config.max_deliver == -1


async def test_a_changed_intake_ack_wait_updates_the_existing_consumers(
    settings: Settings, nc: NatsClient
) -> None:
    js = nc.jetstream()
    await bus.ensure_streams(js, settings)
    consumers = (
        (settings.stream("REPORTS"), bus.INTAKE_CONSUMER),
        (settings.stream("CAP"), bus.CAP_CONSUMER),
    )
    for stream, name in consumers:
        assert (await js.consumer_info(stream, name)).config.ack_wait == 30
    # A restart with another setting changes the durable consumers in place: same
    # consumer, same position, the new ack_wait.
    await js.publish(settings.subject("report", "harbin"), b"{}")
    await bus.ensure_streams(js, settings.with_(intake_ack_wait=3.0))
    for stream, name in consumers:
        info = await js.consumer_info(stream, name)
        assert info.config.ack_wait == 3
    assert (await js.consumer_info(*consumers[0])).num_pending == 1
