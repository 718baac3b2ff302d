"""Importing rosters from a spreadsheet (CSV): one row per person in a rotation.

The format is documented in README.md ("Roster CSV"). Every row is checked, first on its own
(:func:`parse`), then against the database (organisations, people, calendars), then as rosters
(:func:`dutywatch.rosters.validation.problems`, through the store); every problem is reported
with its line number, and nothing is imported unless every row is good: the whole import is one
transaction.

For each organisation named in the file, the file *is* that roster's rotations and layers: they
replace the ones stored (overrides and swaps stay). A roster that does not exist is created. The
roster's slots grow to fit the file and never shrink (an override may use a slot the file does
not mention).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Final, TypeVar

from dutywatch import errors
from dutywatch.orgs import store as orgs
from dutywatch.rosters import store
from dutywatch.rosters.audit import Change
from dutywatch.rosters.model import DayKind, Role
from dutywatch.rosters.validation import (
    REQUIRED_ROLES,
    format_handoff,
    format_shift_length,
    parse_handoff,
    parse_shift_length,
)
from dutywatch.sql import Conn

REQUIRED_COLUMNS: Final = (
    "org",
    "role",
    "days",
    "rotation",
    "shift_length",
    "handoff",
    "start_date",
    "order",
    "person",
)
OPTIONAL_COLUMNS: Final = ("slot", "priority", "person_name", "phone", "calendar")
#: Columns that describe the rotation (and its layer): equal on every row of one rotation.
ROTATION_COLUMNS: Final = (
    "role",
    "slot",
    "days",
    "priority",
    "shift_length",
    "handoff",
    "start_date",
)

#: Values a duty office may write in Chinese.
ROLE_NAMES: Final = {
    "值班员": Role.DUTY_OFFICER,
    "带班领导": Role.LEADER_ON_DUTY,
    "副班": Role.DEPUTY_OFFICER,
    "备班": Role.STANDBY,
}
DAY_NAMES: Final = {
    "每天": DayKind.EVERY_DAY,
    "工作日": DayKind.WORKDAYS,
    "休息日": DayKind.RESTDAYS,
    "节假日": DayKind.HOLIDAYS,
}
MAX_ROWS: Final = 10_000
_Choice = TypeVar("_Choice", Role, DayKind)

_ORG = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")
_PERSON = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ROTATION = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_CALENDAR = re.compile(r"^[a-z0-9_-]{1,64}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 -]{3,30}$")


@dataclass(frozen=True, kw_only=True, order=True)
class RowError:
    """A problem with one line of the file (``column`` None: the whole row or file)."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}"
        return (
            f"{where}, {self.column}: {self.message}" if self.column else f"{where}: {self.message}"
        )


class ImportRefused(errors.RejectedInput):
    """The file has bad rows; nothing was imported."""

    code = "import_refused"

    def __init__(self, problems: list[RowError]) -> None:
        self.problems = sorted(problems)
        super().__init__(f"{len(self.problems)} problem(s); nothing was imported")


@dataclass(frozen=True, kw_only=True)
class Row:
    line: int
    org: str
    role: Role
    slot: int
    days: DayKind
    priority: int
    rotation: str
    shift_length: timedelta
    handoff: time
    start: date
    order: int
    person: str
    person_name: str | None = None
    phone: str | None = None
    calendar: str | None = None
    #: The raw text of the rotation columns, to compare rows of one rotation.
    raw: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass
class _RowParser:
    line: int
    cells: dict[str, str]
    problems: list[RowError]

    def text(self, column: str) -> str:
        return (self.cells.get(column) or "").strip()

    def fail(self, column: str, message: str) -> None:
        self.problems.append(RowError(line=self.line, column=column, message=message))

    def required(self, column: str) -> str | None:
        value = self.text(column)
        if not value:
            self.fail(column, "is empty")
            return None
        return value

    def matching(self, column: str, pattern: re.Pattern[str], what: str) -> str | None:
        value = self.required(column)
        if value is not None and not pattern.match(value):
            self.fail(column, f"{value!r} is not {what}")
            return None
        return value

    def integer(self, column: str, low: int, high: int, default: int) -> int | None:
        value = self.text(column)
        if not value:
            return default
        if not re.fullmatch(r"[+-]?\d+", value) or not low <= int(value) <= high:
            self.fail(column, f"{value!r} is not a whole number from {low} to {high}")
            return None
        return int(value)

    def choice(
        self, column: str, parse: Callable[[str], _Choice], names: Mapping[str, _Choice]
    ) -> _Choice | None:
        value = self.required(column)
        if value is None:
            return None
        if value in names:
            return names[value]
        try:
            return parse(value.lower())
        except ValueError:
            allowed = [str(v) for v in names.values()]
            self.fail(column, f"{value!r} is not one of {', '.join(allowed)} ({', '.join(names)})")
            return None


