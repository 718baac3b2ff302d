"""The timers a transaction collects: a cancel drops the ones added before it, and only those."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dutywatch.writes import Writes

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=10)


def _kinds(writes: Writes) -> list[tuple[str, int | None, int | None]]:
    return [(t.kind, t.incident_id, t.alert_id) for t in writes.timers]


def test_cancelling_an_alert_drops_its_earlier_timers_and_keeps_one_armed_after() -> None:
    writes = Writes(now=NOW)
    writes.add_timer(kind="escalation", due_at=LATER, incident_id=1, alert_id=10)
    writes.add_timer(kind="escalation", due_at=LATER, incident_id=1, alert_id=11)
    writes.cancel_alert_timers(10)
    writes.add_timer(kind="escalation", due_at=LATER, step=2, incident_id=1, alert_id=10)

    assert _kinds(writes) == [("escalation", 1, 11), ("escalation", 1, 10)]
    assert [t.step for t in writes.timers] == [0, 2]
    assert writes.cancelled_alert_timers == {10}


def test_cancelling_one_kind_of_an_incident_keeps_its_other_kinds_and_other_incidents() -> None:
    writes = Writes(now=NOW)
    writes.add_timer(kind="deadline", due_at=LATER, incident_id=1)
    writes.add_timer(kind="escalation", due_at=LATER, incident_id=1, alert_id=10)
    writes.add_timer(kind="deadline", due_at=LATER, incident_id=2)
    writes.cancel_incident_timers(1, "deadline")
    writes.add_timer(kind="deadline", due_at=LATER + LATER.resolution, incident_id=1)

    assert _kinds(writes) == [("escalation", 1, 10), ("deadline", 2, None), ("deadline", 1, None)]
    # Cancelling the rest afterwards still finds the timer that survived the first cancel.
    writes.cancel_timers(1)
    assert _kinds(writes) == [("deadline", 2, None)]


def test_a_timer_cancelled_through_one_subject_is_gone_through_the_others() -> None:
    writes = Writes(now=NOW)
    writes.add_timer(kind="escalation", due_at=LATER, incident_id=1, alert_id=10)
    writes.cancel_timers(1)
    writes.cancel_alert_timers(10)  # the position is already empty: no error, nothing back
    writes.add_timer(kind="handover", due_at=LATER, handover_id=7)
    writes.cancel_handover_timer(7)

    assert writes.timers == []
    assert not writes.empty  # the cancels themselves are writes
    assert Writes(now=NOW).empty
