"""Pure handover rules: what is carried, who may take over, when it is overdue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dutywatch import errors
from dutywatch.contracts import Category, Grade, ReportStatus
from dutywatch.handover import rules
from dutywatch.incidents.rules import Incident, State
from dutywatch.timeline import EntryKind

T0 = datetime(2026, 11, 25, 0, 30, tzinfo=UTC)
WITHIN = timedelta(minutes=30)


def incident(incident_id: int, state: State) -> Incident:
    return Incident(
        id=incident_id,
        org_path="harbin.daoli",
        incident_ref=f"ref-{incident_id}",
        state=state,
        grade=Grade.III,
        category=Category.ACCIDENT,
        title=f"事件 {incident_id}",
        status=ReportStatus.ACTUAL,
        sensitive=False,
        first_report_missing=False,
        occurred_at=T0,
        opened_at=T0,
        last_report_at=T0,
        reports_count=1,
        policy_version="v",
    )


def start(carried: list[Incident], incoming: str | None = "sun-li") -> rules.Handover:
    handover, fact = rules.start(
        new_id=7,
        org_path="harbin.daoli",
        outgoing="li-na",
        expected_incoming=incoming,
        note="交接",
        carried=carried,
        now=T0,
        accept_within=WITHIN,
    )
    assert fact.kind is EntryKind.HANDED_OVER
    assert fact.body["handover_id"] == 7
    return handover


@given(st.lists(st.sampled_from(list(State)), max_size=12))
def test_only_unresolved_incidents_are_carried_in_id_order(states: list[State]) -> None:
    carried = [incident(n, s) for n, s in reversed(list(enumerate(states, start=1)))]
    handover = start(carried)
    expected = [n for n, s in enumerate(states, start=1) if s is not State.RESOLVED]
    assert handover.incident_ids == expected
    assert all(item["state"] != "resolved" for item in handover.open_items)
    assert handover.due_at == T0 + WITHIN


def test_incoming_must_differ_from_outgoing() -> None:
    with pytest.raises(errors.Conflict):
        start([], incoming="li-na")


def test_accept_is_idempotent_and_refuses_the_outgoing_and_a_second_person() -> None:
    handover = start([incident(1, State.OPEN)])
    with pytest.raises(errors.Conflict):
        rules.accept(handover, person="li-na", note=None, now=T0)
    first = rules.accept(handover, person="sun-li", note="已接班", now=T0 + timedelta(minutes=5))
    assert first.changed
    assert first.fact is not None
    assert first.fact.kind is EntryKind.HANDOVER_ACCEPTED
    assert first.fact.body == {"handover_id": 7, "by": "sun-li", "note": "已接班"}
    again = rules.accept(first.handover, person="sun-li", note=None, now=T0 + WITHIN)
    assert (again.changed, again.fact, again.handover) == (False, None, first.handover)
    with pytest.raises(errors.Conflict):
        rules.accept(first.handover, person="zhou-min", note=None, now=T0 + WITHIN)


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=3)))
def test_overdue_exactly_from_the_due_time_until_accepted_or_alerted(elapsed: timedelta) -> None:
    handover = start([])
    now = T0 + elapsed
    assert rules.is_overdue(handover, now) == (elapsed >= WITHIN)
    accepted = rules.accept(handover, person="sun-li", note=None, now=T0).handover
    assert not rules.is_overdue(accepted, now)
    from dataclasses import replace

    alerted = replace(handover, overdue_paged_at=T0 + WITHIN)
    assert not rules.is_overdue(alerted, now)
