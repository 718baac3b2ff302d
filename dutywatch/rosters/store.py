"""Rosters in PostgreSQL: loaded as model values, changed with an audit row and an event.

Reading: :func:`load` returns :class:`RosterRecord` s (what the HTTP API shows) whose
:meth:`RosterRecord.model` is the pure :class:`~dutywatch.rosters.model.Roster` the rules expand.
One query per call whatever the number of rosters, so the pager can afford it per batch. A
``window`` limits the overrides (and holiday days) read to those that can matter inside it.

Writing: every change locks the roster row, applies the change, raises the roster's version,
checks the roster as a whole (:func:`dutywatch.rosters.validation.problems`), writes the audit
row and queues the roster event, all in one transaction (a savepoint when the caller already
has one, as the CSV import does): a refused check or a failed audit undoes the change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg

from dutywatch import errors
from dutywatch.contracts import RosterChange
from dutywatch.rosters.audit import AuditEntity, Change, record, translated
from dutywatch.rosters.expansion import apply_swap
from dutywatch.rosters.model import (
    DayKind,
    HolidayCalendar,
    Layer,
    Override,
    Role,
    Roster,
    Rotation,
    Swap,
)
from dutywatch.rosters.validation import (
    MAX_SHIFT,
    format_handoff,
    format_shift_length,
    problems,
    shift_length_problem,
    time_zone_problem,
)
from dutywatch.sql import Conn, Queries

queries = Queries(__package__)

FAR_PAST = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
DEFAULT_SLOTS: Mapping[Role, int] = {Role.DUTY_OFFICER: 1, Role.LEADER_ON_DUTY: 1}


# ------------------------------------------------------------------------------- records


@dataclass(frozen=True, kw_only=True)
class RotationRecord:
    id: int
    name: str
    people: tuple[str, ...]
    shift_length: timedelta
    handoff: time
    start: date

    def model(self) -> Rotation:
        return Rotation(
            id=str(self.id),
            people=self.people,
            shift_length=self.shift_length,
            handoff=self.handoff,
            start=self.start,
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "people": list(self.people),
            "shift_length": format_shift_length(self.shift_length),
            "handoff": format_handoff(self.handoff),
            "start": self.start.isoformat(),
        }


@dataclass(frozen=True, kw_only=True)
class LayerRecord:
    id: int
    rotation_id: int
    role: Role
    slot: int
    days: DayKind
    priority: int

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rotation_id": self.rotation_id,
            "role": str(self.role),
            "slot": self.slot,
            "days": str(self.days),
            "priority": self.priority,
        }


@dataclass(frozen=True, kw_only=True)
class OverrideRecord:
    id: int
    role: Role
    slot: int
    person_id: str
    starts_at: datetime
    ends_at: datetime
    replaces: str | None
    reason: str
    created_by: str
    created_at: datetime
    swap_id: int | None = None

    def model(self) -> Override:
        return Override(
            id=str(self.id),
            role=self.role,
            person_id=self.person_id,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            slot=self.slot,
            replaces=self.replaces,
            reason=self.reason,
            swap_id=None if self.swap_id is None else str(self.swap_id),
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": str(self.role),
            "slot": self.slot,
            "person_id": self.person_id,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "replaces": self.replaces,
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "swap_id": self.swap_id,
        }


@dataclass(frozen=True, kw_only=True)
class SwapRecord:
    id: int
    first: OverrideRecord
    second: OverrideRecord
    approved_by: str
    reason: str
    created_by: str
    created_at: datetime

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "first": self.first.snapshot(),
            "second": self.second.snapshot(),
            "approved_by": self.approved_by,
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, kw_only=True)
class RosterRecord:
    id: int
    org_path: str
    name: str
    tz: str
    calendar_id: str | None
    version: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    slots: Mapping[Role, int] = field(default_factory=dict)
    removed: tuple[str, ...] = ()
    rotations: tuple[RotationRecord, ...] = ()
    layers: tuple[LayerRecord, ...] = ()
    #: Only those overlapping the window the record was loaded for.
    overrides: tuple[OverrideRecord, ...] = ()
    calendar: HolidayCalendar = field(default_factory=HolidayCalendar)

    def rotation(self, rotation_id: int) -> RotationRecord | None:
        return next((r for r in self.rotations if r.id == rotation_id), None)

    def layer(self, layer_id: int) -> LayerRecord | None:
        return next((layer for layer in self.layers if layer.id == layer_id), None)

    def model(self) -> Roster:
        rotations = {r.id: r.model() for r in self.rotations}
        return Roster(
            id=str(self.id),
            org_path=self.org_path,
            tz=self.tz,
            slots=dict(self.slots),
            layers=tuple(
                Layer(
                    id=str(layer.id),
                    role=layer.role,
                    rotation=rotations[layer.rotation_id],
                    days=layer.days,
                    slot=layer.slot,
                    priority=layer.priority,
                )
                for layer in self.layers
            ),
            overrides=tuple(o.model() for o in self.overrides),
            calendar=self.calendar,
            removed=frozenset(self.removed),
        )

    def snapshot(self) -> dict[str, Any]:
        """The roster's own fields (not its parts), as recorded in the audit."""
        return {
            "id": self.id,
            "org": self.org_path,
            "name": self.name,
            "tz": self.tz,
            "calendar": self.calendar_id,
            "slots": {str(role): n for role, n in sorted(self.slots.items())},
            "removed": list(self.removed),
        }


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _override_of(o: Mapping[str, Any] | asyncpg.Record) -> OverrideRecord:
    def at(value: Any) -> datetime:
        return value if isinstance(value, datetime) else _time(value)

    return OverrideRecord(
        id=o["id"],
        role=Role(o["role"]),
        slot=o["slot"],
        person_id=o["person_id"],
        starts_at=at(o["starts_at"]),
        ends_at=at(o["ends_at"]),
        replaces=o["replaces"],
        reason=o["reason"],
        created_by=o["created_by"],
        created_at=at(o["created_at"]),
        swap_id=o["swap_id"],
    )


