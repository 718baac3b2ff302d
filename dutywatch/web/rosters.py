"""HTTP for the duty directory: organisations, people, contact methods, rosters and their
parts (rotations, layers, overrides, swaps), holiday calendars; expanded shifts, iCalendar
exports and "who is on duty".

Who may change what: an administrator anything; a leader (带班领导 token) the organisations,
people and rosters of their own subtree; a person their own contact methods. Anyone
authenticated may read rosters, shifts and who is on duty (neighbouring duty rooms need to know
whom to call); contact methods and the audit are for the organisation's own staff.

Bodies are decoded and validated in one step into the types below; an error names the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import msgspec
from aiohttp import web
from msgspec import UNSET, Meta, UnsetType

from dutywatch import auth, errors
from dutywatch.contracts import AwareTime, ChangeSource, OrgPath, decode_as
from dutywatch.orgs import store as orgs
from dutywatch.orgs.store import ContactKind
from dutywatch.rosters import reading, store
from dutywatch.rosters.audit import Change
from dutywatch.rosters.ical import render_ics
from dutywatch.rosters.model import DayKind, Role
from dutywatch.rosters.rules import Shift, parent_of
from dutywatch.rosters.validation import parse_handoff, parse_shift_length
from dutywatch.web.app import READ_ROLES, principal, runtime

_T = TypeVar("_T")

#: A leader manages the rosters, people and organisations of their subtree (admins pass too).
MANAGE_ROLES = {auth.Role.LEADER}
#: Longest interval the shifts and iCalendar endpoints expand in one request.
MAX_RANGE = timedelta(days=92)
#: A person's own shifts as JSON: from now this far ahead, unless ``from``/``to`` say.
MY_SHIFTS_AHEAD = timedelta(days=14)
#: The duty outlook: gaps looked for this many hours ahead by default, at most a week; the
#: next shift of a slot is looked for a week beyond that.
OUTLOOK_HOURS = 24
OUTLOOK_MAX_HOURS = 168
OUTLOOK_BEYOND = timedelta(days=7)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/orgs", post_org)
    r.add_get("/api/v1/orgs/{path}", get_org)
    r.add_patch("/api/v1/orgs/{path}", patch_org)
    r.add_delete("/api/v1/orgs/{path}", delete_org)

    r.add_get("/api/v1/people", get_people)
    r.add_post("/api/v1/people", post_person)
    r.add_get("/api/v1/people/{person}/shifts.ics", get_person_ics)
    r.add_get("/api/v1/people/{person}/shifts", get_person_shifts)
    r.add_get("/api/v1/people/{person}", get_person)
    r.add_patch("/api/v1/people/{person}", patch_person)
    r.add_delete("/api/v1/people/{person}", delete_person)
    r.add_get("/api/v1/people/{person}/contacts", get_contacts)
    r.add_post("/api/v1/people/{person}/contacts", post_contact)
    r.add_patch("/api/v1/people/{person}/contacts/{id:\\d{1,18}}", patch_contact)
    r.add_delete("/api/v1/people/{person}/contacts/{id:\\d{1,18}}", delete_contact)

    r.add_get("/api/v1/holiday-calendars", get_calendars)
    r.add_get("/api/v1/holiday-calendars/{calendar}", get_calendar)
    r.add_put("/api/v1/holiday-calendars/{calendar}", put_calendar)

    r.add_get("/api/v1/rosters", get_rosters)
    r.add_post("/api/v1/rosters", post_roster)
    r.add_get("/api/v1/rosters/{roster:\\d{1,18}}.ics", get_roster_ics)
    r.add_get("/api/v1/rosters/{roster:\\d{1,18}}", get_roster)
    r.add_patch("/api/v1/rosters/{roster:\\d{1,18}}", patch_roster)
    r.add_delete("/api/v1/rosters/{roster:\\d{1,18}}", delete_roster)
    r.add_get("/api/v1/rosters/{roster:\\d{1,18}}/shifts", get_shifts)
    r.add_get("/api/v1/rosters/{roster:\\d{1,18}}/audit", get_audit)
    r.add_post("/api/v1/rosters/{roster:\\d{1,18}}/rotations", post_rotation)
    r.add_get("/api/v1/rosters/{roster:\\d{1,18}}/rotations/{id:\\d{1,18}}", get_rotation)
    r.add_patch("/api/v1/rosters/{roster:\\d{1,18}}/rotations/{id:\\d{1,18}}", patch_rotation)
    r.add_delete("/api/v1/rosters/{roster:\\d{1,18}}/rotations/{id:\\d{1,18}}", delete_rotation)
    r.add_post("/api/v1/rosters/{roster:\\d{1,18}}/layers", post_layer)
    r.add_get("/api/v1/rosters/{roster:\\d{1,18}}/layers/{id:\\d{1,18}}", get_layer)
    r.add_patch("/api/v1/rosters/{roster:\\d{1,18}}/layers/{id:\\d{1,18}}", patch_layer)
    r.add_delete("/api/v1/rosters/{roster:\\d{1,18}}/layers/{id:\\d{1,18}}", delete_layer)
    r.add_get("/api/v1/rosters/{roster:\\d{1,18}}/overrides", get_overrides)
    r.add_post("/api/v1/rosters/{roster:\\d{1,18}}/overrides", post_override)
    r.add_get("/api/v1/rosters/{roster:\\d{1,18}}/overrides/{id:\\d{1,18}}", get_override)
    r.add_patch("/api/v1/rosters/{roster:\\d{1,18}}/overrides/{id:\\d{1,18}}", patch_override)
    r.add_delete("/api/v1/rosters/{roster:\\d{1,18}}/overrides/{id:\\d{1,18}}", delete_override)
    r.add_get("/api/v1/rosters/{roster:\\d{1,18}}/swaps", get_swaps)
    r.add_post("/api/v1/rosters/{roster:\\d{1,18}}/swaps", post_swap)
    r.add_get("/api/v1/rosters/{roster:\\d{1,18}}/swaps/{id:\\d{1,18}}", get_swap)
    r.add_delete("/api/v1/rosters/{roster:\\d{1,18}}/swaps/{id:\\d{1,18}}", delete_swap)

    r.add_get("/api/v1/oncall", get_oncall)
    r.add_get("/api/v1/oncall/overview", get_oncall_overview)


# ------------------------------------------------------------------------ request bodies

PersonId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
AdminCode = Annotated[str, Meta(pattern=r"^[0-9]{6}([0-9]{3})?$")]
Phone = Annotated[str, Meta(pattern=r"^\+?[0-9][0-9 -]{3,30}$")]
Zone = Annotated[str, Meta(min_length=1, max_length=64)]
Slot = Annotated[int, Meta(ge=0, le=8)]
SlotCount = Annotated[int, Meta(ge=1, le=9)]
Priority = Annotated[int, Meta(ge=-1000, le=1000)]
Reason = Annotated[str, Meta(max_length=500)]
RotationName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
CalendarId = Annotated[str, Meta(pattern=r"^[a-z0-9_-]{1,64}$")]


class _Body(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    def changed(self) -> dict[str, Any]:
        """The fields a PATCH body sets (absent ones are UNSET)."""
        return {
            name: getattr(self, name)
            for name in self.__struct_fields__
            if getattr(self, name) is not UNSET
        }


class OrgIn(_Body):
    path: OrgPath
    name: Name
    admin_code: AdminCode | None = None
    tz: Zone = "Asia/Shanghai"


class OrgPatch(_Body):
    name: Name | UnsetType = UNSET
    admin_code: AdminCode | UnsetType | None = UNSET
    tz: Zone | UnsetType = UNSET


class PersonIn(_Body):
    id: PersonId
    name: Name
    org: OrgPath
    phone: Phone | None = None


class PersonPatch(_Body):
    name: Name | UnsetType = UNSET
    org: OrgPath | UnsetType = UNSET
    phone: Phone | UnsetType | None = UNSET


class ContactIn(_Body):
    kind: ContactKind
    address: Annotated[str, Meta(min_length=1, max_length=500)]
    priority: Annotated[int, Meta(ge=0, le=99)] = 0


class ContactPatch(_Body):
    kind: ContactKind | UnsetType = UNSET
    address: Annotated[str, Meta(min_length=1, max_length=500)] | UnsetType = UNSET
    priority: Annotated[int, Meta(ge=0, le=99)] | UnsetType = UNSET


class CalendarIn(_Body):
    name: Name
    holidays: list[date] = msgspec.field(default_factory=list)
    makeup_workdays: list[date] = msgspec.field(default_factory=list)


class RosterIn(_Body):
    org: OrgPath
    name: Annotated[str, Meta(max_length=200)] = ""
    tz: Zone | None = None
    calendar: CalendarId | None = None
    slots: dict[Role, SlotCount] = msgspec.field(
        default_factory=lambda: {Role.DUTY_OFFICER: 1, Role.LEADER_ON_DUTY: 1}
    )
    removed: list[PersonId] = msgspec.field(default_factory=list)


class RosterPatch(_Body):
    name: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    tz: Zone | UnsetType = UNSET
    calendar: CalendarId | UnsetType | None = UNSET
    slots: dict[Role, SlotCount] | UnsetType = UNSET
    removed: list[PersonId] | UnsetType = UNSET


class RotationIn(_Body):
    name: RotationName
    people: Annotated[list[PersonId], Meta(min_length=1, max_length=1000)]
    shift_length: Annotated[str, Meta(min_length=2, max_length=10)]
    handoff: Annotated[str, Meta(min_length=5, max_length=5)]
    start: date


class RotationPatch(_Body):
    name: RotationName | UnsetType = UNSET
    people: Annotated[list[PersonId], Meta(min_length=1, max_length=1000)] | UnsetType = UNSET
    shift_length: Annotated[str, Meta(min_length=2, max_length=10)] | UnsetType = UNSET
    handoff: Annotated[str, Meta(min_length=5, max_length=5)] | UnsetType = UNSET
    start: date | UnsetType = UNSET


class LayerIn(_Body):
    rotation_id: Annotated[int, Meta(ge=1)]
    role: Role
    slot: Slot = 0
    days: DayKind = DayKind.EVERY_DAY
    priority: Priority = 0


class LayerPatch(_Body):
    rotation_id: Annotated[int, Meta(ge=1)] | UnsetType = UNSET
    role: Role | UnsetType = UNSET
    slot: Slot | UnsetType = UNSET
    days: DayKind | UnsetType = UNSET
    priority: Priority | UnsetType = UNSET


class OverrideIn(_Body):
    role: Role
    person_id: PersonId
    starts_at: AwareTime
    ends_at: AwareTime
    slot: Slot = 0
    replaces: PersonId | None = None
    reason: Reason = ""

    def spec(self) -> store.OverrideSpec:
        return store.OverrideSpec(
            role=self.role,
            person_id=self.person_id,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            slot=self.slot,
            replaces=self.replaces,
            reason=self.reason,
        )


class OverridePatch(_Body):
    role: Role | UnsetType = UNSET
    person_id: PersonId | UnsetType = UNSET
    starts_at: AwareTime | UnsetType = UNSET
    ends_at: AwareTime | UnsetType = UNSET
    slot: Slot | UnsetType = UNSET
    replaces: PersonId | UnsetType | None = UNSET
    reason: Reason | UnsetType = UNSET


class SwapIn(_Body):
    first: OverrideIn
    second: OverrideIn
    approved_by: PersonId
    reason: Reason = ""


# ------------------------------------------------------------------------------- helpers


async def _body(request: web.Request, body_type: type[_T]) -> _T:
    return decode_as(body_type, await request.read())


def _change(request: web.Request, who: auth.Principal) -> Change:
    rt = runtime(request)
    return Change(
        actor=who.actor,
        source=ChangeSource.HTTP,
        at=rt.clock.now(),
        subject_prefix=rt.settings.subject_prefix,
    )


def _id(request: web.Request, name: str = "id") -> int:
    return int(request.match_info[name])


def _rename(fields: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    return {names.get(k, k): v for k, v in fields.items()}


def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status, dumps=_dumps)


def _dumps(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _done(request: web.Request) -> None:
    """Wake the outbox relay: the change queued a roster event."""
    runtime(request).relay_wake.set()


async def _roster_org(request: web.Request, roster_id: int) -> str:
    async with runtime(request).pool.acquire() as conn:
        org = await store.queries.val(conn, "roster_org", roster_id)
    if org is None:
        raise errors.NotFound(f"roster {roster_id} does not exist")
    return str(org)


async def _manage_roster(request: web.Request, action: str) -> tuple[auth.Principal, int]:
    """The caller, if they may change this roster, and the roster id."""
    who = await principal(request)
    roster_id = _id(request, "roster")
    who.require(MANAGE_ROLES, await _roster_org(request, roster_id), action)
    return who, roster_id


# ---------------------------------------------------------------------------- organisations


def _org_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return dict(row)


def _require_parent(who: auth.Principal, path: str, action: str) -> None:
    """Creating or deleting an organisation is managing its parent (the top: admins only)."""
    parent = parent_of(path)
    who.require(MANAGE_ROLES if parent else set(), parent, action)


async def post_org(request: web.Request) -> web.Response:
    who = await principal(request)
    body = await _body(request, OrgIn)
    _require_parent(who, body.path, "create organisation")
    async with runtime(request).pool.acquire() as conn:
        await orgs.create_org(
            conn,
            _change(request, who),
            path=body.path,
            name=body.name,
            admin_code=body.admin_code,
            tz=body.tz,
        )
        return _json(_org_json(await orgs.get_org(conn, body.path)), 201)


async def get_org(request: web.Request) -> web.Response:
    await principal(request)
    async with runtime(request).pool.acquire() as conn:
        return _json(_org_json(await orgs.get_org(conn, request.match_info["path"])))


async def patch_org(request: web.Request) -> web.Response:
    who = await principal(request)
    path = request.match_info["path"]
    who.require(MANAGE_ROLES, path, "change organisation")
    body = await _body(request, OrgPatch)
    async with runtime(request).pool.acquire() as conn:
        await orgs.update_org(conn, _change(request, who), path, body.changed())
        return _json(_org_json(await orgs.get_org(conn, path)))


async def delete_org(request: web.Request) -> web.Response:
    who = await principal(request)
    path = request.match_info["path"]
    _require_parent(who, path, "delete organisation")
    async with runtime(request).pool.acquire() as conn:
        await orgs.delete_org(conn, _change(request, who), path)
    return web.Response(status=204)


# ------------------------------------------------------------------------------- people


def _person_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "org": row["org_path"], "phone": row["phone"]}


async def get_people(request: web.Request) -> web.Response:
    who = await principal(request)
    org = request.query.get("org") or (None if who.role is auth.Role.ADMIN else who.org_path)
    who.require(READ_ROLES, org, "list people")
    async with runtime(request).pool.acquire() as conn:
        found = await orgs.list_people(conn, org)
    return _json({"people": [_person_json(p) for p in found]})


async def post_person(request: web.Request) -> web.Response:
    who = await principal(request)
    body = await _body(request, PersonIn)
    who.require(MANAGE_ROLES, body.org, "register person")
    async with runtime(request).pool.acquire() as conn:
        await orgs.create_person(
            conn,
            _change(request, who),
            person_id=body.id,
            name=body.name,
            org_path=body.org,
            phone=body.phone,
        )
        return _json(_person_json(await orgs.get_person(conn, body.id)), 201)


async def _person(request: web.Request) -> dict[str, Any]:
    async with runtime(request).pool.acquire() as conn:
        return await orgs.get_person(conn, request.match_info["person"])


async def get_person(request: web.Request) -> web.Response:
    who = await principal(request)
    person = await _person(request)
    who.require(READ_ROLES, person["org_path"], "read person")
    return _json(_person_json(person))


async def patch_person(request: web.Request) -> web.Response:
    who = await principal(request)
    person = await _person(request)
    who.require(MANAGE_ROLES, person["org_path"], "change person")
    body = await _body(request, PersonPatch)
    fields = _rename(body.changed(), {"org": "org_path"})
    if "org_path" in fields:
        who.require(MANAGE_ROLES, fields["org_path"], "move person")
    async with runtime(request).pool.acquire() as conn:
        await orgs.update_person(conn, _change(request, who), person["id"], fields)
        return _json(_person_json(await orgs.get_person(conn, person["id"])))


async def delete_person(request: web.Request) -> web.Response:
    who = await principal(request)
    person = await _person(request)
    who.require(MANAGE_ROLES, person["org_path"], "delete person")
    async with runtime(request).pool.acquire() as conn:
        await orgs.delete_person(conn, _change(request, who), person["id"])
    return web.Response(status=204)


# --------------------------------------------------------------------------- contact methods


def _may_change_contacts(who: auth.Principal, person: Mapping[str, Any]) -> None:
    """A person keeps their own contact methods; a leader those of their subtree."""
    if who.person_id is not None and who.person_id == person["id"]:
        return
    who.require(MANAGE_ROLES, person["org_path"], "change contact methods")


def _contact_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "kind", "address", "priority")}


async def get_contacts(request: web.Request) -> web.Response:
    who = await principal(request)
    person = await _person(request)
    if who.person_id != person["id"]:
        who.require(READ_ROLES, person["org_path"], "read contact methods")
    async with runtime(request).pool.acquire() as conn:
        found = await orgs.list_contacts(conn, person["id"])
    return _json({"person_id": person["id"], "contacts": [_contact_json(c) for c in found]})


async def post_contact(request: web.Request) -> web.Response:
    who = await principal(request)
    person = await _person(request)
    _may_change_contacts(who, person)
    body = await _body(request, ContactIn)
    async with runtime(request).pool.acquire() as conn:
        contact_id = await orgs.create_contact(
            conn,
            _change(request, who),
            person["id"],
            kind=body.kind,
            address=body.address,
            priority=body.priority,
        )
        return _json(_contact_json(await orgs.get_contact(conn, person["id"], contact_id)), 201)


async def patch_contact(request: web.Request) -> web.Response:
    who = await principal(request)
    person = await _person(request)
    _may_change_contacts(who, person)
    body = await _body(request, ContactPatch)
    async with runtime(request).pool.acquire() as conn:
        await orgs.update_contact(
            conn, _change(request, who), person["id"], _id(request), body.changed()
        )
        return _json(_contact_json(await orgs.get_contact(conn, person["id"], _id(request))))


async def delete_contact(request: web.Request) -> web.Response:
    who = await principal(request)
    person = await _person(request)
    _may_change_contacts(who, person)
    async with runtime(request).pool.acquire() as conn:
        await orgs.delete_contact(conn, _change(request, who), person["id"], _id(request))
    return web.Response(status=204)


# ------------------------------------------------------------------------ holiday calendars


async def get_calendars(request: web.Request) -> web.Response:
    await principal(request)
    async with runtime(request).pool.acquire() as conn:
        found = await store.list_calendars(conn)
    return _json({"calendars": found})


async def get_calendar(request: web.Request) -> web.Response:
    await principal(request)
    async with runtime(request).pool.acquire() as conn:
        return _json(await store.get_calendar(conn, request.match_info["calendar"]))


async def put_calendar(request: web.Request) -> web.Response:
    """Create or replace a calendar (admins: it is shared by every roster that follows it)."""
    who = await principal(request)
    who.require(set(), None, "load a holiday calendar")
    calendar_id = request.match_info["calendar"]
    if not re.fullmatch(r"[a-z0-9_-]{1,64}", calendar_id):
        raise errors.SchemaViolation(
            "a calendar id is 1 to 64 of a-z, 0-9, _ and -, e.g. cn", field="id"
        )
    body = await _body(request, CalendarIn)
    async with runtime(request).pool.acquire() as conn:
        created = await store.put_calendar(
            conn,
            _change(request, who),
            calendar_id,
            name=body.name,
            holidays=body.holidays,
            makeup_workdays=body.makeup_workdays,
        )
        found = await store.get_calendar(conn, calendar_id)
    _done(request)
    return _json(found, 201 if created else 200)


# ------------------------------------------------------------------------------- rosters


def roster_json(
    roster: store.RosterRecord, swaps: Iterable[store.SwapRecord] = ()
) -> dict[str, Any]:
    return {
        **roster.snapshot(),
        "version": roster.version,
        "created_by": roster.created_by,
        "created_at": roster.created_at.isoformat(),
        "updated_at": roster.updated_at.isoformat(),
        "rotations": [r.snapshot() for r in roster.rotations],
        "layers": [layer.snapshot() for layer in roster.layers],
        "overrides": [o.snapshot() for o in roster.overrides],
        "swaps": [s.snapshot() for s in swaps],
    }


async def _roster_document(request: web.Request, roster_id: int) -> dict[str, Any]:
    """The roster with the overrides and swaps not yet over."""
    now = runtime(request).clock.now()
    async with runtime(request).pool.acquire() as conn:
        roster = await store.get(conn, roster_id, window=(now, store.FAR_FUTURE))
        swaps = await store.list_swaps(conn, roster_id, now)
    return roster_json(roster, swaps)


async def get_rosters(request: web.Request) -> web.Response:
    await principal(request)
    org = request.query.get("org")
    async with runtime(request).pool.acquire() as conn:
        found = await store.list_rosters(conn, org)
    return _json(
        {
            "rosters": [
                {
                    "id": r["id"],
                    "org": r["org_path"],
                    "name": r["name"],
                    "tz": r["tz"],
                    "calendar": r["calendar_id"],
                    "version": r["version"],
                    "updated_at": r["updated_at"].isoformat(),
                }
                for r in found
            ]
        }
    )


async def post_roster(request: web.Request) -> web.Response:
    who = await principal(request)
    body = await _body(request, RosterIn)
    who.require(MANAGE_ROLES, body.org, "create roster")
    async with runtime(request).pool.acquire() as conn:
        roster_id = await store.create_roster(
            conn,
            _change(request, who),
            org_path=body.org,
            name=body.name,
            tz=body.tz,
            calendar_id=body.calendar,
            slots=body.slots,
            removed=body.removed,
        )
    _done(request)
    return _json(await _roster_document(request, roster_id), 201)


async def get_roster(request: web.Request) -> web.Response:
    await principal(request)
    return _json(await _roster_document(request, _id(request, "roster")))


async def patch_roster(request: web.Request) -> web.Response:
    who, roster_id = await _manage_roster(request, "change roster")
    body = await _body(request, RosterPatch)
    async with runtime(request).pool.acquire() as conn:
        await store.update_roster(
            conn,
            _change(request, who),
            roster_id,
            _rename(body.changed(), {"calendar": "calendar_id"}),
        )
    _done(request)
    return _json(await _roster_document(request, roster_id))


async def delete_roster(request: web.Request) -> web.Response:
    who, roster_id = await _manage_roster(request, "delete roster")
    async with runtime(request).pool.acquire() as conn:
        await store.delete_roster(conn, _change(request, who), roster_id)
    _done(request)
    return web.Response(status=204)


async def get_audit(request: web.Request) -> web.Response:
    who = await principal(request)
    roster_id = _id(request, "roster")
    async with runtime(request).pool.acquire() as conn:
        org = await store.org_of(conn, roster_id)
        who.require(READ_ROLES, org, "read roster history")
        entries = await store.audit_of(conn, roster_id)
    return _json(
        {
            "roster_id": roster_id,
            "entries": [
                {
                    **entry,
                    "at": entry["at"].isoformat(),
                }
                for entry in entries
            ],
        }
    )


# --- rotations


def _shift_length(text: str) -> timedelta:
    try:
        return parse_shift_length(text)
    except ValueError as exc:
        raise errors.SchemaViolation(str(exc), field="shift_length") from None


def _handoff(text: str) -> time:
    try:
        return parse_handoff(text)
    except ValueError as exc:
        raise errors.SchemaViolation(str(exc), field="handoff") from None


async def post_rotation(request: web.Request) -> web.Response:
    who, roster_id = await _manage_roster(request, "change roster")
    body = await _body(request, RotationIn)
    async with runtime(request).pool.acquire() as conn:
        rotation_id = await store.add_rotation(
            conn,
            _change(request, who),
            roster_id,
            name=body.name,
            people=body.people,
            shift_length=_shift_length(body.shift_length),
            handoff=_handoff(body.handoff),
            start=body.start,
        )
        rotation = await _rotation(conn, roster_id, rotation_id)
    _done(request)
    return _json(rotation.snapshot(), 201)


async def _rotation(conn: Any, roster_id: int, rotation_id: int) -> store.RotationRecord:
    found = (await store.get(conn, roster_id, window=(store.FAR_PAST, store.FAR_PAST))).rotation(
        rotation_id
    )
    if found is None:
        raise errors.NotFound(f"roster {roster_id} has no rotation {rotation_id}")
    return found


async def get_rotation(request: web.Request) -> web.Response:
    await principal(request)
    async with runtime(request).pool.acquire() as conn:
        rotation = await _rotation(conn, _id(request, "roster"), _id(request))
    return _json(rotation.snapshot())


async def patch_rotation(request: web.Request) -> web.Response:
    who, roster_id = await _manage_roster(request, "change roster")
    fields = (await _body(request, RotationPatch)).changed()
    if "shift_length" in fields:
        fields["shift_length"] = _shift_length(fields["shift_length"])
    if "handoff" in fields:
        fields["handoff"] = _handoff(fields["handoff"])
    async with runtime(request).pool.acquire() as conn:
        await store.update_rotation(conn, _change(request, who), roster_id, _id(request), fields)
        rotation = await _rotation(conn, roster_id, _id(request))
    _done(request)
    return _json(rotation.snapshot())


async def delete_rotation(request: web.Request) -> web.Response:
    who, roster_id = await _manage_roster(request, "change roster")
    async with runtime(request).pool.acquire() as conn:
        await store.delete_rotation(conn, _change(request, who), roster_id, _id(request))
    _done(request)
    return web.Response(status=204)


# --- layers


async def _layer(conn: Any, roster_id: int, layer_id: int) -> store.LayerRecord:
    found = (await store.get(conn, roster_id, window=(store.FAR_PAST, store.FAR_PAST))).layer(
        layer_id
    )
    if found is None:
        raise errors.NotFound(f"roster {roster_id} has no layer {layer_id}")
    return found


async def post_layer(request: web.Request) -> web.Response:
    who, roster_id = await _manage_roster(request, "change roster")
    body = await _body(request, LayerIn)
    async with runtime(request).pool.acquire() as conn:
        layer_id = await store.add_layer(
            conn,
            _change(request, who),
            roster_id,
            rotation_id=body.rotation_id,
            role=body.role,
            slot=body.slot,
            days=body.days,
            priority=body.priority,
        )
        layer = await _layer(conn, roster_id, layer_id)
    _done(request)
    return _json(layer.snapshot(), 201)


async def get_layer(request: web.Request) -> web.Response:
    await principal(request)
    async with runtime(request).pool.acquire() as conn:
        layer = await _layer(conn, _id(request, "roster"), _id(request))
    return _json(layer.snapshot())


async def patch_layer(request: web.Request) -> web.Response:
    who, roster_id = await _manage_roster(request, "change roster")
    fields = (await _body(request, LayerPatch)).changed()
    async with runtime(request).pool.acquire() as conn:
        await store.update_layer(conn, _change(request, who), roster_id, _id(request), fields)
        layer = await _layer(conn, roster_id, _id(request))
    _done(request)
    return _json(layer.snapshot())


async def delete_layer(request: web.Request) -> web.Response:
    who, roster_id = await _manage_roster(request, "change roster")
    async with runtime(request).pool.acquire() as conn:
        await store.delete_layer(conn, _change(request, who), roster_id, _id(request))
    _done(request)
    return web.Response(status=204)


# --- overrides and swaps


async def get_overrides(request: web.Request) -> web.Response:
    await principal(request)
    roster_id = _id(request, "roster")
    async with runtime(request).pool.acquire() as conn:
        roster = await store.get(conn, roster_id, window=(store.FAR_PAST, store.FAR_PAST))
        start, end = _range(request, ZoneInfo(roster.tz))
        found = await store.list_overrides(conn, roster_id, start, end)
    return _json({"roster_id": roster_id, "overrides": [o.snapshot() for o in found]})


async def post_override(request: web.Request) -> web.Response:
    who, roster_id = await _manage_roster(request, "change roster")
    body = await _body(request, OverrideIn)
    async with runtime(request).pool.acquire() as conn:
        override_id = await store.add_override(conn, _change(request, who), roster_id, body.spec())
        override = await store.get_override(conn, roster_id, override_id)
    _done(request)
    return _json(override.snapshot(), 201)


async def get_override(request: web.Request) -> web.Response:
    await principal(request)
    async with runtime(request).pool.acquire() as conn:
        override = await store.get_override(conn, _id(request, "roster"), _id(request))
    return _json(override.snapshot())


async def patch_override(request: web.Request) -> web.Response:
    who, roster_id = await _manage_roster(request, "change roster")
    fields = (await _body(request, OverridePatch)).changed()
    async with runtime(request).pool.acquire() as conn:
        await store.update_override(conn, _change(request, who), roster_id, _id(request), fields)
        override = await store.get_override(conn, roster_id, _id(request))
    _done(request)
    return _json(override.snapshot())


async def delete_override(request: web.Request) -> web.Response:
    who, roster_id = await _manage_roster(request, "change roster")
    async with runtime(request).pool.acquire() as conn:
        await store.delete_override(conn, _change(request, who), roster_id, _id(request))
    _done(request)
    return web.Response(status=204)


async def get_swaps(request: web.Request) -> web.Response:
    await principal(request)
    roster_id = _id(request, "roster")
    since = time_param(request, "from", ZoneInfo("UTC")) or store.FAR_PAST
    async with runtime(request).pool.acquire() as conn:
        await store.get(conn, roster_id, window=(store.FAR_PAST, store.FAR_PAST))
        found = await store.list_swaps(conn, roster_id, since)
    return _json({"roster_id": roster_id, "swaps": [s.snapshot() for s in found]})


async def post_swap(request: web.Request) -> web.Response:
    who, roster_id = await _manage_roster(request, "record swap")
    body = await _body(request, SwapIn)
    async with runtime(request).pool.acquire() as conn:
        swap_id = await store.add_swap(
            conn,
            _change(request, who),
            roster_id,
            first=body.first.spec(),
            second=body.second.spec(),
            approved_by=body.approved_by,
            reason=body.reason,
        )
        swap = await store.get_swap(conn, roster_id, swap_id)
    _done(request)
    return _json(swap.snapshot(), 201)


async def get_swap(request: web.Request) -> web.Response:
    await principal(request)
    async with runtime(request).pool.acquire() as conn:
        swap = await store.get_swap(conn, _id(request, "roster"), _id(request))
    return _json(swap.snapshot())


async def delete_swap(request: web.Request) -> web.Response:
    who, roster_id = await _manage_roster(request, "undo swap")
    async with runtime(request).pool.acquire() as conn:
        await store.delete_swap(conn, _change(request, who), roster_id, _id(request))
    _done(request)
    return web.Response(status=204)


# ----------------------------------------------------------------- shifts, iCalendar, on call


def time_param(request: web.Request, name: str, zone: ZoneInfo) -> datetime | None:
    """An RFC 3339 time with an offset, or a date (local midnight in ``zone``; for ``to``,
    the end of that day)."""
    text = request.query.get(name)
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + (timedelta(days=1) if name == "to" else timedelta())
            return datetime.combine(day, time(0), zone).astimezone(UTC)
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise errors.RejectedInput(
            f"`{name}` must be an RFC 3339 time with an offset or a date YYYY-MM-DD, got {text!r}",
            field=name,
        )
    return value.astimezone(UTC)


def _range(
    request: web.Request,
    zone: ZoneInfo,
    *,
    before: timedelta = timedelta(0),
    after: timedelta = timedelta(days=7),
) -> tuple[datetime, datetime]:
    """``from``/``to`` (defaults around now); refused when longer than 92 days."""
    start = time_param(request, "from", zone) or runtime(request).clock.now() - before
    end = time_param(request, "to", zone) or start + before + after
    if end <= start:
        raise errors.RejectedInput("`to` must be after `from`", field="to")
    if end - start > MAX_RANGE:
        raise errors.RejectedInput(
            f"at most {MAX_RANGE.days} days per request; ask for the rest separately",
            field="to",
        )
    return start, end


def shift_json(shift: Shift, zone: ZoneInfo, people: Mapping[str, Any]) -> dict[str, Any]:
    person = people.get(shift.person_id)
    return {
        "role": shift.role,
        "slot": shift.slot,
        "person_id": shift.person_id,
        "name": person["name"] if person else None,
        "starts_at": shift.starts_at.astimezone(zone).isoformat(),
        "ends_at": shift.ends_at.astimezone(zone).isoformat(),
    }


async def get_shifts(request: web.Request) -> web.Response:
    await principal(request)
    roster_id = _id(request, "roster")
    async with runtime(request).pool.acquire() as conn:
        head = await store.get(conn, roster_id, window=(store.FAR_PAST, store.FAR_PAST))
        zone = ZoneInfo(head.tz)
        start, end = _range(request, zone)
        _, shifts = await reading.shifts_of(conn, [roster_id], start, end)
        people = await store.people(conn, (s.person_id for s in shifts))
    return _json(
        {
            "roster_id": roster_id,
            "org": head.org_path,
            "tz": head.tz,
            "from": start.astimezone(zone).isoformat(),
            "to": end.astimezone(zone).isoformat(),
            "shifts": [shift_json(s, zone, people) for s in shifts],
        }
    )


def _ics(body: bytes, filename: str) -> web.Response:
    return web.Response(
        body=body,
        content_type="text/calendar",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def get_roster_ics(request: web.Request) -> web.Response:
    """The roster's shifts from a week ago to 85 days ahead (or ``from``/``to``)."""
    await principal(request)
    rt = runtime(request)
    roster_id = _id(request, "roster")
    async with rt.pool.acquire() as conn:
        head = await store.get(conn, roster_id, window=(store.FAR_PAST, store.FAR_PAST))
        start, end = _range(
            request, ZoneInfo(head.tz), before=timedelta(days=7), after=timedelta(days=85)
        )
        _, shifts = await reading.shifts_of(conn, [roster_id], start, end)
        people = await store.people(conn, (s.person_id for s in shifts))
    body = render_ics(
        shifts,
        calendar_name=f"{head.name or head.org_path} 值班表",
        person_names={pid: row["name"] for pid, row in people.items()},
        now=rt.clock.now(),
    )
    return _ics(body, f"roster-{roster_id}.ics")


