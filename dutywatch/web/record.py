"""HTTP for the rest of the record: notes (with attachments' metadata), corrections,
leaders' instructions (批示) and pages' delivery receipts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from uuid import UUID

import msgspec
from aiohttp import web
from msgspec import Meta

from dutywatch import auth
from dutywatch.contracts import decode_as
from dutywatch.delivery import receipts
from dutywatch.incidents import notes
from dutywatch.incidents.record import add_fact
from dutywatch.incidents.rules import Fact, Incident
from dutywatch.web.app import ACT_ROLES, principal, request_source, require_on_incident, runtime

#: Who may write on an incident's record: those who act on it.
NOTE_ROLES = ACT_ROLES


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/incidents/{id:\\d{1,18}}/notes", post_note)
    app.router.add_post("/api/v1/incidents/{id:\\d{1,18}}/instructions", post_instruction)
    app.router.add_post("/api/v1/receipts", post_receipts)


class NoteBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /api/v1/incidents/{id}/notes``: a note, or a correction of entry ``corrects``."""

    text: notes.Text
    attachments: Annotated[list[notes.Attachment], Meta(max_length=50)] = []
    corrects: Annotated[int, Meta(ge=1)] | None = None
    command_id: UUID | None = None


class InstructionBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /api/v1/incidents/{id}/instructions``: a leader's instruction (批示), given by
    the leader or recorded by the duty officer who took it down (``leader`` names them)."""

    text: notes.Text
    leader: Annotated[str, Meta(min_length=1, max_length=100)] | None = None
    command_id: UUID | None = None


class ReceiptsBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /api/v1/receipts``: delivery attempts reported by a channel or gateway."""

    receipts: Annotated[list[receipts.Receipt], Meta(min_length=1, max_length=1000)]


async def _add(
    request: web.Request,
    who: auth.Principal,
    decide: Callable[[Incident], Fact],
    *,
    verb: str,
    command_id: UUID | None,
) -> web.Response:
    rt = runtime(request)

    def authorize(incident: Incident) -> None:
        require_on_incident(who, NOTE_ROLES, incident, verb)

    result = await add_fact(
        rt.pool,
        rt.settings,
        int(request.match_info["id"]),
        decide,
        verb=verb,
        actor=who.actor,
        source=request_source(request),
        now=rt.clock.now(),
        authorize=authorize,
        command_id=command_id,
    )
    rt.relay_wake.set()
    return web.json_response(result, status=200 if result["replayed"] else 201)


async def post_note(request: web.Request) -> web.Response:
    who = await principal(request)
    body = decode_as(NoteBody, await request.read())

    def decide(incident: Incident) -> Fact:
        return notes.note(
            incident, text=body.text, attachments=body.attachments, corrects=body.corrects
        )

    verb = "correct" if body.corrects is not None else "note"
    return await _add(request, who, decide, verb=verb, command_id=body.command_id)


async def post_instruction(request: web.Request) -> web.Response:
    who = await principal(request)
    body = decode_as(InstructionBody, await request.read())

    def decide(incident: Incident) -> Fact:
        return notes.instruction(incident, text=body.text, leader=body.leader or who.actor)

    return await _add(request, who, decide, verb="instruct", command_id=body.command_id)


async def post_receipts(request: web.Request) -> web.Response:
    """Channels and gateways report delivery attempts (administrator tokens for now)."""
    who = await principal(request)
    who.require({auth.Role.ADMIN}, None, "report delivery receipts")
    body = decode_as(ReceiptsBody, await request.read())
    rt = runtime(request)
    results = await receipts.record(
        rt.pool, body.receipts, actor=who.actor, source=request_source(request), now=rt.clock.now()
    )
    return web.json_response({"receipts": results})