def _record_of(row: asyncpg.Record) -> RosterRecord:
    days = json.loads(row["days"])
    return RosterRecord(
        id=row["id"],
        org_path=row["org_path"],
        name=row["name"],
        tz=row["tz"],
        calendar_id=row["calendar_id"],
        version=row["version"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        slots={Role(k): v for k, v in json.loads(row["slots"]).items()},
        removed=tuple(row["removed"]),
        rotations=tuple(
            RotationRecord(
                id=r["id"],
                name=r["name"],
                people=tuple(r["people"]),
                shift_length=timedelta(seconds=r["shift_seconds"]),
                handoff=time.fromisoformat(r["handoff"]),
                start=date.fromisoformat(r["start_date"]),
            )
            for r in json.loads(row["rotations"])
        ),
        layers=tuple(
            LayerRecord(
                id=layer["id"],
                rotation_id=layer["rotation_id"],
                role=Role(layer["role"]),
                slot=layer["slot"],
                days=DayKind(layer["days"]),
                priority=layer["priority"],
            )
            for layer in json.loads(row["layers"])
        ),
        overrides=tuple(_override_of(o) for o in json.loads(row["overrides"])),
        calendar=HolidayCalendar(
            holidays=frozenset(date.fromisoformat(d) for d, makeup in days if not makeup),
            makeup_workdays=frozenset(date.fromisoformat(d) for d, makeup in days if makeup),
        ),
    )


async def load(
    conn: Conn,
    *,
    ids: Iterable[int] = (),
    orgs: Iterable[str] = (),
    window: tuple[datetime, datetime] | None = None,
) -> list[RosterRecord]:
    """Rosters by id or organisation, ordered by organisation.

    With a ``window``, only the overrides overlapping it are read, and the holiday days that
    can decide a shift covering it (a shift starts at most a year before the window).
    """
    start, end = window or (FAR_PAST, FAR_FUTURE)
    rows = await queries.many(
        conn,
        "rosters_by",
        sorted(set(ids)),
        sorted(set(orgs)),
        start,
        end,
        (start - MAX_SHIFT - timedelta(days=2)).date(),
        (end + timedelta(days=2)).date(),
    )
    return [_record_of(row) for row in rows]


async def get(
    conn: Conn, roster_id: int, *, window: tuple[datetime, datetime] | None = None
) -> RosterRecord:
    found = await load(conn, ids=[roster_id], window=window)
    if not found:
        raise errors.NotFound(f"roster {roster_id} does not exist")
    return found[0]


async def rosters_of_orgs(
    conn: Conn, org_paths: Iterable[str], *, window: tuple[datetime, datetime] | None = None
) -> list[Roster]:
    """The model of every roster of these organisations, for the rules."""
    return [r.model() for r in await load(conn, orgs=org_paths, window=window)]


async def list_rosters(conn: Conn, under: str | None = None) -> list[dict[str, Any]]:
    return [dict(row) for row in await queries.many(conn, "list_rosters", under)]


async def roster_ids_of_person(conn: Conn, person_id: str) -> list[int]:
    return [row["id"] for row in await queries.many(conn, "rosters_of_person", person_id)]


async def people(conn: Conn, ids: Iterable[str]) -> dict[str, asyncpg.Record]:
    rows = await queries.many(conn, "people_by_ids", sorted(set(ids)))
    return {row["id"]: row for row in rows}


async def list_overrides(
    conn: Conn, roster_id: int, start: datetime, end: datetime
) -> list[OverrideRecord]:
    rows = await queries.many(conn, "list_overrides", roster_id, start, end)
    return [_override_of(row) for row in rows]


async def list_swaps(conn: Conn, roster_id: int, since: datetime) -> list[SwapRecord]:
    """Swaps whose first override ends after ``since``."""
    return [
        await _swap(conn, roster_id, row)
        for row in await queries.many(conn, "list_swaps", roster_id, since)
    ]


async def _swap(conn: Conn, roster_id: int, row: asyncpg.Record) -> SwapRecord:
    first = await queries.one(conn, "override", row["first_id"], roster_id)
    second = await queries.one(conn, "override", row["second_id"], roster_id)
    assert first is not None
    assert second is not None
    return SwapRecord(
        id=row["id"],
        first=_override_of(first),
        second=_override_of(second),
        approved_by=row["approved_by"],
        reason=row["reason"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


async def get_swap(conn: Conn, roster_id: int, swap_id: int) -> SwapRecord:
    row = await queries.one(conn, "swap", swap_id, roster_id)
    if row is None:
        raise errors.NotFound(f"roster {roster_id} has no swap {swap_id}")
    return await _swap(conn, roster_id, row)


async def get_override(conn: Conn, roster_id: int, override_id: int) -> OverrideRecord:
    row = await queries.one(conn, "override", override_id, roster_id)
    if row is None:
        raise errors.NotFound(f"roster {roster_id} has no override {override_id}")
    return _override_of(row)


async def org_of(conn: Conn, roster_id: int) -> str:
    """The organisation of a roster, or of a deleted roster from its history."""
    org = await queries.val(conn, "roster_org", roster_id) or await queries.val(
        conn, "audited_roster_org", roster_id
    )
    if org is None:
        raise errors.NotFound(f"roster {roster_id} does not exist")
    return str(org)


async def audit_of(conn: Conn, roster_id: int) -> list[dict[str, Any]]:
    rows = await queries.many(conn, "audit_of_roster", roster_id)
    return [
        {
            **dict(row),
            "before": json.loads(row["before"]) if row["before"] else None,
            "after": json.loads(row["after"]) if row["after"] else None,
        }
        for row in rows
    ]


# ------------------------------------------------------------------------------ changing


@dataclass(frozen=True)
class _Locked:
    id: int
    org_path: str
    version: int


async def _lock(conn: Conn, roster_id: int) -> _Locked:
    row = await queries.one(conn, "lock_roster", roster_id)
    if row is None:
        raise errors.NotFound(f"roster {roster_id} does not exist")
    return _Locked(row["id"], row["org_path"], row["version"])


async def _check(conn: Conn, roster_id: int, since: datetime) -> None:
    """Refuse the change if the roster it produced breaks a rule (from ``since`` on)."""
    roster = await get(conn, roster_id, window=(since, FAR_FUTURE))
    found = problems(roster.model())
    if found:
        raise errors.RosterInvalid(
            "; ".join(p.message for p in found), field=found[0].field, roster_id=roster_id
        )


async def _committed(
    conn: Conn,
    change: Change,
    locked: _Locked,
    *,
    entity: AuditEntity,
    entity_id: int | str,
    action: RosterChange,
    before: Any = None,
    after: Any = None,
    affects: tuple[datetime | None, datetime | None] = (None, None),
) -> int:
    version: int = await queries.val(conn, "bump_version", locked.id, change.at)
    since = min(change.at, affects[0]) if affects[0] else change.at
    await _check(conn, locked.id, since)
    return await record(
        conn,
        change,
        entity=entity,
        entity_id=entity_id,
        action=action,
        org_path=locked.org_path,
        before=before,
        after=after,
        roster_id=locked.id,
        version=version,
        affects=affects,
    )


def _check_tz(tz: str) -> None:
    problem = time_zone_problem(tz)
    if problem:
        raise errors.SchemaViolation(problem, field="tz")


def _unknown_fields(fields: Mapping[str, Any], allowed: set[str]) -> None:
    extra = set(fields) - allowed
    if extra:
        raise ValueError(f"cannot change {sorted(extra)}; allowed: {sorted(allowed)}")


async def _write_slots_and_removed(
    conn: Conn, roster_id: int, slots: Mapping[Role, int], removed: Sequence[str]
) -> None:
    await queries.exec(conn, "clear_slots", roster_id)
    for role, count in sorted(slots.items()):
        await queries.exec(conn, "insert_slot", roster_id, str(role), count)
    await queries.exec(conn, "clear_removed", roster_id)
    for person_id in sorted(set(removed)):
        await queries.exec(conn, "insert_removed", roster_id, person_id)


async def create_roster(
    conn: Conn,
    change: Change,
    *,
    org_path: str,
    name: str = "",
    tz: str | None = None,
    calendar_id: str | None = None,
    slots: Mapping[Role, int] = DEFAULT_SLOTS,
    removed: Sequence[str] = (),
) -> int:
    """A roster for ``org_path`` (one per organisation); ``tz`` defaults to the org's."""
    with translated():
        async with conn.transaction():
            org_tz = await queries.val(conn, "org_tz", org_path)
            if org_tz is None:
                raise errors.UnknownReference(
                    f"organisation {org_path!r} is not registered", field="org"
                )
            tz = tz or org_tz
            _check_tz(tz)
            roster_id: int = await queries.val(
                conn, "insert_roster", org_path, name, tz, calendar_id, change.actor, change.at
            )
            await _write_slots_and_removed(conn, roster_id, slots, removed)
            await _check(conn, roster_id, change.at)
            created = await get(conn, roster_id, window=(change.at, change.at))
            await record(
                conn,
                change,
                entity=AuditEntity.ROSTER,
                entity_id=roster_id,
                action=RosterChange.CREATED,
                org_path=org_path,
                after=created.snapshot(),
                roster_id=roster_id,
                version=1,
            )
    return roster_id


ROSTER_FIELDS = {"name", "tz", "calendar_id", "slots", "removed"}


async def update_roster(
    conn: Conn, change: Change, roster_id: int, fields: Mapping[str, Any]
) -> None:
    """Change some of ``name``, ``tz``, ``calendar_id``, ``slots``, ``removed``."""
    _unknown_fields(fields, ROSTER_FIELDS)
    with translated():
        async with conn.transaction():
            locked = await _lock(conn, roster_id)
            before = await get(conn, roster_id, window=(change.at, change.at))
            new = replace(
                before,
                name=fields.get("name", before.name),
                tz=fields.get("tz", before.tz),
                calendar_id=fields.get("calendar_id", before.calendar_id),
                slots=fields.get("slots", before.slots),
                removed=tuple(fields.get("removed", before.removed)),
            )
            _check_tz(new.tz)
            await queries.exec(conn, "update_roster", roster_id, new.name, new.tz, new.calendar_id)
            await _write_slots_and_removed(conn, roster_id, new.slots, new.removed)
            after = await get(conn, roster_id, window=(change.at, change.at))
            await _committed(
                conn,
                change,
                locked,
                entity=AuditEntity.ROSTER,
                entity_id=roster_id,
                action=RosterChange.UPDATED,
                before=before.snapshot(),
                after=after.snapshot(),
            )


async def delete_roster(conn: Conn, change: Change, roster_id: int) -> None:
    """Delete a roster with all its parts; the audit keeps what it was."""
    with translated():
        async with conn.transaction():
            locked = await _lock(conn, roster_id)
            before = await get(conn, roster_id, window=(change.at, FAR_FUTURE))
            snapshot = {
                **before.snapshot(),
                "rotations": [r.snapshot() for r in before.rotations],
                "layers": [layer.snapshot() for layer in before.layers],
                "overrides": [o.snapshot() for o in before.overrides],
            }
            # Swaps first: they refer to overrides without cascading.
            await queries.exec(conn, "delete_swaps_of_roster", roster_id)
            await queries.exec(conn, "delete_roster", roster_id)
            await record(
                conn,
                change,
                entity=AuditEntity.ROSTER,
                entity_id=roster_id,
                action=RosterChange.DELETED,
                org_path=locked.org_path,
                before=snapshot,
                roster_id=roster_id,
                version=locked.version + 1,
            )


# --- rotations


def _check_rotation(name: str, people: Sequence[str], shift_length: timedelta) -> None:
    if not people:
        raise errors.SchemaViolation("a rotation needs at least one person", field="people")
    if len(people) > 1000:
        raise errors.SchemaViolation("a rotation holds at most 1000 people", field="people")
    problem = shift_length_problem(shift_length)
    if problem:
        raise errors.SchemaViolation(problem, field="shift_length")


async def _write_members(conn: Conn, rotation_id: int, people: Sequence[str]) -> None:
    await queries.exec(conn, "clear_members", rotation_id)
    await queries.exec_many(
        conn, "insert_member", [(rotation_id, n, p) for n, p in enumerate(people)]
    )


async def add_rotation(
    conn: Conn,
    change: Change,
    roster_id: int,
    *,
    name: str,
    people: Sequence[str],
    shift_length: timedelta,
    handoff: time,
    start: date,
) -> int:
    _check_rotation(name, people, shift_length)
    with translated():
        async with conn.transaction():
            locked = await _lock(conn, roster_id)
            rotation_id: int = await queries.val(
                conn,
                "insert_rotation",
                roster_id,
                name,
                int(shift_length.total_seconds()),
                handoff,
                start,
            )
            await _write_members(conn, rotation_id, people)
            after = (await get(conn, roster_id, window=(change.at, change.at))).rotation(
                rotation_id
            )
            assert after is not None
            await _committed(
                conn,
                change,
                locked,
                entity=AuditEntity.ROTATION,
                entity_id=rotation_id,
                action=RosterChange.CREATED,
                after=after.snapshot(),
            )
    return rotation_id


ROTATION_FIELDS = {"name", "people", "shift_length", "handoff", "start"}


async def _rotation(conn: Conn, roster_id: int, rotation_id: int) -> RotationRecord:
    found = (await get(conn, roster_id, window=(FAR_PAST, FAR_PAST))).rotation(rotation_id)
    if found is None:
        raise errors.NotFound(f"roster {roster_id} has no rotation {rotation_id}")
    return found


async def update_rotation(
    conn: Conn, change: Change, roster_id: int, rotation_id: int, fields: Mapping[str, Any]
) -> None:
    _unknown_fields(fields, ROTATION_FIELDS)
    with translated():
        async with conn.transaction():
            locked = await _lock(conn, roster_id)
            before = await _rotation(conn, roster_id, rotation_id)
            new = replace(
                before,
                name=fields.get("name", before.name),
                people=tuple(fields.get("people", before.people)),
                shift_length=fields.get("shift_length", before.shift_length),
                handoff=fields.get("handoff", before.handoff),
                start=fields.get("start", before.start),
            )
            _check_rotation(new.name, new.people, new.shift_length)
            await queries.exec(
                conn,
                "update_rotation",
                rotation_id,
                roster_id,
                new.name,
                int(new.shift_length.total_seconds()),
                new.handoff,
                new.start,
            )
            if new.people != before.people:
                await _write_members(conn, rotation_id, new.people)
            await _committed(
                conn,
                change,
                locked,
                entity=AuditEntity.ROTATION,
                entity_id=rotation_id,
                action=RosterChange.UPDATED,
                before=before.snapshot(),
                after=(await _rotation(conn, roster_id, rotation_id)).snapshot(),
            )


async def delete_rotation(conn: Conn, change: Change, roster_id: int, rotation_id: int) -> None:
    """Delete a rotation no layer uses (a layer using it is a conflict: delete that first)."""
    with translated():
        async with conn.transaction():
            locked = await _lock(conn, roster_id)
            before = await _rotation(conn, roster_id, rotation_id)
            await queries.exec(conn, "delete_rotation", rotation_id, roster_id)
            await _committed(
                conn,
                change,
                locked,
                entity=AuditEntity.ROTATION,
                entity_id=rotation_id,
                action=RosterChange.DELETED,
                before=before.snapshot(),
            )


# --- layers


async def _layer(conn: Conn, roster_id: int, layer_id: int) -> LayerRecord:
    found = (await get(conn, roster_id, window=(FAR_PAST, FAR_PAST))).layer(layer_id)
    if found is None:
        raise errors.NotFound(f"roster {roster_id} has no layer {layer_id}")
    return found


async def add_layer(
    conn: Conn,
    change: Change,
    roster_id: int,
    *,
    rotation_id: int,
    role: Role,
    slot: int = 0,
    days: DayKind = DayKind.EVERY_DAY,
    priority: int = 0,
) -> int:
    with translated():
        async with conn.transaction():
            locked = await _lock(conn, roster_id)
            layer_id: int = await queries.val(
                conn, "insert_layer", roster_id, rotation_id, str(role), slot, str(days), priority
            )
            await _committed(
                conn,
                change,
                locked,
                entity=AuditEntity.LAYER,
                entity_id=layer_id,
                action=RosterChange.CREATED,
                after=(await _layer(conn, roster_id, layer_id)).snapshot(),
            )
    return layer_id


LAYER_FIELDS = {"rotation_id", "role", "slot", "days", "priority"}


async def update_layer(
    conn: Conn, change: Change, roster_id: int, layer_id: int, fields: Mapping[str, Any]
) -> None:
    _unknown_fields(fields, LAYER_FIELDS)
    with translated():
        async with conn.transaction():
            locked = await _lock(conn, roster_id)
            before = await _layer(conn, roster_id, layer_id)
            new = replace(before, **fields)
            await queries.exec(
                conn,
                "update_layer",
                layer_id,
                roster_id,
                new.rotation_id,
                str(new.role),
                new.slot,
                str(new.days),
                new.priority,
            )
            await _committed(
                conn,
                change,
                locked,
                entity=AuditEntity.LAYER,
                entity_id=layer_id,
                action=RosterChange.UPDATED,
                before=before.snapshot(),
                after=(await _layer(conn, roster_id, layer_id)).snapshot(),
            )


async def delete_layer(conn: Conn, change: Change, roster_id: int, layer_id: int) -> None:
    with translated():
        async with conn.transaction():
            locked = await _lock(conn, roster_id)
            before = await _layer(conn, roster_id, layer_id)
            await queries.exec(conn, "delete_layer", layer_id, roster_id)
            await _committed(
                conn,
                change,
                locked,
                entity=AuditEntity.LAYER,
                entity_id=layer_id,
                action=RosterChange.DELETED,
                before=before.snapshot(),
            )


# --- overrides


@dataclass(frozen=True, kw_only=True)
class OverrideSpec:
    """What a caller asks for: ``person_id`` holds ``slot`` of ``role`` over an interval."""

    role: Role
    person_id: str
    starts_at: datetime
    ends_at: datetime
    slot: int = 0
    replaces: str | None = None
    reason: str = ""


def _check_interval(starts_at: datetime, ends_at: datetime) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise errors.SchemaViolation("times need a UTC offset", field="starts_at")
    if ends_at <= starts_at:
        raise errors.SchemaViolation("an override must end after it starts", field="ends_at")
    if ends_at - starts_at > MAX_SHIFT:
        raise errors.SchemaViolation(
            "an override lasts at most 366 days; change the rotation for longer", field="ends_at"
        )


async def _refuse_overlap(
    conn: Conn, roster_id: int, spec: OverrideSpec, *, ignore: Sequence[int] = ()
) -> None:
    rows = await queries.many(
        conn,
        "overlapping_overrides",
        roster_id,
        str(spec.role),
        spec.slot,
        spec.starts_at,
        spec.ends_at,
        None,
    )
    clashes = [row for row in rows if row["id"] not in ignore]
    if clashes:
        row = clashes[0]
        raise errors.Conflict(
            f"override {row['id']} already gives slot {spec.slot} of {spec.role} to "
            f"{row['person_id']} from {row['starts_at'].isoformat()} to "
            f"{row['ends_at'].isoformat()}; change or delete it first",
            field="starts_at",
            override_id=row["id"],
        )


async def _insert_override(conn: Conn, change: Change, roster_id: int, spec: OverrideSpec) -> int:
    _check_interval(spec.starts_at, spec.ends_at)
    await _refuse_overlap(conn, roster_id, spec)
    override_id: int = await queries.val(
        conn,
        "insert_override",
        roster_id,
        str(spec.role),
        spec.slot,
        spec.person_id,
        spec.starts_at,
        spec.ends_at,
        spec.replaces,
        spec.reason,
        change.actor,
        change.at,
    )
    return override_id


async def add_override(conn: Conn, change: Change, roster_id: int, spec: OverrideSpec) -> int:
    with translated():
        async with conn.transaction():
            locked = await _lock(conn, roster_id)
            override_id = await _insert_override(conn, change, roster_id, spec)
            after = await get_override(conn, roster_id, override_id)
            await _committed(
                conn,
                change,
                locked,
                entity=AuditEntity.OVERRIDE,
                entity_id=override_id,
                action=RosterChange.CREATED,
                after=after.snapshot(),
                affects=(spec.starts_at, spec.ends_at),
            )
    return override_id


OVERRIDE_FIELDS = {"role", "slot", "person_id", "starts_at", "ends_at", "replaces", "reason"}


def _not_in_swap(override: OverrideRecord) -> None:
    if override.swap_id is not None:
        raise errors.Conflict(
            f"override {override.id} is half of swap {override.swap_id}; delete the swap and "
            "record a new one instead",
            swap_id=override.swap_id,
        )


async def update_override(
    conn: Conn, change: Change, roster_id: int, override_id: int, fields: Mapping[str, Any]
) -> None:
    _unknown_fields(fields, OVERRIDE_FIELDS)
    with translated():
        async with conn.transaction():
            locked = await _lock(conn, roster_id)
            before = await get_override(conn, roster_id, override_id)
            _not_in_swap(before)
            new = replace(before, **fields)
            _check_interval(new.starts_at, new.ends_at)
            spec = OverrideSpec(
                role=new.role,
                person_id=new.person_id,
                starts_at=new.starts_at,
                ends_at=new.ends_at,
                slot=new.slot,
                replaces=new.replaces,
                reason=new.reason,
            )
            await _refuse_overlap(conn, roster_id, spec, ignore=[override_id])
            await queries.exec(
                conn,
                "update_override",
                override_id,
                roster_id,
                str(new.role),
                new.slot,
                new.person_id,
                new.starts_at,
                new.ends_at,
                new.replaces,
                new.reason,
            )
            await _committed(
                conn,
                change,
                locked,
                entity=AuditEntity.OVERRIDE,
                entity_id=override_id,
                action=RosterChange.UPDATED,
                before=before.snapshot(),
                after=(await get_override(conn, roster_id, override_id)).snapshot(),
                affects=(
                    min(before.starts_at, new.starts_at),
                    max(before.ends_at, new.ends_at),
                ),
            )


async def delete_override(conn: Conn, change: Change, roster_id: int, override_id: int) -> None:
    with translated():
        async with conn.transaction():
            locked = await _lock(conn, roster_id)
            before = await get_override(conn, roster_id, override_id)
            _not_in_swap(before)
            await queries.exec(conn, "delete_overrides", [override_id], roster_id)
            await _committed(
                conn,
                change,
                locked,
                entity=AuditEntity.OVERRIDE,
                entity_id=override_id,
                action=RosterChange.DELETED,
                before=before.snapshot(),
                affects=(before.starts_at, before.ends_at),
            )


# --- swaps


def check_swap(first: OverrideSpec, second: OverrideSpec) -> None:
    """A swap is a trade: each side takes the other person's duty."""
    for name, side, other in (("first", first, second), ("second", second, first)):
        if side.replaces is None:
            raise errors.SchemaViolation(
                "each side of a swap names the person it replaces", field=f"{name}.replaces"
            )
        if side.replaces != other.person_id:
            raise errors.SchemaViolation(
                f"{name} replaces {side.replaces!r}, but a swap trades between "
                f"{first.person_id!r} and {second.person_id!r}",
                field=f"{name}.replaces",
            )
    if first.person_id == second.person_id:
        raise errors.SchemaViolation("a swap is between two people", field="second.person_id")


async def add_swap(
    conn: Conn,
    change: Change,
    roster_id: int,
    *,
    first: OverrideSpec,
    second: OverrideSpec,
    approved_by: str,
    reason: str = "",
) -> int:
    """Record two overrides and the swap that ties them, approved by ``approved_by``."""
    check_swap(first, second)
    with translated():
        async with conn.transaction():
            locked = await _lock(conn, roster_id)
            await _check_swap_rules(conn, roster_id, first, second)
            try:
                first_id = await _insert_override(conn, change, roster_id, first)
            except errors.DutywatchError as exc:
                exc.fields["field"] = f"first.{exc.fields.get('field') or 'starts_at'}"
                raise
            try:
                second_id = await _insert_override(conn, change, roster_id, second)
            except errors.DutywatchError as exc:
                exc.fields["field"] = f"second.{exc.fields.get('field') or 'starts_at'}"
                raise
            swap_id: int = await queries.val(
                conn,
                "insert_swap",
                roster_id,
                first_id,
                second_id,
                approved_by,
                reason,
                change.actor,
                change.at,
            )
            after = await get_swap(conn, roster_id, swap_id)
            await _committed(
                conn,
                change,
                locked,
                entity=AuditEntity.SWAP,
                entity_id=swap_id,
                action=RosterChange.CREATED,
                after=after.snapshot(),
                affects=(
                    min(first.starts_at, second.starts_at),
                    max(first.ends_at, second.ends_at),
                ),
            )
    return swap_id


async def _check_swap_rules(
    conn: Conn, roster_id: int, first: OverrideSpec, second: OverrideSpec
) -> None:
    """The rules' own verdict (same role, both people still on the roster)."""
    start = min(first.starts_at, second.starts_at)
    end = max(first.ends_at, second.ends_at)
    roster = (await get(conn, roster_id, window=(start, end))).model()

    def proposed(spec: OverrideSpec, name: str) -> Override:
        return Override(
            id=f"proposed-{name}",
            role=spec.role,
            person_id=spec.person_id,
            starts_at=spec.starts_at,
            ends_at=spec.ends_at,
            slot=spec.slot,
            replaces=spec.replaces,
            reason=spec.reason,
        )

    try:
        apply_swap(
            roster,
            Swap(id="proposed", first=proposed(first, "first"), second=proposed(second, "second")),
        )
    except ValueError as exc:
        field = "second.role" if "roles must match" in str(exc) else "first.person_id"
        if second.person_id in roster.removed:
            field = "second.person_id"
        raise errors.SchemaViolation(str(exc), field=field) from None


async def delete_swap(conn: Conn, change: Change, roster_id: int, swap_id: int) -> None:
    """Undo a swap: both its overrides go with it."""
    with translated():
        async with conn.transaction():
            locked = await _lock(conn, roster_id)
            before = await get_swap(conn, roster_id, swap_id)
            await queries.exec(conn, "delete_swap", swap_id, roster_id)
            await queries.exec(
                conn, "delete_overrides", [before.first.id, before.second.id], roster_id
            )
            await _committed(
                conn,
                change,
                locked,
                entity=AuditEntity.SWAP,
                entity_id=swap_id,
                action=RosterChange.DELETED,
                before=before.snapshot(),
                affects=(
                    min(before.first.starts_at, before.second.starts_at),
                    max(before.first.ends_at, before.second.ends_at),
                ),
            )


# --- holiday calendars


async def get_calendar(conn: Conn, calendar_id: str) -> dict[str, Any]:
    row = await queries.one(conn, "calendar", calendar_id)
    if row is None:
        raise errors.NotFound(f"holiday calendar {calendar_id!r} does not exist")
    return {
        "id": row["id"],
        "name": row["name"],
        "holidays": [d.isoformat() for d in row["holidays"]],
        "makeup_workdays": [d.isoformat() for d in row["makeup_workdays"]],
    }


async def list_calendars(conn: Conn) -> list[dict[str, Any]]:
    return [dict(row) for row in await queries.many(conn, "list_calendars")]


async def put_calendar(
    conn: Conn,
    change: Change,
    calendar_id: str,
    *,
    name: str,
    holidays: Iterable[date],
    makeup_workdays: Iterable[date],
) -> bool:
    """Create or replace a calendar; every roster following it gets an event. True if new."""
    holiday_set, makeup_set = set(holidays), set(makeup_workdays)
    both = sorted(holiday_set & makeup_set)
    if both:
        raise errors.SchemaViolation(
            f"{both[0].isoformat()} is listed both as a holiday and as a make-up workday",
            field="makeup_workdays",
        )
    with translated():
        async with conn.transaction():
            before_row = await queries.one(conn, "calendar", calendar_id)
            before = await get_calendar(conn, calendar_id) if before_row else None
            await queries.exec(conn, "upsert_calendar", calendar_id, name)
            await queries.exec(conn, "clear_calendar_days", calendar_id)
            await queries.exec_many(
                conn,
                "insert_calendar_day",
                [(calendar_id, d, False) for d in sorted(holiday_set)]
                + [(calendar_id, d, True) for d in sorted(makeup_set)],
            )
            after = await get_calendar(conn, calendar_id)
            action = RosterChange.CREATED if before is None else RosterChange.UPDATED
            await record(
                conn,
                change,
                entity=AuditEntity.HOLIDAY_CALENDAR,
                entity_id=calendar_id,
                action=action,
                org_path="",
                before=before,
                after=after,
            )
            if before is not None:
                for row in await queries.many(conn, "rosters_of_calendar", calendar_id):
                    locked = await _lock(conn, row["id"])
                    await _committed(
                        conn,
                        change,
                        locked,
                        entity=AuditEntity.HOLIDAY_CALENDAR,
                        entity_id=calendar_id,
                        action=RosterChange.UPDATED,
                        before=before,
                        after=after,
                    )
    return before is None
