"""The aiohttp application factory, its middleware and routes.

Handlers stay thin: authenticate, decode, call the domain, render. One middleware maps
:class:`~dutywatch.errors.DutywatchError` to ``application/problem+json``.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Annotated, Any, Final, TypeVar
from uuid import UUID

import msgspec
import structlog
from aiohttp import web
from msgspec import Meta

from dutywatch import auth, errors, metrics
from dutywatch.clock import Clock
from dutywatch.config import Settings
from dutywatch.contracts import MAX_PAYLOAD_BYTES, OrgPath, decode_as, decode_report
from dutywatch.deadlines import engine as deadlines
from dutywatch.deadlines import zero
from dutywatch.escalation import store as escalation_store
from dutywatch.escalation.store import alert_json
from dutywatch.escalation.store import queries as escalation_queries
from dutywatch.inbound.intake import publish
from dutywatch.incidents import commands
from dutywatch.incidents import store as incidents
from dutywatch.incidents.rules import Incident, State
from dutywatch.incidents.store import incident_json
from dutywatch.orgs.store import known_orgs, list_orgs
from dutywatch.outbox.store import record_rejection
from dutywatch.service import Runtime, open_runtime
from dutywatch.timeline import Source
from dutywatch.timeline.store import entries_of
from dutywatch.web import guard

log = structlog.get_logger(__name__)

RUNTIME = web.AppKey("runtime", Runtime)
PRINCIPAL_KEY = web.RequestKey("principal", auth.Principal)
TOKEN_LIMITS = web.AppKey("token_limits", guard.RateLimiter)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_Body = TypeVar("_Body", bound=msgspec.Struct)

READ_ROLES = {auth.Role.OFFICER, auth.Role.LEADER, auth.Role.REVIEWER, auth.Role.OFFICE}
ACT_ROLES = {auth.Role.OFFICER, auth.Role.LEADER}
#: 签发 is the unit head's (or an authorised deputy's): leaders on duty, not officers.
SIGN_OFF_ROLES = {auth.Role.LEADER}
REPORT_ROLES = {auth.Role.OFFICE, auth.Role.OFFICER, auth.Role.LEADER}


def create_app(settings: Settings, clock: Clock, *, start_workers: bool = True) -> web.Application:
    # Bodies up to 1 MiB are read so that an oversized report can be recorded as rejected
    # with its bytes; the report limit itself (256 KiB) is checked by the decoder.
    app = web.Application(
        middlewares=[headers_middleware, problem_middleware, guard.guard_middleware],
        client_max_size=1024 * 1024,
    )
    app[guard.AUTH_FAILURES] = guard.RateLimiter(guard.AUTH_FAILURE_RATE, guard.AUTH_FAILURE_BURST)
    app[TOKEN_LIMITS] = guard.RateLimiter(settings.rate_limit, settings.rate_burst)

    async def runtime_ctx(app: web.Application) -> AsyncIterator[None]:
        runtime = await open_runtime(settings, clock)
        if start_workers:
            await runtime.start_workers()
        app[RUNTIME] = runtime
        yield
        await runtime.close()

    app.cleanup_ctx.append(runtime_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_post("/api/v1/reports", post_report)
    app.router.add_get("/api/v1/incidents", get_incidents)
    app.router.add_get("/api/v1/incidents/{id:\\d{1,18}}", get_incident)
    app.router.add_post("/api/v1/incidents/{id:\\d{1,18}}/ack", post_ack)
    app.router.add_post("/api/v1/incidents/{id:\\d{1,18}}/resolve", post_resolve)
    app.router.add_post("/api/v1/incidents/{id:\\d{1,18}}/signoff", post_signoff)
    app.router.add_post("/api/v1/incidents/{id:\\d{1,18}}/skip-level", post_skip_level)
    app.router.add_post("/api/v1/incidents/{id:\\d{1,18}}/forward", post_forward)
    app.router.add_get("/api/v1/incidents/{id:\\d{1,18}}/timeline", get_timeline)
    app.router.add_post("/api/v1/zero-reports", post_zero_report)
    app.router.add_get("/api/v1/orgs", get_orgs)
    # Routes of other domains live beside their handlers; imported here to avoid a cycle.
    from dutywatch import console
    from dutywatch.web import (
        board,
        delivery,
        exports,
        handover,
        inbound,
        integrity,
        live,
        policies,
        record,
        review,
        rosters,
        supervision,
    )

    board.setup(app)
    delivery.setup(app)
    exports.setup(app)
    handover.setup(app)
    integrity.setup(app)
    live.setup(app)
    inbound.setup(app)
    policies.setup(app)
    record.setup(app)
    review.setup(app)
    rosters.setup(app)
    supervision.setup(app)
    console.setup(app)
    return app


def problem(status: int, code: str, detail: str, **fields: Any) -> web.Response:
    body = {
        "type": f"https://dutywatch.example/problems/{code}",
        "title": code.replace("_", " "),
        "status": status,
        "detail": detail,
        **{k: v for k, v in fields.items() if isinstance(v, str | int | float | bool | list)},
    }
    return web.json_response(body, status=status, content_type="application/problem+json")


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The security headers on every answer, problems included (see :mod:`.guard`)."""
    response = await handler(request)
    guard.add_security_headers(response)
    return response


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.DutywatchError as exc:
        principal = request.get(PRINCIPAL_KEY)
        if exc.http_status in (401, 403, 429):
            metrics.HTTP_REFUSALS.labels(reason=exc.code).inc()
            log.warning(
                "request_refused",
                path=request.path,
                method=request.method,
                reason=exc.code,
                detail=exc.message,
                principal=principal.label if principal else None,
            )
        elif exc.http_status >= 500:
            log.exception("request_failed", path=request.path, reason=exc.code, detail=exc.message)
        response = problem(exc.http_status, exc.code, exc.message, **exc.fields)
        if isinstance(exc, errors.RateLimited):
            response.headers["Retry-After"] = str(exc.fields["retry_after"])
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # aiohttp's own refusals (no such route, method not allowed, body too large) answer
        # in the same problem+json shape as ours.
        code = exc.reason.lower().replace(" ", "_")
        response = problem(exc.status, code, _HTTP_ADVICE.get(exc.status, exc.reason))
        if isinstance(exc, web.HTTPMethodNotAllowed):
            response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return response


