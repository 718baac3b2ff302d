"""Forwarding a report that reached an office not responsible for it (转办).

A grade IV report of the township reaches the Daoli district; the district's duty officer
forwards it to the Nangang district, which is responsible. Nangang's duty officer is paged at
once, the forward is on the timeline, Nangang's reporting clocks count from the original time
learned (nothing restarts), and Nangang's officers can read and acknowledge the incident.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from dutywatch import auth
from dutywatch.contracts import Category, Grade
from dutywatch.deadlines.rules import IncidentFacts, deadlines_for
from tests.acceptance.conftest import Inbox, Service, eventually, make_report
from tests.acceptance.test_reporting_deadlines import (
    LEARNED,
    OCCURRED,
    of_kind,
    timeline,
)


async def nangang_officer(service: Service) -> str:
    conn: asyncpg.Connection = await asyncpg.connect(service.runtime.settings.database_url)
    try:
        return await auth.create_token(
            conn,
            label="chen-jing",
            role=auth.Role.OFFICER,
            org_path="harbin.nangang",
            person_id="chen-jing",
        )
    finally:
        await conn.close()


async def test_a_forwarded_report_pages_the_responsible_room_with_clocks_from_time_learned(
    service: Service, pages: Inbox
) -> None:
    await service.publish(make_report(grade="IV"))
    [first] = await pages.wait_for(1)
    incident_id = first["incident_id"]
    url = f"/api/v1/incidents/{incident_id}/forward"
    nangang = await nangang_officer(service)
    daoli = service.auth(service.tokens.officer_daoli)

    # Forwarding later than the time learned: the clocks must not restart from it.
    await service.clock.advance(timedelta(hours=1))
    body = {"to": "harbin.nangang", "note": "事发地属南岗区，转南岗区值班室"}

    other = await service.client.post(url, json=body, headers=service.auth(nangang))
    assert other.status == 403  # an officer of another district cannot forward it
    unknown = await service.client.post(url, json={"to": "harbin.nowhere"}, headers=daoli)
    assert unknown.status == 422
    assert (await unknown.json())["field"] == "to"
    same = await service.client.post(url, json={"to": "harbin.daoli.xinyang"}, headers=daoli)
    assert same.status == 409
    hidden = await service.client.get(
        f"/api/v1/incidents/{incident_id}", headers=service.auth(nangang)
    )
    assert hidden.status == 403

    forwarded_at = service.clock.now()
    done = await service.client.post(url, json=body, headers=daoli)
    assert done.status == 200, await done.text()
    assert await done.json() == {
        "incident_id": incident_id,
        "from": "harbin.daoli.xinyang",
        "responsible_org": "harbin.nangang",
    }

    async def chen_jing_paged() -> list[dict[str, object]]:
        return [p for p in pages.payloads() if p["person_id"] == "chen-jing"]

    [paged] = await eventually(chen_jing_paged, what="a page to chen-jing")
    assert (paged["org"], paged["reason"]) == ("harbin.nangang", "first_page")

    entries = await timeline(service, incident_id)
    [forward] = of_kind(entries, "forwarded")
    assert (forward["from"], forward["to"], forward["note"]) == (
        "harbin.daoli.xinyang",
        "harbin.nangang",
        body["note"],
    )
    assert forward["by"]
    [opened] = [b for b in of_kind(entries, "alert_opened") if b["org"] == "harbin.nangang"]
    assert opened["reason"] == "forwarded"

    # Nangang now reports to the city, counted from the original time learned.
    expected = deadlines_for(
        IncidentFacts(
            org_path="harbin.nangang",
            grade=Grade.IV,
            category=Category.ACCIDENT,
            sensitive=False,
            occurred_at=OCCURRED,
            learned_at=LEARNED,
        )
    )
    assert expected
    started = [b for b in of_kind(entries, "clock_started") if b["reason"] == "forwarded"]
    assert sorted((b["target"], b["kind"], b["due_at"]) for b in started) == sorted(
        (d.target, str(d.kind), d.due_at.isoformat()) for d in expected
    )
    for d in expected:
        assert d.due_at < forwarded_at + timedelta(hours=2)  # not restarted at the forward

    stored = await service.sql(
        "SELECT org_path, responsible_org FROM incidents WHERE id = $1", incident_id
    )
    assert (stored[0]["org_path"], stored[0]["responsible_org"]) == (
        "harbin.daoli.xinyang",
        "harbin.nangang",
    )

    seen = await service.client.get(
        f"/api/v1/incidents/{incident_id}", headers=service.auth(nangang)
    )
    assert seen.status == 200
    assert (await seen.json())["responsible_org"] == "harbin.nangang"
    listed = await service.client.get("/api/v1/incidents", headers=service.auth(nangang))
    assert [i["id"] for i in (await listed.json())["incidents"]] == [incident_id]
    acked = await service.client.post(
        f"/api/v1/incidents/{incident_id}/ack", json={}, headers=service.auth(nangang)
    )
    assert acked.status == 200, await acked.text()
    alerts = await service.sql(
        "SELECT acknowledged_by FROM alerts WHERE incident_id = $1 AND org_path = $2",
        incident_id,
        "harbin.nangang",
    )
    assert alerts[0]["acknowledged_by"]

    again = await service.client.post(url, json=body, headers=service.auth(nangang))
    assert again.status == 409  # already with Nangang


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("skip-level", {"to": "harbin", "reason": "   "}, "reason"),
        ("skip-level", {"to": "harbin"}, "reason"),
        ("skip-level", {"to": "Harbin!", "reason": "x"}, "to"),
        ("forward", {"to": "harbin.nangang", "note": 5}, "note"),
        ("forward", {"to": "harbin.nangang", "cc": "x"}, "cc"),
    ],
)
async def test_bad_bodies_name_the_field(
    service: Service, path: str, body: dict[str, object], field: str
) -> None:
    response = await service.client.post(
        f"/api/v1/incidents/1/{path}", json=body, headers=service.auth(service.tokens.leader_daoli)
    )
    assert response.status == 422
    assert (await response.json())["field"] == field
