"""The console's board over HTTP (``GET /api/v1/board``) and the live incident events of a
subtree (``GET /api/v1/incidents/live``): what is shown, in what order, to whom."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from tests.acceptance.conftest import ACK_TIMEOUT, Service, eventually, make_report
from tests.acceptance.test_live_pages import next_event


async def board(service: Service, token: str, **query: str) -> dict[str, Any]:
    answer = await service.client.get("/api/v1/board", params=query, headers=service.auth(token))
    assert answer.status == 200, await answer.text()
    body: dict[str, Any] = await answer.json()
    return body


async def incident_of(service: Service, ref: str) -> int:
    async def find() -> int | None:
        rows = await service.sql("SELECT id FROM incidents WHERE incident_ref = $1", ref)
        return int(rows[0]["id"]) if rows else None

    found: int = await eventually(find, what=f"the incident of {ref}")
    return found


async def test_the_board_orders_by_grade_then_newest_and_says_who_and_what_is_next(
    service: Service,
) -> None:
    officer = service.tokens.officer_daoli
    older_iv = make_report(grade="IV", title="较早的四级")
    await service.publish(older_iv)
    iv_id = await incident_of(service, older_iv["incident_ref"])
    await service.clock.advance(timedelta(minutes=1))
    newer_iv = make_report(grade="IV", title="较新的四级")
    await service.publish(newer_iv)
    newer_iv_id = await incident_of(service, newer_iv["incident_ref"])
    await service.clock.advance(timedelta(minutes=1))
    # Older than neither, but more severe: first.
    severe = make_report(grade="II", title="二级")
    await service.publish(severe)
    severe_id = await incident_of(service, severe["incident_ref"])
    other_district = make_report(org="harbin.nangang", title="南岗的事件")
    await service.publish(other_district)
    other_id = await incident_of(service, other_district["incident_ref"])

    async def paged_everyone() -> bool:
        rows = (await board(service, officer))["incidents"]
        return all(r["paged"] for r in rows) and len(rows) == 3

    await eventually(paged_everyone, what="every incident paged")
    body = await board(service, officer)
    assert body["org"] == "harbin.daoli"
    assert body["now"] == service.clock.now().isoformat()
    rows = body["incidents"]
    assert [r["id"] for r in rows] == [severe_id, newer_iv_id, iv_id]
    assert other_id not in {r["id"] for r in rows}, "another district's incident on the board"
    first = rows[1]
    assert [p["person_id"] for p in first["paged"]] == ["li-na"]
    assert first["paged"][0]["name"] == "李娜"
    assert first["alerts"] == {"total": 1, "acknowledged": 0}
    opened = service.clock.now() - timedelta(minutes=1)
    assert first["next_escalation"]["org"] == "harbin.daoli.xinyang"
    assert first["next_escalation"]["due_at"] == (opened + ACK_TIMEOUT).isoformat()
    assert first["next_deadline"]["kind"] == "phone"
    assert first["next_deadline"]["missed"] is False

    # Acknowledged: still on the board, no escalation due; resolved: gone.
    ack = await service.client.post(
        f"/api/v1/incidents/{newer_iv_id}/ack", headers=service.auth(officer)
    )
    assert ack.status == 200
    row = next(r for r in (await board(service, officer))["incidents"] if r["id"] == newer_iv_id)
    assert (row["state"], row["next_escalation"]) == ("acknowledged", None)
    assert row["alerts"] == {"total": 1, "acknowledged": 1}
    resolve = await service.client.post(
        f"/api/v1/incidents/{newer_iv_id}/resolve", headers=service.auth(officer)
    )
    assert resolve.status == 200
    assert newer_iv_id not in {r["id"] for r in (await board(service, officer))["incidents"]}

    # An officer may not ask for another district's board; the administrator sees all.
    refused = await service.client.get(
        "/api/v1/board", params={"org": "harbin.nangang"}, headers=service.auth(officer)
    )
    assert refused.status == 403
    everything = await board(service, service.tokens.admin)
    assert other_id in {r["id"] for r in everything["incidents"]}


async def test_a_missed_deadline_stays_on_the_board_as_missed(service: Service) -> None:
    await service.publish(make_report(grade="IV"))

    async def running() -> dict[str, Any] | None:
        rows = (await board(service, service.tokens.officer_daoli))["incidents"]
        return rows[0]["next_deadline"] if rows and rows[0]["next_deadline"] else None

    deadline = await eventually(running, what="a reporting clock")
    await service.clock.advance(timedelta(hours=3))

    async def missed() -> bool:
        rows = (await board(service, service.tokens.officer_daoli))["incidents"]
        return bool(rows[0]["next_deadline"] and rows[0]["next_deadline"]["missed"])

    await eventually(missed, what="the clock run out (迟报)")
    row = (await board(service, service.tokens.officer_daoli))["incidents"][0]
    assert row["next_deadline"]["due_at"] == deadline["due_at"]


async def test_the_incident_feed_streams_a_subtrees_events_and_resumes(service: Service) -> None:
    officer = service.tokens.officer_daoli
    feed = await service.client.get("/api/v1/incidents/live", headers=service.auth(officer))
    assert feed.status == 200
    assert feed.headers["Content-Type"].startswith("text/event-stream")
    try:
        await service.publish(make_report(org="harbin.nangang", title="南岗的事件"))
        mine = make_report(title="道里的事件")
        await service.publish(mine)
        event = await next_event(feed, timeout=3.0, kind="incident")
    finally:
        feed.close()
    first = json.loads(event["data"])
    # The other district's event, published first, was never sent to this officer.
    assert (first["kind"], first["title"]) == ("opened", "道里的事件")

    # What happened while away comes first after a reconnect with the last id seen.
    incident_id = first["incident_id"]
    ack = await service.client.post(
        f"/api/v1/incidents/{incident_id}/ack", headers=service.auth(officer)
    )
    assert ack.status == 200
    again = await service.client.get(
        "/api/v1/incidents/live",
        headers={**service.auth(officer), "Last-Event-ID": event["id"]},
    )
    try:
        missed = await next_event(again, timeout=3.0, kind="incident")
    finally:
        again.close()
    assert int(missed["id"]) > int(event["id"])
    body = json.loads(missed["data"])
    assert (body["incident_id"], body["kind"]) == (incident_id, "acknowledged")


async def test_the_incident_feed_refuses_another_subtree(service: Service) -> None:
    answer = await service.client.get(
        "/api/v1/incidents/live",
        params={"org": "harbin.nangang"},
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert answer.status == 403
    assert "outside" in (await answer.json())["detail"]