async def _person_shifts(
    request: web.Request, *, before: timedelta, after: timedelta
) -> tuple[dict[str, Any], ZoneInfo, datetime, datetime, list[Shift]]:
    """The person, their organisation's zone, the interval asked for (``from``/``to``, else
    ``before`` and ``after`` now) and their shifts on every roster that names them."""
    async with runtime(request).pool.acquire() as conn:
        person = await orgs.get_person(conn, request.match_info["person"])
        zone = ZoneInfo((await orgs.get_org(conn, person["org_path"]))["tz"])
        start, end = _range(request, zone, before=before, after=after)
        roster_ids = await store.roster_ids_of_person(conn, person["id"])
        _, shifts = await reading.shifts_of(conn, roster_ids, start, end)
    return person, zone, start, end, [s for s in shifts if s.person_id == person["id"]]


async def get_person_ics(request: web.Request) -> web.Response:
    """One person's shifts on every roster that names them."""
    await principal(request)
    person, _zone, _start, _end, mine = await _person_shifts(
        request, before=timedelta(days=7), after=timedelta(days=85)
    )
    body = render_ics(
        mine,
        calendar_name=f"{person['name']} 值班",
        person_names={person["id"]: person["name"]},
        now=runtime(request).clock.now(),
    )
    return _ics(body, f"{person['id']}-shifts.ics")


