"""HTTP for outbound delivery and the published contracts: dead letters and the OpenAPI
document."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from dutywatch import auth, errors
from dutywatch.contract_files import contract_file, openapi_json
from dutywatch.delivery import worker
from dutywatch.web.app import principal, runtime

OPENAPI_JSON = web.AppKey("openapi_json", bytes)


def setup(app: web.Application) -> None:
    # Converted when the (first) app is made: a broken document stops startup, not a request.
    app[OPENAPI_JSON] = openapi_json()
    app.router.add_get("/api/openapi.json", get_openapi)
    # The document's `$ref: ./report.v1.schema.json` resolves here, beside it.
    app.router.add_get("/api/{schema:[a-z0-9-]+\\.v1\\.schema\\.json}", get_schema)
    app.router.add_get("/api/v1/dead-letters", get_dead_letters)


async def get_openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_JSON], content_type="application/json")


async def get_schema(request: web.Request) -> web.Response:
    """A published JSON Schema of contracts/, e.g. ``/api/report.v1.schema.json``."""
    name = request.match_info["schema"]
    schema = contract_file(name)
    if not schema.is_file():
        raise errors.NotFound(f"no contract schema {name!r}; see contracts/ for the published ones")
    return web.Response(body=schema.read_bytes(), content_type="application/schema+json")


async def get_dead_letters(request: web.Request) -> web.Response:
    """``GET /api/v1/dead-letters?since=&incident=&limit=``: contact methods that gave up."""
    who = await principal(request)
    who.require({auth.Role.ADMIN}, None, "read dead letters")
    try:
        since_text = request.query.get("since")
        since = datetime.fromisoformat(since_text) if since_text else None
        incident_text = request.query.get("incident")
        incident_id = int(incident_text) if incident_text else None
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise errors.SchemaViolation(
            "since must be an RFC 3339 time with an offset, incident and limit integers",
            field="since",
        ) from None
    if since is not None and since.tzinfo is None:
        raise errors.SchemaViolation("since needs a UTC offset, e.g. +08:00", field="since")
    found = await worker.dead_letters(
        runtime(request).pool, since=since, incident_id=incident_id, limit=limit
    )
    return web.json_response({"dead_letters": found})
