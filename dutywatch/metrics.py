"""Prometheus metrics of this process, served at ``/metrics`` (what each means and what to do
when one is off: docs/OPERATIONS.md, "Metrics").

Counters and histograms are per process: each replica is scraped on its own and Prometheus
sums them. The gauges (backlogs read from PostgreSQL and JetStream) are the same on every
replica; take their ``max`` across replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

import asyncpg
import nats.errors
import structlog
from nats.js import JetStreamContext
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from dutywatch import bus
from dutywatch.clock import Clock
from dutywatch.config import Settings

log = structlog.get_logger(__name__)

#: Seconds: from 1 ms to 30 s, dense where the targets are (50 ms, 250 ms).
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REFUSALS = Counter(
    "dutywatch_http_refusals_total",
    "HTTP requests refused for authentication, authorisation or rate limits, by reason",
    ["reason"],
)
REPORTS = Counter(
    "dutywatch_reports_total",
    "Reports taken from the REPORTS stream, by outcome (accepted, duplicate, rejected)",
    ["outcome"],
)
REJECTIONS = Counter(
    "dutywatch_rejections_total", "Reports refused by the intake, by reason", ["reason"]
)
INTAKE_BATCH_SECONDS = Histogram(
    "dutywatch_intake_batch_seconds",
    "Time to decode, write and commit one intake batch",
    buckets=LATENCY_BUCKETS,
)
REPORT_LATENCY_SECONDS = Histogram(
    "dutywatch_report_latency_seconds",
    "From a report's arrival in JetStream to the commit of its incident, page and outbox rows",
    buckets=LATENCY_BUCKETS,
)
TIMER_LATENESS_SECONDS = Histogram(
    "dutywatch_timer_lateness_seconds",
    "How late a durable timer (escalation, deadline, follow-up ...) fired after its due time",
    buckets=LATENCY_BUCKETS,
)
PAGE_DELIVERIES = Counter(
    "dutywatch_page_deliveries_total",
    "Delivery attempts of pages reported by the channels, by channel and result",
    ["channel", "result"],
)
INTAKE_PENDING = Gauge(
    "dutywatch_intake_pending", "Reports in JetStream not yet delivered to the intake (lag)"
)
INTAKE_ACK_PENDING = Gauge(
    "dutywatch_intake_ack_pending", "Reports delivered to an intake and not yet acknowledged"
)
OUTBOX_BACKLOG = Gauge("dutywatch_outbox_backlog", "Outbox rows not yet published")
TIMERS_PENDING = Gauge("dutywatch_timers_pending", "Durable timers neither fired nor cancelled")
TIMERS_OVERDUE_SECONDS = Gauge(
    "dutywatch_timers_overdue_seconds",
    "How far past its due time the oldest unfired timer is (0 when none is due)",
)

#: How often the backlog gauges are read.
GAUGE_INTERVAL = 5.0


def exposition() -> tuple[bytes, str]:
    """The text exposition format and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


def observe_report_latency(arrived: datetime, committed: datetime) -> None:
    REPORT_LATENCY_SECONDS.observe(max(0.0, (committed - arrived).total_seconds()))


async def read_gauges(
    pool: asyncpg.Pool, js: JetStreamContext, settings: Settings, now: datetime
) -> None:
    """Set the backlog gauges from PostgreSQL and the intake consumer, once."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS outbox,
                      (SELECT count(*) FROM timers
                        WHERE fired_at IS NULL AND cancelled_at IS NULL) AS timers,
                      (SELECT min(due_at) FROM timers
                        WHERE fired_at IS NULL AND cancelled_at IS NULL) AS next_due"""
        )
    assert row is not None
    OUTBOX_BACKLOG.set(row["outbox"])
    TIMERS_PENDING.set(row["timers"])
    next_due: datetime | None = row["next_due"]
    TIMERS_OVERDUE_SECONDS.set(max(0.0, (now - next_due).total_seconds()) if next_due else 0.0)
    info = await js.consumer_info(settings.stream("REPORTS"), bus.INTAKE_CONSUMER)
    INTAKE_PENDING.set(info.num_pending or 0)
    INTAKE_ACK_PENDING.set(info.num_ack_pending or 0)


async def run(
    pool: asyncpg.Pool,
    js: JetStreamContext,
    settings: Settings,
    clock: Clock,
    stop: asyncio.Event,
) -> None:
    """Read the gauges every :data:`GAUGE_INTERVAL` seconds until ``stop``."""
    while not stop.is_set():
        try:
            await read_gauges(pool, js, settings, clock.now())
        except (OSError, asyncpg.PostgresError, TimeoutError, nats.errors.Error) as exc:
            log.warning("metrics_read_failed", error=repr(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=GAUGE_INTERVAL)
