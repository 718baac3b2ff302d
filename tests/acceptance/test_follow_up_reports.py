"""Follow-up (续报) and final (终报) reports: reminders (催办) before each is due, late marks.

The rule here is "every hour" (not the shipped daily 08:00) so that a test moves the clock by
minutes: follow-up N+1 is due an hour after the latest first or follow-up report, the reminder
15 minutes before; the final report is due 2 hours after resolution. The incident is a grade IV
report of the district (``harbin.daoli``), acknowledged at once by its duty officer (li-na) so
that no escalation page mixes in; its statutory clocks run to 03:58Z, past every test here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from dutywatch.config import Settings
from dutywatch.deadlines.rules import FollowUpRule
from tests.acceptance.conftest import START, Inbox, Service, eventually, make_report
from tests.acceptance.test_reporting_deadlines import advance_to, of_kind, settle, timeline

INTERVAL = timedelta(hours=1)
LEAD = timedelta(minutes=15)
FINAL_WITHIN = timedelta(hours=2)


@pytest.fixture
def service_settings(service_settings: Settings) -> Settings:
    return service_settings.with_(
        follow_up=FollowUpRule(
            interval=INTERVAL, daily_at=None, reminder_lead=LEAD, final_within=FINAL_WITHIN
        )
    )


async def open_acknowledged(service: Service, pages: Inbox) -> tuple[int, dict[str, Any]]:
    report = make_report(org="harbin.daoli", grade="IV")
    await service.publish(report)
    [first] = await settle(pages, 1)
    incident_id: int = first["incident_id"]
    acked = await service.client.post(
        f"/api/v1/incidents/{incident_id}/ack", headers=service.auth(service.tokens.officer_daoli)
    )
    assert (await acked.json())["state"] == "acknowledged"
    return incident_id, report


async def send(service: Service, first: dict[str, Any], stage: str, sequence: int) -> None:
    """Publish a later report of the incident and wait until intake has stored it."""
    report = make_report(
        org=first["org"],
        grade=first["grade"],
        incident_ref=first["incident_ref"],
        stage=stage,
        sequence=sequence,
    )
    await service.publish(report)

    async def stored() -> bool:
        rows = await service.sql(
            "SELECT 1 FROM reports WHERE report_id = $1::uuid", report["report_id"]
        )
        return bool(rows)

    await eventually(stored, what=f"{stage} report stored")


async def test_a_reminder_goes_out_before_a_follow_up_is_due_and_a_miss_is_late(
    service: Service, pages: Inbox
) -> None:
    incident_id, first = await open_acknowledged(service, pages)
    due = START + INTERVAL

    await advance_to(service, due - LEAD - timedelta(seconds=1))
    await settle(pages, 1)  # nothing before the reminder time
    await advance_to(service, due - LEAD)
    [reminder] = (await settle(pages, 2))[1:]
    assert (reminder["person_id"], reminder["role"], reminder["reason"]) == (
        "li-na",
        "duty_officer",
        "reminder",
    )
    entries = await timeline(service, incident_id)
    assert of_kind(entries, "reminder_sent") == [
        {
            "stage": "follow_up",
            "number": 1,
            "due_at": due.isoformat(),
            "org": "harbin.daoli",
            "to": ["li-na"],
        }
    ]

    # Nobody reports: the follow-up is late (迟报) one second after it was due, once.
    await advance_to(service, due + timedelta(seconds=1))

    async def late() -> list[dict[str, Any]]:
        return of_kind(await timeline(service, incident_id), "report_late")

    [missed] = await eventually(late, what="follow-up marked late")
    assert (missed["stage"], missed["number"], missed["due_at"], missed["late_by_s"]) == (
        "follow_up",
        1,
        due.isoformat(),
        1.0,
    )
    assert missed["outstanding"] is True
    await advance_to(service, due + timedelta(minutes=2))
    await settle(pages, 2)
    assert len(await late()) == 1

    # The late follow-up arrives and arms the next one, an hour after it.
    sent_at = service.clock.now()
    await send(service, first, "follow_up", 1)
    await advance_to(service, sent_at + INTERVAL - LEAD)
    [second] = (await settle(pages, 3))[2:]
    assert second["reason"] == "reminder"
    reminders = of_kind(await timeline(service, incident_id), "reminder_sent")
    assert [(r["number"], r["due_at"]) for r in reminders] == [
        (1, due.isoformat()),
        (2, (sent_at + INTERVAL).isoformat()),
    ]


async def test_a_follow_up_in_time_stops_the_reminder_and_arms_the_next(
    service: Service, pages: Inbox
) -> None:
    incident_id, first = await open_acknowledged(service, pages)
    sent_at = START + timedelta(minutes=30)
    await advance_to(service, sent_at)
    await send(service, first, "follow_up", 1)

    # The first follow-up's reminder (10:45 local) and due time (11:00) pass without a word.
    await advance_to(service, START + INTERVAL + timedelta(minutes=1))
    await settle(pages, 1)
    entries = await timeline(service, incident_id)
    assert of_kind(entries, "reminder_sent") == []
    assert of_kind(entries, "report_late") == []

    # The second follow-up is due an hour after the first.
    await advance_to(service, sent_at + INTERVAL - LEAD)
    [reminder] = (await settle(pages, 2))[1:]
    assert reminder["reason"] == "reminder"
    [sent] = of_kind(await timeline(service, incident_id), "reminder_sent")
    assert (sent["number"], sent["due_at"]) == (2, (sent_at + INTERVAL).isoformat())


async def test_the_final_report_is_due_after_resolution_reminded_once_and_late_if_missed(
    service: Service, pages: Inbox
) -> None:
    incident_id, _ = await open_acknowledged(service, pages)
    resolved_at = START + timedelta(minutes=10)
    await advance_to(service, resolved_at)
    resolved = await service.client.post(
        f"/api/v1/incidents/{incident_id}/resolve",
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert (await resolved.json())["state"] == "resolved"
    due = resolved_at + FINAL_WITHIN

    # No follow-up is owed any more (its reminder would have gone at 02:45).
    await advance_to(service, due - LEAD - timedelta(seconds=1))
    await settle(pages, 1)
    await advance_to(service, due - LEAD)
    [reminder] = (await settle(pages, 2))[1:]
    assert (reminder["person_id"], reminder["reason"]) == ("li-na", "reminder")

    await advance_to(service, due + timedelta(minutes=5))

    async def late() -> list[dict[str, Any]]:
        return of_kind(await timeline(service, incident_id), "report_late")

    [missed] = await eventually(late, what="final report marked late")
    assert (missed["stage"], missed["number"], missed["late_by_s"]) == ("final", None, 300.0)
    entries = await timeline(service, incident_id)
    assert [(r["stage"], r["due_at"]) for r in of_kind(entries, "reminder_sent")] == [
        ("final", due.isoformat())
    ]
    await settle(pages, 2)


async def test_a_final_report_in_time_ends_the_reminders(service: Service, pages: Inbox) -> None:
    incident_id, first = await open_acknowledged(service, pages)
    resolved = await service.client.post(
        f"/api/v1/incidents/{incident_id}/resolve",
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert resolved.status == 200
    await advance_to(service, START + timedelta(minutes=30))
    await send(service, first, "final", 2)

    await advance_to(service, START + FINAL_WITHIN + timedelta(minutes=1))
    await settle(pages, 1)
    entries = await timeline(service, incident_id)
    assert of_kind(entries, "reminder_sent") == []
    assert of_kind(entries, "report_late") == []
    pending = await service.sql(
        "SELECT 1 FROM timers WHERE incident_id = $1 AND kind = 'follow_up'"
        " AND fired_at IS NULL AND cancelled_at IS NULL",
        incident_id,
    )
    assert pending == []
