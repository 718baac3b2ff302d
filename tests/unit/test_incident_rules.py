"""The incident state machine (dutywatch.incidents.rules): reports, acknowledgements, resolution.

Table tests pin each transition; a property drives random sequences of reports (any grade,
any stage), acknowledgements and resolutions through the rules and checks what must hold
whatever the order: state only moves forward, an acknowledged incident never pages again,
every report is counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dutywatch.contracts import (
    Casualties,
    Category,
    Contact,
    Grade,
    Location,
    ReportStatus,
    ReportV1,
    Stage,
    encode,
)
from dutywatch.incidents.rules import (
    Incident,
    PageNeed,
    ReportOutcome,
    State,
    Transition,
    acknowledge,
    apply_report,
    report_body,
    resolve,
)
from dutywatch.timeline import EntryKind

T0 = datetime(2025, 8, 1, 2, 0, tzinfo=UTC)
STATE_ORDER = {State.OPEN: 0, State.ACKNOWLEDGED: 1, State.RESOLVED: 2}
PERSONAL_KEYS = {"reporter", "commander", "leaders_on_scene"}


def make_report(
    *,
    stage: Stage = Stage.FIRST,
    grade: Grade = Grade.III,
    sensitive: bool = False,
    status: ReportStatus = ReportStatus.ACTUAL,
    title: str = "道里区仓库火灾",
    incident_ref: str = "HRB-2025-0001",
    org: str = "harbin.daoli",
    **extra: Any,
) -> ReportV1:
    return ReportV1(
        report_id=uuid4(),
        incident_ref=incident_ref,
        org=org,
        stage=stage,
        grade=grade,
        category=Category.ACCIDENT,
        title=title,
        occurred_at=T0 - timedelta(minutes=20),
        reported_at=T0,
        reporter=Contact(name="王值班", post="值班员", phone="0451-00000000"),
        status=status,
        sensitive=sensitive,
        **extra,
    )


def open_incident(report: ReportV1 | None = None, **kwargs: Any) -> Incident:
    outcome = apply_report(
        None, report or make_report(**kwargs), new_id=42, policy_version="p-open", now=T0
    )
    return outcome.incident


def kinds(outcome: ReportOutcome | Transition) -> list[EntryKind]:
    return [fact.kind for fact in outcome.facts]


# ------------------------------------------------------------------------------ opening


def test_first_report_opens_an_incident() -> None:
    report = make_report(stage=Stage.FIRST, grade=Grade.II)
    outcome = apply_report(None, report, new_id=7, policy_version="spine-1:II:300s", now=T0)
    incident = outcome.incident
    assert outcome.opened
    assert outcome.page is PageNeed.START_POLICY
    assert kinds(outcome) == [EntryKind.REPORT_RECEIVED, EntryKind.INCIDENT_OPENED]
    assert incident.id == 7
    assert incident.state is State.OPEN
    assert incident.org_path == "harbin.daoli"
    assert incident.incident_ref == "HRB-2025-0001"
    assert incident.grade is Grade.II
    assert incident.category is Category.ACCIDENT
    assert incident.reports_count == 1
    assert incident.opened_at == incident.last_report_at == T0
    assert incident.occurred_at == report.occurred_at
    assert incident.policy_version == "spine-1:II:300s"
    assert not incident.first_report_missing
    assert incident.acknowledged_at is None
    assert incident.resolved_at is None
    opened = outcome.facts[1].body
    assert opened["report_id"] == str(report.report_id)
    assert opened["stage"] == "first"
    assert opened["grade"] == "II"
    assert opened["drill"] is False


@pytest.mark.parametrize("stage", [Stage.FOLLOW_UP, Stage.FINAL, Stage.SUPPLEMENTARY])
def test_later_stage_without_incident_opens_one_flagged(stage: Stage) -> None:
    outcome = apply_report(None, make_report(stage=stage), new_id=8, policy_version="p", now=T0)
    assert outcome.opened
    assert outcome.incident.state is State.OPEN
    assert outcome.incident.first_report_missing
    assert kinds(outcome) == [EntryKind.REPORT_RECEIVED, EntryKind.FIRST_REPORT_MISSING]
    assert outcome.facts[1].body["stage"] == str(stage)
    assert outcome.page is PageNeed.START_POLICY  # held and flagged, never dropped


@pytest.mark.parametrize(
    ("status", "drill"),
    [(ReportStatus.ACTUAL, False), (ReportStatus.EXERCISE, True), (ReportStatus.TEST, True)],
)
def test_drills_are_marked(status: ReportStatus, drill: bool) -> None:
    outcome = apply_report(None, make_report(status=status), new_id=1, policy_version="p", now=T0)
    assert outcome.incident.status is status
    assert outcome.facts[1].body["drill"] is drill
    assert outcome.facts[1].body["status"] == str(status)


# ---------------------------------------------------------------------------- follow-ups


def test_follow_up_updates_but_never_reopens_or_renames() -> None:
    incident = open_incident()
    later = T0 + timedelta(hours=1)
    report = make_report(stage=Stage.FOLLOW_UP, title="火灾已控制", sequence=1, sensitive=True)
    outcome = apply_report(incident, report, new_id=999, policy_version="p-next", now=later)
    updated = outcome.incident
    assert not outcome.opened
    assert outcome.page is PageNeed.NONE
    assert kinds(outcome) == [EntryKind.REPORT_RECEIVED]
    assert updated.id == incident.id == 42  # new_id is ignored
    assert updated.opened_at == T0
    assert updated.state is State.OPEN
    assert updated.reports_count == 2
    assert updated.last_report_at == later
    assert updated.title == "火灾已控制"
    assert updated.sensitive
    assert updated.policy_version == "p-open"  # no grade change: same policy
    assert not updated.first_report_missing


def test_sensitive_is_sticky() -> None:
    incident = open_incident(sensitive=True)
    outcome = apply_report(
        incident, make_report(stage=Stage.FOLLOW_UP), new_id=1, policy_version="p", now=T0
    )
    assert outcome.incident.sensitive


def test_first_report_after_a_follow_up_keeps_the_flag() -> None:
    incident = open_incident(stage=Stage.FOLLOW_UP)
    outcome = apply_report(
        incident, make_report(stage=Stage.FIRST), new_id=1, policy_version="p", now=T0
    )
    assert outcome.incident.first_report_missing
    assert kinds(outcome) == [EntryKind.REPORT_RECEIVED]


@pytest.mark.parametrize("state", [State.ACKNOWLEDGED, State.RESOLVED])
def test_follow_up_on_a_closed_or_acknowledged_incident_keeps_its_state(state: State) -> None:
    incident = open_incident()
    if state is State.ACKNOWLEDGED:
        incident = acknowledge(incident, actor="p1", note=None, now=T0).incident
    else:
        incident = resolve(incident, actor="p1", note=None, now=T0).incident
    outcome = apply_report(
        incident, make_report(stage=Stage.SUPPLEMENTARY), new_id=1, policy_version="p", now=T0
    )
    assert outcome.incident.state is state
    assert outcome.incident.reports_count == 2
    assert outcome.page is PageNeed.NONE


# ------------------------------------------------------------------------ grade changes


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (Grade.IV, Grade.II),
        (Grade.IV, Grade.I),
        (Grade.III, Grade.II),
        (Grade.II, Grade.I),
    ],
)
def test_upgrade_while_open_restarts_the_policy(before: Grade, after: Grade) -> None:
    incident = open_incident(grade=before)
    report = make_report(stage=Stage.FOLLOW_UP, grade=after)
    outcome = apply_report(incident, report, new_id=1, policy_version="p-up", now=T0)
    assert kinds(outcome) == [EntryKind.REPORT_RECEIVED, EntryKind.GRADE_CHANGED]
    assert outcome.facts[1].body == {
        "from": str(before),
        "to": str(after),
        "report_id": str(report.report_id),
    }
    assert outcome.page is PageNeed.RESTART_POLICY
    assert outcome.incident.grade is after
    assert outcome.incident.policy_version == "p-up"
    assert outcome.incident.state is State.OPEN


@pytest.mark.parametrize("state", [State.ACKNOWLEDGED, State.RESOLVED])
def test_upgrade_after_ack_or_resolve_records_but_never_pages(state: State) -> None:
    incident = open_incident(grade=Grade.IV)
    transition = acknowledge if state is State.ACKNOWLEDGED else resolve
    incident = transition(incident, actor="p1", note=None, now=T0).incident
    outcome = apply_report(
        incident,
        make_report(stage=Stage.FOLLOW_UP, grade=Grade.II),
        new_id=1,
        policy_version="p-up",
        now=T0,
    )
    assert kinds(outcome) == [EntryKind.REPORT_RECEIVED, EntryKind.GRADE_CHANGED]
    assert outcome.page is PageNeed.NONE
    assert outcome.incident.grade is Grade.II
    assert outcome.incident.state is state


@pytest.mark.parametrize(
    ("before", "after"), [(Grade.I, Grade.IV), (Grade.II, Grade.III), (Grade.III, Grade.IV)]
)
@pytest.mark.parametrize("state", list(State))
def test_downgrade_never_pages(before: Grade, after: Grade, state: State) -> None:
    incident = open_incident(grade=before)
    if state is not State.OPEN:
        transition = acknowledge if state is State.ACKNOWLEDGED else resolve
        incident = transition(incident, actor="p1", note=None, now=T0).incident
    outcome = apply_report(
        incident,
        make_report(stage=Stage.FOLLOW_UP, grade=after),
        new_id=1,
        policy_version="p",
        now=T0,
    )
    assert kinds(outcome) == [EntryKind.REPORT_RECEIVED, EntryKind.GRADE_CHANGED]
    assert outcome.page is PageNeed.NONE
    assert outcome.incident.grade is after


@pytest.mark.parametrize("grade", list(Grade))
def test_same_grade_is_no_grade_change(grade: Grade) -> None:
    incident = open_incident(grade=grade)
    outcome = apply_report(
        incident,
        make_report(stage=Stage.FOLLOW_UP, grade=grade),
        new_id=1,
        policy_version="x",
        now=T0,
    )
    assert kinds(outcome) == [EntryKind.REPORT_RECEIVED]
    assert outcome.page is PageNeed.NONE
    assert outcome.incident.policy_version == "p-open"


# ---------------------------------------------------------------- acknowledge and resolve


def test_acknowledge_then_again_is_idempotent() -> None:
    incident = open_incident()
    at = T0 + timedelta(minutes=3)
    first = acknowledge(incident, actor="officer-1", note="收到，正在核实", now=at)
    assert first.changed
    assert first.incident.state is State.ACKNOWLEDGED
    assert first.incident.acknowledged_at == at
    assert first.incident.acknowledged_by == "officer-1"
    assert kinds(first) == [EntryKind.ACKNOWLEDGED]
    assert first.facts[0].body == {"by": "officer-1", "note": "收到，正在核实"}
    second = acknowledge(first.incident, actor="officer-2", note=None, now=at + timedelta(1))
    assert not second.changed
    assert second.facts == ()
    assert second.incident == first.incident  # first acknowledger and time are kept


@pytest.mark.parametrize("note", [None, ""])
def test_acknowledge_without_note_has_no_note_key(note: str | None) -> None:
    transition = acknowledge(open_incident(), actor="officer-1", note=note, now=T0)
    assert transition.facts[0].body == {"by": "officer-1"}


def test_acknowledge_after_resolve_changes_nothing() -> None:
    resolved = resolve(open_incident(), actor="leader", note="处置完毕", now=T0).incident
    transition = acknowledge(resolved, actor="officer-1", note=None, now=T0 + timedelta(1))
    assert not transition.changed
    assert transition.facts == ()
    assert transition.incident == resolved
    assert transition.incident.acknowledged_at is None


@pytest.mark.parametrize("acknowledged_first", [False, True])
def test_resolve_then_again_is_idempotent(acknowledged_first: bool) -> None:
    incident = open_incident()
    if acknowledged_first:
        incident = acknowledge(incident, actor="officer-1", note=None, now=T0).incident
    at = T0 + timedelta(hours=2)
    first = resolve(incident, actor="leader", note="处置完毕", now=at)
    assert first.changed
    assert first.incident.state is State.RESOLVED
    assert first.incident.resolved_at == at
    assert first.incident.resolved_by == "leader"
    assert kinds(first) == [EntryKind.RESOLVED]
    assert first.facts[0].body == {"by": "leader", "note": "处置完毕"}
    assert first.incident.acknowledged_at == incident.acknowledged_at
    second = resolve(first.incident, actor="someone-else", note="again", now=at + timedelta(1))
    assert not second.changed
    assert second.facts == ()
    assert second.incident == first.incident


# ---------------------------------------------------------------------------- report_body


def test_report_body_splits_personal_data_out() -> None:
    report = make_report(
        commander=Contact(name="李指挥-unique", post="现场指挥长", phone="139-commander"),
        leaders_on_scene=[Contact(name="赵副市长-unique", phone="137-leader")],
        location=Location(text="道里区安静街", admin_code="230102", lat=45.77, lon=126.6),
        casualties=Casualties(injured=3),
    )
    body, personal = report_body(report)
    assert set(personal) == PERSONAL_KEYS
    assert not PERSONAL_KEYS & set(body)
    assert personal["reporter"] == {"name": "王值班", "post": "值班员", "phone": "0451-00000000"}
    assert personal["commander"]["name"] == "李指挥-unique"
    assert personal["leaders_on_scene"][0]["name"] == "赵副市长-unique"
    flat = json.dumps(body, ensure_ascii=False)
    for secret in ("王值班", "0451-00000000", "李指挥-unique", "139-commander", "赵副市长", "137"):
        assert secret not in flat
    assert body["title"] == "道里区仓库火灾"
    assert body["location"]["admin_code"] == "230102"
    assert body["casualties"]["injured"] == 3
    assert body["schema"] == "dutywatch.report.v1"


contacts = st.builds(
    Contact,
    name=st.text(min_size=1, max_size=20),
    post=st.none() | st.text(max_size=20),
    phone=st.none() | st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
)


@given(
    reporter=contacts,
    commander=st.none() | contacts,
    leaders=st.lists(contacts, max_size=3),
    grade=st.sampled_from(Grade),
    stage=st.sampled_from(Stage),
    summary=st.text(max_size=50),
)
def test_report_body_round_trips(
    reporter: Contact,
    commander: Contact | None,
    leaders: list[Contact],
    grade: Grade,
    stage: Stage,
    summary: str,
) -> None:
    report = make_report(grade=grade, stage=stage, summary=summary)
    report = msgspec.structs.replace(
        report, reporter=reporter, commander=commander, leaders_on_scene=leaders
    )
    body, personal = report_body(report)
    assert set(personal) == PERSONAL_KEYS
    assert not PERSONAL_KEYS & set(body)
    # Nothing lost: the two halves together are the whole report.
    assert msgspec.json.decode(encode({**body, **personal}), type=ReportV1) == report
    # And the facts of apply_report carry exactly this split.
    received = apply_report(None, report, new_id=1, policy_version="p", now=T0).facts[0]
    assert received.body == body
    assert received.personal == personal


# --------------------------------------------------------------- random operation sequences


@dataclass(frozen=True)
class Report:
    grade: Grade
    stage: Stage
    sensitive: bool


@dataclass(frozen=True)
class Ack:
    note: str | None


@dataclass(frozen=True)
class Resolve:
    pass


operations = st.one_of(
    st.builds(
        Report, grade=st.sampled_from(Grade), stage=st.sampled_from(Stage), sensitive=st.booleans()
    ),
    st.builds(Ack, note=st.none() | st.text(max_size=5)),
    st.just(Resolve()),
)


@settings(deadline=None)
@given(st.lists(operations, min_size=1, max_size=25))
def test_random_operation_sequences(ops: list[Report | Ack | Resolve]) -> None:
    incident: Incident | None = None
    now = T0
    reports_applied = 0
    ever_acknowledged = False
    first_stage: Stage | None = None
    sensitive = False
    for number, op in enumerate(ops):
        now += timedelta(minutes=1)
        if isinstance(op, Report):
            report = make_report(grade=op.grade, stage=op.stage, sensitive=op.sensitive)
            outcome = apply_report(
                incident, report, new_id=100, policy_version=f"v{number}", now=now
            )
            reports_applied += 1
            sensitive = sensitive or op.sensitive
            after = outcome.incident
            assert kinds(outcome)[0] is EntryKind.REPORT_RECEIVED
            if incident is None:
                first_stage = op.stage
                assert outcome.opened
                assert outcome.page is PageNeed.START_POLICY
                assert after.state is State.OPEN
            else:
                assert not outcome.opened
                assert (after.id, after.opened_at) == (incident.id, incident.opened_at)
                assert after.state is incident.state, "a report changed the state"
                grade_changed = op.grade is not incident.grade
                assert (EntryKind.GRADE_CHANGED in kinds(outcome)) == grade_changed
                upgraded = op.grade.rank < incident.grade.rank
                expected = (
                    PageNeed.RESTART_POLICY
                    if upgraded and incident.state is State.OPEN
                    else PageNeed.NONE
                )
                assert outcome.page is expected
            if ever_acknowledged or after.state is not State.OPEN:
                assert outcome.page is PageNeed.NONE, "an acknowledged incident paged again"
            assert after.grade is op.grade
            assert after.sensitive == sensitive
            assert after.first_report_missing == (first_stage is not Stage.FIRST)
        elif incident is None:
            continue  # nothing to acknowledge or resolve yet
        elif isinstance(op, Ack):
            transition = acknowledge(incident, actor="officer", note=op.note, now=now)
            assert transition.changed == (incident.state is State.OPEN)
            assert bool(transition.facts) == transition.changed
            if not transition.changed:
                assert transition.incident == incident
            after = transition.incident
        else:
            transition = resolve(incident, actor="leader", note=None, now=now)
            assert transition.changed == (incident.state is not State.RESOLVED)
            assert bool(transition.facts) == transition.changed
            if not transition.changed:
                assert transition.incident == incident
            after = transition.incident
        if incident is not None:
            assert STATE_ORDER[after.state] >= STATE_ORDER[incident.state], "state went back"
            assert after.id == incident.id
            assert after.opened_at == incident.opened_at
            if incident.acknowledged_at is not None:
                assert after.acknowledged_at == incident.acknowledged_at
            if incident.resolved_at is not None:
                assert after.resolved_at == incident.resolved_at
        ever_acknowledged = ever_acknowledged or after.state is State.ACKNOWLEDGED
        assert after.reports_count == reports_applied
        incident = after
