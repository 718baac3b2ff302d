"""Handover (交接班): open incidents carried, taken over, and the leader alerted if not."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from dutywatch import auth
from tests.acceptance.conftest import Inbox, Service, make_report

TIMEOUT = timedelta(minutes=30)


@pytest.fixture
async def incoming_token(database_url: str) -> str:
    """A second Daoli duty officer, 孙丽, who takes the next shift."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO people (id, name, org_path) VALUES ('sun-li', '孙丽', 'harbin.daoli')"
        )
        return await auth.create_token(
            conn,
            label="sun-li",
            role=auth.Role.OFFICER,
            org_path="harbin.daoli",
            person_id="sun-li",
        )
    finally:
        await conn.close()


async def kinds_of(service: Service, incident_id: int) -> list[str]:
    rows = await service.sql(
        "SELECT kind::text FROM timeline_entries WHERE incident_id = $1 ORDER BY seq", incident_id
    )
    return [r["kind"] for r in rows]


async def hand_over(service: Service, note: str = "燃气泄漏现场仍在处置，注意续报") -> dict:
    response = await service.client.post(
        "/api/v1/handovers",
        json={"org": "harbin.daoli", "note": note, "incoming": "sun-li"},
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert response.status == 201, await response.text()
    body: dict = await response.json()
    return body


async def test_handover_carries_open_incidents_and_is_taken_over(
    service: Service, pages: Inbox, incoming_token: str
) -> None:
    await service.publish(make_report())
    [page] = await pages.wait_for(1)
    incident_id = page["incident_id"]
    resolved = make_report(title="已处置完毕的事件")
    await service.publish(resolved)
    closed_id = (await pages.wait_for(2))[1]["incident_id"]
    await service.client.post(
        f"/api/v1/incidents/{closed_id}/resolve",
        headers=service.auth(service.tokens.officer_daoli),
    )

    handover = await hand_over(service)
    assert [item["incident_id"] for item in handover["open_items"]] == [incident_id]
    assert handover["open_items"][0]["state"] == "open"
    assert handover["outgoing"] == "li-na"
    assert (await kinds_of(service, incident_id))[-1] == "handed_over"

    own = await service.client.post(
        f"/api/v1/handovers/{handover['id']}/accept",
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert own.status == 409

    accepted = await service.client.post(
        f"/api/v1/handovers/{handover['id']}/accept",
        json={"note": "已接班，继续跟进"},
        headers=service.auth(incoming_token),
    )
    assert accepted.status == 200, await accepted.text()
    body = await accepted.json()
    assert (body["accepted_by"], body["changed"]) == ("sun-li", True)
    again = await service.client.post(
        f"/api/v1/handovers/{handover['id']}/accept", headers=service.auth(incoming_token)
    )
    assert (await again.json())["changed"] is False

    entries = await service.sql(
        "SELECT kind::text, actor, body FROM timeline_entries WHERE incident_id = $1 "
        "AND kind IN ('handed_over', 'handover_accepted') ORDER BY seq",
        incident_id,
    )
    assert [(e["kind"], e["actor"]) for e in entries] == [
        ("handed_over", "person:li-na"),
        ("handover_accepted", "person:sun-li"),
    ]
    assert "handed_over" not in await kinds_of(service, closed_id)

    # Taken over in time: nobody is alerted, however long we wait.
    await service.clock.advance(TIMEOUT * 2)
    await asyncio.sleep(0.3)
    alarms = [p for p in pages.payloads() if p["schema"] == "dutywatch.alarm.v1"]
    assert alarms == []


async def test_handover_not_taken_over_alerts_the_leader_once(
    service: Service, pages: Inbox, incoming_token: str
) -> None:
    handover = await hand_over(service, note="无未结事项")
    assert handover["open_items"] == []

    await service.clock.advance(TIMEOUT - timedelta(seconds=1))
    await asyncio.sleep(0.3)
    assert pages.messages == []

    await service.clock.advance(timedelta(seconds=2))
    [alarm] = await pages.wait_for(1)
    assert alarm["schema"] == "dutywatch.alarm.v1"
    assert alarm["kind"] == "handover_overdue"
    assert (alarm["person_id"], alarm["role"]) == ("zhang-wei", "leader_on_duty")
    assert alarm["handover_id"] == handover["id"]

    await service.clock.advance(TIMEOUT * 3)
    await asyncio.sleep(0.3)
    assert len(pages.messages) == 1
    [row] = await service.sql("SELECT overdue_paged_at FROM handovers")
    assert row["overdue_paged_at"] is not None


async def test_another_district_cannot_take_over(
    service: Service, database_url: str, incoming_token: str
) -> None:
    handover = await hand_over(service)
    conn = await asyncpg.connect(database_url)
    try:
        nangang = await auth.create_token(
            conn,
            label="chen-jing",
            role=auth.Role.OFFICER,
            org_path="harbin.nangang",
            person_id="chen-jing",
        )
    finally:
        await conn.close()
    response = await service.client.post(
        f"/api/v1/handovers/{handover['id']}/accept", headers=service.auth(nangang)
    )
    assert response.status == 403
    [row] = await service.sql("SELECT accepted_by FROM handovers")
    assert row["accepted_by"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"org": "harbin.daoli"}, "note"),
        ({"org": "harbin.daoli", "note": "x", "incoming": "nobody-by-that-id"}, "incoming"),
    ],
)
async def test_bad_handover_names_the_field(service: Service, body: dict, field: str) -> None:
    response = await service.client.post(
        "/api/v1/handovers", json=body, headers=service.auth(service.tokens.officer_daoli)
    )
    assert response.status == 422
    assert (await response.json())["field"] == field
