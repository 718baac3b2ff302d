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
            incident_ref=incident.incident_ref,
            sensitive=incident.sensitive,
            occurred_at=incident.occurred_at,
            opened_at=incident.opened_at,
            acknowledged_at=incident.acknowledged_at,
            acknowledged_by=incident.acknowledged_by,
            resolved_at=incident.resolved_at,
            resolved_by=incident.resolved_by,
            responsible_org=incident.responsible_org,
            skip_to=incident.skip_to,
            reports_count=incident.reports_count,
        ),
    )
