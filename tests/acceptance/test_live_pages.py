"""The console channel: a person's pages live over server-sent events, caught up after a
reconnect, each recorded once as a `console` delivery receipt."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import ClientResponse

from tests.acceptance.conftest import Inbox, Service, eventually, make_report


async def next_event(
    response: ClientResponse, timeout: float = 5.0, kind: str = "page"
) -> dict[str, Any]:
    """The next event of type ``kind`` of the stream: its id and its data."""
    event: dict[str, Any] = {}

    async def read() -> dict[str, Any]:
        while True:
            raw = await response.content.readline()
            assert raw, "the stream ended"
            line = raw.decode().rstrip("\n")
            if not line:
                if event.get("event") == kind:
                    return event
                event.clear()
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                event[name] = value

    return await asyncio.wait_for(read(), timeout)


async def open_feed(service: Service, token: str, **headers: str) -> ClientResponse:
    response = await service.client.get(
        "/api/v1/pages/live", headers={**service.auth(token), **headers}
    )
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert await response.content.readline() == b": connected\n"
    return response


async def test_a_page_appears_live_and_is_caught_up_after_a_reconnect(
    service: Service, pages: Inbox
) -> None:
    officer = service.tokens.officer_daoli  # li-na, the district duty officer
    feed = await open_feed(service, officer)
    try:
        await service.publish(make_report())
        event = await next_event(feed, timeout=2.0)  # the console's bar: within 2 s
    finally:
        feed.close()
    page = json.loads(event["data"])
    assert (page["person_id"], page["reason"]) == ("li-na", "first_page")
    [stored] = await pages.wait_for(1)
    assert page["page_id"] == stored["page_id"]

    async def receipts() -> list[Any]:
        return await service.sql(
            "SELECT channel::text, ok, attempt FROM page_receipts WHERE page_id = $1",
            page["page_id"],
        )

    for _ in range(50):
        if await receipts():
            break
        await asyncio.sleep(0.05)
    assert [tuple(r) for r in await receipts()] == [("console", True, 1)]

    # Disconnected, a second report pages li-na again; reconnecting with the last id seen
    # delivers the missed page first, and the one seen before is not sent again.
    await service.publish(make_report())
    await pages.wait_for(2)
    again = await open_feed(service, officer, **{"Last-Event-ID": event["id"]})
    try:
        missed = await next_event(again)
    finally:
        again.close()
    assert int(missed["id"]) > int(event["id"])
    assert json.loads(missed["data"])["page_id"] != page["page_id"]

    async def delivered() -> int:
        [row] = await service.sql(
            "SELECT count(*) AS n FROM timeline_entries WHERE kind = 'page_delivered'"
        )
        return int(row["n"])

    await eventually(lambda: _at_least(delivered, 2), what="the second console receipt")
    await asyncio.sleep(0.3)
    assert await delivered() == 2, "one console receipt per page, however many streams showed it"


async def _at_least(count: Any, n: int) -> bool:
    return bool(await count() >= n)


async def test_the_feed_is_a_persons_and_checks_its_resume_point(service: Service) -> None:
    response = await service.client.get(
        "/api/v1/pages/live", headers=service.auth(service.tokens.office_daoli)
    )
    assert response.status == 403
    assert "person" in (await response.json())["detail"]
    response = await service.client.get(
        "/api/v1/pages/live?after=abc", headers=service.auth(service.tokens.officer_daoli)
    )
    assert response.status == 400
    assert (await response.json())["field"] == "Last-Event-ID"
