"""The dry-run planner (escalation.simulate.plan): what nobody acknowledging would bring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dutywatch.config import DEFAULT_ACK_TIMEOUTS
from dutywatch.contracts import Category, Grade
from dutywatch.escalation.policy import NotifyDutyRoom, NotifyRole, Policy, Repeat
from dutywatch.escalation.simulate import EventKind, plan
from dutywatch.rosters.model import Role

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
ORGS = {"harbin", "harbin.daoli", "harbin.nangang", "harbin.daoli.xinyang"}
MIN = timedelta(minutes=1)


def run(org: str, grade: Grade, policies: list[Policy], hours: float = 3) -> list:
    return list(
        plan(
            org=org,
            grade=grade,
            category=Category.ACCIDENT,
            start=T0,
            policies=policies,
            orgs=ORGS,
            ack_timeouts=DEFAULT_ACK_TIMEOUTS,
            horizon=timedelta(hours=hours),
        ).events
    )


def test_the_default_policy_climbs_room_by_room() -> None:
    events = run("harbin.daoli.xinyang", Grade.IV, [])
    opened = [(e.at - T0, e.org) for e in events if e.kind is EventKind.ALERT_OPENED]
    assert opened == [(30 * MIN, "harbin.daoli"), (60 * MIN, "harbin")]
    roles = [(e.at - T0, e.org, e.role) for e in events if e.kind is EventKind.PAGE_ROLE]
    assert roles[:2] == [
        (timedelta(0), "harbin.daoli.xinyang", "duty_officer"),
        (15 * MIN, "harbin.daoli.xinyang", "leader_on_duty"),
    ]


def test_events_are_in_time_order_and_a_room_opens_once() -> None:
    peer = Policy(
        id="peer",
        version=1,
        org="harbin.daoli",
        steps=(
            NotifyRole(role=Role.DUTY_OFFICER),
            NotifyDutyRoom(org="harbin.nangang", delay=MIN),
            NotifyDutyRoom(org="harbin.nangang", delay=MIN),
            Repeat(times=1, delay=MIN),
        ),
    )
    events = run("harbin.daoli", Grade.III, [peer], hours=1)
    assert [e.at for e in events] == sorted(e.at for e in events)
    opened = [e.org for e in events if e.kind is EventKind.ALERT_OPENED]
    assert opened == ["harbin", "harbin.nangang"]  # the parent at once (III), the peer once
    already = [(e.org, e.text) for e in events if "already alerted" in e.text]
    peer_again = "notify duty room harbin.nangang: harbin.nangang is already alerted"
    assert already == [
        ("harbin.daoli", f"step 2: {peer_again}"),  # the second peer step
        ("harbin.daoli", f"step 1: {peer_again}"),  # the repeat, both steps
        ("harbin.daoli", f"step 2: {peer_again}"),
        # the peer's own default policy climbs to the city, alerted at once (grade III)
        ("harbin.nangang", "step 2: notify the parent duty room: harbin is already alerted"),
    ]


def test_the_horizon_cuts_the_plan_and_says_so() -> None:
    result = plan(
        org="harbin.daoli",
        grade=Grade.IV,
        category=Category.ACCIDENT,
        start=T0,
        policies=[],
        orgs=ORGS,
        ack_timeouts=DEFAULT_ACK_TIMEOUTS,
        horizon=5 * MIN,
    )
    assert result.truncated
    assert all(e.at <= T0 + 5 * MIN for e in result.events)


def test_a_grade_i_incident_at_the_top_has_no_one_to_report_to() -> None:
    events = run("harbin", Grade.I, [])
    assert [e.kind for e in events if e.kind is EventKind.REPORT_LATE] == []
    assert {e.org for e in events} == {"harbin"}
