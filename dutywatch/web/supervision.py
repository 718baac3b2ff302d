"""HTTP for supervision (督办): instructions with assignments, their steps, re-checks, the
lists a unit and a supervisor work from, and the figures."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from aiohttp import web
from msgspec import Meta

from dutywatch import auth, errors
from dutywatch.contracts import OrgPath, decode_as
from dutywatch.incidents import notes
from dutywatch.supervision import service
from dutywatch.supervision.rules import Action
from dutywatch.web.app import READ_ROLES, principal, request_source, runtime

Person = Annotated[str, Meta(min_length=1, max_length=64)]
Attachments = Annotated[list[notes.Attachment], Meta(max_length=50)]


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/instructions", post_instruction)
    app.router.add_get("/api/v1/instructions/{id:\\d{1,18}}", get_instruction)
    app.router.add_get("/api/v1/instructions/{id:\\d{1,18}}/timeline", get_matter_timeline)
    app.router.add_get("/api/v1/assignments", get_assignments)
    app.router.add_get("/api/v1/assignments/chase", get_chase_list)
    for verb in ("accept", "start", "feedback", "verify", "send-back", "close"):
        app.router.add_post(f"/api/v1/assignments/{{id:\\d{{1,18}}}}/{verb}", post_step)
    app.router.add_post("/api/v1/assignments/{id:\\d{1,18}}/recheck", post_recheck)
    app.router.add_get("/api/v1/supervision/figures", get_figures)


class AssignmentBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    unit: OrgPath
    responsible: Person
    supervisor: Person
    due_at: datetime


class InstructionBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /api/v1/instructions``: 批示 with its assignments, on an incident or standalone."""

    text: notes.Text
    assignments: Annotated[list[AssignmentBody], Meta(min_length=1, max_length=100)]
    incident_id: Annotated[int, Meta(ge=1)] | None = None
    org: OrgPath | None = None
    leader: Annotated[str, Meta(min_length=1, max_length=100)] | None = None


class StepBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The body of an assignment step; each step reads the fields it takes (see OpenAPI)."""

    text: notes.Text | None = None
    reason: notes.Text | None = None
    attachments: Attachments = []
    due_at: datetime | None = None
    recheck_at: datetime | None = None


class RecheckBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /api/v1/assignments/{id}/recheck``: 二次反馈, the look-back's answer."""

    holds: bool
    text: notes.Text
    attachments: Attachments = []
    due_at: datetime | None = None


_ACTIONS = {
    "accept": Action.ACCEPT,
    "start": Action.START,
    "feedback": Action.REPORT,
    "verify": Action.VERIFY,
    "send-back": Action.SEND_BACK,
    "close": Action.CLOSE,
}


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise errors.SchemaViolation(f"`{field}` needs a time zone offset", field=field)
    return value


async def _body_bytes(request: web.Request) -> bytes:
    """The body, or an empty object for a step posted without one."""
    return await request.read() or b"{}"


async def post_instruction(request: web.Request) -> web.Response:
    who = await principal(request)
    body = decode_as(InstructionBody, await request.read())
    rt = runtime(request)
    result = await service.instruct(
        rt.pool,
        rt.settings,
        who=who,
        incident_id=body.incident_id,
        org=body.org,
        text=body.text,
        leader=body.leader,
        assignments=[
            service.NewAssignment(
                unit=a.unit,
                responsible=a.responsible,
                supervisor=a.supervisor,
                due_at=_aware(a.due_at, "assignments.due_at") or a.due_at,
            )
            for a in body.assignments
        ],
        source=request_source(request),
        now=rt.clock.now(),
    )
    rt.relay_wake.set()
    return web.json_response(result, status=201)


async def post_step(request: web.Request) -> web.Response:
    who = await principal(request)
    action = _ACTIONS[request.path.rsplit("/", 1)[1]]
    body = decode_as(StepBody, await _body_bytes(request))
    rt = runtime(request)
    result = await service.act(
        rt.pool,
        rt.settings,
        int(request.match_info["id"]),
        action,
        service.Step(
            text=body.reason if action is Action.SEND_BACK else body.text,
            attachments=body.attachments,
            due_at=_aware(body.due_at, "due_at"),
            recheck_at=_aware(body.recheck_at, "recheck_at"),
        ),
        who=who,
        source=request_source(request),
        now=rt.clock.now(),
    )
    rt.relay_wake.set()
    return web.json_response(result)


