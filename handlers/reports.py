"""Intake of incident reports from the REPORTS stream.

A batch of messages is decoded, then applied in ONE transaction: reports stored (the
reporter's ``report_id`` is unique, so a redelivered or republished report is a no-op),
incidents opened or joined, timeline entries chained, the duty officer paged through the
outbox and the escalation timer armed. The caller acknowledges the JetStream messages only
after this returns, i.e. after commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import asyncpg
import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from dutywatch import bus, errors, metrics
from dutywatch.clock import Clock
from dutywatch.config import Settings
from dutywatch.contracts import EventKind, ReportV1, Stage, decode_report
from dutywatch.db import OUTBOX_CHANNEL, TIMERS_CHANNEL, unreachable, with_retries
from dutywatch.deadlines import engine as deadlines
from dutywatch.deadlines import followup
from dutywatch.escalation import engine
from dutywatch.incidents import events
from dutywatch.incidents import store as incidents
from dutywatch.incidents.rules import Fact, Incident, State, apply_report
from dutywatch.orgs.store import known_orgs
from dutywatch.outbox.store import record_rejection
from dutywatch.sql import Conn
from dutywatch.timeline import Source
from dutywatch.timeline.store import append
from dutywatch.writes import Writes, flush

log = structlog.get_logger(__name__)

#: Header an edge sets when it publishes on behalf of an HTTP or CLI caller.
SOURCE_HEADER = bus.SOURCE_HEADER
SYSTEM_ACTOR = "dutywatch"
#: Seconds before JetStream redelivers a report whose transaction failed.
REDELIVERY_DELAY = 5.0
#: Seconds before JetStream redelivers a batch that met an unreachable database.
UNREACHABLE_REDELIVERY_DELAY = 1.0


@dataclass(frozen=True, kw_only=True)
class Inbound:
    """One message as it came off the bus."""

    data: bytes
    subject: str
    msg_id: str | None
    source: Source = Source.NATS


class Verdict(enum.StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True, kw_only=True)
class Outcome:
    verdict: Verdict
    incident_id: int | None = None
    report_id: str | None = None
    reason: str | None = None


@dataclass
class _Decoded:
    index: int
    item: Inbound
    report: ReportV1 | None = None
    error: errors.RejectedInput | None = None


@dataclass
class _BatchState:
    incidents: dict[tuple[str, str], Incident] = field(default_factory=dict)


def org_of_subject(settings: Settings, subject: str) -> str | None:
    prefix = settings.subject("report") + "."
    return subject[len(prefix) :] if subject.startswith(prefix) else None


def decode(settings: Settings, index: int, item: Inbound) -> _Decoded:
    try:
        report = decode_report(item.data)
    except errors.RejectedInput as exc:
        return _Decoded(index, item, error=exc)
    subject_org = org_of_subject(settings, item.subject)
    if subject_org != report.org:
        return _Decoded(
            index,
            item,
            error=errors.OrgMismatch(
                f"report is for {report.org!r} but was published on {item.subject!r}; "
                f"publish on {settings.subject('report', report.org)}",
                field="org",
            ),
        )
    if item.msg_id is not None and item.msg_id != str(report.report_id):
        return _Decoded(
            index,
            item,
            error=errors.SchemaViolation(
                f"Nats-Msg-Id {item.msg_id!r} differs from report_id {report.report_id}; "
                "set the message id to the report_id so retries are recognised",
                field="report_id",
            ),
        )
    return _Decoded(index, item, report=report)


async def ingest_batch(
    pool: asyncpg.Pool, settings: Settings, items: Sequence[Inbound], now: datetime
) -> list[Outcome]:
    """Apply a batch of inbound reports in one transaction; one outcome per item."""
    decoded = [decode(settings, i, item) for i, item in enumerate(items)]

    async def transaction() -> list[Outcome]:
        async with pool.acquire() as conn, conn.transaction():
            return await _apply(conn, settings, decoded, now)

    return await with_retries(transaction, what="report intake")


async def _apply(
    conn: Conn, settings: Settings, decoded: list[_Decoded], now: datetime
) -> list[Outcome]:
    outcomes: list[Outcome | None] = [None] * len(decoded)
    valid = [d for d in decoded if d.report is not None]
    orgs = await known_orgs(conn, {d.report.org for d in valid if d.report})
    for d in valid:
        assert d.report is not None
        if d.report.org not in orgs:
            d.error = errors.UnknownOrganisation(
                f"organisation {d.report.org!r} is not registered; check the org path "
                "(GET /api/v1/orgs lists them)",
                field="org",
            )
            d.report = None
    valid = [d for d in valid if d.report is not None]
    reports = [d.report for d in valid if d.report is not None]

    seen = await incidents.known_report_ids(conn, [r.report_id for r in reports])
    keys = sorted({(r.org, r.incident_ref) for r in reports})
    state = _BatchState(incidents=await incidents.lock_by_refs(conn, keys))
    writes = Writes(now=now)
    await writes.incident_ids.reserve(conn, sum(1 for k in keys if k not in state.incidents))
    # Ids for the rows a report usually makes, drawn in one round trip each (spares are
    # harmless gaps in the sequences): a page, the origin alert, phone and written clocks.
    await writes.page_ids.reserve(conn, len(reports))
    await writes.alert_ids.reserve(conn, len(reports))
    await writes.clock_ids.reserve(conn, 2 * len(reports))
    esc = await engine.Escalation.load(
        conn,
        writes,
        settings,
        incident_ids=[i.id for i in state.incidents.values()],
        orgs=[r.org for r in reports],
    )

    for d in valid:
        report = d.report
        assert report is not None
        if report.report_id in seen:
            existing = state.incidents.get((report.org, report.incident_ref))
            outcomes[d.index] = Outcome(
                verdict=Verdict.DUPLICATE,
                report_id=str(report.report_id),
                incident_id=existing.id if existing else None,
            )
            continue
        seen.add(report.report_id)
        incident = await _apply_one(esc, state, d, report)
        outcomes[d.index] = Outcome(
            verdict=Verdict.ACCEPTED, incident_id=incident.id, report_id=str(report.report_id)
        )
    await flush(conn, writes)

    for d in decoded:
        if d.error is not None:
            await record_rejection(
                conn,
                settings,
                d.error,
                raw=d.item.data,
                source=str(d.item.source),
                subject=d.item.subject,
                msg_id=d.item.msg_id,
                now=now,
            )
            outcomes[d.index] = Outcome(
                verdict=Verdict.REJECTED, reason=d.error.code, report_id=d.item.msg_id
            )
    if any(o is not None and o.verdict is not Verdict.DUPLICATE for o in outcomes):
        await conn.execute(
            "SELECT pg_notify($1, ''), pg_notify($2, '')", OUTBOX_CHANNEL, TIMERS_CHANNEL
        )
    return [o for o in outcomes if o is not None]


async def _apply_one(
    esc: engine.Escalation, state: _BatchState, d: _Decoded, report: ReportV1
) -> Incident:
    conn, writes, settings = esc.conn, esc.writes, esc.settings
    key = (report.org, report.incident_ref)
    current = state.incidents.get(key)
    new_id = await writes.incident_ids.take(conn) if current is None else 0
    policy = await esc.policies.select(conn, report.org, report.grade, report.category)
    outcome = apply_report(
        current, report, new_id=new_id, policy_version=policy.ref, now=writes.now
    )
    incident = outcome.incident
    writes.reports.append(
        (
            report.report_id,
            incident.id,
            str(report.stage),
            report.sequence,
            str(d.item.source),
            d.item.subject,
            writes.now,
            d.item.data.decode("utf-8"),
        )
    )
    origin = esc.alerts_of(incident.id).get(incident.org_path)
    if origin is not None:
        # The incident shows the version its origin alert runs, whatever the report's grade
        # would select (an upgrade below replaces it; a downgrade keeps the running one).
        incident = replace(incident, policy_version=origin.escalation.policy)
    office = f"office:{report.org}"
    incident = append(writes, incident, outcome.facts, actor=office, source=d.item.source)
    page_facts: list[Fact] = []
    if outcome.opened:
        incident, page_facts = await engine.open_incident(esc, incident)
        incident, more = await deadlines.start(esc, incident)
        page_facts += more
    elif current is not None and _escalates(current, incident):
        incident, page_facts = await engine.upgrade(esc, incident)
        incident, more = await deadlines.upgrade(esc, current, incident)
        page_facts += more
    if outcome.opened or report.stage is (
        Stage.FINAL if incident.state is State.RESOLVED else Stage.FOLLOW_UP
    ):
        # The report owed next: a first or follow-up report sets the next follow-up's due
        # time while open; a final report after resolution ends them.
        await followup.rearm(conn, writes, settings, incident, opened=outcome.opened)
    incident = append(writes, incident, page_facts, actor=SYSTEM_ACTOR, source=Source.SYSTEM)
    events.emit(
        writes,
        settings,
        incident,
        EventKind.OPENED if outcome.opened else EventKind.UPDATED,
        actor=office,
    )
    state.incidents[key] = incident
    writes.save(incident, new=outcome.opened)
    log.info(
        "report_accepted",
        incident_id=incident.id,
        report_id=str(report.report_id),
        org=report.org,
        stage=str(report.stage),
        grade=str(report.grade),
        opened=outcome.opened,
        drill=str(report.status) != "actual",
    )
    return incident


def _escalates(before: Incident, after: Incident) -> bool:
    """A more severe grade, or newly sensitive, on an incident not yet resolved."""
    return after.state is not State.RESOLVED and (
        after.grade.rank < before.grade.rank or (after.sensitive and not before.sensitive)
    )


async def consume(
    js: JetStreamContext,
    pool: asyncpg.Pool,
    settings: Settings,
    clock: Clock,
    stop: asyncio.Event,
    after_commit: Callable[[], None],
) -> None:
    """Pull batches from the durable intake consumer until ``stop``; ack after commit.

    Pipelined: the next batch is fetched while the current one's transaction runs, so the
    loop does not wait on NATS between commits. Batches are still applied one after another,
    in stream order. A prefetched batch that will not be handled (stopping, or the current
    batch failed) is handed back with ``nak`` for another replica or the restarted worker.
    """
    sub = await js.pull_subscribe_bind(
        durable=bus.INTAKE_CONSUMER, stream=settings.stream("REPORTS")
    )
    ahead: asyncio.Task[list[Msg]] | None = None
    try:
        ahead = asyncio.create_task(_next_batch(sub, settings))
        while not stop.is_set():
            msgs = await ahead
            ahead = None
            if stop.is_set():
                await _hand_back(msgs)
                break
            ahead = asyncio.create_task(_next_batch(sub, settings))
            if msgs:
                await _handle(msgs, pool, settings, clock)
                after_commit()
    finally:
        if ahead is not None:
            # Waited for, not cancelled: a fetch cancelled mid-flight could leave messages
            # delivered to this client that nobody settles until their ack wait runs out.
            with contextlib.suppress(Exception):
                await _hand_back(await asyncio.shield(ahead))
        await sub.unsubscribe()


async def _hand_back(msgs: Sequence[Msg]) -> None:
    """Give fetched, unhandled messages back to JetStream for redelivery at once."""
    for msg in msgs:
        with contextlib.suppress(Exception):
            await msg.nak()


async def _next_batch(sub: JetStreamContext.PullSubscription, settings: Settings) -> list[Msg]:
    """Block for the first message, then take the messages already waiting behind it.

    How many wait is in the first message's metadata (``num_pending``). Only those are
    asked for: a fetch for more than are there lingers until its timeout (nats-py sends the
    pull with an expiry, and the server holds it open), which cost a lone report the whole
    timeout. Reports that arrive meanwhile go into the next batch, fetched while this one
    commits.
    """
    msgs = await bus.fetch_waiting(sub, 1, what="intake")
    waiting = min(_waiting_behind(msgs[-1]) if msgs else 0, settings.intake_batch - 1)
    if waiting > 0:
        # A NATS error here (the consumer's leader lost with a node: 503) ends the batch
        # early; the next fetch_waiting logs it and waits for the cluster.
        with contextlib.suppress(TimeoutError, nats.errors.Error):
            msgs += await sub.fetch(waiting, timeout=settings.intake_fetch_timeout)
    return msgs


def _waiting_behind(msg: Msg) -> int:
    """How many messages the consumer had yet to deliver when it delivered ``msg``."""
    try:
        return int(msg.metadata.num_pending or 0)
    except (AttributeError, ValueError, TypeError):  # not a JetStream message
        return 0


async def _handle(msgs: list[Msg], pool: asyncpg.Pool, settings: Settings, clock: Clock) -> None:
    items = [
        Inbound(
            data=msg.data,
            subject=msg.subject,
            msg_id=(msg.headers or {}).get("Nats-Msg-Id"),
            source=_source_of(msg),
        )
        for msg in msgs
    ]
    started = time.perf_counter()
    try:
        outcomes = await ingest_batch(pool, settings, items, clock.now())
    except Exception as exc:
        if unreachable(exc):
            # Not the messages' fault: give them back for soon, and let the supervisor start
            # this worker again with backoff instead of churning through the stream.
            for msg in msgs:
                await msg.nak(delay=UNREACHABLE_REDELIVERY_DELAY)
            raise
        if len(msgs) == 1:
            # Kept, not dropped: JetStream redelivers it after the delay, and the log says why.
            log.exception(
                "report_intake_failed", report_id=items[0].msg_id, subject=items[0].subject
            )
            await msgs[0].nak(delay=REDELIVERY_DELAY)
            return
        # Find the message that fails by handling each alone; the others go through.
        for msg in msgs:
            await _handle([msg], pool, settings, clock)
        return
    _observe(msgs, outcomes, started)
    for msg, outcome in zip(msgs, outcomes, strict=True):
        if outcome.verdict is Verdict.REJECTED:
            await msg.term()
        else:
            await msg.ack()


def _observe(msgs: Sequence[Msg], outcomes: Sequence[Outcome], started: float) -> None:
    """The intake's metrics of one committed batch (wall time: JetStream stamps arrivals)."""
    metrics.INTAKE_BATCH_SECONDS.observe(time.perf_counter() - started)
    committed = datetime.now(UTC)
    for msg, outcome in zip(msgs, outcomes, strict=True):
        metrics.REPORTS.labels(outcome=str(outcome.verdict)).inc()
        if outcome.verdict is Verdict.REJECTED:
            metrics.REJECTIONS.labels(reason=outcome.reason or "unknown").inc()
        elif outcome.verdict is Verdict.ACCEPTED:
            with contextlib.suppress(ValueError, AttributeError):
                metrics.observe_report_latency(msg.metadata.timestamp, committed)


def _source_of(msg: Msg) -> Source:
    value = (msg.headers or {}).get(SOURCE_HEADER, "nats")
    try:
        return Source(value)
    except ValueError:
        return Source.NATS
