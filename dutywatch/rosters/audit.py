"""Who changed the duty directory: one append-only audit row per change, in its transaction.

Every change to a roster or its parts, a holiday calendar, an organisation, a person or a
contact method goes through :func:`record`. A roster change also queues a
:class:`~dutywatch.contracts.RosterEventV1` in the outbox, with the audit row id as its
``event_id``. If the audit insert fails, the change fails with it (STYLE rule 5).
"""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg

from dutywatch import errors
from dutywatch.contracts import ChangeSource, RosterChange, RosterEntity, RosterEventV1
from dutywatch.db import OUTBOX_CHANNEL
from dutywatch.outbox.store import enqueue
from dutywatch.sql import Conn, Queries

queries = Queries(__package__)


class AuditEntity(enum.StrEnum):
    """Mirrors the PostgreSQL enum ``audit_entity`` (migrations/0002_rosters.sql)."""

    ROSTER = "roster"
    ROTATION = "rotation"
    LAYER = "layer"
    OVERRIDE = "override"
    SWAP = "swap"
    HOLIDAY_CALENDAR = "holiday_calendar"
    ORG = "org"
    PERSON = "person"
    CONTACT_METHOD = "contact_method"


@dataclass(frozen=True, kw_only=True)
class Change:
    """Who makes a change, through which interface, at what business time."""

    actor: str
    source: ChangeSource
    at: datetime
    #: First token of the event subject (``Settings.subject_prefix``).
    subject_prefix: str = "dutywatch"

    def subject(self, org_path: str) -> str:
        return ".".join((self.subject_prefix, "event", *org_path.split("."), "roster"))


def jsonable(value: Any) -> Any:
    """Rows and values as JSON: times in ISO 8601, durations in seconds, enums as text."""
    if isinstance(value, asyncpg.Record):
        value = dict(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items) if isinstance(value, set | frozenset) else items
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.value
    return value


async def record(
    conn: Conn,
    change: Change,
    *,
    entity: AuditEntity,
    entity_id: str | int,
    action: RosterChange,
    org_path: str,
    before: Any = None,
    after: Any = None,
    roster_id: int | None = None,
    version: int | None = None,
    affects: tuple[datetime | None, datetime | None] = (None, None),
) -> int:
    """Write the audit row; for a roster change also queue its event. Returns the audit id."""
    audit_id: int = await queries.val(
        conn,
        "insert_audit",
        change.at,
        change.actor,
        str(change.source),
        str(entity),
        str(entity_id),
        str(action),
        roster_id,
        org_path,
        version,
        None if before is None else json.dumps(jsonable(before), ensure_ascii=False),
        None if after is None else json.dumps(jsonable(after), ensure_ascii=False),
    )
    if roster_id is not None and version is not None:
        await enqueue(
            conn,
            change.subject(org_path),
            RosterEventV1(
                event_id=audit_id,
                roster_id=roster_id,
                org=org_path,
                version=version,
                change=action,
                entity=RosterEntity(str(entity)),
                entity_id=str(entity_id),
                actor=change.actor,
                source=change.source,
                at=change.at,
                affects_from=affects[0],
                affects_to=affects[1],
            ),
            change.at,
        )
        # Wake the outbox relay of every replica (delivered at commit, dropped on rollback).
        await conn.execute("SELECT pg_notify($1, '')", OUTBOX_CHANNEL)
    return audit_id


#: Named constraints -> the request field a client should fix.
CONSTRAINT_FIELDS: dict[str, str] = {
    "orgs_pkey": "path",
    "orgs_path_check": "path",
    "orgs_check": "path",
    "orgs_parent_path_fkey": "path",
    "people_pkey": "id",
    "people_id_check": "id",
    "people_org_path_fkey": "org",
    "contact_methods_unique": "address",
    "contact_methods_address_fits_kind": "address",
    "contact_methods_address_check": "address",
    "contact_methods_priority_check": "priority",
    "holiday_calendars_id_check": "id",
    "holiday_calendars_name_check": "name",
    "rosters_one_per_org": "org",
    "rosters_org_path_fkey": "org",
    "rosters_calendar_id_fkey": "calendar",
    "rosters_tz_check": "tz",
    "rosters_name_check": "name",
    "roster_slots_people_check": "slots",
    "roster_removed_person_id_fkey": "removed",
    "rotations_name_unique": "name",
    "rotations_name_check": "name",
    "rotations_shift_seconds_check": "shift_length",
    "rotation_members_person_id_fkey": "people",
    "rotation_members_position_check": "people",
    "roster_layers_rotation_id_roster_id_fkey": "rotation_id",
    "roster_layers_unambiguous": "priority",
    "roster_layers_slot_check": "slot",
    "roster_layers_priority_check": "priority",
    "roster_overrides_person_id_fkey": "person_id",
    "roster_overrides_replaces_fkey": "replaces",
    "roster_overrides_interval": "ends_at",
    "roster_overrides_replaces_someone_else": "replaces",
    "roster_overrides_slot_check": "slot",
    "roster_overrides_reason_check": "reason",
    "roster_swaps_approved_by_fkey": "approved_by",
}


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Turn a constraint PostgreSQL enforced into the error a client can act on."""
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as exc:
        name = getattr(exc, "constraint_name", None) or ""
        field = CONSTRAINT_FIELDS.get(name)
        detail = getattr(exc, "detail", None) or str(exc)
        if isinstance(exc, asyncpg.UniqueViolationError):
            raise errors.Conflict(f"already exists: {detail}", field=field) from None
        if isinstance(exc, asyncpg.ForeignKeyViolationError):
            if "is still referenced" in detail:
                raise errors.Conflict(
                    f"still in use, remove what refers to it first: {detail}", field=field
                ) from None
            raise errors.UnknownReference(
                f"refers to something not registered: {detail}", field=field
            ) from None
        raise errors.SchemaViolation(
            f"refused by the database ({name}): {detail}", field=field
        ) from None
