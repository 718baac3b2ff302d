"""Incident events for other systems, on ``dutywatch.event.<org path>.<kind>``."""

from __future__ import annotations

from dutywatch.config import Settings
from dutywatch.contracts import EventKind, IncidentEventV1
from dutywatch.incidents.rules import Incident
from dutywatch.writes import Writes


def emit(
    writes: Writes,
    settings: Settings,
    incident: Incident,
    kind: EventKind,
    *,
    actor: str | None,
) -> None:
    """Queue an event; its ``event_id`` is the timeline seq of the entry it reflects."""
    writes.enqueue(
        settings.subject("event", *incident.org_path.split("."), str(kind)),
        IncidentEventV1(
            event_id=max(incident.timeline_seq, 1),
            kind=kind,
            incident_id=incident.id,
            org=incident.org_path,
            grade=incident.grade,
            category=incident.category,
            title=incident.title,
            status=incident.status,
            state=str(incident.state),
            at=writes.now,
            actor=actor,
        ),
    )