async def get_person_shifts(request: web.Request) -> web.Response:
    """One person's shifts as JSON, from now to 14 days ahead (or ``from``/``to``): the
    console's "my shifts"."""
    await principal(request)
    person, zone, start, end, mine = await _person_shifts(
        request, before=timedelta(0), after=MY_SHIFTS_AHEAD
    )
    names = {person["id"]: {"name": person["name"]}}
    return _json(
        {
            "person_id": person["id"],
            "name": person["name"],
            "org": person["org_path"],
            "tz": zone.key,
            "from": start.astimezone(zone).isoformat(),
            "to": end.astimezone(zone).isoformat(),
            "shifts": [{**shift_json(s, zone, names), "org": s.org_path} for s in mine],
        }
    )


async def get_oncall(request: web.Request) -> web.Response:
    """Who holds each role slot of one organisation's roster at ``at`` (default now)."""
    # Any authenticated caller may ask: neighbouring duty rooms need to know whom to call.
    await principal(request)
    org = request.query.get("org")
    if not org:
        raise errors.RejectedInput("query parameter `org` is required", field="org")
    rt = runtime(request)
    at = time_param(request, "at", ZoneInfo("UTC")) or rt.clock.now()
    if "at" in request.query and len(request.query["at"]) == 10:
        raise errors.RejectedInput("`at` must be a time with an offset, not a date", field="at")
    async with rt.pool.acquire() as conn:
        if not await orgs.known_orgs(conn, [org]):
            raise errors.NotFound(f"organisation {org!r} is not registered", field="org")
        tz, found = await reading.on_duty(conn, org, at)
    zone = ZoneInfo(tz or "UTC")
    return _json(
        {
            "org": org,
            "at": at.isoformat(),
            "on_duty": [
                {
                    **shift_json(d.shift, zone, {d.shift.person_id: {"name": d.name}}),
                    "phone": d.phone,
                }
                for d in found
            ],
        }
    )