async def post_recheck(request: web.Request) -> web.Response:
    who = await principal(request)
    body = decode_as(RecheckBody, await request.read())
    rt = runtime(request)
    result = await service.answer_recheck(
        rt.pool,
        rt.settings,
        int(request.match_info["id"]),
        holds=body.holds,
        step=service.Step(
            text=body.text, attachments=body.attachments, due_at=_aware(body.due_at, "due_at")
        ),
        who=who,
        source=request_source(request),
        now=rt.clock.now(),
    )
    rt.relay_wake.set()
    return web.json_response(result)


async def get_instruction(request: web.Request) -> web.Response:
    who = await principal(request)
    rt = runtime(request)
    async with rt.pool.acquire() as conn:
        found = await service.instruction(conn, int(request.match_info["id"]), rt.clock.now())
    units = [a["unit"] for a in found["assignments"]]
    who.require_any(READ_ROLES, [found["org"], *units], "read an instruction")
    return web.json_response(found)


async def get_matter_timeline(request: web.Request) -> web.Response:
    """A standalone matter's chain (an instruction on an incident is on the incident's)."""
    who = await principal(request)
    rt = runtime(request)
    instruction_id = int(request.match_info["id"])
    async with rt.pool.acquire() as conn:
        found = await service.instruction(conn, instruction_id, rt.clock.now())
        who.require(READ_ROLES, found["org"], "read a matter's timeline")
        entries = await service.matter_entries(conn, instruction_id)
    if found["incident_id"] is not None:
        raise errors.NotFound(
            f"instruction {instruction_id} is on incident {found['incident_id']}: read "
            f"/api/v1/incidents/{found['incident_id']}/timeline",
            incident_id=found["incident_id"],
        )
    return web.json_response(
        {
            "instruction_id": instruction_id,
            "entries": [
                {
                    "seq": e.seq,
                    "kind": str(e.kind),
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "source": str(e.source),
                    "body": e.body,
                    "prev_hash": e.prev_hash.hex(),
                    "hash": e.hash.hex(),
                }
                for e in entries
            ],
        }
    )


async def get_assignments(request: web.Request) -> web.Response:
    """A unit's open assignments (``unit``, default the token's organisation)."""
    who = await principal(request)
    unit = request.query.get("unit") or who.org_path
    if not unit:
        raise errors.SchemaViolation("name the unit: ?unit=<org path>", field="unit")
    who.require(READ_ROLES, unit, "list a unit's assignments")
    rt = runtime(request)
    async with rt.pool.acquire() as conn:
        found = await service.open_of_unit(conn, unit, rt.clock.now())
    return web.json_response({"unit": unit, "assignments": found})


async def get_chase_list(request: web.Request) -> web.Response:
    """A supervisor's chase list (``supervisor``, default the token's person)."""
    who = await principal(request)
    supervisor = request.query.get("supervisor") or who.person_id
    if not supervisor:
        raise errors.SchemaViolation(
            "name the supervisor: ?supervisor=<person id>", field="supervisor"
        )
    if supervisor != who.person_id:
        who.require({auth.Role.LEADER, auth.Role.REVIEWER}, None, "read another's chase list")
    rt = runtime(request)
    async with rt.pool.acquire() as conn:
        found = await service.chase_list(conn, supervisor, rt.clock.now())
    if supervisor != who.person_id:
        found = [a for a in found if who.covers(a["assigned_by"])]
    return web.json_response({"supervisor": supervisor, "assignments": found})


def _time_param(request: web.Request, name: str) -> datetime:
    text = request.query.get(name)
    try:
        value = datetime.fromisoformat(text) if text else None
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise errors.SchemaViolation(
            f"`{name}` must be an RFC 3339 time with an offset, e.g. 2026-11-01T00:00:00+08:00",
            field=name,
        )
    return value


async def get_figures(request: web.Request) -> web.Response:
    """Supervision figures of an organisation's subtree for assignments first due in
    ``[from, to)``."""
    who = await principal(request)
    org = request.query.get("org") or who.org_path
    if not org:
        raise errors.SchemaViolation("name the organisation: ?org=<org path>", field="org")
    who.require(READ_ROLES, org, "read supervision figures")
    start, end = _time_param(request, "from"), _time_param(request, "to")
    if end <= start:
        raise errors.SchemaViolation("`to` must be after `from`", field="to")
    rt = runtime(request)
    async with rt.pool.acquire() as conn:
        found = await service.figures_for(conn, org, start, end, rt.clock.now())
    return web.json_response(
        {"org": org, "from": start.isoformat(), "to": end.isoformat(), **msgspec.to_builtins(found)}
    )
