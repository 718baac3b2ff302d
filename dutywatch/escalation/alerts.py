"""Alerts: one per duty room an incident reaches, each running its own policy (pure).

The origin room's alert opens with the incident. A linked alert opens in another duty room
when a policy step says so (:class:`~dutywatch.escalation.policy.NotifyParent`,
:class:`~dutywatch.escalation.policy.NotifyDutyRoom`), when the statutory reporting rules
require it at once (grade III and above: the parent; grade I and II or a sensitive event:
every room to the top), or when a reporting clock to that room runs out. An incident has at
most one alert per duty room.

Acknowledging stops the climb of the acknowledging duty room's alerts only (see
:func:`acknowledged_by`); the incident counts as acknowledged once its origin alert is.
An acknowledgement in the origin room does not stop the alerts of the rooms above: each room
that was told must confirm it was told, and the statutory reporting clocks run on regardless.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from dutywatch.escalation.policy import EscalationState, depth, is_within


class OpenedReason(enum.StrEnum):
    """Why an alert opened; mirrors the ``alerts.opened_reason`` check."""

    INCIDENT_OPENED = "incident_opened"  # the origin room's alert
    POLICY_STEP = "policy_step"  # NotifyParent / NotifyDutyRoom of a running policy
    STATUTORY = "statutory"  # grade III+ (parent at once), I/II or sensitive (to the top)
    DEADLINE_MISSED = "deadline_missed"  # a reporting clock to this room ran out
    FORWARDED = "forwarded"  # the report was forwarded to this room (the responsible office)


@dataclass(frozen=True, kw_only=True)
class Alert:
    id: int
    incident_id: int
    org_path: str
    parent_alert_id: int | None
    opened_reason: OpenedReason
    #: The policy cursor: ``policy`` is the ref of the version driving this alert.
    escalation: EscalationState
    created_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None

    @property
    def origin(self) -> bool:
        return self.opened_reason is OpenedReason.INCIDENT_OPENED

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    def acknowledge(self, *, actor: str, now: datetime) -> Alert:
        return replace(
            self,
            acknowledged_at=now,
            acknowledged_by=actor,
            escalation=replace(self.escalation, acknowledged=True),
        )


def acknowledged_by(
    alerts: Sequence[Alert],
    duty_room: str | None,
    landed: Mapping[int, Collection[str]],
) -> tuple[Alert, ...]:
    """The still unacknowledged alerts an acknowledgement from ``duty_room`` stops.

    A duty room acknowledges its own alert and every alert whose pages landed in it (a
    township with no roster of its own is paged in its district's duty room, so the
    district's officer acknowledges the township's alert). ``landed`` maps an alert id to the
    duty rooms its pages reached. If none of the incident's alerts is the room's, the
    acknowledgement goes to the alert nearest the top within the room's subtree (a leader
    acknowledging before being paged). ``duty_room`` None (an administrator) acknowledges
    the origin alert.
    """
    if duty_room is None:
        own = [a for a in alerts if a.origin]
    else:
        own = [a for a in alerts if a.org_path == duty_room or duty_room in landed.get(a.id, ())]
        if not own:
            below = [a for a in alerts if is_within(a.org_path, duty_room)]
            if below:
                own = [min(below, key=lambda a: (depth(a.org_path), a.id))]
    return tuple(a for a in own if not a.acknowledged)