def _outlook_shift(shift: Shift | None, zone: ZoneInfo, people: Mapping[str, Any]) -> Any:
    if shift is None:
        return None
    person = people.get(shift.person_id)
    return {**shift_json(shift, zone, people), "phone": person["phone"] if person else None}


async def get_oncall_overview(request: web.Request) -> web.Response:
    """Every organisation of a subtree (default the caller's) with, per role slot of each of
    its rosters, who is on duty now, who is next and the gaps in the next ``hours`` (24)."""
    who = await principal(request)
    org = request.query.get("org") or who.org_path
    who.require(READ_ROLES, org, "read the duty outlook")
    text = request.query.get("hours", str(OUTLOOK_HOURS))
    if not text.isdigit() or not 1 <= int(text) <= OUTLOOK_MAX_HOURS:
        raise errors.RejectedInput(
            f"`hours` must be a whole number from 1 to {OUTLOOK_MAX_HOURS}, got {text!r}",
            field="hours",
        )
    horizon = timedelta(hours=int(text))
    rt = runtime(request)
    at = rt.clock.now()
    async with rt.pool.acquire() as conn:
        if not await orgs.known_orgs(conn, [org]):
            raise errors.NotFound(f"organisation {org!r} is not registered", field="org")
        found, people = await reading.outlook_under(
            conn, org, at, horizon=horizon, lookahead=horizon + OUTLOOK_BEYOND
        )
    return _json(
        {
            "org": org,
            "at": at.isoformat(),
            "until": (at + horizon).isoformat(),
            "orgs": [
                {
                    "path": o.path,
                    "name": o.name,
                    "parent": o.parent_path,
                    "gap": o.gap,
                    "rosters": [
                        {
                            "id": r.roster.id,
                            "name": r.roster.name,
                            "tz": r.roster.tz,
                            "slots": [
                                {
                                    "role": s.role,
                                    "slot": s.slot,
                                    "now": _outlook_shift(s.now, zone, people),
                                    "next": _outlook_shift(s.next, zone, people),
                                    "gaps": [
                                        {
                                            "starts_at": g.starts_at.astimezone(zone).isoformat(),
                                            "ends_at": g.ends_at.astimezone(zone).isoformat(),
                                        }
                                        for g in s.gaps
                                    ],
                                }
                                for s in r.slots
                            ],
                        }
                        for r in o.rosters
                        for zone in [ZoneInfo(r.roster.tz)]
                    ],
                }
                for o in found
            ],
        }
    )
