"""NATS connection, JetStream streams and consumers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nats
import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from dutywatch.config import Settings

log = structlog.get_logger(__name__)

DAY = 24 * 3600.0
INTAKE_CONSUMER = "intake"


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: list[str]
    max_age: float
    duplicate_window: float


def stream_specs(settings: Settings) -> list[StreamSpec]:
    """The four streams; names carry the configured prefix."""
    s = settings.subject
    return [
        # Reports are kept for post-incident review; PostgreSQL dedups forever by report_id,
        # the window catches quick retries before they reach intake.
        StreamSpec(settings.stream("REPORTS"), [s("report", ">")], 400 * DAY, 600.0),
        # The window must outlast a relay restart: a page republished inside it is dropped.
        StreamSpec(settings.stream("NOTIFY"), [s("notify", ">")], 30 * DAY, 600.0),
        StreamSpec(settings.stream("EVENTS"), [s("event", ">")], 30 * DAY, 600.0),
        StreamSpec(settings.stream("REJECTED"), [s("rejected")], 90 * DAY, 600.0),
    ]


async def connect(settings: Settings, *, name: str = "dutywatch") -> Client:
    """Connect and keep reconnecting forever (the client's default gives up after ~2 min)."""

    async def disconnected() -> None:
        log.warning("nats_disconnected")

    async def reconnected() -> None:
        log.info("nats_reconnected")

    async def error(exc: Exception) -> None:
        log.warning("nats_error", error=str(exc))

    nc: Client = await nats.connect(
        settings.nats_url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        error_cb=error,
    )
    return nc


async def ensure_streams(js: JetStreamContext, settings: Settings) -> None:
    """Create or update the streams and the durable intake consumer."""
    for spec in stream_specs(settings):
        config = StreamConfig(
            name=spec.name,
            subjects=spec.subjects,
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=spec.max_age,
            duplicate_window=spec.duplicate_window,
            num_replicas=settings.stream_replicas,
        )
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(config)
            log.info("stream_created", stream=spec.name, subjects=spec.subjects)
        else:
            await js.update_stream(config)
    await js.add_consumer(settings.stream("REPORTS"), intake_consumer_config(settings))


def intake_consumer_config(settings: Settings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=INTAKE_CONSUMER,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        # Long enough for a batch transaction under load; a crashed replica's messages
        # are redelivered to another after this.
        ack_wait=30,
        # Never give up on a report: one that keeps failing stays visible as pending.
        max_deliver=-1,
        max_ack_pending=20_000,
        filter_subject=settings.subject("report", ">"),
    )


async def streams_present(js: JetStreamContext, settings: Settings) -> list[str]:
    """Names of the expected streams that are missing."""
    missing = []
    for spec in stream_specs(settings):
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            missing.append(spec.name)
    return missing


def msg_id_header(msg_id: str, **extra: str) -> dict[str, Any]:
    return {"Nats-Msg-Id": msg_id, **extra}