def _parse_row(line: int, cells: dict[str, str], problems: list[RowError]) -> Row | None:
    p = _RowParser(line, cells, problems)
    before = len(problems)
    org = p.matching("org", _ORG, "an organisation path (e.g. harbin.daoli)")
    role = p.choice("role", Role, ROLE_NAMES)
    days = p.choice("days", DayKind, DAY_NAMES)
    slot = p.integer("slot", 0, 8, 0)
    priority = p.integer("priority", -1000, 1000, 0)
    rotation = p.matching("rotation", _ROTATION, "a rotation name (letters, digits, . _ -)")
    person = p.matching("person", _PERSON, "a person id (letters, digits, _ -)")
    order = p.integer("order", 1, 1000, 0)
    if order == 0:
        p.fail("order", "is empty (1 for the first person of the rotation, 2 for the next, ...)")
    length = handoff = start = None
    if (text := p.required("shift_length")) is not None:
        try:
            length = parse_shift_length(text)
        except ValueError as exc:
            p.fail("shift_length", str(exc))
    if (text := p.required("handoff")) is not None:
        try:
            handoff = parse_handoff(text)
        except ValueError as exc:
            p.fail("handoff", str(exc))
    if (text := p.required("start_date")) is not None:
        try:
            start = date.fromisoformat(text)
        except ValueError:
            p.fail("start_date", f"{text!r} is not a date YYYY-MM-DD")
    name = p.text("person_name") or None
    if name is not None and len(name) > 200:
        p.fail("person_name", "is longer than 200 characters")
    phone = p.text("phone") or None
    if phone is not None and not _PHONE.match(phone):
        p.fail("phone", f"{phone!r} is not a phone number")
    calendar = p.text("calendar") or None
    if calendar is not None and not _CALENDAR.match(calendar):
        p.fail("calendar", f"{calendar!r} is not a calendar id (e.g. cn)")
    if (
        len(problems) > before
        or org is None
        or role is None
        or days is None
        or rotation is None
        or person is None
        or length is None
        or handoff is None
        or start is None
        or slot is None
        or priority is None
        or order is None
    ):
        return None
    return Row(
        line=line,
        org=org,
        role=role,
        slot=slot,
        days=days,
        priority=priority,
        rotation=rotation,
        shift_length=length,
        handoff=handoff,
        start=start,
        order=order,
        person=person,
        person_name=name,
        phone=phone,
        calendar=calendar,
        raw={
            "role": str(role),
            "slot": str(slot),
            "days": str(days),
            "priority": str(priority),
            "shift_length": format_shift_length(length),
            "handoff": format_handoff(handoff),
            "start_date": str(start),
        },
    )


def _header_problems(header: list[str]) -> list[RowError]:
    problems = []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing:
        problems.append(
            RowError(line=1, column=None, message=f"missing column(s): {', '.join(missing)}")
        )
    if unknown:
        problems.append(
            RowError(
                line=1,
                column=None,
                message=f"unknown column(s): {', '.join(unknown)}; the columns are "
                f"{', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}",
            )
        )
    if len(set(header)) != len(header):
        problems.append(RowError(line=1, column=None, message="a column is named twice"))
    return problems


