"""HTTP edges of the inbound formats: CAP 1.2, PagerDuty Events v2, Alertmanager webhooks,
the CAP export of an incident and the routing keys behind PagerDuty.

Each translates its format into a report v1 and publishes it into REPORTS like
``POST /api/v1/reports`` (:mod:`dutywatch.inbound.intake`); actions go through the commands.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import msgspec
from aiohttp import web
from msgspec import Meta

from dutywatch import auth, errors
from dutywatch.contracts import Category, Grade, OrgPath, ReportV1, decode_as, decode_report
from dutywatch.inbound import alertmanager, cap, intake, pagerduty
from dutywatch.incidents import commands
from dutywatch.incidents import store as incidents
from dutywatch.timeline import Source
from dutywatch.web.app import (
    READ_ROLES,
    REPORT_ROLES,
    principal,
    record_http_rejection,
    runtime,
    visible_incident,
)

CAP_TYPES = {"application/cap+xml", "application/xml", "text/xml"}
CAP_CONTENT_TYPE = "application/cap+xml"
#: Alertmanager posts with an office's token (its subtree bounds the organisation).
ALERTMANAGER_ROLES = {auth.Role.OFFICE}


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/cap", post_cap)
    app.router.add_get("/api/v1/incidents/{id:\\d{1,18}}/cap", get_incident_cap)
    app.router.add_post("/v2/enqueue", post_enqueue)
    app.router.add_post("/api/v1/alertmanager", post_alertmanager)
    app.router.add_post("/api/v1/routing-keys", post_routing_key)
    app.router.add_get("/api/v1/routing-keys", get_routing_keys)
    app.router.add_delete("/api/v1/routing-keys/{id:\\d{1,18}}", delete_routing_key)


# --------------------------------------------------------------------------- CAP 1.2


async def post_cap(request: web.Request) -> web.Response:
    """A CAP 1.2 Alert, Update or Cancel from an office (``?org=`` or the token's own)."""
    who = await principal(request)
    rt = runtime(request)
    raw = await request.read()
    org = request.query.get("org") or who.org_path
    try:
        who.require(REPORT_ROLES, None, "send CAP")
        if request.content_type not in CAP_TYPES:
            raise errors.UnsupportedMediaType(
                f"send CAP as {CAP_CONTENT_TYPE} (or application/xml); got {request.content_type}"
            )
        if not org:
            raise errors.SchemaViolation("name the office: ?org=<org path>", field="org")
        if not who.covers(org):
            raise errors.OrgMismatch(
                f"this token reports for {who.org_path!r} and below, not {org!r}", field="org"
            )
        taken = await intake.submit_cap(
            rt.pool, rt.js, rt.settings, raw, org=org, source="http", now=rt.clock.now()
        )
    except errors.RejectedInput as exc:
        await record_http_rejection(rt, exc, raw, request.path)
        raise
    body: dict[str, Any] = {**taken.published, "msg_type": taken.message.msg_type}
    if taken.cancels:
        body["command"] = await intake.cancel_cap(
            rt.pool,
            rt.settings,
            taken,
            actor=who.actor,
            now=rt.clock.now(),
            wait=intake.ACTION_WAIT_SECONDS,
            source=Source.HTTP,
        )
        rt.wake_workers()
    return web.json_response(body, status=202)


async def get_incident_cap(request: web.Request) -> web.Response:
    """The incident as a CAP 1.2 message (valid against the OASIS schema)."""
    who = await principal(request)
    incident = await visible_incident(request, who)
    rt = runtime(request)
    async with rt.pool.acquire() as conn:
        rows = await incidents.queries.many(conn, "reports_of", incident.id)
    reports = []
    for row in rows:
        payload = row["payload"]
        text = payload if isinstance(payload, str) else json.dumps(payload)
        try:
            report = decode_report(text.encode())
        except errors.RejectedInput:
            continue  # stored under an older contract: counted by the chain, not described
        reports.append(cap.ExportedReport(received_at=row["received_at"], report=report))
    document = cap.export(
        incident_id=incident.id,
        org=incident.org_path,
        incident_ref=incident.incident_ref,
        state=str(incident.state),
        grade=incident.grade,
        category=incident.category,
        title=incident.title,
        status=incident.status,
        reports=reports,
        warning_level=_latest(reports, "warning_level"),
        response_level=_latest(reports, "response_level"),
    )
    return web.Response(body=document, content_type=CAP_CONTENT_TYPE, charset="utf-8")


def _latest(reports: list[cap.ExportedReport], name: str) -> int | None:
    values = [getattr(r.report, name) for r in reports if getattr(r.report, name) is not None]
    return values[-1] if values else None


# --------------------------------------------------------------------------- PagerDuty


async def post_enqueue(request: web.Request) -> web.Response:
    """PagerDuty Events API v2: the routing key authenticates and routes the event."""
    rt = runtime(request)
    raw = await request.read()
    now = rt.clock.now()
    try:
        event = pagerduty.decode(raw)
        async with rt.pool.acquire() as conn:
            key = await intake.routing_key(conn, event.routing_key)
            dedup_key = event.dedup_key or pagerduty.new_dedup_key()
            base_ref = pagerduty.incident_ref_of(dedup_key)
            latest = await intake.latest_generation(conn, key.org_path, base_ref)
        if event.event_action is pagerduty.Action.TRIGGER:
            ref = intake.ref_for_new_event(base_ref, latest)
            report = pagerduty.to_report(
                event,
                raw,
                key=key,
                incident_ref=ref,
                now=now,
                known=latest is not None and latest.incident_ref == ref,
            )
    except errors.RejectedInput as exc:
        await record_http_rejection(rt, exc, raw, request.path)
        raise
    if event.event_action is pagerduty.Action.TRIGGER:
        await intake.publish(rt.js, rt.settings, report, source="http")
    else:
        verb = (
            commands.Verb.ACK
            if event.event_action is pagerduty.Action.ACKNOWLEDGE
            else commands.Verb.RESOLVE
        )
        action = intake.Action(
            verb=verb,
            org=key.org_path,
            incident_ref=latest.incident_ref if latest is not None else base_ref,
            identity=pagerduty.report_id_of(key, raw),
            actor=f"pagerduty:{key.label}",
            note=f"PagerDuty {event.event_action} (dedup_key {dedup_key[:100]})",
        )
        await intake.act(rt.pool, rt.settings, action, now=now, wait=intake.ACTION_WAIT_SECONDS)
        rt.wake_workers()
    # PagerDuty's own answer, so that its clients read it unchanged.
    return web.json_response(
        {"status": "success", "message": "Event processed", "dedup_key": dedup_key}, status=202
    )


class RoutingKeyBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /api/v1/routing-keys``: what the events sent with the new key report as."""

    label: Annotated[str, Meta(min_length=1, max_length=100, pattern=r"\S")]
    org: OrgPath
    grade: Grade
    category: Category = Category.ACCIDENT


def _key_json(row: Any) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": row["id"],
        "label": row["label"],
        "org": row["org_path"],
        "grade": row["grade"],
        "category": row["category"],
        "created_at": iso(row["created_at"]),
        "created_by": row["created_by"],
        "revoked_at": iso(row["revoked_at"]),
    }


async def post_routing_key(request: web.Request) -> web.Response:
    """An administrator makes a routing key; the key is shown once, only its hash is kept."""
    who = await principal(request)
    who.require({auth.Role.ADMIN}, None, "create routing keys")
    body = decode_as(RoutingKeyBody, await request.read())
    rt = runtime(request)
    async with rt.pool.acquire() as conn:
        await intake.require_known_org(conn, body.org)
        key, row = await intake.create_routing_key(
            conn,
            label=body.label.strip(),
            org=body.org,
            grade=body.grade,
            category=body.category,
            by=who.actor,
            now=rt.clock.now(),
        )
    return web.json_response({**_key_json(row), "routing_key": key}, status=201)


async def get_routing_keys(request: web.Request) -> web.Response:
    who = await principal(request)
    who.require({auth.Role.ADMIN}, None, "list routing keys")
    rt = runtime(request)
    async with rt.pool.acquire() as conn:
        rows = await intake.queries.many(conn, "list_routing_keys")
    return web.json_response({"routing_keys": [_key_json(r) for r in rows]})


async def delete_routing_key(request: web.Request) -> web.Response:
    who = await principal(request)
    who.require({auth.Role.ADMIN}, None, "revoke routing keys")
    rt = runtime(request)
    key_id = int(request.match_info["id"])
    async with rt.pool.acquire() as conn:
        row = await intake.queries.one(conn, "revoke_routing_key", key_id, rt.clock.now())
    if row is None:
        raise errors.NotFound(f"routing key {key_id} does not exist")
    return web.json_response(_key_json(row))


# --------------------------------------------------------------------------- Alertmanager


async def post_alertmanager(request: web.Request) -> web.Response:
    """An Alertmanager webhook (version 4): one alert group, one incident."""
    who = await principal(request)
    rt = runtime(request)
    raw = await request.read()
    now = rt.clock.now()
    try:
        who.require(ALERTMANAGER_ROLES, None, "send Alertmanager webhooks")
        hook = alertmanager.decode(raw)
        org = alertmanager.org_of(hook, who.org_path)
        if not who.covers(org):
            raise errors.OrgMismatch(
                f"this token reports for {who.org_path!r} and below, not {org!r} "
                f"(label {alertmanager.LABEL_ORG})",
                field=f"commonLabels.{alertmanager.LABEL_ORG}",
            )
        async with rt.pool.acquire() as conn:
            await intake.require_known_org(conn, org)
            base_ref = alertmanager.incident_ref_of(hook.groupKey)
            latest = await intake.latest_generation(conn, org, base_ref)
        ref = intake.ref_for_new_event(base_ref, latest)
        known = latest is not None and latest.incident_ref == ref
        report = alertmanager.to_report(hook, org=org, incident_ref=ref, now=now, known=known)
    except errors.RejectedInput as exc:
        await record_http_rejection(rt, exc, raw, request.path)
        raise
    body: dict[str, Any] = await intake.publish(rt.js, rt.settings, report, source="http")
    body["group_resolved"] = alertmanager.all_resolved(hook)
    if body["group_resolved"]:
        action = _group_resolved(report, who)
        body["command"] = await intake.act(
            rt.pool, rt.settings, action, now=now, wait=intake.ACTION_WAIT_SECONDS
        )
        rt.wake_workers()
    return web.json_response(body, status=202)


def _group_resolved(report: ReportV1, who: auth.Principal) -> intake.Action:
    return intake.Action(
        verb=commands.Verb.RESOLVE,
        org=report.org,
        incident_ref=report.incident_ref,
        identity=report.report_id,
        actor=who.actor,
        note="every alert of the Alertmanager group is resolved",
        after_report=report.report_id,
    )


__all__ = ["READ_ROLES", "setup"]