_HTTP_ADVICE = {
    404: "no such resource; the routes are listed in contracts/openapi.yaml",
    405: "this resource does not accept that method; see the Allow header",
    413: "the body is larger than 1 MiB; no request needs that much",
}


def request_source(request: web.Request) -> Source:
    """``cli`` when the dutywatch command line made the call (it says so), else ``http``:
    the timeline's record of the channel an action came through."""
    return Source.CLI if request.headers.get("Dutywatch-Client") == "cli" else Source.HTTP


def runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


#: The console's cookies (see :mod:`dutywatch.console`): the token, and the CSRF value the
#: page echoes in a header on every request that changes something.
SESSION_COOKIE: Final = "dw_session"
CSRF_COOKIE: Final = "dw_csrf"
CSRF_HEADER: Final = "X-CSRF-Token"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


def _presented_token(request: web.Request) -> str:
    """The bearer token, or the console's session cookie. A cookie is sent by the browser on
    its own, so a request that changes something must also prove it came from the console
    page: its ``X-CSRF-Token`` header equals the ``dw_csrf`` cookie (double submit)."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise errors.Unauthenticated()
        return token
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        raise errors.Unauthenticated()
    if request.method not in _SAFE_METHODS:
        expected = request.cookies.get(CSRF_COOKIE, "")
        sent = request.headers.get(CSRF_HEADER, "")
        if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
            raise errors.Forbidden(
                "a console request that changes something must carry the X-CSRF-Token header "
                "equal to the dw_csrf cookie; reload the console and sign in again"
            )
    return token


async def authenticate(request: web.Request, token: str) -> auth.Principal:
    """The principal ``token`` stands for (unknown, revoked and expired tokens refused)."""
    rt = runtime(request)
    async with rt.pool.acquire() as conn:
        return await auth.authenticate(
            conn,
            token,
            admin_token=rt.settings.admin_token,
            now=rt.clock.now(),
            key=rt.settings.token_key,
        )


async def principal(request: web.Request) -> auth.Principal:
    token = _presented_token(request).strip()
    who = await authenticate(request, token)
    request[PRINCIPAL_KEY] = who
    rt = runtime(request)
    wait = request.app[TOKEN_LIMITS].take(auth.token_hash(token))
    if wait is not None:
        raise errors.RateLimited(
            f"this token may make {rt.settings.rate_limit:g} requests per second "
            f"(bursts of {rt.settings.rate_burst}); retry after the time in Retry-After",
            retry_after=guard.retry_after(wait),
        )
    return who


async def get_metrics(request: web.Request) -> web.Response:
    body, content_type = metrics.exposition()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ready, checks = await runtime(request).readiness()
    return web.json_response(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


async def post_report(request: web.Request) -> web.Response:
    who = await principal(request)
    rt = runtime(request)
    raw = await request.read()
    try:
        who.require(REPORT_ROLES, None, "report")
        report = decode_report(raw)
        if not who.covers(report.org):
            raise errors.OrgMismatch(
                f"this token reports for {who.org_path!r} and below, not {report.org!r}",
                field="org",
            )
        async with rt.pool.acquire() as conn:
            if not await known_orgs(conn, [report.org]):
                raise errors.UnknownOrganisation(
                    f"organisation {report.org!r} is not registered; GET /api/v1/orgs lists them",
                    field="org",
                )
    except errors.RejectedInput as exc:
        await record_http_rejection(rt, exc, raw, request.path)
        raise
    return web.json_response(
        await publish(rt.js, rt.settings, report, source="http", raw=raw), status=202
    )


async def record_http_rejection(
    rt: Runtime, exc: errors.RejectedInput, raw: bytes, path: str
) -> None:
    """A refused HTTP body is recorded and published on ``dutywatch.rejected``, like intake's."""
    async with rt.pool.acquire() as conn, conn.transaction():
        await record_rejection(
            conn,
            rt.settings,
            exc,
            raw=raw,
            source="http",
            subject=path,
            msg_id=None,
            now=rt.clock.now(),
        )
    rt.relay_wake.set()


class SkipLevelBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /api/v1/incidents/{id}/skip-level``: which ancestor duty room, and why."""

    to: OrgPath
    #: The review reads it: at least one visible character.
    reason: Annotated[str, Meta(min_length=1, max_length=500, pattern=r"\S")]


class ForwardBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /api/v1/incidents/{id}/forward``: the responsible duty room, and a note."""

    to: OrgPath
    note: Annotated[str, Meta(max_length=500)] | None = None


def require_on_incident(
    who: auth.Principal, allowed: set[auth.Role], incident: Incident, action: str
) -> None:
    """``who`` may act on the incident from the office that received it or, once forwarded
    (转办), from the office now responsible for it."""
    who.require_any(allowed, [incident.org_path, incident.responsible_org], action)


async def visible_incident(
    request: web.Request,
    who: auth.Principal,
    roles: set[auth.Role] = READ_ROLES,
    action: str = "read incident",
) -> Incident:
    """The incident of the route's ``{id}``, if ``who`` (in one of ``roles``) may see it."""
    rt = runtime(request)
    incident_id = int(request.match_info["id"])
    async with rt.pool.acquire() as conn:
        incident = await incidents.get(conn, incident_id)
    if incident is None:
        raise errors.NotFound(f"incident {incident_id} does not exist")
    require_on_incident(who, roles, incident, action)
    return incident


async def get_incidents(request: web.Request) -> web.Response:
    who = await principal(request)
    org = request.query.get("org") or (None if who.role is auth.Role.ADMIN else who.org_path)
    if org is not None:
        who.require(READ_ROLES, org, "list incidents")
    state_text = request.query.get("state")
    try:
        state = State(state_text) if state_text else None
        limit = min(int(request.query.get("limit", "100")), 1000)
    except ValueError:
        raise errors.RejectedInput(
            "state must be open|acknowledged|resolved and limit an integer", field="state"
        ) from None
    rt = runtime(request)
    async with rt.pool.acquire() as conn:
        found = await incidents.list_incidents(conn, org=org, state=state, limit=limit)
    return web.json_response({"incidents": [incident_json(i) for i in found]})


