"""Destroying an incident's personal data (Emergency Response Law Art. 85), retention holds,
and the retention worker that purges by the rule per grade.

Personal data of a report lives in three places in the database: ``personal_data`` (with
the salt of the digest the chain holds), ``reports.payload`` (the report as received), and
refused copies of its reports in ``rejections.raw`` and their ``dutywatch.rejected`` outbox
messages. A purge clears all of them in one transaction with a ``personal_data_purged``
entry saying what was destroyed, by whom and why; the chain still verifies, because it
commits only to salted digests. The pure parts are in :mod:`dutywatch.timeline.personal`.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from dutywatch import errors
from dutywatch.clock import Clock
from dutywatch.config import Settings
from dutywatch.db import with_retries
from dutywatch.incidents import store as incidents
from dutywatch.incidents.rules import Fact, Incident
from dutywatch.outbox.store import REJECTED_RAW_LIMIT
from dutywatch.sql import Conn
from dutywatch.timeline.chain import EntryKind, Source
from dutywatch.timeline.personal import scrub_rejected
from dutywatch.timeline.store import append, queries
from dutywatch.writes import Writes, flush

log = structlog.get_logger(__name__)

Authorize = Callable[[Incident], None]
SYSTEM_ACTOR = "dutywatch"
#: Incidents the retention worker purges per pass (one transaction each).
RETENTION_BATCH = 100


async def _locked(conn: Conn, incident_id: int, authorize: Authorize | None) -> Incident:
    incident = await incidents.lock(conn, incident_id)
    if incident is None:
        raise errors.NotFound(f"incident {incident_id} does not exist", id=incident_id)
    if authorize is not None:
        authorize(incident)
    return incident


def _record(writes: Writes, incident: Incident, fact: Fact, actor: str, source: Source) -> Incident:
    incident = append(writes, incident, [fact], actor=actor, source=source)
    writes.save(incident)
    return incident


async def purge(
    pool: asyncpg.Pool,
    settings: Settings,
    incident_id: int,
    *,
    actor: str,
    reason: str,
    source: Source,
    now: datetime,
    by_rule: bool = False,
    authorize: Authorize | None = None,
) -> dict[str, Any]:
    """Destroy the incident's personal data everywhere; idempotent (a second purge finds
    nothing and says so). A retention hold refuses a purge by hand (release it first) and
    makes the retention rule skip the incident."""

    async def transaction() -> dict[str, Any]:
        async with pool.acquire() as conn, conn.transaction():
            incident = await _locked(conn, incident_id, authorize)
            hold = await queries.one(conn, "hold_of", incident.id)
            if hold is not None:
                if by_rule:
                    return {"incident_id": incident.id, "changed": False, "message": "held"}
                raise errors.Conflict(
                    f"incident {incident.id} is under a retention hold since "
                    f"{hold['held_at'].isoformat()} by {hold['held_by']} ({hold['reason']}); "
                    "release the hold first (dutywatch retention release)",
                    id=incident.id,
                )
            destroyed = await _destroy(conn, settings, incident)
            if not any(destroyed.values()):
                return {
                    "incident_id": incident.id,
                    "changed": False,
                    "message": await _nothing_left(conn, incident.id),
                }
            body: dict[str, Any] = {"by": actor, "reason": reason, **destroyed}
            body["rule"] = "retention" if by_rule else "manual"
            writes = Writes(now=now)
            fact = Fact(kind=EntryKind.PERSONAL_DATA_PURGED, body=body)
            incident = _record(writes, incident, fact, actor, source)
            await flush(conn, writes)
            log.info(
                "personal_data_purged",
                incident_id=incident.id,
                actor=actor,
                by_rule=by_rule,
                entries=len(destroyed["entries"]),
                reports=destroyed["reports_stripped"],
                rejections=destroyed["rejections_scrubbed"],
            )
            return {
                "incident_id": incident.id,
                "changed": True,
                "purged": destroyed,
                "seq": incident.timeline_seq,
            }

    return await with_retries(transaction, what=f"purge of incident {incident_id}")


async def _destroy(conn: Conn, settings: Settings, incident: Incident) -> dict[str, Any]:
    """Every copy of the incident's personal data in the database: what was destroyed."""
    seqs = sorted(r["seq"] for r in await queries.many(conn, "delete_personal", incident.id))
    reports = int(await queries.val(conn, "strip_report_payloads", incident.id))
    report_ids = [r["report_id"] for r in await queries.many(conn, "report_ids_of", incident.id)]
    scrubbed: dict[int, bytes] = {}
    for row in await queries.many(conn, "rejections_naming", report_ids, incident.incident_ref):
        raw = scrub_rejected(
            bytes(row["raw"]),
            org=incident.org_path,
            incident_ref=incident.incident_ref,
            report_ids=report_ids,
            msg_id=row["msg_id"],
        )
        if raw is not None:
            await queries.exec(conn, "scrub_rejection", row["id"], raw)
            scrubbed[row["id"]] = raw
    rewritten = 0
    if scrubbed:
        for row in await queries.many(
            conn, "rejection_messages", settings.subject("rejected"), sorted(scrubbed)
        ):
            message = json.loads(bytes(row["payload"]))
            carried = scrubbed[int(message["rejection_id"])][:REJECTED_RAW_LIMIT]
            message["raw_base64"] = base64.b64encode(carried).decode("ascii")
            message["raw_size"] = len(scrubbed[int(message["rejection_id"])])
            message["raw_truncated"] = len(carried) < message["raw_size"]
            await queries.exec(
                conn, "rewrite_outbox", row["id"], json.dumps(message, ensure_ascii=False).encode()
            )
            rewritten += 1
    return {
        "entries": seqs,
        "personal_data_rows": len(seqs),
        "reports_stripped": reports,
        "rejections_scrubbed": len(scrubbed),
        "outbox_messages_scrubbed": rewritten,
    }


