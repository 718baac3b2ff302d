"""HTTP for escalation policies: save a version, validate, list, show, retire, simulate."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from dutywatch import auth, errors
from dutywatch.clock import utc
from dutywatch.contracts import Category, Grade
from dutywatch.escalation import admin, codec, store
from dutywatch.web.app import READ_ROLES, principal, runtime

#: Policies decide who is woken at night: leaders (and administrators) edit them.
EDIT_ROLES = {auth.Role.LEADER}
#: Longest simulated horizon: a week, the longest clock there is.
MAX_HORIZON = timedelta(days=7)


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/policies", post_policy)
    app.router.add_get("/api/v1/policies", get_policies)
    app.router.add_post("/api/v1/policies/validate", post_validate)
    app.router.add_get("/api/v1/policies/simulate", get_simulate)
    app.router.add_get("/api/v1/policies/{id}", get_policy)
    app.router.add_delete("/api/v1/policies/{id}", delete_policy)


def _listed(entry: dict[str, Any]) -> dict[str, Any]:
    document = codec.as_json(entry["policy"])
    document["created_at"] = entry["created_at"].isoformat()
    document["created_by"] = entry["by"]
    if entry.get("retired_at") is not None:
        document["retired_at"] = entry["retired_at"].isoformat()
    return document


async def post_policy(request: web.Request) -> web.Response:
    """Save the body as the next version of its policy id (refused with 422 if unsound)."""
    who = await principal(request)
    rt = runtime(request)

    def authorize(org: str) -> None:
        who.require(EDIT_ROLES, org, "edit escalation policies")

    result = await admin.save(
        rt.pool,
        rt.settings,
        await request.read(),
        by=who.actor,
        now=rt.clock.now(),
        authorize=authorize,
    )
    return web.json_response(result, status=201)


async def post_validate(request: web.Request) -> web.Response:
    """Check the body without saving: 200 with warnings, or 422 naming every problem."""
    await principal(request)
    rt = runtime(request)
    result = await admin.validate(rt.pool, rt.settings, await request.read(), now=rt.clock.now())
    return web.json_response(result)


async def get_policies(request: web.Request) -> web.Response:
    who = await principal(request)
    org = request.query.get("org") or None
    if org is not None:
        who.require(READ_ROLES, org, "list policies")
    else:
        who.require(READ_ROLES, None, "list policies")
    rt = runtime(request)
    async with rt.pool.acquire() as conn:
        entries = await store.list_policies(conn, org)
    return web.json_response({"policies": [_listed(e) for e in entries]})


async def get_policy(request: web.Request) -> web.Response:
    who = await principal(request)
    who.require(READ_ROLES, None, "read policies")
    rt = runtime(request)
    policy_id = request.match_info["id"]
    async with rt.pool.acquire() as conn:
        versions = await store.versions_of(conn, policy_id)
    if not versions:
        raise errors.NotFound(f"policy {policy_id} does not exist")
    return web.json_response(
        {"id": policy_id, "versions": [_listed(v) for v in versions]},
    )


async def delete_policy(request: web.Request) -> web.Response:
    """Retire every version: running escalations finish with theirs, new ones do not use it."""
    who = await principal(request)
    rt = runtime(request)

    def authorize(org: str) -> None:
        who.require(EDIT_ROLES, org, "retire escalation policies")

    retired = await admin.retire(
        rt.pool, request.match_info["id"], now=rt.clock.now(), authorize=authorize
    )
    return web.json_response({"id": request.match_info["id"], "retired_versions": retired})


async def get_simulate(request: web.Request) -> web.Response:
    """If nobody acknowledged an incident of this org, grade and category: what happens."""
    who = await principal(request)
    rt = runtime(request)
    query = request.query
    org = query.get("org")
    if not org:
        raise errors.RejectedInput("query parameter `org` is required", field="org")
    who.require(READ_ROLES, org, "simulate escalation")
    try:
        grade = Grade(query.get("grade", ""))
    except ValueError:
        raise errors.RejectedInput("`grade` must be I, II, III or IV", field="grade") from None
    try:
        category = Category(query.get("category", "accident"))
    except ValueError:
        raise errors.RejectedInput(
            f"`category` must be one of {', '.join(Category)}", field="category"
        ) from None
    try:
        start = utc(datetime.fromisoformat(query["at"])) if query.get("at") else rt.clock.now()
        hours = float(query.get("hours", "24"))
    except ValueError:
        raise errors.RejectedInput(
            "`at` must be an RFC 3339 time with an offset and `hours` a number", field="at"
        ) from None
    horizon = timedelta(hours=hours)
    if not timedelta(0) < horizon <= MAX_HORIZON:
        raise errors.RejectedInput("`hours` must be above 0 and at most 168", field="hours")
    result = await admin.simulate(
        rt.pool,
        rt.settings,
        org=org,
        grade=grade,
        category=category,
        start=start,
        horizon=horizon,
        sensitive=query.get("sensitive", "false").lower() in ("1", "true", "yes"),
    )
    return web.json_response(result)