async def get_incident(request: web.Request) -> web.Response:
    who = await principal(request)
    incident = await visible_incident(request, who)
    rt = runtime(request)
    async with rt.pool.acquire() as conn:
        reports = await incidents.reports_of(conn, incident.id)
        pages = await incidents.pages_of(conn, incident.id)
        timers = await escalation_queries.many(conn, "pending_escalations", incident.id)
        alerts = (await escalation_store.alerts_of(conn, [incident.id])).get(incident.id, {})
        clocks = (await deadlines.clocks_of(conn, incident.id)).clocks
    body = incident_json(incident)
    body["reports"] = reports
    body["pages"] = pages
    body["alerts"] = [alert_json(a) for a in sorted(alerts.values(), key=lambda a: a.id)]
    body["clocks"] = [deadlines.clock_json(c) for c in clocks]
    body["next_deadline"] = deadlines.next_deadline(clocks)
    body["now"] = rt.clock.now().isoformat()
    body["next_escalation"] = (
        {
            "alert_id": timers[0]["alert_id"],
            "org": timers[0]["org_path"],
            "step": timers[0]["step"],
            "due_at": timers[0]["due_at"].isoformat(),
        }
        if timers
        else None
    )
    return web.json_response(body)


class CommandBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /api/v1/incidents/{id}/ack`` and ``/resolve``: an optional note."""

    note: Annotated[str, Meta(max_length=500)] | None = None


class SignOffBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /api/v1/incidents/{id}/signoff``: which written report, and a note."""

    note: Annotated[str, Meta(max_length=500)] | None = None
    report_id: UUID | None = None


async def optional_body(request: web.Request, body_type: type[_Body]) -> _Body:
    """The body decoded as ``body_type``, or its defaults when there is no body."""
    raw = await request.read()
    return decode_as(body_type, raw) if raw.strip() else body_type()


async def _command(request: web.Request, verb: commands.Verb) -> web.Response:
    who = await principal(request)
    rt = runtime(request)
    note = (await optional_body(request, CommandBody)).note

    def authorize(incident: Incident) -> None:
        require_on_incident(who, ACT_ROLES, incident, verb)

    result = await commands.execute(
        rt.pool,
        rt.settings,
        verb,
        int(request.match_info["id"]),
        actor=who.actor,
        source=request_source(request),
        now=rt.clock.now(),
        note=note,
        authorize=authorize,
        duty_room=who.duty_room,
    )
    rt.relay_wake.set()
    return web.json_response(result)


async def post_signoff(request: web.Request) -> web.Response:
    """签发: a leader of the reporting organisation signs the written report off."""
    who = await principal(request)
    rt = runtime(request)
    body = await optional_body(request, SignOffBody)
    note, report_id = body.note, body.report_id

    def authorize(incident: Incident) -> None:
        who.require(SIGN_OFF_ROLES, incident.org_path, "sign off the written report")

    result = await deadlines.sign_off(
        rt.pool,
        rt.settings,
        int(request.match_info["id"]),
        actor=who.actor,
        source=request_source(request),
        now=rt.clock.now(),
        report_id=report_id,
        note=note,
        authorize=authorize,
    )
    rt.wake_workers()
    return web.json_response(result)


async def post_skip_level(request: web.Request) -> web.Response:
    """越级上报 chosen by hand: a leader of the reporting organisation reports directly to an
    ancestor duty room, whose alert opens at once."""
    who = await principal(request)
    rt = runtime(request)
    body = decode_as(SkipLevelBody, await request.read())

    def authorize(incident: Incident) -> None:
        who.require(SIGN_OFF_ROLES, incident.org_path, "report skip-level")

    result = await deadlines.skip_level(
        rt.pool,
        rt.settings,
        int(request.match_info["id"]),
        to=body.to,
        reason=body.reason.strip(),
        actor=who.actor,
        source=request_source(request),
        now=rt.clock.now(),
        authorize=authorize,
    )
    rt.wake_workers()
    return web.json_response(result)


