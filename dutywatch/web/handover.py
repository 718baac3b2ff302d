"""HTTP for handovers: start one, take one over, read them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dutywatch import auth, errors
from dutywatch.handover import service
from dutywatch.web.app import ACT_ROLES, READ_ROLES, principal, request_source, runtime


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/handovers", post_handover)
    app.router.add_get("/api/v1/handovers", get_handovers)
    app.router.add_get("/api/v1/handovers/{id:\\d+}", get_handover)
    app.router.add_post("/api/v1/handovers/{id:\\d+}/accept", post_accept)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise errors.MalformedJson() from None
    if not isinstance(body, dict):
        raise errors.SchemaViolation("the body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str, *, required: bool, limit: int = 5000) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise errors.SchemaViolation(
            f"`{name}` must be a{' non-empty' if required else ''} string of at most {limit} "
            "characters",
            field=name,
        )
    return value


def _person(who: auth.Principal, action: str) -> str:
    if who.person_id is None:
        raise errors.Forbidden(f"{action} needs a token that belongs to a person (an officer)")
    return who.person_id


async def post_handover(request: web.Request) -> web.Response:
    """The outgoing officer hands over; the duty room's open incidents are carried."""
    who = await principal(request)
    body = await _body(request)
    org = _text(body, "org", required=True, limit=255)
    note = _text(body, "note", required=True)
    incoming = _text(body, "incoming", required=False, limit=64)
    assert org is not None
    assert note is not None
    who.require(ACT_ROLES, org, "hand over")
    rt = runtime(request)
    handover = await service.start(
        rt.pool,
        rt.settings,
        org_path=org,
        outgoing=_person(who, "handing over"),
        note=note,
        expected_incoming=incoming,
        source=request_source(request),
        now=rt.clock.now(),
    )
    rt.scheduler_wake.set()
    return web.json_response(service.as_json(handover), status=201)


async def post_accept(request: web.Request) -> web.Response:
    who = await principal(request)
    body = await _body(request)
    note = _text(body, "note", required=False)
    rt = runtime(request)

    def authorize(org_path: str) -> None:
        who.require(ACT_ROLES, org_path, "take over a handover")

    handover, changed = await service.accept(
        rt.pool,
        int(request.match_info["id"]),
        person=_person(who, "taking over"),
        note=note,
        source=request_source(request),
        now=rt.clock.now(),
        authorize=authorize,
    )
    return web.json_response({**service.as_json(handover), "changed": changed})


async def get_handover(request: web.Request) -> web.Response:
    who = await principal(request)
    rt = runtime(request)
    handover_id = int(request.match_info["id"])
    async with rt.pool.acquire() as conn:
        row = await service.queries.one(conn, "get_handover", handover_id)
    if row is None:
        raise errors.NotFound(f"handover {handover_id} does not exist")
    handover = service.from_row(row)
    who.require(READ_ROLES, handover.org_path, "read handover")
    return web.json_response(service.as_json(handover))


async def get_handovers(request: web.Request) -> web.Response:
    who = await principal(request)
    org = request.query.get("org")
    if not org:
        raise errors.RejectedInput("query parameter `org` is required", field="org")
    who.require(READ_ROLES, org, "list handovers")
    rt = runtime(request)
    async with rt.pool.acquire() as conn:
        rows = await service.queries.many(conn, "list_handovers", org, 50)
    return web.json_response({"handovers": [service.as_json(service.from_row(r)) for r in rows]})
