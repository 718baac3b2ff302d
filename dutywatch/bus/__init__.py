"""NATS connection, JetStream streams and consumers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import nats
import nats.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    PubAck,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NoStreamResponseError, NotFoundError

from dutywatch import errors
from dutywatch.config import Settings

log = structlog.get_logger(__name__)

DAY = 24 * 3600.0
#: Header an edge sets when it publishes a report on behalf of an HTTP or CLI caller.
SOURCE_HEADER = "Dutywatch-Source"
INTAKE_CONSUMER = "intake"
#: The channel worker's durable consumer of NOTIFY, shared by every replica.
DELIVERY_CONSUMER = "delivery"
#: The durable consumer of CAP 1.2 messages published on ``dutywatch.cap.<org path>``.
CAP_CONSUMER = "cap-intake"


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: list[str]
    max_age: float
    duplicate_window: float


def stream_specs(settings: Settings) -> list[StreamSpec]:
    """The five streams; names carry the configured prefix."""
    s = settings.subject
    return [
        # Reports are kept for post-incident review; PostgreSQL dedups forever by report_id,
        # the window catches quick retries before they reach intake.
        StreamSpec(settings.stream("REPORTS"), [s("report", ">")], 400 * DAY, 600.0),
        # The window must outlast a relay restart: a page republished inside it is dropped.
        StreamSpec(settings.stream("NOTIFY"), [s("notify", ">")], 30 * DAY, 600.0),
        StreamSpec(settings.stream("EVENTS"), [s("event", ">")], 30 * DAY, 600.0),
        StreamSpec(settings.stream("REJECTED"), [s("rejected")], 90 * DAY, 600.0),
        # CAP 1.2 XML from offices, translated into reports by the `cap-intake` consumer; kept
        # as long as the reports they became.
        StreamSpec(settings.stream("CAP"), [s("cap", ">")], 400 * DAY, 600.0),
    ]


def split_nats_url(value: str) -> tuple[list[str], dict[str, str]]:
    """``nats://user:pass@a:4222,nats://b:4222`` -> (server URLs, user and password).

    nats-py sends credentials found in a URL only to that server, so after a failover to a
    node it discovered it would connect anonymously; passed separately, they go to every node.
    """
    servers: list[str] = []
    credentials: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        parts = urlsplit(item if "://" in item else f"nats://{item}")
        if parts.username is not None:
            credentials = {"user": unquote(parts.username)}
            if parts.password is not None:
                credentials["password"] = unquote(parts.password)
        host = parts.hostname or "127.0.0.1"
        netloc = f"[{host}]" if ":" in host else host
        servers.append(f"{parts.scheme}://{netloc}:{parts.port or 4222}")
    if not servers:
        raise errors.ConfigurationError(f"no NATS server in {value!r}")
    return servers, credentials


#: Unanswered pings after which the connection counts as lost (see Settings.nats_ping_interval).
STALE_AFTER_PINGS = 3


async def connect(settings: Settings, *, name: str = "dutywatch") -> Client:
    """Connect and keep reconnecting forever (the client's default gives up after ~2 min)."""

    async def disconnected() -> None:
        log.warning("nats_disconnected")

    async def reconnected() -> None:
        log.info("nats_reconnected")

    async def error(exc: Exception) -> None:
        log.warning("nats_error", error=str(exc))

    servers, credentials = split_nats_url(settings.nats_url)
    nc: Client = await nats.connect(
        servers=servers,
        **credentials,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        ping_interval=settings.nats_ping_interval,
        max_outstanding_pings=STALE_AFTER_PINGS,
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
    await js.add_consumer(settings.stream("NOTIFY"), delivery_consumer_config(settings))
    await js.add_consumer(settings.stream("CAP"), cap_consumer_config(settings))


def _work_queue(
    name: str,
    filter_subject: str,
    *,
    ack_wait: float,
    max_ack_pending: int,
    deliver_policy: DeliverPolicy = DeliverPolicy.ALL,
) -> ConsumerConfig:
    """A durable pull consumer shared by every replica: each message settled explicitly,
    never given up on by JetStream (one that keeps failing stays visible as pending; the
    handlers decide when it is done)."""
    return ConsumerConfig(
        durable_name=name,
        deliver_policy=deliver_policy,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=-1,
        max_ack_pending=max_ack_pending,
        filter_subject=filter_subject,
    )


def intake_consumer_config(settings: Settings) -> ConsumerConfig:
    # ack_wait (DUTYWATCH_INTAKE_ACK_WAIT): long enough for a batch transaction under load; a
    # crashed replica's messages are redelivered to another after it.
    return _work_queue(
        INTAKE_CONSUMER,
        settings.subject("report", ">"),
        ack_wait=settings.intake_ack_wait,
        max_ack_pending=20_000,
    )


def cap_consumer_config(settings: Settings) -> ConsumerConfig:
    # A Cancel waits (nak with a delay) until the report it resolves is taken in.
    return _work_queue(
        CAP_CONSUMER,
        settings.subject("cap", ">"),
        ack_wait=settings.intake_ack_wait,
        max_ack_pending=1_000,
    )


def delivery_consumer_config(settings: Settings) -> ConsumerConfig:
    # ack_wait: one try of a channel takes at most 10 s and the worker extends it before each
    # try; a crashed replica's pages go to another after it. Retries are counted by the
    # page's receipts, not by JetStream. NEW: the consumer is made when the first replica
    # with the channel worker starts (before its relay publishes) and keeps its place from
    # then on; pages older than it (up to 30 days, on an upgrade) are not sent out again.
    return _work_queue(
        DELIVERY_CONSUMER,
        settings.subject("notify", ">"),
        ack_wait=60,
        max_ack_pending=10_000,
        deliver_policy=DeliverPolicy.NEW,
    )


#: How long an idle worker waits on a fetch before looking at its stop flag again: a stopping
#: replica waits at most this long for an idle worker. Nothing is lost when a fetch times out
#: as a message arrives: nats-py keeps it in the subscription and the next fetch returns it.
IDLE_FETCH_TIMEOUT = 0.25
#: How long a worker pauses after a failed fetch (disconnected, server restarting).
FETCH_RETRY_PAUSE = 1.0
#: Seconds before JetStream redelivers messages a worker gave back because PostgreSQL was
#: unreachable (the worker itself is started again with backoff by the Supervisor).
UNREACHABLE_REDELIVERY_DELAY = 1.0


async def fetch_waiting(
    sub: JetStreamContext.PullSubscription, batch: int, *, what: str
) -> list[Msg]:
    """Up to ``batch`` messages of a pull consumer, waiting at most
    :data:`IDLE_FETCH_TIMEOUT`; none when idle, or (logged as ``{what}_fetch_failed``, after a
    pause) while disconnected or the server restarts: the client reconnects by itself."""
    try:
        msgs: list[Msg] = await sub.fetch(batch, timeout=IDLE_FETCH_TIMEOUT)
    except TimeoutError:
        return []
    except nats.errors.Error as exc:
        log.warning(f"{what}_fetch_failed", error=repr(exc))
        await asyncio.sleep(FETCH_RETRY_PAUSE)
        return []
    return msgs


async def streams_present(js: JetStreamContext, settings: Settings) -> list[str]:
    """Names of the expected streams that are missing."""
    missing = []
    for spec in stream_specs(settings):
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            missing.append(spec.name)
    return missing


async def publish_idempotent(
    js: JetStreamContext,
    subject: str,
    data: bytes,
    *,
    msg_id: str,
    headers: dict[str, str] | None = None,
    attempts: int = 3,
    timeout: float = 5.0,
) -> PubAck:
    """Publish with a message id, retrying a timed-out publish with the same id.

    A publish that timed out may still have been stored; repeating it with the same
    ``Nats-Msg-Id`` is safe (the stream's duplicate window drops the copy) and tells us.
    """
    for attempt in range(1, attempts + 1):
        try:
            ack: PubAck = await js.publish(
                subject, data, headers={"Nats-Msg-Id": msg_id, **(headers or {})}, timeout=timeout
            )
        except (TimeoutError, nats.errors.NoRespondersError, NoStreamResponseError) as exc:
            if attempt == attempts:
                raise errors.BusUnavailable(
                    f"JetStream did not confirm the publish on {subject} after {attempts} "
                    "attempts; send the same report again (its report_id makes that safe)"
                ) from exc
            log.warning("publish_retry", subject=subject, msg_id=msg_id, attempt=attempt)
            await asyncio.sleep(0.2 * attempt)
        else:
            return ack
    raise AssertionError("unreachable")
