"""HTTP for incident exports: ``GET /api/v1/incidents/{id}/export?format=&lang=``."""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web

from dutywatch import auth, exports, printing
from dutywatch.exports import store as export_store
from dutywatch.web.app import principal, runtime, visible_incident

log = structlog.get_logger(__name__)

#: Reviewers, leaders and officers covering the incident's offices (and admins) may export;
#: an office token (a reporter) may not: the export carries the record of everyone's actions.
EXPORT_ROLES = {auth.Role.REVIEWER, auth.Role.LEADER, auth.Role.OFFICER}


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/incidents/{id:\\d{1,18}}/export", get_export)


async def get_export(request: web.Request) -> web.Response:
    who = await principal(request)
    fmt = exports.format_of(request.query.get("format"))
    lang = printing.lang_of(request.query.get("lang"))
    incident = await visible_incident(request, who, EXPORT_ROLES, "export incident")
    rt = runtime(request)
    incident_id = incident.id
    async with rt.pool.acquire() as conn:
        record = await export_store.load(conn, incident_id, now=rt.clock.now())
    # Rendering a long PDF takes a while: off the event loop.
    rendered = await asyncio.to_thread(
        exports.render, record, fmt, lang, font_path=rt.settings.pdf_font
    )
    head = record.head
    log.info(
        "incident_exported",
        incident_id=incident_id,
        format=fmt,
        lang=lang,
        seq=head.seq,
        by=who.label,
    )
    return web.Response(
        body=rendered.body,
        content_type=rendered.content_type,
        charset=rendered.charset,
        headers={
            "Content-Disposition": f'attachment; filename="{rendered.filename}"',
            "Dutywatch-Export-Head": head.marker(),
        },
    )
