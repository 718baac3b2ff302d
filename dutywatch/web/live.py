"""The console's live feeds, as server-sent events: a person's pages, and the incident events
of an organisation subtree.

``GET /api/v1/pages/live`` (a token that belongs to a person) streams every page published on
``dutywatch.notify.<person>`` from the moment it connects, each as an SSE event whose ``id``
is the page's NOTIFY stream sequence. A client that reconnects sends ``Last-Event-ID`` (browsers'
EventSource does it by itself) and gets what it missed first, from the stream. Each page
written to an open connection is a delivery receipt of the ``console`` channel (one per page,
however many consoles the person has open), so the timeline shows the page reached a screen.
The channel worker leaves console methods to this feed.

``GET /api/v1/incidents/live`` streams the incident events (``dutywatch.incident_event.v1``,
from EVENTS) of the caller's organisation subtree (or of ``org`` within it), so the board
follows incidents for which nobody paged the caller; it resumes the same way. Both feeds
tell the browser to retry one second after the stream breaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Final

import structlog
from aiohttp import web
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from dutywatch import auth, errors
from dutywatch.delivery import receipts
from dutywatch.delivery.plan import receipt_id
from dutywatch.orgs.kinds import ContactKind
from dutywatch.web.app import READ_ROLES, principal, request_source, runtime

log = structlog.get_logger(__name__)

#: A comment line this often keeps proxies from closing an idle stream.
KEEPALIVE_SECONDS: Final = 15.0
#: How soon a browser reconnects after the stream broke (the SSE `retry` field).
RETRY_MS: Final = 1000
INCIDENT_EVENT: Final = "dutywatch.incident_event.v1"


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/pages/live", get_live_pages)
    app.router.add_get("/api/v1/incidents/live", get_live_incidents)


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
    person = who.person_id

    async def shown(msg: Msg) -> None:
        # Shielded: a console closed right after the page was written still saw it.
        await asyncio.shield(_receipt(request, person, msg))

    return await _feed(
        request,
        runtime(request).settings.subject("notify", person),
        event=b"page",
        shown=shown,
        who=person,
    )


async def get_live_incidents(request: web.Request) -> web.StreamResponse:
    """Incident events (``dutywatch.incident_event.v1``) of the caller's subtree, or of
    ``org`` within it: what the board needs to stay current where nobody paged the caller."""
    who = await principal(request)
    org = request.query.get("org") or (None if who.role is auth.Role.ADMIN else who.org_path)
    if org is not None:
        who.require(READ_ROLES, org, "follow incidents")
    tokens = org.split(".") if org else []
    return await _feed(
        request,
        runtime(request).settings.subject("event", *tokens, ">"),
        event=b"incident",
        keep=_is_incident_event,
        who=who.label,
    )


def _is_incident_event(msg: Msg) -> bool:
    """The events subjects also carry supervision events; the board wants incidents only."""
    try:
        return bool(json.loads(msg.data).get("schema") == INCIDENT_EVENT)
    except ValueError:
        return False


async def _feed(
    request: web.Request,
    subject: str,
    *,
    event: bytes,
    who: str,
    keep: Callable[[Msg], bool] = lambda _msg: True,
    shown: Callable[[Msg], Awaitable[None]] | None = None,
) -> web.StreamResponse:
    """Stream the messages of ``subject`` as SSE events named ``event``, each with its stream
    sequence as ``id``: new ones, or those after ``Last-Event-ID`` when the client resumes."""
    after = _resume_after(request)
    rt = runtime(request)
    queue: asyncio.Queue[Msg] = asyncio.Queue()

    async def collect(msg: Msg) -> None:
        await queue.put(msg)

    config = (
        ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1)
        if after is not None
        else ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
    )
    sub = await rt.js.subscribe(subject, cb=collect, ordered_consumer=True, config=config)
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
    log.info("live_feed_opened", feed=event.decode(), who=who, resume_after=after)
    try:
        # `retry`: a browser whose stream broke tries again after this many milliseconds.
        await response.write(b": connected\nretry: %d\n\n" % RETRY_MS)
        while True:
            try:
                msg = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if not keep(msg):
                continue
            sequence = msg.metadata.sequence.stream
            await response.write(
                b"id: %d\nevent: %s\ndata: %s\n\n" % (sequence, event, msg.data.replace(b"\n", b""))
            )
            if shown is not None:
                await shown(msg)
    except ConnectionResetError:
        pass  # the console went away; it catches up with Last-Event-ID when it is back
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        log.info("live_feed_closed", feed=event.decode(), who=who)
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
