"""HTTP for personal data (Art. 85): purge an incident's personal data, set and release
retention holds. The work is in :mod:`dutywatch.timeline.purge`."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web
from msgspec import Meta

from dutywatch import auth
from dutywatch.contracts import decode_as
from dutywatch.incidents.rules import Incident
from dutywatch.timeline import Source, purge
from dutywatch.web.app import principal, require_on_incident, runtime

#: A hold keeps data past the rule: a leader's decision after review (or an administrator's).
HOLD_ROLES = {auth.Role.LEADER}


class ReasonBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Why: the timeline records it with who decided."""

    reason: Annotated[str, Meta(min_length=1, max_length=500, pattern=r"\S")]


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/incidents/{id:\\d+}/purge", post_purge)
    app.router.add_post("/api/v1/incidents/{id:\\d+}/retention-hold", post_hold)
    app.router.add_post("/api/v1/incidents/{id:\\d+}/retention-release", post_release)


async def post_purge(request: web.Request) -> web.Response:
    """Destroy the incident's personal data everywhere in the database; administrators only."""
    who = await principal(request)
    who.require(set(), None, "purge personal data")
    body = decode_as(ReasonBody, await request.read())
    rt = runtime(request)
    result = await purge.purge(
        rt.pool,
        rt.settings,
        int(request.match_info["id"]),
        actor=who.actor,
        reason=body.reason.strip(),
        source=Source.HTTP,
        now=rt.clock.now(),
    )
    return web.json_response(result)


async def _hold(request: web.Request, *, hold: bool) -> web.Response:
    who = await principal(request)
    body = decode_as(ReasonBody, await request.read())
    rt = runtime(request)

    def authorize(incident: Incident) -> None:
        action = "hold personal data" if hold else "release a retention hold"
        require_on_incident(who, HOLD_ROLES, incident, action)

    result = await purge.set_hold(
        rt.pool,
        int(request.match_info["id"]),
        hold=hold,
        actor=who.actor,
        reason=body.reason.strip(),
        source=Source.HTTP,
        now=rt.clock.now(),
        authorize=authorize,
    )
    if not hold:
        rt.retention_wake.set()
    return web.json_response(result)


async def post_hold(request: web.Request) -> web.Response:
    """Keep the incident's personal data past the retention rule (a leader or an admin)."""
    return await _hold(request, hold=True)


async def post_release(request: web.Request) -> web.Response:
    """Lift the hold: the retention rule applies again at its next pass."""
    return await _hold(request, hold=False)