def parse(text: str) -> tuple[list[Row], list[RowError]]:
    """Rows and problems of a CSV text (header first); checks each row on its own."""
    problems: list[RowError] = []
    if "\x00" in text:
        return [], [
            RowError(
                line=1, column=None, message="the file contains NUL bytes; save it as CSV text"
            )
        ]
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\x00extra")
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    if not header:
        message = "the file is empty; the first line names the columns"
        return [], [RowError(line=1, column=None, message=message)]
    problems += _header_problems(header)
    if problems:
        return [], problems
    rows: list[Row] = []
    try:
        for cells in reader:
            line = reader.line_num
            if "\x00extra" in cells:
                problems.append(RowError(line=line, column=None, message="more cells than columns"))
                continue
            if not any((v or "").strip() for v in cells.values()):
                continue  # a blank spreadsheet row
            if len(rows) >= MAX_ROWS:
                problems.append(
                    RowError(line=line, column=None, message=f"more than {MAX_ROWS} rows")
                )
                break
            row = _parse_row(line, cells, problems)
            if row is not None:
                rows.append(row)
    except csv.Error as exc:
        problems.append(RowError(line=reader.line_num, column=None, message=f"not CSV: {exc}"))
    if not rows and not problems:
        problems.append(RowError(line=1, column=None, message="no rows after the header"))
    return rows, problems


@dataclass
class RotationPlan:
    name: str
    first: Row
    members: list[Row] = field(default_factory=list)

    @property
    def people(self) -> list[str]:
        return [r.person for r in sorted(self.members, key=lambda r: r.order)]


@dataclass
class OrgPlan:
    org: str
    first_line: int
    rotations: dict[str, RotationPlan] = field(default_factory=dict)
    calendar: str | None = None

    def slots(self) -> dict[Role, int]:
        needed = dict.fromkeys(REQUIRED_ROLES, 1)
        for plan in self.rotations.values():
            role = plan.first.role
            needed[role] = max(needed.get(role, 0), plan.first.slot + 1)
        return needed


def plan(rows: list[Row]) -> tuple[dict[str, OrgPlan], list[RowError]]:
    """Group rows into rosters and rotations; rows of one rotation must agree."""
    problems: list[RowError] = []
    plans: dict[str, OrgPlan] = {}
    calendar_line: dict[str, int] = {}
    for row in rows:
        org = plans.setdefault(row.org, OrgPlan(org=row.org, first_line=row.line))
        if row.calendar is not None:
            if org.calendar is None:
                org.calendar, calendar_line[row.org] = row.calendar, row.line
            elif org.calendar != row.calendar:
                problems.append(
                    RowError(
                        line=row.line,
                        column="calendar",
                        message=f"{row.org} follows calendar {org.calendar!r} on line "
                        f"{calendar_line[row.org]}, not {row.calendar!r}",
                    )
                )
        rotation = org.rotations.get(row.rotation)
        if rotation is None:
            rotation = org.rotations[row.rotation] = RotationPlan(name=row.rotation, first=row)
        else:
            for column in ROTATION_COLUMNS:
                if row.raw[column] != rotation.first.raw[column]:
                    problems.append(
                        RowError(
                            line=row.line,
                            column=column,
                            message=f"rotation {row.rotation!r} of {row.org} has "
                            f"{column} {rotation.first.raw[column]!r} on line "
                            f"{rotation.first.line}; every row of a rotation must agree",
                        )
                    )
            clash = next((m for m in rotation.members if m.order == row.order), None)
            if clash is not None:
                problems.append(
                    RowError(
                        line=row.line,
                        column="order",
                        message=f"rotation {row.rotation!r} of {row.org} already has order "
                        f"{row.order} on line {clash.line}",
                    )
                )
                continue
        rotation.members.append(row)
    for org in plans.values():
        layers: dict[tuple[Role, int, DayKind, int], RotationPlan] = {}
        for rotation in org.rotations.values():
            first = rotation.first
            key = (first.role, first.slot, first.days, first.priority)
            if key in layers:
                problems.append(
                    RowError(
                        line=first.line,
                        column="priority",
                        message=f"rotations {layers[key].name!r} and {rotation.name!r} of "
                        f"{org.org} both fill slot {first.slot} of {first.role} on {first.days} "
                        f"with priority {first.priority}; give one a higher priority",
                    )
                )
            layers[key] = rotation
    return plans, problems


