"""HTTP for the review figures (issue 5): the figures, the list of incidents, the report."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from dutywatch import auth, errors, printing
from dutywatch.review import figures, printable, store
from dutywatch.review.figures import Figures
from dutywatch.supervision import service as supervision
from dutywatch.web.app import principal, runtime
from dutywatch.web.rosters import time_param

#: Who reads review figures: reviewers, leaders and officers covering the organisation
#: (administrators always may).
REVIEW_ROLES = {auth.Role.REVIEWER, auth.Role.LEADER, auth.Role.OFFICER}
#: The longest period one request may cover.
MAX_PERIOD = timedelta(days=366)
INCIDENT_COLUMNS = (
    "id",
    "org",
    "title",
    "grade",
    "category",
    "status",
    "opened_at",
    "resolved_at",
    "to_acknowledge_s",
    "to_report_up_s",
    "to_resolve_s",
    "late",
    "missing",
    "omitted_items",
    "highest_level",
    "failed_pages",
)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/review", get_review)
    app.router.add_get("/api/v1/review/incidents", get_review_incidents)
    app.router.add_get("/api/v1/review/report", get_review_report)


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str:
    value = request.query.get(name, allowed[0])
    if value not in allowed:
        raise errors.RejectedInput(
            f"`{name}` must be one of {', '.join(allowed)}, got {value!r}", field=name
        )
    return value


def _when(request: web.Request, name: str, zone: ZoneInfo) -> datetime:
    """Required; as in the roster routes: a date (``from``: its start, ``to``: its end, in the
    organisation's zone) or an RFC 3339 time with an offset."""
    value = time_param(request, name, zone)
    if value is None:
        raise errors.RejectedInput(
            f"`{name}` is required: a date YYYY-MM-DD or an RFC 3339 time with an offset",
            field=name,
        )
    return value


async def _figures(request: web.Request, *, supervised: bool = True) -> tuple[Figures, ZoneInfo]:
    """The figures the query asks for; with ``supervised`` the 督办 figures joined in."""
    who = await principal(request)
    org = request.query.get("org")
    if not org:
        raise errors.RejectedInput(
            "`org` is required: the subtree's root, e.g. harbin", field="org"
        )
    who.require(REVIEW_ROLES, org, "read review figures")
    rt = runtime(request)
    async with rt.pool.acquire() as conn:
        tz = await store.queries.val(conn, "org_zone", org)
        if tz is None:
            raise errors.UnknownOrganisation(
                f"organisation {org!r} is not registered; GET /api/v1/orgs lists them",
                field="org",
            )
        zone = ZoneInfo(tz)
        start, end = _when(request, "from", zone), _when(request, "to", zone)
        if end <= start:
            raise errors.RejectedInput("`to` must be after `from`", field="to")
        if end - start > MAX_PERIOD:
            raise errors.RejectedInput(
                f"at most {MAX_PERIOD.days} days per request; ask for the rest separately",
                field="to",
            )
        drills = _choice(request, "include_drills", ("false", "true")) == "true"
        rows = await store.load(conn, org=org, start=start, end=end, include_drills=drills)
        now = rt.clock.now()
        joined = await supervision.figures_for(conn, org, start, end, now) if supervised else None
    computed = figures.compute(
        rows, org=org, start=start, end=end, as_of=now, include_drills=drills
    )
    return dataclasses.replace(computed, supervision=joined), zone


async def get_review(request: web.Request) -> web.Response:
    computed, _zone = await _figures(request)
    return web.json_response(computed.as_json())


def incidents_csv(computed: Figures) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=INCIDENT_COLUMNS)
    writer.writeheader()
    for incident in computed.incidents:
        writer.writerow(incident.as_json())
    return out.getvalue()


def _attachment(computed: Figures, ext: str) -> dict[str, str]:
    name = f"review-{computed.org}-{computed.start:%Y%m%d}-{computed.end:%Y%m%d}.{ext}"
    return {"Content-Disposition": f'attachment; filename="{name}"'}


async def get_review_incidents(request: web.Request) -> web.Response:
    # The per-incident list carries no supervision figures: not read.
    computed, _zone = await _figures(request, supervised=False)
    if _choice(request, "format", ("json", "csv")) == "csv":
        return web.Response(
            text=incidents_csv(computed),
            content_type="text/csv",
            charset="utf-8",
            headers=_attachment(computed, "csv"),
        )
    body: dict[str, Any] = {
        "org": computed.org,
        "from": computed.start.isoformat(),
        "to": computed.end.isoformat(),
        "as_of": computed.as_of.isoformat(),
        "incidents": [i.as_json() for i in computed.incidents],
    }
    return web.json_response(body)


async def get_review_report(request: web.Request) -> web.Response:
    computed, zone = await _figures(request)
    kind = _choice(request, "format", ("html", "pdf"))
    lang = printing.lang_of(request.query.get("lang"))
    # Charts and PDF layout are CPU work: off the event loop.
    if kind == "pdf":
        font = runtime(request).settings.pdf_font
        pdf = await asyncio.to_thread(printable.pdf, computed, zone=zone, lang=lang, font_path=font)
        return web.Response(
            body=pdf, content_type="application/pdf", headers=_attachment(computed, "pdf")
        )
    html = await asyncio.to_thread(printable.html, computed, zone=zone, lang=lang)
    return web.Response(text=html, content_type="text/html", charset="utf-8")
