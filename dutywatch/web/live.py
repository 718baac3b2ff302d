"""The console channel: a person's pages, live, as server-sent events.

``GET /api/v1/pages/live`` (a token that belongs to a person) streams every page published on
``dutywatch.notify.<person>`` from the moment it connects, each as an SSE event whose ``id``
is the page's NOTIFY stream sequence. A client that reconnects sends ``Last-Event-ID`` (browsers'
EventSource does it by itself) and gets what it missed first, from the stream. Each page
written to an open connection is a delivery receipt of the ``console`` channel (one per page,
however many consoles the person has open), so the timeline shows the page reached a screen.
The channel worker leaves console methods to this feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Final

import structlog
from aiohttp import web
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from dutywatch import errors
from dutywatch.delivery import receipts
from dutywatch.delivery.plan import receipt_id
from dutywatch.orgs.kinds import ContactKind
from dutywatch.web.app import principal, request_source, runtime

log = structlog.get_logger(__name__)

#: A comment line this often keeps proxies from closing an idle stream.
KEEPALIVE_SECONDS: Final = 15.0


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/pages/live", get_live_pages)


def _resume_after(request: web.Request) -> int | None:
    """The stream sequence the client saw last (``Last-Event-ID``), if it says so."""
    value = request.headers.get("Last-Event-ID") or request.query.get("after")
    if value is None:
        return None
    if not value.isdigit() or len(value) > 18:
        raise errors.RejectedInput(
            "`Last-Event-ID` (or `after`) must be the `id` of an event this feed sent",
            field="Last-Event-ID",
        )
    return int(value)


async def get_live_pages(request: web.Request) -> web.StreamResponse:
    who = await principal(request)
    if who.person_id is None:
        raise errors.Forbidden(
            "the live feed shows one person's pages: use a token that belongs to a person"
        )
    after = _resume_after(request)
    rt = runtime(request)
    person = who.person_id
    queue: asyncio.Queue[Msg] = asyncio.Queue()

    async def collect(msg: Msg) -> None:
        await queue.put(msg)

    config = (
        ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1)
        if after is not None
        else ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
    )
    sub = await rt.js.subscribe(
        rt.settings.subject("notify", person),
        cb=collect,
        ordered_consumer=True,
        config=config,
    )
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx: pass events on at once
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
        }
    )
    await response.prepare(request)
    log.info("live_feed_opened", person_id=person, resume_after=after)
    try:
        await response.write(b": connected\n\n")
        while True:
            try:
                msg = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            sequence = msg.metadata.sequence.stream
            await response.write(
                b"id: %d\nevent: page\ndata: %s\n\n" % (sequence, msg.data.replace(b"\n", b""))
            )
            # Shielded: a console closed right after the page was written still saw it.
            await asyncio.shield(_receipt(request, person, msg))
    except ConnectionResetError:
        pass  # the console went away; it catches up with Last-Event-ID when it is back
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        log.info("live_feed_closed", person_id=person)
    return response


async def _receipt(request: web.Request, person: str, msg: Msg) -> None:
    """The page reached an open console: one ``console`` receipt per page."""
    try:
        page_id = json.loads(msg.data).get("page_id")
    except ValueError:
        return
    if not isinstance(page_id, int):
        return  # an alarm, not a page: nothing to receipt
    rt = runtime(request)
    receipt = receipts.Receipt(
        receipt_id=receipt_id(page_id, ContactKind.CONSOLE, 1),
        page_id=page_id,
        channel=ContactKind.CONSOLE,
        ok=True,
        detail="shown on an open console",
    )
    await receipts.record(
        rt.pool,
        [receipt],
        actor=f"person:{person}",
        source=request_source(request),
        now=rt.clock.now(),
    )
