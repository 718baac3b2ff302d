"""Statutory reporting: alerts the grade requires at once, clocks, 迟报, 签发 and 漏报.

Times: the service clock starts at 02:00Z (10:00 in Shanghai); ``make_report`` has the event
at 01:52Z and the report written at 01:58Z (the time learned, as the report gives no other).
The acknowledgement timeout is 10 minutes for every grade.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

from tests.acceptance.conftest import START, Inbox, Service, eventually, make_report

LEARNED = datetime.fromisoformat("2026-11-25T01:58:00+00:00")
OCCURRED = datetime.fromisoformat("2026-11-25T01:52:00+00:00")


async def timeline(service: Service, incident_id: int) -> list[tuple[str, dict[str, Any]]]:
    rows = await service.sql(
        "SELECT kind::text, body FROM timeline_entries WHERE incident_id = $1 ORDER BY seq",
        incident_id,
    )
    return [(r["kind"], json.loads(r["body"])) for r in rows]


def of_kind(entries: list[tuple[str, dict[str, Any]]], kind: str) -> list[dict[str, Any]]:
    return [body for k, body in entries if k == kind]


async def advance_to(service: Service, when: datetime) -> None:
    await service.clock.advance(when - service.clock.now())


async def settle(pages: Inbox, count: int) -> list[dict[str, Any]]:
    """Wait for ``count`` pages, then make sure no more arrive."""
    got = await pages.wait_for(count)
    await asyncio.sleep(0.3)
    assert len(pages.messages) == count, [p["person_id"] for p in pages.payloads()]
    return got


async def detail(service: Service, incident_id: int) -> dict[str, Any]:
    response = await service.client.get(
        f"/api/v1/incidents/{incident_id}", headers=service.auth(service.tokens.officer_daoli)
    )
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def test_grade_i_climbs_straight_to_the_top_with_both_clocks(
    service: Service, pages: Inbox
) -> None:
    await service.publish(make_report(grade="I"))
    first = await settle(pages, 2)
    # The township's page climbs to the district officer, who is also the district alert's
    # officer (paged once); the city's alert opens at once and pages the city's officer.
    assert [(p["person_id"], p["org"], p["reason"]) for p in first] == [
        ("li-na", "harbin.daoli", "first_page"),
        ("wang-fang", "harbin", "first_page"),
    ]
    incident_id = first[0]["incident_id"]
    entries = await timeline(service, incident_id)
    assert [(b["org"], b["reason"], b["from_org"]) for b in of_kind(entries, "alert_opened")] == [
        ("harbin.daoli", "statutory", "harbin.daoli.xinyang"),
        ("harbin", "statutory", "harbin.daoli"),
    ]
    # Grade I: 30 minutes by phone and 1 hour in writing after the event, to every room up to
    # the top (the district has no longer than the city).
    phone, written = OCCURRED + timedelta(minutes=30), OCCURRED + timedelta(hours=1)
    assert sorted(
        (b["target"], b["kind"], b["due_at"]) for b in of_kind(entries, "clock_started")
    ) == [
        ("harbin", "phone", phone.isoformat()),
        ("harbin", "written", written.isoformat()),
        ("harbin.daoli", "phone", phone.isoformat()),
        ("harbin.daoli", "written", written.isoformat()),
    ]
    shown = await detail(service, incident_id)
    assert shown["next_deadline"]["due_at"] == phone.isoformat()
    assert shown["next_escalation"]["due_at"] == (START + timedelta(minutes=10)).isoformat()
    assert [a["org"] for a in shown["alerts"]] == [
        "harbin.daoli.xinyang",
        "harbin.daoli",
        "harbin",
    ]

    # Nobody acknowledges: the leaders at 10 minutes (the district's once, for both alerts).
    await advance_to(service, START + timedelta(minutes=10))
    leaders = (await settle(pages, 4))[2:]
    assert sorted(p["person_id"] for p in leaders) == ["zhang-wei", "zhao-lei"]

    # The phone clocks run out at 02:22: 迟报 for both rooms; the reporting room's leader is
    # paged about it.
    await advance_to(service, phone + timedelta(seconds=1))
    [late_page] = (await settle(pages, 5))[4:]
    assert (late_page["person_id"], late_page["reason"]) == ("zhang-wei", "escalation")
    entries = await timeline(service, incident_id)
    late = of_kind(entries, "report_late")
    assert [(b["target"], b["kind"], b["outstanding"]) for b in late] == [
        ("harbin.daoli", "phone", True),
        ("harbin", "phone", True),
    ]
    assert all(b["late_by_s"] == 1.0 for b in late)
    assert (await detail(service, incident_id))["next_deadline"]["due_at"] == written.isoformat()

    # The written clocks run out at 02:52.
    await advance_to(service, written + timedelta(minutes=5))
    await settle(pages, 6)
    late = of_kind(await timeline(service, incident_id), "report_late")
    assert [(b["target"], b["kind"], b["late_by_s"]) for b in late[2:]] == [
        ("harbin.daoli", "written", 300.0),
        ("harbin", "written", 300.0),
    ]
    shown = await detail(service, incident_id)
    assert shown["next_deadline"] is None
    assert {(c["target"], c["kind"]) for c in shown["clocks"] if c["missed_at"]} == {
        ("harbin", "phone"),
        ("harbin", "written"),
        ("harbin.daoli", "phone"),
        ("harbin.daoli", "written"),
    }


async def test_an_upgrade_from_iv_to_ii_restarts_at_grade_ii_at_once(
    service: Service, pages: Inbox
) -> None:
    report = make_report(org="harbin.daoli", grade="IV")
    await service.publish(report)
    [first] = await settle(pages, 1)
    incident_id = first["incident_id"]
    entries = await timeline(service, incident_id)
    # Grade IV: two hours from the time learned, to the parent only; no alert there yet.
    assert {(b["target"], b["due_at"]) for b in of_kind(entries, "clock_started")} == {
        ("harbin", (LEARNED + timedelta(hours=2)).isoformat())
    }
    assert of_kind(entries, "alert_opened") == []

    upgraded_at = START + timedelta(minutes=5)
    await advance_to(service, upgraded_at)
    await service.publish(
        make_report(
            org="harbin.daoli",
            grade="II",
            stage="follow_up",
            sequence=1,
            incident_ref=report["incident_ref"],
            title="燃气泄漏引发爆炸，已造成人员伤亡",
        )
    )
    upgrade = (await settle(pages, 3))[1:]
    assert [(p["person_id"], p["reason"], p["policy_version"]) for p in upgrade] == [
        ("li-na", "new_report", "default-II-600s@v1"),
        ("wang-fang", "first_page", "default-II-600s-top@v1"),
    ]
    entries = await timeline(service, incident_id)
    assert of_kind(entries, "grade_changed")[0]["to"] == "II"
    # The grade II clocks start at the upgrade: 30 minutes by phone, 1 hour in writing.
    restarted = of_kind(entries, "clock_started")[2:]
    assert [(b["kind"], b["due_at"], b["reason"]) for b in restarted] == [
        ("phone", (upgraded_at + timedelta(minutes=30)).isoformat(), "upgraded"),
        ("written", (upgraded_at + timedelta(hours=1)).isoformat(), "upgraded"),
    ]
    assert of_kind(entries, "alert_opened")[0]["reason"] == "statutory"

    # The grade IV step due at 02:10 is gone; the grade II leader steps come at 02:15.
    await advance_to(service, START + timedelta(minutes=10, seconds=30))
    await settle(pages, 3)
    await advance_to(service, upgraded_at + timedelta(minutes=10))
    leaders = (await settle(pages, 5))[3:]
    assert sorted((p["person_id"], p["policy_version"]) for p in leaders) == [
        ("zhang-wei", "default-II-600s@v1"),
        ("zhao-lei", "default-II-600s-top@v1"),
    ]
    shown = await detail(service, incident_id)
    assert shown["grade"] == "II"
    assert shown["next_deadline"] == {
        "target": "harbin",
        "kind": "phone",
        "due_at": (upgraded_at + timedelta(minutes=30)).isoformat(),
    }


async def test_a_sign_off_after_the_written_deadline_is_marked_late(
    service: Service, pages: Inbox
) -> None:
    await service.publish(make_report())  # grade III, township: the district is told at once
    [first] = await settle(pages, 1)
    incident_id = first["incident_id"]
    acked = await service.client.post(
        f"/api/v1/incidents/{incident_id}/ack", headers=service.auth(service.tokens.officer_daoli)
    )
    assert (await acked.json())["state"] == "acknowledged"
    # The district confirmed receipt at once: the phone-speed report is on time.
    assert of_kind(await timeline(service, incident_id), "report_late") == []

    due = LEARNED + timedelta(hours=1)  # grade III, written, from the time learned
    await advance_to(service, due + timedelta(minutes=12))
    # The written report is outstanding: 迟报, and the reporting room's leader is paged.
    [chase] = (await settle(pages, 2))[1:]
    assert (chase["person_id"], chase["role"]) == ("zhang-wei", "leader_on_duty")
    [outstanding] = of_kind(await timeline(service, incident_id), "report_late")
    assert (outstanding["kind"], outstanding["outstanding"]) == ("written", True)

    officer = await service.client.post(
        f"/api/v1/incidents/{incident_id}/signoff",
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert officer.status == 403, "签发 is a leader's"

    await service.clock.advance(timedelta(minutes=3))
    signed = await service.client.post(
        f"/api/v1/incidents/{incident_id}/signoff",
        json={"note": "同意上报"},
        headers=service.auth(service.tokens.leader_daoli),
    )
    assert signed.status == 200, await signed.text()
    result = await signed.json()
    assert result["stopped"] == [
        {"target": "harbin.daoli", "due_at": due.isoformat(), "late_by_s": 15 * 60.0}
    ]
    entries = await timeline(service, incident_id)
    [signed_off] = of_kind(entries, "signed_off")
    assert signed_off["by"] == "person:zhang-wei"
    late = of_kind(entries, "report_late")
    assert [(b["kind"], b["late_by_s"], b["outstanding"]) for b in late] == [
        ("written", 12 * 60.0, True),
        ("written", 15 * 60.0, False),
    ]
    [omitted] = of_kind(entries, "fields_omitted")
    assert omitted["fields"] == [
        "learned_at",
        "location",
        "casualties",
        "losses",
        "impact",
        "measures",
        "commander",
        "reporting_unit",
    ]
    [clock] = await service.sql(
        "SELECT late_by FROM report_clocks WHERE incident_id = $1 AND kind = 'written'",
        incident_id,
    )
    assert clock["late_by"] == timedelta(minutes=15)
    assert (await detail(service, incident_id))["next_deadline"] is None
    # Nothing more is due: no further late marks or pages.
    await service.clock.advance(timedelta(hours=3))
    await settle(pages, 2)


async def test_a_downgrade_keeps_the_stricter_clocks_and_the_running_policy(
    service: Service, pages: Inbox
) -> None:
    report = make_report(org="harbin.daoli", grade="II")
    await service.publish(report)
    first = await settle(pages, 2)  # the district's officer, and the city's (grade II: the top)
    incident_id = first[0]["incident_id"]
    before = await detail(service, incident_id)
    await service.clock.advance(timedelta(minutes=3))
    await service.publish(
        make_report(
            org="harbin.daoli",
            grade="IV",
            stage="follow_up",
            sequence=1,
            incident_ref=report["incident_ref"],
        )
    )
    await settle(pages, 2)  # a downgrade pages nobody

    async def downgraded() -> bool:
        return (await detail(service, incident_id))["grade"] == "IV"

    await eventually(downgraded, what="the follow-up")
    after = await detail(service, incident_id)
    assert after["clocks"] == before["clocks"]
    assert after["policy_version"] == before["policy_version"] == "default-II-600s@v1"
    entries = await timeline(service, incident_id)
    assert len(of_kind(entries, "clock_started")) == 2
