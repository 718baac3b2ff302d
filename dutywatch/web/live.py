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

``GET /api/v1/console/live`` is the console's one stream per tab: both of the above on one
connection (browsers allow six HTTP/1.1 connections per origin, and two streams per tab left
three tabs with none for their own requests). Its events are named ``page`` and ``incident``;
each ``id`` is ``p<NOTIFY sequence>-e<EVENTS sequence>``, the position reached in both
streams, so a reconnect resumes both exactly. The positions are taken when the stream opens
and sent at once in a ``ready`` event, so a tab that saw nothing before a cut still resumes
from where it connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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


#: The console stream's event ids: the positions reached in NOTIFY (p) and EVENTS (e).
CONSOLE_ID: Final = re.compile(r"p([0-9]{1,18})-e([0-9]{1,18})")


def _always(_msg: Msg) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class _Source:
    """One JetStream subject a feed streams: ``key`` names its position in event ids."""

    key: str
    subject: str
    event: bytes
    keep: Callable[[Msg], bool] = _always
    shown: Callable[[Msg], Awaitable[None]] | None = None


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/pages/live", get_live_pages)
    app.router.add_get("/api/v1/incidents/live", get_live_incidents)
    app.router.add_get("/api/v1/console/live", get_live_console)


def _resume_value(request: web.Request) -> str | None:
    return request.headers.get("Last-Event-ID") or request.query.get("after")


def _not_an_id() -> errors.RejectedInput:
    return errors.RejectedInput(
        "`Last-Event-ID` (or `after`) must be the `id` of an event this feed sent",
        field="Last-Event-ID",
    )


def _resume_after(request: web.Request) -> int | None:
    """The stream sequence the client saw last (``Last-Event-ID``), if it says so."""
    value = _resume_value(request)
    if value is None:
        return None
    if not value.isdigit() or len(value) > 18:
        raise _not_an_id()
    return int(value)


def _numbered(positions: dict[str, int]) -> bytes:
    """A one-source feed's event id: the stream sequence of the message."""
    [sequence] = positions.values()
    return b"%d" % sequence


def _console_id(positions: dict[str, int]) -> bytes:
    return b"p%d-e%d" % (positions["p"], positions["e"])


async def get_live_pages(request: web.Request) -> web.StreamResponse:
    who = await principal(request)
    if who.person_id is None:
        raise errors.Forbidden(
            "the live feed shows one person's pages: use a token that belongs to a person"
        )
    person = who.person_id

    after = _resume_after(request)
    return await _feed(
        request,
        [_pages(request, person)],
        {} if after is None else {"p": after},
        who=person,
        ident=_numbered,
    )


def _pages(request: web.Request, person: str) -> _Source:
    """A person's pages, each shown one written as a ``console`` delivery receipt."""

    async def shown(msg: Msg) -> None:
        # Shielded: a console closed right after the page was written still saw it.
        await asyncio.shield(_receipt(request, person, msg))

    subject = runtime(request).settings.subject("notify", person)
    return _Source("p", subject, b"page", shown=shown)


async def get_live_incidents(request: web.Request) -> web.StreamResponse:
    """Incident events (``dutywatch.incident_event.v1``) of the caller's subtree, or of
    ``org`` within it: what the board needs to stay current where nobody paged the caller."""
    who = await principal(request)
    after = _resume_after(request)
    return await _feed(
        request,
        [_incidents(request, who)],
        {} if after is None else {"e": after},
        who=who.label,
        ident=_numbered,
    )


async def get_live_console(request: web.Request) -> web.StreamResponse:
    """The console's one stream: the caller's pages (a person's token) and the incident
    events of their subtree (or of ``org`` within it), resumable in both at once."""
    who = await principal(request)
    sources = [_incidents(request, who)]
    if who.person_id is not None:
        sources.append(_pages(request, who.person_id))
    value = _resume_value(request)
    if value is None:
        # Where both streams stand now: the `ready` event's id, to resume from after a cut.
        rt = runtime(request)
        positions = {
            key: (await rt.js.stream_info(rt.settings.stream(name))).state.last_seq
            for key, name in (("p", "NOTIFY"), ("e", "EVENTS"))
        }
    else:
        matched = CONSOLE_ID.fullmatch(value)
        if matched is None:
            raise _not_an_id()
        positions = {"p": int(matched[1]), "e": int(matched[2])}
    return await _feed(request, sources, positions, who=who.label, ident=_console_id, ready=True)


def _incidents(request: web.Request, who: auth.Principal) -> _Source:
    """The incident events of the caller's subtree, or of ``org`` within it."""
    org = request.query.get("org") or (None if who.role is auth.Role.ADMIN else who.org_path)
    if org is not None:
        who.require(READ_ROLES, org, "follow incidents")
    tokens = org.split(".") if org else []
    subject = runtime(request).settings.subject("event", *tokens, ">")
    return _Source("e", subject, b"incident", keep=_kept_in(tokens))


def _kept_in(tokens: list[str]) -> Callable[[Msg], bool]:
    """Incident events only (the events subjects also carry supervision and roster events),
    and each once: an incident forwarded (转办) into another office's subtree is published
    under both offices' paths, and a subtree holding both gets the receiving office's copy
    only when the original (under the reporting office) is not in it too."""
    prefix = ".".join(tokens)

    def inside(org: str) -> bool:
        return not prefix or org == prefix or org.startswith(prefix + ".")

    def keep(msg: Msg) -> bool:
        try:
            body = json.loads(msg.data)
        except ValueError:
            return False
        if not isinstance(body, dict) or body.get("schema") != INCIDENT_EVENT:
            return False
        org = str(body.get("org", ""))
        copy = not msg.subject.endswith(f".event.{org}.{body.get('kind')}")
        return not (copy and inside(org))

    return keep


async def _feed(
    request: web.Request,
    sources: list[_Source],
    positions: dict[str, int],
    *,
    who: str,
    ident: Callable[[dict[str, int]], bytes],
    ready: bool = False,
) -> web.StreamResponse:
    """Stream the messages of each source's subject as SSE events named by the source, each
    with ``ident`` of the positions reached as ``id``: from after each source's position
    (``Last-Event-ID`` when the client resumes), or new ones where there is none."""
    rt = runtime(request)
    queue: asyncio.Queue[tuple[_Source, Msg]] = asyncio.Queue()
    subs = []
    for source in sources:

        async def collect(msg: Msg, source: _Source = source) -> None:
            await queue.put((source, msg))

        after = positions.get(source.key)
        config = (
            ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1)
            if after is not None
            else ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
        )
        subs.append(
            await rt.js.subscribe(source.subject, cb=collect, ordered_consumer=True, config=config)
        )
    feed = "+".join(source.event.decode() for source in sources)
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
    log.info("live_feed_opened", feed=feed, who=who, resume_after=dict(positions))
    try:
        # `retry`: a browser whose stream broke tries again after this many milliseconds.
        await response.write(b": connected\nretry: %d\n\n" % RETRY_MS)
        if ready:
            await response.write(b"id: %s\nevent: ready\ndata: {}\n\n" % ident(positions))
        while True:
            try:
                source, msg = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            positions[source.key] = msg.metadata.sequence.stream
            if not source.keep(msg):
                continue
            await response.write(
                b"id: %s\nevent: %s\ndata: %s\n\n"
                % (ident(positions), source.event, msg.data.replace(b"\n", b""))
            )
            if source.shown is not None:
                await source.shown(msg)
    except ConnectionResetError:
        pass  # the console went away; it catches up with Last-Event-ID when it is back
    finally:
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        log.info("live_feed_closed", feed=feed, who=who)
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
