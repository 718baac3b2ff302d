"""Pure rules of a handover: what is carried, who may take it over, when it is overdue."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from dutywatch import errors
from dutywatch.incidents.rules import Fact, Incident, State
from dutywatch.timeline import EntryKind


@dataclass(frozen=True, kw_only=True)
class Handover:
    id: int
    org_path: str
    outgoing_person: str
    expected_incoming: str | None
    note: str
    open_items: tuple[dict[str, Any], ...]
    created_at: datetime
    due_at: datetime
    accepted_at: datetime | None = None
    accepted_by: str | None = None
    accept_note: str | None = None
    overdue_paged_at: datetime | None = None

    @property
    def incident_ids(self) -> list[int]:
        return [int(item["incident_id"]) for item in self.open_items]


def open_items(incidents: Iterable[Incident]) -> tuple[dict[str, Any], ...]:
    """The matters carried forward explicitly, with their state at handover time."""
    return tuple(
        {
            "incident_id": i.id,
            "org": i.org_path,
            "title": i.title,
            "grade": str(i.grade),
            "state": str(i.state),
            "acknowledged_by": i.acknowledged_by,
            "opened_at": i.opened_at.isoformat(),
        }
        for i in sorted(incidents, key=lambda i: i.id)
        if i.state is not State.RESOLVED
    )


def start(
    *,
    new_id: int,
    org_path: str,
    outgoing: str,
    expected_incoming: str | None,
    note: str,
    carried: Iterable[Incident],
    now: datetime,
    accept_within: timedelta,
) -> tuple[Handover, Fact]:
    """A new handover and the fact each carried incident's timeline records."""
    if expected_incoming == outgoing:
        raise errors.Conflict("the incoming officer must be someone else than the outgoing one")
    handover = Handover(
        id=new_id,
        org_path=org_path,
        outgoing_person=outgoing,
        expected_incoming=expected_incoming,
        note=note,
        open_items=open_items(carried),
        created_at=now,
        due_at=now + accept_within,
    )
    fact = Fact(
        kind=EntryKind.HANDED_OVER,
        body={
            "handover_id": new_id,
            "org": org_path,
            "from": outgoing,
            "to": expected_incoming,
            "note": note,
        },
    )
    return handover, fact


@dataclass(frozen=True, kw_only=True)
class Acceptance:
    handover: Handover
    changed: bool
    fact: Fact | None


def accept(handover: Handover, *, person: str, note: str | None, now: datetime) -> Acceptance:
    """Take the handover over. Idempotent for the same person; refused for the outgoing one."""
    if handover.accepted_by is not None:
        if handover.accepted_by == person:
            return Acceptance(handover=handover, changed=False, fact=None)
        raise errors.Conflict(
            f"handover {handover.id} was already taken over by {handover.accepted_by}"
        )
    if person == handover.outgoing_person:
        raise errors.Conflict("the outgoing officer cannot take over their own handover")
    accepted = replace(handover, accepted_at=now, accepted_by=person, accept_note=note)
    body: dict[str, Any] = {"handover_id": handover.id, "by": person}
    if note:
        body["note"] = note
    return Acceptance(
        handover=accepted, changed=True, fact=Fact(kind=EntryKind.HANDOVER_ACCEPTED, body=body)
    )


def is_overdue(handover: Handover, now: datetime) -> bool:
    """Not taken over by its due time, and nobody alerted yet."""
    return (
        handover.accepted_at is None
        and handover.overdue_paged_at is None
        and now >= handover.due_at
    )
