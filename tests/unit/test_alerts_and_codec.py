"""Alerts per duty room (who an acknowledgement stops) and policy documents (JSON)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dutywatch import errors
from dutywatch.contracts import Category, Grade
from dutywatch.escalation.alerts import Alert, OpenedReason, acknowledged_by
from dutywatch.escalation.codec import (
    as_json,
    decode_policy,
    steps_from_json,
    steps_to_json,
)
from dutywatch.escalation.policy import (
    EscalationState,
    InvalidPolicy,
    NotifyDutyRoom,
    NotifyParent,
    NotifyPeople,
    NotifyRole,
    Policy,
    Repeat,
    Wait,
)
from dutywatch.rosters.model import Role

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def alert(alert_id: int, org: str, reason: OpenedReason, *, acked: bool = False) -> Alert:
    return Alert(
        id=alert_id,
        incident_id=1,
        org_path=org,
        parent_alert_id=None if reason is OpenedReason.INCIDENT_OPENED else alert_id - 1,
        opened_reason=reason,
        escalation=EscalationState(policy="p@v1", started_at=T0, acknowledged=acked),
        created_at=T0,
        acknowledged_at=T0 if acked else None,
        acknowledged_by="person:x" if acked else None,
    )


TOWNSHIP = alert(1, "harbin.daoli.xinyang", OpenedReason.INCIDENT_OPENED)
DISTRICT = alert(2, "harbin.daoli", OpenedReason.STATUTORY)
CITY = alert(3, "harbin", OpenedReason.POLICY_STEP)
ALL = [TOWNSHIP, DISTRICT, CITY]
#: The township has no roster: its pages landed in the district's duty room.
LANDED = {1: {"harbin.daoli"}, 2: {"harbin.daoli"}, 3: {"harbin"}}


def ids(alerts: tuple[Alert, ...]) -> list[int]:
    return [a.id for a in alerts]


def test_the_city_acknowledging_stops_only_the_city_alert() -> None:
    assert ids(acknowledged_by(ALL, "harbin", LANDED)) == [3]


def test_the_district_stops_its_own_alert_and_the_township_alert_paged_in_it() -> None:
    assert ids(acknowledged_by(ALL, "harbin.daoli", LANDED)) == [1, 2]


def test_a_township_with_its_own_roster_stops_only_its_own_alert() -> None:
    landed = {1: {"harbin.daoli.xinyang"}, 2: {"harbin.daoli"}, 3: {"harbin"}}
    assert ids(acknowledged_by(ALL, "harbin.daoli.xinyang", landed)) == [1]
    assert ids(acknowledged_by(ALL, "harbin.daoli", landed)) == [2]


def test_a_room_not_yet_paged_acknowledges_the_nearest_alert_in_its_subtree() -> None:
    assert ids(acknowledged_by([TOWNSHIP], "harbin.daoli", {})) == [1]
    assert ids(acknowledged_by([TOWNSHIP, DISTRICT], "harbin", {})) == [2]


def test_an_administrator_acknowledges_the_origin_alert() -> None:
    assert ids(acknowledged_by(ALL, None, LANDED)) == [1]


def test_acknowledging_twice_stops_nothing_more() -> None:
    done = [TOWNSHIP.acknowledge(actor="person:li-na", now=T0), DISTRICT, CITY]
    assert ids(acknowledged_by(done, "harbin.daoli", LANDED)) == [2]
    both = [done[0], DISTRICT.acknowledge(actor="person:li-na", now=T0), CITY]
    assert acknowledged_by(both, "harbin.daoli", LANDED) == ()


def test_a_room_outside_the_incident_stops_nothing() -> None:
    assert acknowledged_by(ALL, "harbin.nangang", LANDED) == ()


def test_acknowledging_marks_the_cursor_stopped() -> None:
    done = TOWNSHIP.acknowledge(actor="person:li-na", now=T0)
    assert done.escalation.stopped
    assert (done.acknowledged_by, done.acknowledged_at) == ("person:li-na", T0)


# ------------------------------------------------------------------------------------ codec

DOCUMENT = b"""{
  "id": "daoli-night", "org": "harbin.daoli", "grades": ["III", "IV"],
  "categories": ["accident"],
  "steps": [
    {"kind": "notify_role", "role": "duty_officer"},
    {"kind": "notify_role", "role": "leader_on_duty", "delay": "PT10M"},
    {"kind": "notify_people", "people": ["zhang-wei"], "delay": "PT5M"},
    {"kind": "wait", "delay": "PT1M"},
    {"kind": "notify_parent", "delay": "PT10M"},
    {"kind": "notify_duty_room", "org": "harbin.nangang"},
    {"kind": "repeat", "times": 2, "delay": "PT30M"}
  ]
}"""


def test_a_document_decodes_into_the_policy_it_describes() -> None:
    policy = decode_policy(DOCUMENT, version=3)
    assert policy.ref == "daoli-night@v3"
    assert policy.grades == {Grade.III, Grade.IV}
    assert policy.categories == {Category.ACCIDENT}
    assert policy.steps == (
        NotifyRole(role=Role.DUTY_OFFICER),
        NotifyRole(role=Role.LEADER_ON_DUTY, delay=timedelta(minutes=10)),
        NotifyPeople(people=("zhang-wei",), delay=timedelta(minutes=5)),
        Wait(delay=timedelta(minutes=1)),
        NotifyParent(delay=timedelta(minutes=10)),
        NotifyDutyRoom(org="harbin.nangang"),
        Repeat(times=2, delay=timedelta(minutes=30)),
    )


def test_grades_and_categories_default_to_all() -> None:
    policy = decode_policy(
        b'{"id": "x", "org": "harbin", "steps": [{"kind": "notify_role", "role": "standby"}]}'
    )
    assert policy.grades == frozenset(Grade)
    assert policy.categories == frozenset(Category)


@pytest.mark.parametrize(
    ("document", "error"),
    [
        (b"{", errors.MalformedJson),
        (b'{"id": "x", "org": "harbin", "steps": [{"kind": "page"}]}', errors.SchemaViolation),
        (b'{"id": "x", "org": "harbin", "steps": [], "extra": 1}', errors.SchemaViolation),
        (
            b'{"id": "x", "org": "harbin", "steps": [{"kind": "notify_role", "role": "boss"}]}',
            errors.SchemaViolation,
        ),
        (
            b'{"id": "x", "org": "harbin", "steps": [{"kind": "wait", "delay": "PT1M"}]}',
            InvalidPolicy,
        ),
        (
            b'{"id": "x", "org": "harbin", "steps": [{"kind": "repeat", "times": 1},'
            b' {"kind": "notify_role", "role": "standby"}]}',
            InvalidPolicy,
        ),
    ],
)
def test_bad_documents_are_refused_with_a_named_error(document: bytes, error: type) -> None:
    with pytest.raises(error):
        decode_policy(document)


def test_as_json_reads_back_as_the_same_policy() -> None:
    policy = decode_policy(DOCUMENT, version=2)
    document = as_json(policy)
    assert document["ref"] == "daoli-night@v2"
    back = decode_policy(
        msgspec.json.encode({k: v for k, v in document.items() if k not in ("version", "ref")}),
        version=2,
    )
    assert back == policy


steps = st.lists(
    st.one_of(
        st.builds(
            NotifyRole,
            role=st.sampled_from(Role),
            delay=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2)),
        ),
        st.builds(
            NotifyPeople,
            people=st.lists(
                st.from_regex(r"[a-z]{1,8}", fullmatch=True), min_size=1, max_size=3
            ).map(lambda p: tuple(dict.fromkeys(p))),
        ),
        st.builds(NotifyParent, levels=st.integers(1, 3)),
        st.builds(NotifyDutyRoom, org=st.sampled_from(["harbin", "harbin.nangang"])),
        st.builds(Wait, delay=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=5))),
    ),
    min_size=1,
    max_size=8,
)


@given(steps)
def test_steps_survive_the_database_round_trip(scheduled: list) -> None:
    stored = tuple(scheduled)
    assert steps_from_json(steps_to_json(stored)) == stored
    # And a policy of them is still constructible (or refused for lack of an action).
    if any(not isinstance(s, Wait) for s in stored):
        Policy(id="p", version=1, org="harbin", steps=stored)
