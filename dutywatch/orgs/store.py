"""Reading and writing the organisation tree, its people and their contact methods.

Every change is audited (``roster_audit``, see :mod:`dutywatch.rosters.audit`) in its
transaction. Deleting something still in use (an organisation with people, a person in a
rotation) is a conflict, never a cascade: rosters and incidents keep their references.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dutywatch import errors
from dutywatch.contracts import RosterChange
from dutywatch.orgs.kinds import ContactKind
from dutywatch.rosters.audit import AuditEntity, Change, record, translated
from dutywatch.rosters.rules import parent_of
from dutywatch.rosters.validation import time_zone_problem
from dutywatch.sql import Conn, Queries

queries = Queries(__package__)

__all__ = ["ContactKind"]  # kept importable from here; defined in orgs.kinds (pure)


async def known_orgs(conn: Conn, paths: Iterable[str]) -> set[str]:
    wanted = sorted(set(paths))
    if not wanted:
        return set()
    return {row["path"] for row in await queries.many(conn, "known_orgs", wanted)}


async def list_orgs(conn: Conn) -> list[dict[str, Any]]:
    return [dict(row) for row in await queries.many(conn, "list_orgs")]


async def get_org(conn: Conn, path: str) -> dict[str, Any]:
    row = await queries.one(conn, "org", path)
    if row is None:
        raise errors.NotFound(f"organisation {path!r} is not registered", field="org")
    return dict(row)


def _check_tz(tz: str) -> None:
    problem = time_zone_problem(tz)
    if problem:
        raise errors.SchemaViolation(problem, field="tz")


async def create_org(
    conn: Conn,
    change: Change,
    *,
    path: str,
    name: str,
    admin_code: str | None = None,
    tz: str = "Asia/Shanghai",
) -> None:
    """Register an organisation below its parent (the path minus its last token)."""
    _check_tz(tz)
    with translated():
        async with conn.transaction():
            parent = parent_of(path)
            if parent is not None and await queries.one(conn, "org", parent) is None:
                raise errors.UnknownReference(
                    f"parent organisation {parent!r} is not registered; create it first",
                    field="path",
                )
            await queries.exec(conn, "create_org", path, name, parent, admin_code, tz)
            await record(
                conn,
                change,
                entity=AuditEntity.ORG,
                entity_id=path,
                action=RosterChange.CREATED,
                org_path=path,
                after=await get_org(conn, path),
            )


ORG_FIELDS = {"name", "admin_code", "tz"}


async def update_org(conn: Conn, change: Change, path: str, fields: Mapping[str, Any]) -> None:
    with translated():
        async with conn.transaction():
            before = await get_org(conn, path)
            new = {**before, **{k: v for k, v in fields.items() if k in ORG_FIELDS}}
            _check_tz(new["tz"])
            await queries.exec(conn, "update_org", path, new["name"], new["admin_code"], new["tz"])
            await record(
                conn,
                change,
                entity=AuditEntity.ORG,
                entity_id=path,
                action=RosterChange.UPDATED,
                org_path=path,
                before=before,
                after=await get_org(conn, path),
            )


async def delete_org(conn: Conn, change: Change, path: str) -> None:
    """Delete an organisation nothing refers to (no children, people, rosters, incidents)."""
    with translated():
        async with conn.transaction():
            before = await get_org(conn, path)
            await queries.exec(conn, "delete_org", path)
            await record(
                conn,
                change,
                entity=AuditEntity.ORG,
                entity_id=path,
                action=RosterChange.DELETED,
                org_path=path,
                before=before,
            )


# --- people


async def get_person(conn: Conn, person_id: str) -> dict[str, Any]:
    row = await queries.one(conn, "person", person_id)
    if row is None:
        raise errors.NotFound(f"person {person_id!r} is not registered", field="person_id")
    return dict(row)


async def list_people(conn: Conn, under: str | None) -> list[dict[str, Any]]:
    return [dict(row) for row in await queries.many(conn, "list_people", under)]


async def create_person(
    conn: Conn, change: Change, *, person_id: str, name: str, org_path: str, phone: str | None
) -> None:
    with translated():
        async with conn.transaction():
            await queries.exec(conn, "create_person", person_id, name, org_path, phone)
            await record(
                conn,
                change,
                entity=AuditEntity.PERSON,
                entity_id=person_id,
                action=RosterChange.CREATED,
                org_path=org_path,
                after=await get_person(conn, person_id),
            )


PERSON_FIELDS = {"name", "org_path", "phone"}


async def update_person(
    conn: Conn, change: Change, person_id: str, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """Change a person; returns the person as they were (callers authorise both orgs)."""
    with translated():
        async with conn.transaction():
            before = await get_person(conn, person_id)
            new = {**before, **{k: v for k, v in fields.items() if k in PERSON_FIELDS}}
            await queries.exec(
                conn, "update_person", person_id, new["name"], new["org_path"], new["phone"]
            )
            await record(
                conn,
                change,
                entity=AuditEntity.PERSON,
                entity_id=person_id,
                action=RosterChange.UPDATED,
                org_path=new["org_path"],
                before=before,
                after=await get_person(conn, person_id),
            )
    return before


async def delete_person(conn: Conn, change: Change, person_id: str) -> None:
    """Delete a person nothing refers to; take them off rotations (or the roster) first."""
    with translated():
        async with conn.transaction():
            before = await get_person(conn, person_id)
            before["contacts"] = await list_contacts(conn, person_id)
            await queries.exec(conn, "delete_person", person_id)
            await record(
                conn,
                change,
                entity=AuditEntity.PERSON,
                entity_id=person_id,
                action=RosterChange.DELETED,
                org_path=before["org_path"],
                before=before,
            )


# --- contact methods


async def list_contacts(conn: Conn, person_id: str) -> list[dict[str, Any]]:
    return [dict(row) for row in await queries.many(conn, "contacts_of", person_id)]


async def get_contact(conn: Conn, person_id: str, contact_id: int) -> dict[str, Any]:
    row = await queries.one(conn, "contact", contact_id, person_id)
    if row is None:
        raise errors.NotFound(f"person {person_id!r} has no contact method {contact_id}")
    return dict(row)


async def create_contact(
    conn: Conn,
    change: Change,
    person_id: str,
    *,
    kind: ContactKind,
    address: str,
    priority: int = 0,
) -> int:
    with translated():
        async with conn.transaction():
            person = await get_person(conn, person_id)
            contact_id: int = await queries.val(
                conn, "create_contact", person_id, str(kind), address, priority
            )
            await record(
                conn,
                change,
                entity=AuditEntity.CONTACT_METHOD,
                entity_id=contact_id,
                action=RosterChange.CREATED,
                org_path=person["org_path"],
                after=await get_contact(conn, person_id, contact_id),
            )
    return contact_id


CONTACT_FIELDS = {"kind", "address", "priority"}


async def update_contact(
    conn: Conn, change: Change, person_id: str, contact_id: int, fields: Mapping[str, Any]
) -> None:
    with translated():
        async with conn.transaction():
            person = await get_person(conn, person_id)
            before = await get_contact(conn, person_id, contact_id)
            new = {**before, **{k: v for k, v in fields.items() if k in CONTACT_FIELDS}}
            await queries.exec(
                conn,
                "update_contact",
                contact_id,
                person_id,
                str(new["kind"]),
                new["address"],
                new["priority"],
            )
            await record(
                conn,
                change,
                entity=AuditEntity.CONTACT_METHOD,
                entity_id=contact_id,
                action=RosterChange.UPDATED,
                org_path=person["org_path"],
                before=before,
                after=await get_contact(conn, person_id, contact_id),
            )


async def delete_contact(conn: Conn, change: Change, person_id: str, contact_id: int) -> None:
    with translated():
        async with conn.transaction():
            person = await get_person(conn, person_id)
            before = await get_contact(conn, person_id, contact_id)
            await queries.exec(conn, "delete_contact", contact_id, person_id)
            await record(
                conn,
                change,
                entity=AuditEntity.CONTACT_METHOD,
                entity_id=contact_id,
                action=RosterChange.DELETED,
                org_path=person["org_path"],
                before=before,
            )