async def _check_references(conn: Conn, rows: list[Row]) -> list[RowError]:
    problems: list[RowError] = []
    known_orgs = await orgs.known_orgs(conn, {r.org for r in rows})
    people = await store.people(conn, {r.person for r in rows})
    calendars = {c["id"] for c in await store.list_calendars(conn)}
    registered_here: dict[str, Row] = {}
    for row in rows:
        if row.org not in known_orgs:
            problems.append(
                RowError(
                    line=row.line,
                    column="org",
                    message=f"organisation {row.org!r} is not registered",
                )
            )
        if row.person not in people:
            earlier = registered_here.get(row.person)
            if row.person_name is None and earlier is None:
                problems.append(
                    RowError(
                        line=row.line,
                        column="person",
                        message=f"person {row.person!r} is not registered; register them first "
                        "or fill person_name (and phone) to register them in this row's org",
                    )
                )
            elif earlier is None:
                registered_here[row.person] = row
        elif row.person_name is not None and people[row.person]["name"] != row.person_name:
            problems.append(
                RowError(
                    line=row.line,
                    column="person_name",
                    message=f"{row.person!r} is registered as {people[row.person]['name']!r}; "
                    "leave person_name empty or make it match",
                )
            )
        if row.calendar is not None and row.calendar not in calendars:
            problems.append(
                RowError(
                    line=row.line,
                    column="calendar",
                    message=f"holiday calendar {row.calendar!r} is not loaded "
                    "(PUT /api/v1/holiday-calendars/{id})",
                )
            )
    return problems


@dataclass(frozen=True, kw_only=True)
class ImportResult:
    rosters_created: list[str]
    rosters_replaced: list[str]
    rotations: int
    people_registered: list[str]


async def import_csv(conn: Conn, change: Change, text: str) -> ImportResult:
    """Import the file in one transaction, or raise :class:`ImportRefused` listing every
    problem (and change nothing)."""
    rows, problems = parse(text)
    plans, plan_problems = plan(rows)
    problems += plan_problems
    problems += await _check_references(conn, rows)
    if problems:
        raise ImportRefused(problems)
    created: list[str] = []
    replaced: list[str] = []
    registered: list[str] = []
    async with conn.transaction():
        known_people = await store.people(conn, {r.person for r in rows})
        for row in rows:
            if row.person not in known_people and row.person not in registered:
                assert row.person_name is not None
                await orgs.create_person(
                    conn,
                    change,
                    person_id=row.person,
                    name=row.person_name,
                    org_path=row.org,
                    phone=row.phone,
                )
                registered.append(row.person)
        for org in plans.values():
            try:
                await _import_org(conn, change, org, created, replaced)
            except errors.DutywatchError as exc:
                raise ImportRefused(
                    [
                        RowError(
                            line=org.first_line,
                            column=exc.fields.get("field"),
                            message=f"the roster of {org.org} would be refused: {exc.message}",
                        )
                    ]
                ) from exc
    return ImportResult(
        rosters_created=created,
        rosters_replaced=replaced,
        rotations=sum(len(o.rotations) for o in plans.values()),
        people_registered=registered,
    )


async def _import_org(
    conn: Conn, change: Change, org: OrgPlan, created: list[str], replaced: list[str]
) -> None:
    existing = await store.load(conn, orgs=[org.org], window=(change.at, change.at))
    if existing:
        roster = existing[0]
        replaced.append(org.org)
        for layer in roster.layers:
            await store.delete_layer(conn, change, roster.id, layer.id)
        for stored in roster.rotations:
            await store.delete_rotation(conn, change, roster.id, stored.id)
        slots = dict(roster.slots)
        for role, count in org.slots().items():
            slots[role] = max(slots.get(role, 0), count)
        fields: dict[str, object] = {}
        if slots != dict(roster.slots):
            fields["slots"] = slots
        if org.calendar is not None and org.calendar != roster.calendar_id:
            fields["calendar_id"] = org.calendar
        if fields:
            await store.update_roster(conn, change, roster.id, fields)
        roster_id = roster.id
    else:
        created.append(org.org)
        roster_id = await store.create_roster(
            conn, change, org_path=org.org, calendar_id=org.calendar, slots=org.slots()
        )
    for rotation in org.rotations.values():
        first = rotation.first
        rotation_id = await store.add_rotation(
            conn,
            change,
            roster_id,
            name=rotation.name,
            people=rotation.people,
            shift_length=first.shift_length,
            handoff=first.handoff,
            start=first.start,
        )
        await store.add_layer(
            conn,
            change,
            roster_id,
            rotation_id=rotation_id,
            role=first.role,
            slot=first.slot,
            days=first.days,
            priority=first.priority,
        )
