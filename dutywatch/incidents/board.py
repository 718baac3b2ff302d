"""The duty console's board: what needs a duty room now.

The unresolved incidents of an organisation subtree, most severe first and newest first
within a grade (:func:`ordered`, pure), each with the people paged for it, how many of its
duty rooms' alerts are acknowledged, the next escalation step and the next reporting deadline
(a run-out one included: the console shows it late). Read-only; five queries per board.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from dutywatch.escalation.store import alerts_of
from dutywatch.incidents.rules import Incident
from dutywatch.incidents.store import from_row, incident_json
from dutywatch.sql import Conn, Queries

queries = Queries(__package__, "board.sql")

#: A board longer than this is not read by a person; the console says how many it holds.
MAX_ROWS: Final = 500


def ordered(incidents: Iterable[Incident]) -> list[Incident]:
    """Grade I before IV; within a grade the newest first (then the higher id)."""
    newest_first = sorted(incidents, key=lambda i: (i.opened_at, i.id), reverse=True)
    return sorted(newest_first, key=lambda i: i.grade.rank)


async def read(conn: Conn, *, org: str | None, limit: int = MAX_ROWS) -> list[dict[str, Any]]:
    """The board of ``org``'s subtree (every organisation when None), ordered."""
    found = ordered(from_row(r) for r in await queries.many(conn, "board_incidents", org, limit))
    ids = [i.id for i in found]
    escalations = {r["incident_id"]: r for r in await queries.many(conn, "board_escalations", ids)}
    deadlines = {r["incident_id"]: r for r in await queries.many(conn, "board_deadlines", ids)}
    paged: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in await queries.many(conn, "board_pages", ids):
        paged[r["incident_id"]].append(
            {
                "person_id": r["person_id"],
                "name": r["name"],
                "org": r["org_path"],
                "reason": r["reason"],
                "at": r["created_at"].isoformat(),
            }
        )
    alerts = await alerts_of(conn, ids)
    rows = []
    for incident in found:
        escalation = escalations.get(incident.id)
        deadline = deadlines.get(incident.id)
        rooms = alerts.get(incident.id, {}).values()
        rows.append(
            {
                **incident_json(incident),
                # Latest page first: the person the duty room is waiting for now.
                "paged": sorted(paged[incident.id], key=lambda p: p["at"], reverse=True),
                "alerts": {
                    "total": len(rooms),
                    "acknowledged": sum(1 for a in rooms if a.acknowledged_at is not None),
                },
                "next_escalation": _escalation(escalation) if escalation else None,
                "next_deadline": _deadline(deadline) if deadline else None,
            }
        )
    return rows


def _escalation(row: Any) -> dict[str, Any]:
    return {"org": row["org_path"], "step": row["step"], "due_at": _iso(row["due_at"])}


def _deadline(row: Any) -> dict[str, Any]:
    return {
        "target": row["target_org"],
        "kind": row["kind"],
        "due_at": _iso(row["due_at"]),
        "missed": row["missed_at"] is not None,
    }


def _iso(value: datetime) -> str:
    return value.isoformat()
