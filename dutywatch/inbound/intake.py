"""The one intake path for every inbound format, and the commands behind their actions.

Every format becomes a ``dutywatch.report.v1`` published on ``dutywatch.report.<org>`` with
``Nats-Msg-Id`` = its deterministic ``report_id``, exactly as ``POST /api/v1/reports`` does:
intake stores, routes and pages it like any other report, and a resend is a duplicate.
Acknowledging and resolving go through :mod:`dutywatch.incidents.commands` with a
deterministic ``command_id``, so a resend replays the first result. An action waits for the
report it depends on to be taken in (a trigger published a moment ago may still be in the
stream); :class:`NotTakenInYet` says it is not, and the caller retries.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg
import structlog
from nats.js import JetStreamContext

from dutywatch import bus, errors
from dutywatch.config import Settings
from dutywatch.contracts import CapOrigin, Category, Grade, ReportV1, encode
from dutywatch.inbound import cap, pagerduty
from dutywatch.incidents import commands
from dutywatch.incidents import store as incidents
from dutywatch.incidents.rules import Incident, State
from dutywatch.orgs.store import known_orgs
from dutywatch.sql import Conn, Queries
from dutywatch.timeline import Source

queries = Queries(__package__)
log = structlog.get_logger(__name__)

#: How long an HTTP action waits for the report it depends on to be taken in.
ACTION_WAIT_SECONDS: Final = 5.0
_POLL_SECONDS: Final = 0.05


class NotTakenInYet(errors.DutywatchError):
    """The report this action depends on has not been taken in yet; send the action again."""

    code = "not_taken_in_yet"
    http_status = 409


async def publish(
    js: JetStreamContext,
    settings: Settings,
    report: ReportV1,
    *,
    source: str,
    raw: bytes | None = None,
) -> dict[str, Any]:
    """Publish a decoded report into REPORTS (the intake path); the HTTP 202 body."""
    subject = settings.subject("report", report.org)
    ack = await bus.publish_idempotent(
        js,
        subject,
        raw if raw is not None else encode(report),
        msg_id=str(report.report_id),
        headers={bus.SOURCE_HEADER: source},
    )
    log.info(
        "report_published",
        report_id=str(report.report_id),
        org=report.org,
        stream_seq=ack.seq,
        duplicate=bool(ack.duplicate),
        source=source,
    )
    return {
        "report_id": str(report.report_id),
        "incident_ref": report.incident_ref,
        "subject": subject,
        "stream_seq": ack.seq,
        "duplicate": bool(ack.duplicate),
    }


async def require_known_org(conn: Conn, org: str) -> None:
    if not await known_orgs(conn, [org]):
        raise errors.UnknownOrganisation(
            f"organisation {org!r} is not registered; GET /api/v1/orgs lists them", field="org"
        )


async def incident_by_ref(conn: Conn, org: str, ref: str) -> Incident | None:
    row = await queries.one(conn, "incident_by_ref", org, ref)
    return incidents.from_row(row) if row is not None else None


async def latest_generation(conn: Conn, org: str, base_ref: str) -> Incident | None:
    """The newest incident of a ``family:key`` ref (PagerDuty ``pd:``, Alertmanager ``am:``)."""
    family, _, key = base_ref.partition(":")
    pattern = f"^{re.escape(family)}[0-9]+:{re.escape(key)}$"
    row = await queries.one(conn, "latest_generation", org, base_ref, pattern)
    return incidents.from_row(row) if row is not None else None


def ref_for_new_event(base_ref: str, latest: Incident | None) -> str:
    """Where a new trigger or firing group goes: the newest incident of its key while that
    is not resolved; after it is, a new incident (``pd2:key``, ``pd3:key``, ...), as
    PagerDuty and Alertmanager open a new one."""
    if latest is None:
        return base_ref
    if latest.state is not State.RESOLVED:
        return latest.incident_ref
    family, _, key = base_ref.partition(":")
    prefix = latest.incident_ref.partition(":")[0]
    generation = int(prefix[len(family) :] or "1")
    return f"{family}{generation + 1}:{key}"


async def wait_for_incident(
    pool: asyncpg.Pool,
    *,
    org: str,
    incident_ref: str,
    report_id: uuid.UUID | None,
    timeout: float,
) -> int:
    """The incident an action applies to, once intake has taken in what it depends on: the
    report ``report_id`` when given (the action's own, recorded first), else any report of
    the incident ``(org, incident_ref)``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with pool.acquire() as conn:
            if report_id is not None:
                found = await queries.val(conn, "incident_of_report", report_id)
            else:
                incident = await incident_by_ref(conn, org, incident_ref)
                found = incident.id if incident is not None else None
        if found is not None:
            return int(found)
        if loop.time() >= deadline:
            raise NotTakenInYet(
                f"no incident {incident_ref!r} of {org!r} is taken in yet (its first report may "
                "still be on its way, or was never sent); send the same request again shortly",
                field="incident_ref",
            )
        await asyncio.sleep(_POLL_SECONDS)


def command_id_of(identity: uuid.UUID, verb: commands.Verb, incident_id: int) -> uuid.UUID:
    """The command an inbound message causes on an incident: a resend replays it instead of
    acting twice (the same body sent to a later incident of the same key acts on that one)."""
    return uuid.uuid5(cap.ID_NAMESPACE, f"command/{verb}/{identity}/{incident_id}")


@dataclass(frozen=True, kw_only=True)
class Action:
    """Acknowledge or resolve the incident ``(org, incident_ref)`` because of one inbound
    message (``identity``: the same message again replays the command)."""

    verb: commands.Verb
    org: str
    incident_ref: str
    identity: uuid.UUID
    actor: str
    note: str | None = None
    #: Wait for this report (the message's own) rather than for any report of the incident.
    after_report: uuid.UUID | None = None


async def act(
    pool: asyncpg.Pool,
    settings: Settings,
    action: Action,
    *,
    now: datetime,
    wait: float,
    source: Source = Source.HTTP,
) -> dict[str, Any]:
    """Carry an action out through the commands, as the office's duty room."""
    incident_id = await wait_for_incident(
        pool,
        org=action.org,
        incident_ref=action.incident_ref,
        report_id=action.after_report,
        timeout=wait,
    )

    def authorize(incident: Incident) -> None:
        if incident.org_path != action.org:
            raise errors.Forbidden(
                f"incident {incident.id} belongs to {incident.org_path!r}, not {action.org!r}"
            )

    return await commands.execute(
        pool,
        settings,
        action.verb,
        incident_id,
        actor=action.actor,
        note=action.note,
        source=source,
        now=now,
        command_id=command_id_of(action.identity, action.verb, incident_id),
        authorize=authorize,
        duty_room=action.org,
    )


# --------------------------------------------------------------------------- CAP


@dataclass(frozen=True, kw_only=True)
class CapIntake:
    message: CapOrigin
    report: ReportV1
    published: dict[str, Any]

    @property
    def cancels(self) -> bool:
        return self.message.msg_type == cap.MsgType.CANCEL


async def translate_cap(conn: Conn, data: bytes, *, org: str) -> tuple[CapOrigin, ReportV1]:
    """Parse, validate and translate a CAP message for ``org``'s office (typed rejections)."""
    message = cap.parse(data)
    await require_known_org(conn, org)
    chain = cap.chain_of(message)
    # The message itself first: a resend joins the incident it joined the first time.
    lookups = [(message.sender, message.identifier), *chain.lookups]
    rows = await queries.many(
        conn, "cap_refs", org, [s for s, _ in lookups], [i for _, i in lookups]
    )
    stored = {(r["sender"], r["identifier"]): r["incident_ref"] for r in rows}
    ref = next((stored[k] for k in lookups if k in stored), chain.incident_ref)
    current = await incident_by_ref(conn, org, ref)
    known = (
        cap.Known(grade=current.grade, category=current.category, title=current.title)
        if current is not None
        else None
    )
    return message, cap.to_report(message, org=org, incident_ref=ref, known=known)


async def submit_cap(
    pool: asyncpg.Pool,
    js: JetStreamContext,
    settings: Settings,
    data: bytes,
    *,
    org: str,
    source: str,
    now: datetime,
) -> CapIntake:
    """Translate a CAP message, remember its identity and publish its report into REPORTS."""
    async with pool.acquire() as conn:
        message, report = await translate_cap(conn, data, org=org)
        await queries.exec(
            conn,
            "remember_cap",
            org,
            message.sender,
            message.identifier,
            message.sent,
            message.msg_type,
            report.incident_ref,
            report.report_id,
            now,
        )
    published = await publish(js, settings, report, source=source)
    return CapIntake(message=message, report=report, published=published)


async def cancel_cap(
    pool: asyncpg.Pool,
    settings: Settings,
    intake: CapIntake,
    *,
    actor: str,
    now: datetime,
    wait: float,
    source: Source,
) -> dict[str, Any]:
    """A CAP Cancel resolves its incident with the note, through the commands."""
    note = f"CAP Cancel {intake.message.identifier}" + (
        f": {intake.message.note}" if intake.message.note else ""
    )
    report = intake.report
    action = Action(
        verb=commands.Verb.RESOLVE,
        org=report.org,
        incident_ref=report.incident_ref,
        identity=report.report_id,
        actor=actor,
        note=note[:500],
        after_report=report.report_id,
    )
    return await act(pool, settings, action, now=now, wait=wait, source=source)


# --------------------------------------------------------------------------- PagerDuty keys


async def routing_key(conn: Conn, key: str) -> pagerduty.RoutingKey:
    """The routing key an event names; it is the caller's credential."""
    row = await queries.one(conn, "routing_key_by_hash", pagerduty.key_hash(key))
    if row is None:
        raise errors.Unauthenticated("unknown routing_key; check it was copied whole")
    if row["revoked_at"] is not None:
        raise errors.Unauthenticated(
            "this routing_key was revoked; ask an administrator for a new one"
        )
    return pagerduty.RoutingKey(
        id=row["id"],
        label=row["label"],
        org_path=row["org_path"],
        grade=Grade(row["grade"]),
        category=Category(row["category"]),
    )


async def create_routing_key(
    conn: Conn,
    *,
    label: str,
    org: str,
    grade: Grade,
    category: Category,
    by: str,
    now: datetime,
) -> tuple[str, dict[str, Any]]:
    """Store a new key's hash; return the key itself (shown once) and the stored row."""
    key = pagerduty.new_routing_key()
    key_id = await queries.val(
        conn,
        "insert_routing_key",
        pagerduty.key_hash(key),
        label,
        org,
        str(grade),
        str(category),
        now,
        by,
    )
    row = {
        "id": key_id,
        "label": label,
        "org_path": org,
        "grade": str(grade),
        "category": str(category),
        "created_at": now,
        "created_by": by,
        "revoked_at": None,
    }
    return key, row
