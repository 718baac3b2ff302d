"""The roster commands of the CLI: `dutywatch roster import|show` and `dutywatch oncall`.

They talk to PostgreSQL directly (``--database-url`` or ``DUTYWATCH_DATABASE_URL``), through
the same store and rules as the HTTP API, so an import is audited and announced like any other
change. Tables are aligned for terminals that show Chinese characters two columns wide.
"""

from __future__ import annotations

import argparse
import os
import sys
import unicodedata
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dutywatch import errors

MAX_RANGE = timedelta(days=92)
ROLE_LABELS = {
    "duty_officer": "值班员",
    "leader_on_duty": "带班领导",
    "deputy_officer": "副班",
    "standby": "备班",
}
WEEKDAYS = ("一", "二", "三", "四", "五", "六", "日")


def add_parsers(sub: Any, default_database_url: str) -> None:
    """Add `roster` (with `import` and `show`) and `oncall` to the CLI's subcommands."""
    db_help = f"default $DUTYWATCH_DATABASE_URL or {default_database_url}"

    roster = sub.add_parser(
        "roster",
        help="import or show duty rosters (值班表)",
        description="Import rosters from a spreadsheet (CSV) or show a roster's shifts.",
    )
    roster_sub = roster.add_subparsers(dest="roster_command", required=True, metavar="ACTION")
    imp = roster_sub.add_parser(
        "import",
        help="import rosters from a CSV file (one row per person in a rotation)",
        description="Check every row of FILE (columns: see README.md, 'Roster CSV'); if any "
        "row is bad, print each problem with its line number and import nothing (exit 1). "
        "Otherwise, for every organisation in the file, replace its roster's rotations and "
        "layers with the file's (creating the roster if needed), in one transaction. Every "
        "change is audited and announced on dutywatch.event.<org>.roster.",
    )
    imp.add_argument("file", type=Path, metavar="FILE.csv", help="UTF-8 CSV, header first")
    imp.add_argument(
        "--encoding",
        default="utf-8-sig",
        help="the file's encoding (default utf-8, with or without BOM; gb18030 for files "
        "saved by older spreadsheet programs)",
    )
    imp.add_argument(
        "--actor",
        default=None,
        help="who is importing, for the audit (default cli:$USER)",
    )
    imp.add_argument("--database-url", default=None, help=db_help)
    imp.set_defaults(default_database_url=default_database_url)

    show = roster_sub.add_parser(
        "show",
        help="print a roster's shifts as a table",
        description="Expand a roster into shifts and print them in the roster's time zone. "
        "ROSTER is a roster id or an organisation path. --from/--to are dates (YYYY-MM-DD; "
        "--to includes that day) or times (YYYY-MM-DDTHH:MM, local to the roster unless an "
        "offset is given); at most 92 days.",
    )
    show.add_argument("roster", metavar="ROSTER", help="roster id, or organisation path")
    show.add_argument("--from", dest="start", default=None, help="default: today")
    show.add_argument("--to", dest="end", default=None, help="default: 7 days after --from")
    show.add_argument("--database-url", default=None, help=db_help)
    show.set_defaults(default_database_url=default_database_url)

    oncall = sub.add_parser(
        "oncall",
        help="who is on duty for an organisation now (or at --at)",
        description="Print who holds each role slot of ORG's roster at a time, with phone "
        "numbers and when their shift starts and ends (the roster's time zone). An "
        "organisation without anyone on duty says where its pages go instead.",
    )
    oncall.add_argument("org", metavar="ORG", help="organisation path, e.g. harbin.daoli")
    oncall.add_argument(
        "--at",
        default=None,
        help="a time (YYYY-MM-DDTHH:MM, local to the organisation unless an offset is "
        "given); default now",
    )
    oncall.add_argument("--database-url", default=None, help=db_help)
    oncall.set_defaults(default_database_url=default_database_url)


def _database_url(args: argparse.Namespace) -> str:
    url: str = (
        args.database_url or os.environ.get("DUTYWATCH_DATABASE_URL") or args.default_database_url
    )
    return url


