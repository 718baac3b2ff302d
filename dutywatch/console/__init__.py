"""The duty console: a page the service serves itself, for a duty officer's screen.

Plain HTML, CSS and JavaScript modules in ``static/`` (no build step, nothing from a CDN): the
page talks to the same ``/api/v1`` routes as every other client, as the person who signed in.

Signing in exchanges a token for two cookies (``POST /console/session``): ``dw_session`` holds
the token itself, ``HttpOnly`` and ``SameSite=Strict`` so page scripts cannot read it, and
``dw_csrf`` a random value the page echoes in ``X-CSRF-Token`` on every request that changes
something (double-submit; see :func:`dutywatch.web.app.principal`). ``DELETE /console/session``
signs out. The token is checked like a bearer token on every request, so revoking or expiring
it ends the console session at once.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Final

import msgspec
from aiohttp import web

from dutywatch import auth, errors
from dutywatch.web.app import CSRF_COOKIE, SESSION_COOKIE, authenticate, principal, runtime

STATIC: Final = Path(__file__).parent / "static"

#: The console's own pages: scripts and styles from this origin only, no inline script, no
#: framing; ``data:`` images for the charts and ``blob:`` for nothing.
CONSOLE_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)


class SignIn(msgspec.Struct, forbid_unknown_fields=True):
    token: str


def setup(app: web.Application) -> None:
    app.router.add_get("/console", redirect_to_console)
    app.router.add_get("/console/", get_console)
    app.router.add_post("/console/session", post_session)
    app.router.add_get("/console/session", get_session)
    app.router.add_delete("/console/session", delete_session)
    app.router.add_static("/console/static/", STATIC, append_version=False)
    app.on_response_prepare.append(_console_headers)


async def _console_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith("/console"):
        response.headers["Content-Security-Policy"] = CONSOLE_CSP
        if request.path.startswith("/console/static/"):
            response.headers.setdefault("Cache-Control", "no-cache")


async def redirect_to_console(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console/")


async def get_console(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


def _who(who: auth.Principal) -> dict[str, object]:
    return {
        "label": who.label,
        "role": str(who.role),
        "org": who.org_path,
        "person_id": who.person_id,
    }


async def post_session(request: web.Request) -> web.Response:
    """Sign in: the token in a JSON body (never in the URL), checked like a bearer token."""
    try:
        body = msgspec.json.decode(await request.read(), type=SignIn)
    except msgspec.DecodeError as exc:
        raise errors.MalformedJson(f'send {{"token": "…"}}: {exc}') from None
    token = body.token.strip()
    who = await authenticate(request, token)
    response = web.json_response(_who(who))
    # Behind a proxy that ends TLS the request itself is plain HTTP: the public URL says
    # whether people reach the console over HTTPS, and then the cookies must never travel
    # without it.
    secure = request.secure or runtime(request).settings.public_url.startswith("https://")
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=secure,
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE, secrets.token_urlsafe(24), samesite="Strict", secure=secure, path="/"
    )
    return response


async def get_session(request: web.Request) -> web.Response:
    """Who is signed in (401 when nobody is): the page asks this when it opens."""
    return web.json_response(_who(await principal(request)))


async def delete_session(request: web.Request) -> web.Response:
    response = web.json_response({"signed_out": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    response.del_cookie(CSRF_COOKIE, path="/")
    return response
