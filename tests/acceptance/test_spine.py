"""The spine end to end: report on NATS -> page -> ack over HTTP -> chained timeline."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from dutywatch.timeline.store import verify_all
from tests.acceptance.conftest import ACK_TIMEOUT, Inbox, Service, eventually, make_report


async def incident_id_of(service: Service, ref: str) -> int:
    async def find() -> int | None:
        rows = await service.sql("SELECT id FROM incidents WHERE incident_ref = $1", ref)
        return rows[0]["id"] if rows else None

    found: int = await eventually(find, what=f"incident {ref}")
    return found


async def test_report_is_paged_acknowledged_and_chained(
    service: Service, pages: Inbox, events: Inbox
) -> None:
    report = make_report()
    await service.publish(report)

    [page] = await pages.wait_for(1)
    # Townships have no roster in the demo: the page climbed to the district duty officer.
    assert page["person_id"] == "li-na"
    assert page["role"] == "duty_officer"
    assert page["org"] == "harbin.daoli"
    assert page["reason"] == "first_page"
    assert page["title"] == report["title"]
    incident_id = page["incident_id"]

    response = await service.client.post(
        f"/api/v1/incidents/{incident_id}/ack",
        json={"note": "已派人到场"},
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["state"] == "acknowledged"
    assert body["changed"] is True

    # Nobody escalates an acknowledged incident, however long we wait.
    await service.clock.advance(ACK_TIMEOUT * 3)
    await asyncio.sleep(0.3)
    assert len(pages.messages) == 1
    timers = await service.sql(
        "SELECT cancelled_at, fired_at FROM timers WHERE incident_id = $1", incident_id
    )
    assert [(t["cancelled_at"] is not None, t["fired_at"]) for t in timers] == [(True, None)]

    response = await service.client.get(
        f"/api/v1/incidents/{incident_id}/timeline",
        headers=service.auth(service.tokens.officer_daoli),
    )
    timeline = await response.json()
    kinds = [e["kind"] for e in timeline["entries"]]
    assert kinds == ["report_received", "incident_opened", "roster_gap", "paged", "acknowledged"]
    assert [e["seq"] for e in timeline["entries"]] == [1, 2, 3, 4, 5]
    assert timeline["entries"][-1]["actor"] == "person:li-na"
    assert timeline["entries"][-1]["source"] == "http"
    assert timeline["entries"][0]["prev_hash"] == ""
    for before, after in zip(timeline["entries"], timeline["entries"][1:], strict=False):
        assert after["prev_hash"] == before["hash"]
    # The reporter's name and phone are personal data: not in the chained body.
    assert "reporter" not in timeline["entries"][0]["body"]
    assert timeline["entries"][0]["personal_digest"]

    async with service.runtime.pool.acquire() as conn:
        checked, problems = await verify_all(conn)
    assert (checked, problems) == (1, [])

    kinds_seen = await events.wait_for(2)
    assert [e["kind"] for e in kinds_seen] == ["opened", "acknowledged"]


async def test_unacknowledged_incident_pages_the_leader_on_duty(
    service: Service, pages: Inbox
) -> None:
    await service.publish(make_report(org="harbin.daoli", grade="II"))
    [first] = await pages.wait_for(1)

    await service.clock.advance(ACK_TIMEOUT - timedelta(seconds=1))
    await asyncio.sleep(0.3)
    assert len(pages.messages) == 1, "escalated before the timeout"

    await service.clock.advance(timedelta(seconds=2))
    second = (await pages.wait_for(2))[1]
    assert second["person_id"] == "zhang-wei"
    assert second["role"] == "leader_on_duty"
    assert second["reason"] == "escalation"
    assert second["step"] == 1
    assert second["incident_id"] == first["incident_id"]

    entries = await service.sql(
        "SELECT kind::text, body FROM timeline_entries WHERE incident_id = $1 ORDER BY seq",
        first["incident_id"],
    )
    assert [e["kind"] for e in entries] == [
        "report_received",
        "incident_opened",
        "paged",
        "escalated",
        "paged",
    ]
    # The policy is spent: more time brings no third page.
    await service.clock.advance(ACK_TIMEOUT * 5)
    await asyncio.sleep(0.3)
    assert len(pages.messages) == 2
