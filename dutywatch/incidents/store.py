"""Reading and writing incidents and reports (the caller owns the transaction)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from dutywatch import errors
from dutywatch.contracts import Category, Grade, ReportStatus
from dutywatch.incidents.rules import Incident, State
from dutywatch.sql import Conn, Queries

queries = Queries(__package__)


def from_row(row: Any) -> Incident:
    return Incident(
        id=row["id"],
        org_path=row["org_path"],
        incident_ref=row["incident_ref"],
        state=State(row["state"]),
        grade=Grade(row["grade"]),
        category=Category(row["category"]),
        title=row["title"],
        status=ReportStatus(row["status"]),
        sensitive=row["sensitive"],
        first_report_missing=row["first_report_missing"],
        occurred_at=row["occurred_at"],
        opened_at=row["opened_at"],
        last_report_at=row["last_report_at"],
        reports_count=row["reports_count"],
        policy_version=row["policy_version"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by"],
        resolved_at=row["resolved_at"],
        resolved_by=row["resolved_by"],
        policy_started_at=row["policy_started_at"],
        policy_fired=row["policy_fired"],
        learned_at=row["learned_at"],
        skip_to=row["skip_to"],
        responsible_org=row["responsible_org"],
        timeline_seq=row["timeline_seq"],
        timeline_head=bytes(row["timeline_head"]),
    )


async def lock_by_refs(
    conn: Conn, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Incident]:
    if not keys:
        return {}
    orgs = [k[0] for k in keys]
    refs = [k[1] for k in keys]
    rows = await queries.many(conn, "lock_incidents_by_ref", orgs, refs)
    return {(row["org_path"], row["incident_ref"]): from_row(row) for row in rows}


async def lock(conn: Conn, incident_id: int) -> Incident | None:
    row = await queries.one(conn, "lock_incident", incident_id)
    return from_row(row) if row is not None else None


async def lock_existing(conn: Conn, incident_id: int) -> Incident:
    """The incident's row, locked; :class:`~dutywatch.errors.NotFound` if there is none."""
    incident = await lock(conn, incident_id)
    if incident is None:
        raise errors.NotFound(f"incident {incident_id} does not exist", id=incident_id)
    return incident


async def replayed(conn: Conn, command_id: UUID | None) -> dict[str, Any] | None:
    """The result a command with this id gave the first time (``replayed`` true), if any."""
    if command_id is None:
        return None
    recorded = await queries.one(conn, "recorded_command", command_id)
    if recorded is None:
        return None
    first: dict[str, Any] = json.loads(recorded["result"])
    return {**first, "replayed": True}


async def remember(
    conn: Conn,
    command_id: UUID | None,
    *,
    verb: str,
    incident_id: int,
    actor: str,
    at: datetime,
    result: dict[str, Any],
) -> None:
    """Keep a command's result under its id, so a retried command is answered, not redone."""
    if command_id is not None:
        await queries.exec(
            conn, "record_command", command_id, verb, incident_id, actor, at, json.dumps(result)
        )


async def get(conn: Conn, incident_id: int) -> Incident | None:
    row = await queries.one(conn, "get_incident", incident_id)
    return from_row(row) if row is not None else None


async def known_report_ids(conn: Conn, report_ids: Sequence[UUID]) -> set[UUID]:
    rows = await queries.many(conn, "known_report_ids", list(report_ids))
    return {row["report_id"] for row in rows}


async def list_incidents(
    conn: Conn, *, org: str | None, state: State | None, limit: int
) -> list[Incident]:
    rows = await queries.many(conn, "list_incidents", org, str(state) if state else None, limit)
    return [from_row(row) for row in rows]


async def reports_of(conn: Conn, incident_id: int) -> list[dict[str, Any]]:
    return [
        {
            "report_id": str(row["report_id"]),
            "stage": row["stage"],
            "sequence": row["sequence"],
            "source": row["source"],
            "received_at": row["received_at"].isoformat(),
            "payload": json.loads(row["payload"]),
        }
        for row in await queries.many(conn, "reports_of", incident_id)
    ]


async def pages_of(conn: Conn, incident_id: int) -> list[dict[str, Any]]:
    return [
        {
            "page_id": row["id"],
            "person_id": row["person_id"],
            "role": row["role"],
            "org": row["org_path"],
            "reason": row["reason"],
            "step": row["step"],
            "policy_version": row["policy_version"],
            "created_at": row["created_at"].isoformat(),
        }
        for row in await queries.many(conn, "pages_of", incident_id)
    ]


def incident_json(i: Incident) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": i.id,
        "org": i.org_path,
        "incident_ref": i.incident_ref,
        "state": str(i.state),
        "grade": str(i.grade),
        "category": str(i.category),
        "title": i.title,
        "status": str(i.status),
        "drill": str(i.status) != "actual",
        "sensitive": i.sensitive,
        "first_report_missing": i.first_report_missing,
        "occurred_at": iso(i.occurred_at),
        "opened_at": iso(i.opened_at),
        "last_report_at": iso(i.last_report_at),
        "reports_count": i.reports_count,
        "policy_version": i.policy_version,
        "acknowledged_at": iso(i.acknowledged_at),
        "acknowledged_by": i.acknowledged_by,
        "resolved_at": iso(i.resolved_at),
        "resolved_by": i.resolved_by,
        "responsible_org": i.responsible_org or i.org_path,
        "timeline_head": i.timeline_head.hex(),
    }
