"""Follow-up (续报) and final (终报) reports: reminders (催办) and late marks (迟报).

The pure rule is :func:`dutywatch.deadlines.rules.next_report_due`: while an incident is open
the next follow-up falls due ``interval`` after the latest first or follow-up report (or at the
next daily local time); after resolution the final report is due ``final_within`` after it.
This module carries it out in the caller's transaction with one ``follow_up`` timer per
incident:

* :func:`rearm` (a report arrived, the incident was resolved) cancels the incident's
  ``follow_up`` timer and arms it at the reminder time of the report now owed (none once
  the final report is in);
* :func:`fire` (the timer is due): before the due time, the reporting room's duty officer is
  paged with reason ``reminder`` (``dutywatch.notification.v1``; the incident has an alert
  there, so the page is an incident page, not an ``alarm.v1``), ``reminder_sent`` goes on the
  timeline and the timer moves to the first instant the report is late; past the due time,
  ``report_late`` is recorded with the stage and number, once: nothing more is armed until
  a report arrives (which arms the next one).

A follow-up arriving late after its miss was recorded is not marked late a second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog

from dutywatch.config import Settings
from dutywatch.contracts import PageReason, Stage
from dutywatch.deadlines.rules import TICK, ReportDue, next_report_due
from dutywatch.deadlines.store import queries
from dutywatch.escalation import engine
from dutywatch.incidents.rules import Fact, Incident, State
from dutywatch.rosters.model import Role
from dutywatch.sql import Conn
from dutywatch.timeline import EntryKind
from dutywatch.writes import Writes

log = structlog.get_logger(__name__)

TIMER_KIND = "follow_up"


async def report_due(
    conn: Conn, writes: Writes, settings: Settings, incident: Incident, *, opened: bool = False
) -> ReportDue | None:
    """The report the incident owes now (a follow-up while open, then the final), if any.

    The history is the stored reports plus those of this transaction (not flushed yet); an
    incident ``opened`` in this transaction has no stored reports, so none are read.
    """
    rule = settings.follow_up
    if rule is None:
        return None
    history: list[tuple[str, datetime]] = []
    if not opened:
        history = [
            (row["stage"], row["received_at"])
            for row in await queries.many(conn, "report_history", incident.id)
        ]
    history += [(row[2], row[6]) for row in writes.reports if row[1] == incident.id]
    follow_ups = [at for stage, at in history if stage == Stage.FOLLOW_UP]
    finals = [at for stage, at in history if stage == Stage.FINAL]
    resolved_at = incident.resolved_at if incident.state is State.RESOLVED else None
    return next_report_due(
        rule,
        first_report_at=incident.opened_at,
        follow_ups=follow_ups,
        resolved_at=resolved_at,
        final_at=min(finals) if finals and resolved_at is not None else None,
    )


async def rearm(
    conn: Conn, writes: Writes, settings: Settings, incident: Incident, *, opened: bool = False
) -> ReportDue | None:
    """Arm the incident's ``follow_up`` timer at the reminder for the report now owed."""
    writes.cancel_incident_timers(incident.id, TIMER_KIND)
    due = await report_due(conn, writes, settings, incident, opened=opened)
    if due is not None:
        writes.add_timer(
            kind=TIMER_KIND, due_at=max(due.remind_at, writes.now), incident_id=incident.id
        )
    return due


def _due_body(due: ReportDue) -> dict[str, Any]:
    return {"stage": str(due.stage), "number": due.number, "due_at": due.due_at.isoformat()}


async def fire(esc: engine.Escalation, incident: Incident) -> list[Fact]:
    """The ``follow_up`` timer is due: remind before the due time, record 迟报 after it."""
    due = await report_due(esc.conn, esc.writes, esc.settings, incident)
    if due is None:
        return []
    now = esc.now
    if now > due.due_at:
        late_by = now - due.due_at
        log.warning(
            "report_late",
            incident_id=incident.id,
            stage=str(due.stage),
            number=due.number,
            late_by_s=late_by.total_seconds(),
        )
        return [
            Fact(
                kind=EntryKind.REPORT_LATE,
                body={
                    **_due_body(due),
                    "target": incident.org_path,
                    "kind": str(due.stage),
                    "grade": str(incident.grade),
                    "late_by_s": late_by.total_seconds(),
                    "submitted_at": None,
                    "outstanding": True,
                },
            )
        ]
    esc.writes.add_timer(kind=TIMER_KIND, due_at=due.due_at + TICK, incident_id=incident.id)
    return await _remind(esc, incident, due)


async def _remind(esc: engine.Escalation, incident: Incident, due: ReportDue) -> list[Fact]:
    """催办: page the reporting room's duty officer that the report falls due."""
    origin = esc.alerts_of(incident.id).get(incident.org_path)
    paged: Sequence[Fact] = []
    if origin is not None:
        await esc.ensure_rosters([origin.org_path])
        paged = await engine.page_role(
            esc,
            incident,
            origin,
            role=str(Role.DUTY_OFFICER),
            step=origin.escalation.step,
            reason=PageReason.REMINDER,
        )
    else:
        log.error("reminder_without_origin_alert", incident_id=incident.id)
    people = [f.body["person_id"] for f in paged if f.kind is EntryKind.PAGED]
    log.info(
        "report_reminder",
        incident_id=incident.id,
        stage=str(due.stage),
        number=due.number,
        due_at=due.due_at.isoformat(),
        to=people,
    )
    return [
        Fact(
            kind=EntryKind.REMINDER_SENT,
            body={**_due_body(due), "org": incident.org_path, "to": people},
        ),
        *paged,
    ]