async def _nothing_left(conn: Conn, incident_id: int) -> str:
    last = await queries.one(
        conn, "last_entry_of_kind", incident_id, str(EntryKind.PERSONAL_DATA_PURGED)
    )
    if last is None:
        return f"incident {incident_id} holds no personal data: nothing to purge"
    return (
        f"the personal data of incident {incident_id} was already purged at "
        f"{last['at'].isoformat()} by {last['actor']}: nothing left to purge"
    )


async def set_hold(
    pool: asyncpg.Pool,
    incident_id: int,
    *,
    hold: bool,
    actor: str,
    reason: str,
    source: Source,
    now: datetime,
    authorize: Authorize | None = None,
) -> dict[str, Any]:
    """Set (``hold``) or release a retention hold; each change is a timeline entry with the
    reason. Setting a hold already set, or releasing none, changes nothing and says so."""

    async def transaction() -> dict[str, Any]:
        async with pool.acquire() as conn, conn.transaction():
            incident = await _locked(conn, incident_id, authorize)
            current = await queries.one(conn, "hold_of", incident.id)
            result: dict[str, Any] = {"incident_id": incident.id, "held": hold}
            if (current is not None) == hold:
                result["changed"] = False
                result["message"] = (
                    f"incident {incident.id} is already held since "
                    f"{current['held_at'].isoformat()} by {current['held_by']}: {current['reason']}"
                    if current is not None
                    else f"incident {incident.id} has no retention hold to release"
                )
                return result
            if hold:
                await queries.exec(conn, "insert_hold", incident.id, reason, actor, now)
            else:
                await queries.exec(conn, "delete_hold", incident.id)
            writes = Writes(now=now)
            kind = EntryKind.RETENTION_HELD if hold else EntryKind.RETENTION_RELEASED
            fact = Fact(kind=kind, body={"by": actor, "reason": reason})
            _record(writes, incident, fact, actor, source)
            await flush(conn, writes)
            log.info(str(kind), incident_id=incident.id, actor=actor, reason=reason)
            return {**result, "changed": True}

    verb = "hold" if hold else "release"
    return await with_retries(transaction, what=f"retention {verb} of incident {incident_id}")


async def purge_by_rule(pool: asyncpg.Pool, settings: Settings, now: datetime) -> list[int]:
    """Purge every resolved incident past the retention rule of its grade and not held."""
    rule = settings.retention
    if rule is None:
        return []
    grades = sorted(rule.days)
    async with pool.acquire() as conn:
        due = await queries.many(
            conn,
            "retention_due",
            grades,
            [rule.days[g] for g in grades],
            now,
            RETENTION_BATCH,
        )
    purged: list[int] = []
    for row in due:
        result = await purge(
            pool,
            settings,
            row["id"],
            actor=SYSTEM_ACTOR,
            reason=f"retention rule: grade {row['grade']} kept {row['days']} days after "
            "resolution (Emergency Response Law Art. 85)",
            source=Source.SYSTEM,
            now=now,
            by_rule=True,
        )
        if result["changed"]:
            purged.append(row["id"])
    return purged


async def run(
    pool: asyncpg.Pool,
    settings: Settings,
    clock: Clock,
    wake: asyncio.Event,
    stop: asyncio.Event,
) -> None:
    """Purge by the rule now, then every ``retention_check_interval`` (or when woken)."""
    while not stop.is_set():
        wake.clear()
        purged = await purge_by_rule(pool, settings, clock.now())
        if len(purged) == RETENTION_BATCH:
            continue  # more may be due
        await clock.sleep_until(clock.now() + settings.retention_check_interval, wake)
