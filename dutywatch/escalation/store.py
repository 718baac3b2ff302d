"""Reading and writing escalation policies and alerts (the caller owns the transaction)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from dutywatch.contracts import Category, Grade
from dutywatch.escalation.alerts import Alert, OpenedReason
from dutywatch.escalation.codec import steps_from_json, steps_to_json
from dutywatch.escalation.policy import EscalationState, Policy
from dutywatch.sql import Conn, Queries

queries = Queries(__package__)


def policy_from_row(row: Any) -> Policy:
    return Policy(
        id=row["id"],
        version=row["version"],
        org=row["org_path"],
        grades=frozenset(Grade(g) for g in row["grades"]),
        categories=frozenset(Category(c) for c in row["categories"]),
        steps=steps_from_json(row["steps"]),
    )


def split_ref(ref: str) -> tuple[str, int] | None:
    """``("daoli-night", 3)`` for ``daoli-night@v3``; None if ``ref`` is not of that form."""
    policy_id, sep, version = ref.rpartition("@v")
    if not sep or not version.isdigit():
        return None
    return policy_id, int(version)


async def current_policies(conn: Conn, orgs: Sequence[str]) -> dict[str, list[Policy]]:
    """The policies in force of each organisation (every org asked has a list, maybe empty)."""
    found: dict[str, list[Policy]] = {org: [] for org in orgs}
    for row in await queries.many(conn, "current_policies", list(orgs)):
        found[row["org_path"]].append(policy_from_row(row))
    return found


async def stored_policy(conn: Conn, ref: str) -> Policy | None:
    """The stored version ``ref`` names (retired or not), or None."""
    parts = split_ref(ref)
    if parts is None:
        return None
    row = await queries.one(conn, "policy_version", *parts)
    return policy_from_row(row) if row is not None else None


async def list_policies(conn: Conn, org: str | None) -> list[dict[str, Any]]:
    """The policies in force in ``org``'s subtree (everywhere if None), with who saved them."""
    return [
        {"policy": policy_from_row(row), "created_at": row["created_at"], "by": row["created_by"]}
        for row in await queries.many(conn, "all_current_policies", org)
    ]


async def versions_of(conn: Conn, policy_id: str) -> list[dict[str, Any]]:
    return [
        {
            "policy": policy_from_row(row),
            "created_at": row["created_at"],
            "by": row["created_by"],
            "retired_at": row["retired_at"],
        }
        for row in await queries.many(conn, "policy_versions", policy_id)
    ]


async def next_version(conn: Conn, policy_id: str, *, lock: bool = True) -> int:
    """The version a save would get; with ``lock``, the id stays locked until commit."""
    if lock:
        await queries.exec(conn, "lock_policy_id", policy_id)
    version: int = await queries.val(conn, "next_policy_version", policy_id)
    return version


async def insert_policy(conn: Conn, policy: Policy, *, by: str, now: datetime) -> None:
    await queries.exec(
        conn,
        "insert_policy",
        policy.id,
        policy.version,
        policy.org,
        sorted(str(g) for g in policy.grades),
        sorted(str(c) for c in policy.categories),
        steps_to_json(policy.steps),
        now,
        by,
    )


async def retire(conn: Conn, policy_id: str, now: datetime) -> int:
    """Retire every version of ``policy_id``; the number of versions newly retired."""
    rows = await queries.many(conn, "retire_policy", policy_id, now)
    return len(rows)


def alert_from_row(row: Any) -> Alert:
    return Alert(
        id=row["id"],
        incident_id=row["incident_id"],
        org_path=row["org_path"],
        parent_alert_id=row["parent_alert_id"],
        opened_reason=OpenedReason(row["opened_reason"]),
        escalation=EscalationState(
            policy=row["policy_ref"],
            started_at=row["started_at"],
            repeat=row["cursor_repeat"],
            step=row["cursor_step"],
            acknowledged=row["acknowledged_at"] is not None,
        ),
        created_at=row["created_at"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by"],
    )


async def alerts_of(conn: Conn, incident_ids: Collection[int]) -> dict[int, dict[str, Alert]]:
    """Each incident's alerts by duty room."""
    found: dict[int, dict[str, Alert]] = defaultdict(dict)
    if incident_ids:
        for row in await queries.many(conn, "alerts_of", sorted(incident_ids)):
            alert = alert_from_row(row)
            found[alert.incident_id][alert.org_path] = alert
    return found


async def landed_orgs(conn: Conn, incident_id: int) -> dict[int, set[str]]:
    """The duty rooms each alert's pages reached."""
    landed: dict[int, set[str]] = defaultdict(set)
    for row in await queries.many(conn, "landed_orgs", incident_id):
        landed[row["alert_id"]].add(row["org_path"])
    return landed


async def known_people(conn: Conn, people: Collection[str]) -> set[str]:
    rows = await queries.many(conn, "known_people", sorted(people))
    return {row["id"] for row in rows}


def alert_json(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id,
        "org": a.org_path,
        "opened_reason": str(a.opened_reason),
        "parent_alert_id": a.parent_alert_id,
        "policy_version": a.escalation.policy,
        "started_at": a.escalation.started_at.isoformat(),
        "next_position": [a.escalation.repeat, a.escalation.step],
        "acknowledged_at": a.acknowledged_at.isoformat() if a.acknowledged_at else None,
        "acknowledged_by": a.acknowledged_by,
    }
