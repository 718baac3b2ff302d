"""HTTP for the duty console's board: ``GET /api/v1/board``."""

from __future__ import annotations

from aiohttp import web

from dutywatch import auth
from dutywatch.incidents import board
from dutywatch.web.app import READ_ROLES, principal, runtime


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/board", get_board)


async def get_board(request: web.Request) -> web.Response:
    """The unresolved incidents of the caller's subtree (or of ``org`` within it), most severe
    and newest first, with the service's ``now`` so countdowns run on the business clock."""
    who = await principal(request)
    org = request.query.get("org") or (None if who.role is auth.Role.ADMIN else who.org_path)
    if org is not None:
        who.require(READ_ROLES, org, "read the board")
    rt = runtime(request)
    async with rt.pool.acquire() as conn:
        rows = await board.read(conn, org=org)
    return web.json_response({"now": rt.clock.now().isoformat(), "org": org, "incidents": rows})