def _when(text: str, zone: ZoneInfo, *, end_of_day: bool = False, name: str) -> datetime:
    """A date (local midnight; with ``end_of_day`` the next midnight) or a time."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + (timedelta(days=1) if end_of_day else timedelta())
            return datetime.combine(day, time(0), zone)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise errors.RejectedInput(
            f"{name} {text!r}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[+08:00]", field=name
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=zone)


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, counting wide characters as two."""
    widths = [
        max(display_width(str(cell)) for cell in column)
        for column in zip(headers, *rows, strict=True)
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell + " " * (width - display_width(cell))
            for cell, width in zip(cells, widths, strict=True)
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def _role(role: str) -> str:
    return f"{ROLE_LABELS.get(role, '')} {role}".strip()


def _clock(value: datetime, zone: ZoneInfo, *, day: date | None = None) -> str:
    local = value.astimezone(zone)
    return local.strftime("%H:%M") if local.date() == day else local.strftime("%m-%d %H:%M")


async def roster_import(args: argparse.Namespace) -> int:
    import asyncpg

    from dutywatch.contracts import ChangeSource
    from dutywatch.rosters.audit import Change
    from dutywatch.rosters.csv_import import ImportRefused, import_csv

    try:
        text = args.file.read_text(encoding=args.encoding)
    except (OSError, UnicodeDecodeError, LookupError) as exc:
        print(f"dutywatch: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    change = Change(
        actor=args.actor or f"cli:{os.environ.get('USER', 'unknown')}",
        source=ChangeSource.CLI,
        at=datetime.now(UTC),
        subject_prefix=os.environ.get("DUTYWATCH_SUBJECT_PREFIX", "dutywatch"),
    )
    conn = await asyncpg.connect(_database_url(args))
    try:
        result = await import_csv(conn, change, text)
    except ImportRefused as refused:
        for problem in refused.problems:
            print(f"{args.file}:{problem}", file=sys.stderr)
        print(
            f"dutywatch: {len(refused.problems)} problem(s) in {args.file}; nothing was imported",
            file=sys.stderr,
        )
        return 1
    finally:
        await conn.close()
    print(
        f"imported {args.file}: {result.rotations} rotation(s); "
        f"rosters created: {', '.join(result.rosters_created) or 'none'}; "
        f"rosters replaced: {', '.join(result.rosters_replaced) or 'none'}; "
        f"people registered: {', '.join(result.people_registered) or 'none'}"
    )
    return 0


async def roster_show(args: argparse.Namespace) -> int:
    import asyncpg

    from dutywatch.rosters import reading, store

    conn = await asyncpg.connect(_database_url(args))
    try:
        if args.roster.isdigit():
            head = await store.get(conn, int(args.roster), window=(store.FAR_PAST, store.FAR_PAST))
        else:
            found = await store.load(
                conn, orgs=[args.roster], window=(store.FAR_PAST, store.FAR_PAST)
            )
            if not found:
                raise errors.NotFound(f"organisation {args.roster!r} has no roster")
            head = found[0]
        zone = ZoneInfo(head.tz)
        today = datetime.now(UTC).astimezone(zone).date().isoformat()
        start = _when(args.start or today, zone, name="--from")
        end = (
            _when(args.end, zone, end_of_day=True, name="--to")
            if args.end
            else start + timedelta(days=7)
        )
        if end <= start or end - start > MAX_RANGE:
            raise errors.RejectedInput("--to must be after --from, at most 92 days", field="to")
        _, shifts = await reading.shifts_of(conn, [head.id], start, end)
        people = await store.people(conn, (s.person_id for s in shifts))
    finally:
        await conn.close()
    print(
        f"{head.name or 'roster'} — {head.org_path} (roster {head.id}, version {head.version}), "
        f"times in {head.tz}"
    )
    print(
        f"shifts meeting {start.astimezone(zone):%Y-%m-%d %H:%M} .. "
        f"{end.astimezone(zone):%Y-%m-%d %H:%M}\n"
    )
    if not shifts:
        print("(no shifts: nobody is on duty in this interval)")
        return 0
    rows = []
    for s in shifts:
        local = s.starts_at.astimezone(zone)
        person = people.get(s.person_id)
        rows.append(
            [
                local.strftime("%Y-%m-%d"),
                f"周{WEEKDAYS[local.weekday()]}",
                local.strftime("%H:%M"),
                _clock(s.ends_at, zone, day=local.date()),
                _role(s.role),
                str(s.slot),
                s.person_id,
                person["name"] if person else "?",
            ]
        )
    print(table(["date", "day", "from", "to", "role", "slot", "person", "name"], rows))
    return 0


async def oncall(args: argparse.Namespace) -> int:
    import asyncpg

    from dutywatch.orgs import store as orgs
    from dutywatch.rosters import reading
    from dutywatch.rosters.rules import ancestors

    conn = await asyncpg.connect(_database_url(args))
    try:
        org = await orgs.get_org(conn, args.org)
        zone = ZoneInfo(org["tz"])
        at = _when(args.at, zone, name="--at") if args.at else datetime.now(UTC)
        tz, found = await reading.on_duty(conn, args.org, at.astimezone(UTC))
        climbs_to = None
        if not found:
            for parent in ancestors(args.org)[1:]:
                if (await reading.on_duty(conn, parent, at.astimezone(UTC)))[1]:
                    climbs_to = parent
                    break
    finally:
        await conn.close()
    zone = ZoneInfo(tz or org["tz"])
    print(f"{org['name']} ({args.org}) at {at.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}\n")
    if not found:
        reason = "has no roster" if tz is None else "has nobody on duty then"
        where = f"pages climb to {climbs_to}" if climbs_to else "nobody up the chain either"
        print(f"nobody on duty: {args.org} {reason}; {where}")
        return 0
    print(
        table(
            ["role", "slot", "person", "name", "phone", "from", "to"],
            [
                [
                    _role(d.shift.role),
                    str(d.shift.slot),
                    d.shift.person_id,
                    d.name or "?",
                    d.phone or "-",
                    _clock(d.shift.starts_at, zone),
                    _clock(d.shift.ends_at, zone),
                ]
                for d in found
            ],
        )
    )
    return 0
