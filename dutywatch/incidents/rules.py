"""The incident state machine, as pure functions of (state, input, now).

    open ──ack──► acknowledged ──resolve──► resolved
      └────────────────resolve───────────────┘

Reports never change state backwards: a follow-up to a resolved incident is recorded
(supplementary reports after closing are expected) but does not reopen it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from dutywatch.contracts import Category, Grade, ReportStatus, ReportV1, Stage
from dutywatch.timeline import EntryKind
from dutywatch.timeline.personal import split_personal


class State(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True, kw_only=True)
class Incident:
    id: int
    org_path: str
    incident_ref: str
    state: State
    grade: Grade
    category: Category
    title: str
    status: ReportStatus
    sensitive: bool
    first_report_missing: bool
    occurred_at: datetime
    opened_at: datetime
    last_report_at: datetime
    reports_count: int
    policy_version: str
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    #: When the current escalation policy started and how many of its steps fired.
    policy_started_at: datetime | None = None
    policy_fired: int = 0
    #: When the reporting office learned of it (接报时间): the report's ``learned_at``, else
    #: its ``reported_at``. Statutory clocks of grade III and IV count from it.
    learned_at: datetime | None = None
    #: Skip-level reporting (越级上报): the ancestor reported to directly, if any.
    skip_to: str | None = None
    #: The office responsible for it once forwarded (转办), if not ``org_path``, which stays
    #: the office that received it.
    responsible_org: str | None = None
    #: Chain head, maintained by the timeline store; the rules never touch it.
    timeline_seq: int = 0
    timeline_head: bytes = b""


@dataclass(frozen=True, kw_only=True)
class Fact:
    """A timeline entry to append, before it is chained."""

    kind: EntryKind
    body: dict[str, Any]
    personal: dict[str, Any] | None = None


class PageNeed(enum.StrEnum):
    NONE = "none"
    #: A new incident: start the escalation policy from step 0.
    START_POLICY = "start_policy"
    #: The grade went up while nobody had acknowledged: restart the policy now.
    RESTART_POLICY = "restart_policy"


@dataclass(frozen=True, kw_only=True)
class ReportOutcome:
    incident: Incident
    opened: bool
    facts: tuple[Fact, ...]
    page: PageNeed


def report_body(report: ReportV1) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a report into what the chain commits to and the personal data kept apart."""
    import msgspec

    from dutywatch.contracts import encode

    return split_personal(msgspec.json.decode(encode(report)))


def apply_report(
    current: Incident | None,
    report: ReportV1,
    *,
    new_id: int,
    policy_version: str,
    now: datetime,
) -> ReportOutcome:
    """What a report does to its incident. ``new_id`` is used only if it opens one."""
    body, personal = report_body(report)
    received = Fact(kind=EntryKind.REPORT_RECEIVED, body=body, personal=personal)
    if current is None:
        missing_first = report.stage is not Stage.FIRST
        incident = Incident(
            id=new_id,
            org_path=report.org,
            incident_ref=report.incident_ref,
            state=State.OPEN,
            grade=report.grade,
            category=report.category,
            title=report.title,
            status=report.status,
            sensitive=report.sensitive,
            first_report_missing=missing_first,
            occurred_at=report.occurred_at,
            opened_at=now,
            last_report_at=now,
            reports_count=1,
            policy_version=policy_version,
            learned_at=min(report.learned_at or report.reported_at, now),
        )
        opened = Fact(
            kind=(EntryKind.FIRST_REPORT_MISSING if missing_first else EntryKind.INCIDENT_OPENED),
            body={
                "report_id": str(report.report_id),
                "stage": str(report.stage),
                "grade": str(report.grade),
                "category": str(report.category),
                "status": str(report.status),
                "drill": report.status is not ReportStatus.ACTUAL,
            },
        )
        return ReportOutcome(
            incident=incident,
            opened=True,
            facts=(received, opened),
            page=PageNeed.START_POLICY,
        )

    facts = [received]
    page = PageNeed.NONE
    updated = replace(
        current,
        last_report_at=now,
        reports_count=current.reports_count + 1,
        sensitive=current.sensitive or report.sensitive,
        title=report.title,
    )
    if report.grade is not current.grade:
        facts.append(
            Fact(
                kind=EntryKind.GRADE_CHANGED,
                body={
                    "from": str(current.grade),
                    "to": str(report.grade),
                    "report_id": str(report.report_id),
                },
            )
        )
        updated = replace(updated, grade=report.grade, policy_version=policy_version)
        upgraded = report.grade.rank < current.grade.rank
        if upgraded and current.state is State.OPEN:
            page = PageNeed.RESTART_POLICY
    return ReportOutcome(incident=updated, opened=False, facts=tuple(facts), page=page)


@dataclass(frozen=True, kw_only=True)
class Transition:
    incident: Incident
    changed: bool
    facts: tuple[Fact, ...]


def acknowledge(current: Incident, *, actor: str, note: str | None, now: datetime) -> Transition:
    """Acknowledge; idempotent. Acknowledging a resolved incident changes nothing."""
    if current.state is not State.OPEN:
        return Transition(incident=current, changed=False, facts=())
    body: dict[str, Any] = {"by": actor}
    if note:
        body["note"] = note
    return Transition(
        incident=replace(
            current, state=State.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=actor
        ),
        changed=True,
        facts=(Fact(kind=EntryKind.ACKNOWLEDGED, body=body),),
    )


def resolve(current: Incident, *, actor: str, note: str | None, now: datetime) -> Transition:
    if current.state is State.RESOLVED:
        return Transition(incident=current, changed=False, facts=())
    body: dict[str, Any] = {"by": actor}
    if note:
        body["note"] = note
    return Transition(
        incident=replace(current, state=State.RESOLVED, resolved_at=now, resolved_by=actor),
        changed=True,
        facts=(Fact(kind=EntryKind.RESOLVED, body=body),),
    )
