"""The spine end to end: report on NATS -> page -> ack over HTTP -> chained timeline."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from dutywatch import auth
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
        "SELECT cancelled_at, fired_at FROM timers WHERE incident_id = $1 "
        "AND kind = 'escalation' ORDER BY id",
        incident_id,
    )
    # The township's alert and the district's (grade III opens it at once): both stopped.
    assert [(t["cancelled_at"] is not None, t["fired_at"]) for t in timers] == [(True, None)] * 2

    response = await service.client.get(
        f"/api/v1/incidents/{incident_id}/timeline",
        headers=service.auth(service.tokens.officer_daoli),
    )
    timeline = await response.json()
    kinds = [e["kind"] for e in timeline["entries"]]
    assert kinds == [
        "report_received",
        "incident_opened",
        "roster_gap",
        "paged",
        "clock_started",
        "clock_started",
        "alert_opened",
        "acknowledged",
        "deadline_met",
    ]
    assert [e["seq"] for e in timeline["entries"]] == list(range(1, 10))
    # One acknowledgement in the district stops the township's alert (paged there) and the
    # district's own; the phone-speed report to the district counts as received, in time.
    assert timeline["entries"][-1]["body"]["target"] == "harbin.daoli"
    assert timeline["entries"][-2]["body"]["orgs"] == ["harbin.daoli.xinyang", "harbin.daoli"]
    [phone] = await service.sql(
        "SELECT stopped_at FROM report_clocks WHERE incident_id = $1 AND kind = 'phone'",
        incident_id,
    )
    assert phone["stopped_at"] is not None
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


async def test_unacknowledged_grade_iv_climbs_officer_leader_parent_room(
    service: Service, pages: Inbox
) -> None:
    """The default policy: officer at once, leader after the timeout, then the parent room."""
    await service.publish(make_report(org="harbin.daoli", grade="IV"))
    [first] = await pages.wait_for(1)
    assert (first["person_id"], first["reason"], first["step"]) == ("li-na", "first_page", 0)
    incident_id = first["incident_id"]

    await service.clock.advance(ACK_TIMEOUT - timedelta(seconds=1))
    await asyncio.sleep(0.3)
    assert len(pages.messages) == 1, "escalated before the timeout"

    await service.clock.advance(timedelta(seconds=2))
    second = (await pages.wait_for(2))[1]
    assert second["person_id"] == "zhang-wei"
    assert second["role"] == "leader_on_duty"
    assert second["reason"] == "escalation"
    assert second["step"] == 1
    assert second["incident_id"] == incident_id
    assert second["policy_version"] == "default-IV-600s@v1"

    # Still nobody: the third step opens a linked alert in the city duty room, which runs
    # the city's own (default, top of the tree) policy: its officer at once ...
    await service.clock.advance(ACK_TIMEOUT)
    third = (await pages.wait_for(3))[2]
    assert (third["person_id"], third["org"], third["reason"]) == (
        "wang-fang",
        "harbin",
        "first_page",
    )
    assert third["policy_version"] == "default-IV-600s-top@v1"
    # ... and its leader one timeout later; then the city's policy is spent.
    await service.clock.advance(ACK_TIMEOUT)
    fourth = (await pages.wait_for(4))[3]
    assert (fourth["person_id"], fourth["org"]) == ("zhao-lei", "harbin")
    await service.clock.advance(ACK_TIMEOUT * 5)
    await asyncio.sleep(0.3)
    assert len(pages.messages) == 4

    entries = await service.sql(
        "SELECT kind::text, body FROM timeline_entries WHERE incident_id = $1 ORDER BY seq",
        incident_id,
    )
    assert [e["kind"] for e in entries] == [
        "report_received",
        "incident_opened",
        "paged",
        "clock_started",
        "clock_started",
        "escalated",
        "paged",
        "escalated",
        "alert_opened",
        "paged",
        "escalated",
        "paged",
    ]
    opened = json.loads(entries[8]["body"])
    assert (opened["org"], opened["reason"], opened["from_org"]) == (
        "harbin",
        "policy_step",
        "harbin.daoli",
    )
    assert opened["policy_version"] == "default-IV-600s-top@v1"
    paged = [json.loads(e["body"]) for e in entries if e["kind"] == "paged"]
    assert [(p["person_id"], p["alert_org"], p["policy_version"]) for p in paged] == [
        ("li-na", "harbin.daoli", "default-IV-600s@v1"),
        ("zhang-wei", "harbin.daoli", "default-IV-600s@v1"),
        ("wang-fang", "harbin", "default-IV-600s-top@v1"),
        ("zhao-lei", "harbin", "default-IV-600s-top@v1"),
    ]


async def city_officer_token(service: Service) -> str:
    async with service.runtime.pool.acquire() as conn:
        return await auth.create_token(
            conn,
            label="wang-fang",
            role=auth.Role.OFFICER,
            org_path="harbin",
            person_id="wang-fang",
        )


async def test_each_duty_room_acknowledges_its_own_alert(service: Service, pages: Inbox) -> None:
    """The city acknowledging stops the city's climb only; the district's ack the incident's."""
    await service.publish(make_report(org="harbin.daoli", grade="IV"))
    [first] = await pages.wait_for(1)
    incident_id = first["incident_id"]
    await service.clock.advance(ACK_TIMEOUT * 2)
    await pages.wait_for(3)  # district leader, then the city's officer (linked alert)

    city = await service.client.post(
        f"/api/v1/incidents/{incident_id}/ack",
        json={"note": "市值班室已接报"},
        headers=service.auth(await city_officer_token(service)),
    )
    assert city.status == 200, await city.text()
    body = await city.json()
    assert (body["changed"], body["state"]) == (True, "open")

    # The city's leader is never paged; the district's own alert is still unacknowledged.
    await service.clock.advance(ACK_TIMEOUT * 3)
    await asyncio.sleep(0.3)
    assert [p["person_id"] for p in pages.payloads()] == ["li-na", "zhang-wei", "wang-fang"]

    district = await service.client.post(
        f"/api/v1/incidents/{incident_id}/ack", headers=service.auth(service.tokens.officer_daoli)
    )
    assert (await district.json())["state"] == "acknowledged"
    acks = await service.sql(
        "SELECT actor, body FROM timeline_entries WHERE incident_id = $1 "
        "AND kind = 'acknowledged' ORDER BY seq",
        incident_id,
    )
    assert [(a["actor"], json.loads(a["body"])["orgs"]) for a in acks] == [
        ("person:wang-fang", ["harbin"]),
        ("person:li-na", ["harbin.daoli"]),
    ]
    alerts = await service.sql(
        "SELECT org_path, acknowledged_by FROM alerts WHERE incident_id = $1 ORDER BY id",
        incident_id,
    )
    assert [tuple(a) for a in alerts] == [
        ("harbin.daoli", "person:li-na"),
        ("harbin", "person:wang-fang"),
    ]
    detail = await (
        await service.client.get(
            f"/api/v1/incidents/{incident_id}", headers=service.auth(service.tokens.officer_daoli)
        )
    ).json()
    assert detail["next_escalation"] is None
    assert [(a["org"], a["opened_reason"]) for a in detail["alerts"]] == [
        ("harbin.daoli", "incident_opened"),
        ("harbin", "policy_step"),
    ]
