"""Incident events for other systems, on ``dutywatch.event.<org path>.<kind>``.

An incident forwarded (转办) to an office outside the reporting office's subtree has each
event published a second time under the responsible office's path (the same payload: its
``org`` stays the reporting office), so subscribers of the receiving subtree (its duty
console's board) learn of it. A subscriber of both subtrees tells the copy by its subject
(``org`` in the payload differs from the path in the subject) and keeps one of the two.
"""

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
    event = IncidentEventV1(
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
    )
    for org in paths(incident):
        writes.enqueue(settings.subject("event", *org.split("."), str(kind)), event)


def paths(incident: Incident) -> list[str]:
    """The organisation paths an incident's events go out under: the reporting office's, and
    the responsible office's when it was forwarded out of the reporting office's subtree."""
    found = [incident.org_path]
    responsible = incident.responsible_org
    if responsible and not (
        incident.org_path == responsible or incident.org_path.startswith(responsible + ".")
    ):
        found.append(responsible)
    return found
