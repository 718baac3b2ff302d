"""The console's board over HTTP (``GET /api/v1/board``), the live incident events of a
subtree (``GET /api/v1/incidents/live``) and the console's one stream of both pages and
incident events (``GET /api/v1/console/live``): what is shown, in what order, to whom, and
what a reconnect resumes."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from typing import Any

from aiohttp import ClientResponse

from tests.acceptance.conftest import ACK_TIMEOUT, Inbox, Service, eventually, make_report
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


async def open_console_feed(
    service: Service, token: str, after: str | None = None
) -> ClientResponse:
    headers = service.auth(token) | ({"Last-Event-ID": after} if after else {})
    feed = await service.client.get("/api/v1/console/live", headers=headers)
    assert feed.status == 200, await feed.text()
    assert feed.headers["Content-Type"].startswith("text/event-stream")
    return feed


async def events_until_quiet(feed: ClientResponse, quiet: float = 1.5) -> list[dict[str, str]]:
    """Every event of the stream until none comes for ``quiet`` seconds (comments skipped)."""
    found: list[dict[str, str]] = []
    event: dict[str, str] = {}
    while True:
        try:
            raw = await asyncio.wait_for(feed.content.readline(), quiet)
        except TimeoutError:
            return found
        assert raw, "the stream ended"
        line = raw.decode().rstrip("\n")
        if not line:
            if "event" in event:
                found.append(dict(event))
            event.clear()
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            event[name] = value


def what(events: list[dict[str, str]]) -> list[tuple[str, str, int]]:
    """Each page as (page, reason, incident) and each incident event as (incident, kind, id)."""
    said = []
    for event in events:
        body = json.loads(event["data"])
        if event["event"] == "page":
            said.append(("page", body["reason"], body["incident_id"]))
        elif event["event"] == "incident":
            said.append(("incident", body["kind"], body["incident_id"]))
    return sorted(said)


def position(event_id: str) -> tuple[int, int]:
    matched = re.fullmatch(r"p(\d+)-e(\d+)", event_id)
    assert matched, event_id
    return int(matched[1]), int(matched[2])


async def test_the_console_stream_resumes_both_pages_and_incident_events_exactly(
    service: Service, pages: Inbox
) -> None:
    """One stream per console tab: li-na's pages and her subtree's incident events, each event
    id the position in both streams, so a reconnect gets exactly what it missed of each."""
    officer = service.tokens.officer_daoli
    feed = await open_console_feed(service, officer)
    try:
        [ready] = await events_until_quiet(feed, quiet=0.5)
    finally:
        feed.close()
    assert ready["event"] == "ready"
    # Away from the start: a page and an incident event missed, another district's not sent.
    first = make_report(title="断线期间的事件")
    await service.publish(make_report(org="harbin.nangang", title="南岗的事件"))
    await service.publish(first)
    first_id = await incident_of(service, first["incident_ref"])
    await pages.wait_for(1)
    feed = await open_console_feed(service, officer, after=ready["id"])
    try:
        caught_up = await events_until_quiet(feed)
    finally:
        feed.close()
    assert caught_up[0]["event"] == "ready"
    assert what(caught_up) == [
        ("incident", "opened", first_id),
        ("page", "first_page", first_id),
    ]
    ids = [position(event["id"]) for event in caught_up]
    # Each stream's position only moves on, and both moved.
    assert [p for p, _ in ids] == sorted(p for p, _ in ids)
    assert [e for _, e in ids] == sorted(e for _, e in ids)
    assert ids[0][0] < ids[-1][0]
    assert ids[0][1] < ids[-1][1]

    # Away again: an acknowledgement and a second incident (its page too); nothing seen
    # before comes again.
    ack = await service.client.post(
        f"/api/v1/incidents/{first_id}/ack", headers=service.auth(officer)
    )
    assert ack.status == 200
    second = make_report(title="第二起事件")
    await service.publish(second)
    second_id = await incident_of(service, second["incident_ref"])
    await pages.wait_for(2)
    feed = await open_console_feed(service, officer, after=caught_up[-1]["id"])
    try:
        again = await events_until_quiet(feed)
    finally:
        feed.close()
    assert what(again) == [
        ("incident", "acknowledged", first_id),
        ("incident", "opened", second_id),
        ("page", "first_page", second_id),
    ]
    # Both positions start where the last id left them.
    assert position(again[0]["id"]) == ids[-1]


async def test_the_console_stream_checks_its_resume_point(service: Service) -> None:
    for bad in ("12", "p1-x2", "e1-p2"):
        answer = await service.client.get(
            "/api/v1/console/live",
            headers=service.auth(service.tokens.officer_daoli) | {"Last-Event-ID": bad},
        )
        assert answer.status == 400, bad
        assert (await answer.json())["field"] == "Last-Event-ID"
    answer = await service.client.get(
        "/api/v1/console/live",
        params={"org": "harbin.nangang"},
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert answer.status == 403


async def test_an_incident_forwarded_in_from_outside_reaches_the_receiving_board_live(
    service: Service, officer_nangang: str
) -> None:
    """Reported to Nangang, forwarded (转办) to Daoli: Daoli's live stream learns of the
    forward and what follows (published under Daoli's path too); Nangang's and the city's
    streams get each event once."""
    report = make_report(org="harbin.nangang", title="跨区转办的事件")
    await service.publish(report)
    incident = await incident_of(service, report["incident_ref"])
    streams = {
        "daoli": await open_console_feed(service, service.tokens.officer_daoli),
        "nangang": await open_console_feed(service, officer_nangang),
        "city": await service.client.get(
            "/api/v1/incidents/live", headers=service.auth(service.tokens.admin)
        ),
    }
    try:
        for feed in streams.values():
            await events_until_quiet(feed, quiet=0.5)  # `ready`, and nothing else yet
        forwarded = await service.client.post(
            f"/api/v1/incidents/{incident}/forward",
            json={"to": "harbin.daoli", "note": "属道里区管辖"},
            headers=service.auth(officer_nangang),
        )
        assert forwarded.status == 200, await forwarded.text()
        ack = await service.client.post(
            f"/api/v1/incidents/{incident}/ack", headers=service.auth(service.tokens.officer_daoli)
        )
        assert ack.status == 200, await ack.text()
        seen = {name: await events_until_quiet(feed) for name, feed in streams.items()}
    finally:
        for feed in streams.values():
            feed.close()
    kinds = {
        name: [
            json.loads(e["data"])["kind"]
            for e in events
            if e["event"] == "incident" and json.loads(e["data"])["incident_id"] == incident
        ]
        for name, events in seen.items()
    }
    assert kinds["daoli"], "the receiving district never heard of the forward"
    assert kinds["daoli"][-1] == "acknowledged"
    assert kinds["daoli"] == kinds["nangang"] == kinds["city"], kinds
    assert len(kinds["city"]) == len(set(kinds["city"])), "the city's stream got a copy twice"
    body = (await board(service, service.tokens.officer_daoli))["incidents"]
    assert incident in [row["id"] for row in body]