async def post_forward(request: web.Request) -> web.Response:
    """转办: an officer or leader forwards a report that reached an office not responsible
    for it to the responsible duty room, whose alert opens at once; the clocks keep running
    from the original time learned."""
    who = await principal(request)
    rt = runtime(request)
    body = decode_as(ForwardBody, await request.read())

    def authorize(incident: Incident) -> None:
        require_on_incident(who, ACT_ROLES, incident, "forward")

    result = await deadlines.forward(
        rt.pool,
        rt.settings,
        int(request.match_info["id"]),
        to=body.to,
        note=body.note.strip() if body.note else None,
        actor=who.actor,
        source=request_source(request),
        now=rt.clock.now(),
        authorize=authorize,
    )
    rt.wake_workers()
    return web.json_response(result)


async def post_ack(request: web.Request) -> web.Response:
    return await _command(request, commands.Verb.ACK)


async def post_resolve(request: web.Request) -> web.Response:
    return await _command(request, commands.Verb.RESOLVE)


TIMELINE_COLUMNS = ["seq", "at", "kind", "actor", "source", "body", "prev_hash", "hash"]


async def get_timeline(request: web.Request) -> web.Response:
    who = await principal(request)
    incident = await visible_incident(request, who)
    rt = runtime(request)
    async with rt.pool.acquire() as conn:
        entries = await entries_of(conn, incident.id)
    rows = [
        {
            "seq": e.seq,
            "at": e.at.isoformat(),
            "kind": str(e.kind),
            "actor": e.actor,
            "source": str(e.source),
            "body": dict(e.body),
            "personal_digest": e.personal_digest.hex() if e.personal_digest else None,
            "prev_hash": e.prev_hash.hex(),
            "hash": e.hash.hex(),
        }
        for e in entries
    ]
    if request.query.get("format", "json") == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=TIMELINE_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "body": json.dumps(row["body"], ensure_ascii=False)})
        return web.Response(
            text=out.getvalue(),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="incident-{incident.id}.csv"'},
        )
    return web.json_response(
        {"incident_id": incident.id, "head": incident.timeline_head.hex(), "entries": rows}
    )


async def post_zero_report(request: web.Request) -> web.Response:
    """零报告: a subordinate duty room's daily report, "nothing to report" allowed."""
    who = await principal(request)
    who.require(REPORT_ROLES, None, "send a zero report")
    try:
        payload = await request.json()
    except json.JSONDecodeError:
        raise errors.MalformedJson() from None
    if not isinstance(payload, dict) or set(payload) - {"org", "day", "report_id"}:
        raise errors.SchemaViolation(
            "body must be an object with `org`, `day` (YYYY-MM-DD) and an optional `report_id`"
        )
    org = payload.get("org")
    if not isinstance(org, str) or not org:
        raise errors.SchemaViolation("`org` must be an organisation path", field="org")
    try:
        day = date.fromisoformat(payload.get("day") or "")
    except (TypeError, ValueError):
        raise errors.SchemaViolation("`day` must be a date, YYYY-MM-DD", field="day") from None
    try:
        report_id = UUID(payload["report_id"]) if payload.get("report_id") else None
    except (TypeError, ValueError):
        raise errors.SchemaViolation("`report_id` must be a UUID", field="report_id") from None
    if not who.covers(org):
        raise errors.OrgMismatch(
            f"this token reports for {who.org_path!r} and below, not {org!r}", field="org"
        )
    rt = runtime(request)
    result = await zero.accept(
        rt.pool,
        rt.settings,
        org=org,
        day=day,
        actor=who.actor,
        now=rt.clock.now(),
        report_id=report_id,
    )
    return web.json_response(result, status=200 if result["duplicate"] else 201)


async def get_orgs(request: web.Request) -> web.Response:
    await principal(request)
    rt = runtime(request)
    async with rt.pool.acquire() as conn:
        orgs = await list_orgs(conn)
    return web.json_response({"orgs": orgs})


__all__ = ["MAX_PAYLOAD_BYTES", "RUNTIME", "create_app"]
