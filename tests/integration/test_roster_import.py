"""`dutywatch roster import`: a good file imports; a bad row changes nothing and is named.
Also `dutywatch roster show` and `dutywatch oncall` as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import asyncpg
import pytest

from dutywatch.contracts import ChangeSource
from dutywatch.rosters import store
from dutywatch.rosters.audit import Change
from dutywatch.rosters.csv_import import ImportRefused, import_csv
from dutywatch.rosters.model import DayKind, Role
from tests.integration.test_rosters_store import world

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
HEADER = (
    "org,role,slot,days,priority,rotation,shift_length,handoff,start_date,order,person,"
    "person_name,phone"
)
GOOD = f"""{HEADER}
harbin.daoli,duty_officer,0,workdays,0,officers,1d,08:30,2026-11-23,1,li-na,,
harbin.daoli,duty_officer,0,workdays,0,officers,1d,08:30,2026-11-23,2,sun-li,,
harbin.daoli,值班员,0,休息日,0,weekend,24h,08:30,2026-11-23,1,zhou-min,,
harbin.daoli,带班领导,,每天,,leaders,1w,08:30,2026-11-23,2,zhang-wei,,
harbin.daoli,leader_on_duty,,every_day,,leaders,7d,08:30,2026-11-23,1,qian-jun,钱军,13900000009
"""


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    try:
        await world(connection)
        await connection.execute("DELETE FROM outbox")
        yield connection
    finally:
        await connection.close()


def change() -> Change:
    return Change(actor="cli:wangfang", source=ChangeSource.CLI, at=NOW, subject_prefix="tst")


async def counts(conn: asyncpg.Connection) -> dict[str, int]:
    tables = ("rosters", "rotations", "roster_layers", "people", "roster_audit", "outbox")
    return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables}


async def test_a_good_file_imports_into_one_roster(conn: asyncpg.Connection) -> None:
    last_audit = await conn.fetchval("SELECT max(id) FROM roster_audit")
    result = await import_csv(conn, change(), GOOD)
    assert (result.rosters_created, result.rotations, result.people_registered) == (
        ["harbin.daoli"],
        3,
        ["qian-jun"],
    )
    [roster] = await store.load(conn, orgs=["harbin.daoli"])
    assert roster.slots == {Role.DUTY_OFFICER: 1, Role.LEADER_ON_DUTY: 1}
    rotations = {r.name: r for r in roster.rotations}
    assert rotations["officers"].people == ("li-na", "sun-li")
    assert rotations["leaders"].people == ("qian-jun", "zhang-wei")  # by `order`
    assert rotations["leaders"].shift_length == timedelta(days=7)
    assert rotations["weekend"].handoff == time(8, 30)
    assert rotations["weekend"].start == date(2026, 11, 23)
    layers = {(layer.role, layer.days) for layer in roster.layers}
    assert layers == {
        (Role.DUTY_OFFICER, DayKind.WORKDAYS),
        (Role.DUTY_OFFICER, DayKind.RESTDAYS),
        (Role.LEADER_ON_DUTY, DayKind.EVERY_DAY),
    }
    person = await conn.fetchrow("SELECT name, org_path, phone FROM people WHERE id = 'qian-jun'")
    assert tuple(person) == ("钱军", "harbin.daoli", "13900000009")
    sources = await conn.fetch(
        "SELECT DISTINCT source, actor FROM roster_audit WHERE id > $1", last_audit
    )
    assert [tuple(r) for r in sources] == [("cli", "cli:wangfang")]
    subjects = await conn.fetch("SELECT DISTINCT subject FROM outbox")
    assert [r["subject"] for r in subjects] == ["tst.event.harbin.daoli.roster"]

    # Importing again replaces the rotations and layers: same roster, same plan.
    before = roster.model()
    again = await import_csv(conn, change(), GOOD)
    assert (again.rosters_created, again.rosters_replaced) == ([], ["harbin.daoli"])
    [after] = await store.load(conn, orgs=["harbin.daoli"])
    assert after.id == roster.id
    assert sorted((r.name, r.people) for r in after.rotations) == sorted(
        (r.name, r.people) for r in roster.rotations
    )
    assert len(after.model().layers) == len(before.layers)


async def test_one_bad_row_changes_nothing_and_is_named(conn: asyncpg.Connection) -> None:
    bad = GOOD.replace("2026-11-23,1,zhou-min", "2026-11-23,1,zhou-min").replace(
        "weekend,24h,08:30", "weekend,24h,25:00"
    )
    before = await counts(conn)
    with pytest.raises(ImportRefused) as refused:
        await import_csv(conn, change(), bad)
    assert [(p.line, p.column) for p in refused.value.problems] == [(4, "handoff")]
    assert "25:00" in refused.value.problems[0].message
    assert await counts(conn) == before


async def test_every_problem_is_reported_with_its_line(conn: asyncpg.Connection) -> None:
    text = f"""{HEADER}
harbin.daoli,duty_officer,0,workdays,0,officers,1d,08:30,2026-11-23,1,li-na,,
harbin.daoli,duty_officer,0,workdays,0,officers,12h,08:30,2026-11-23,2,sun-li,,
harbin.daoli,duty_officer,0,workdays,0,officers,1d,08:30,2026-11-23,2,zhou-min,,
harbin.nowhere,leader_on_duty,0,every_day,0,leaders,1d,08:30,2026-11-23,1,zhang-wei,,
harbin.daoli,cook,0,every_day,0,kitchen,1d,08:30,2026-11-23,1,li-na,,
harbin.daoli,standby,0,every_day,0,standby,1d,08:30,2026-11-23,1,ghost,,

harbin.daoli,standby,9,every_day,0,more,7h,8.30,23/11/2026,x,li-na,,
"""
    before = await counts(conn)
    with pytest.raises(ImportRefused) as refused:
        await import_csv(conn, change(), text)
    assert [(p.line, p.column) for p in refused.value.problems] == [
        (3, "shift_length"),  # 12h where the rotation's first row (line 2) says 1d
        (4, "order"),  # order 2 is taken on line 3
        (5, "org"),
        (6, "role"),
        (7, "person"),
        (9, "handoff"),
        (9, "order"),
        (9, "shift_length"),
        (9, "slot"),
        (9, "start_date"),
    ]
    messages = {(p.line, p.column): p.message for p in refused.value.problems}
    assert "line 2" in messages[(3, "shift_length")]
    assert "harbin.nowhere" in messages[(5, "org")]
    assert "person_name" in messages[(7, "person")]
    assert await counts(conn) == before


async def test_a_roster_the_store_refuses_is_reported_and_nothing_stays(
    conn: asyncpg.Connection,
) -> None:
    # The file is fine row by row, but an override already holds slot 1 of the leader, so the
    # slots cannot shrink... they never do; instead: two layers tie on everything.
    text = f"""{HEADER}
harbin.daoli,duty_officer,0,workdays,0,a,1d,08:30,2026-11-23,1,li-na,,
harbin.daoli,duty_officer,0,workdays,0,b,1d,08:30,2026-11-23,1,sun-li,,
"""
    before = await counts(conn)
    with pytest.raises(ImportRefused) as refused:
        await import_csv(conn, change(), text)
    assert [(p.line, p.column) for p in refused.value.problems] == [(3, "priority")]
    assert await counts(conn) == before


async def test_header_problems(conn: asyncpg.Connection) -> None:
    for text, expected in (
        ("", "empty"),
        ("org,role\nharbin.daoli,duty_officer\n", "missing column(s): days, rotation"),
        (HEADER + ",colour\n", "unknown column(s): colour"),
        (HEADER + "\n", "no rows"),
    ):
        with pytest.raises(ImportRefused) as refused:
            await import_csv(conn, change(), text)
        assert expected in refused.value.problems[0].message, text


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dutywatch", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "USER": "wangfang", "PYTHONPATH": str(Path.cwd())},
    )


async def test_the_commands_as_a_user_runs_them(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD.replace("zhou-min,,", "zhou-min,,,extra"), encoding="utf-8")
    refused = run("roster", "import", str(bad), "--database-url", database_url)
    assert refused.returncode == 1
    assert f"{bad}:line 4: more cells than columns" in refused.stderr
    assert "nothing was imported" in refused.stderr
    assert await conn.fetchval("SELECT count(*) FROM rosters") == 0

    good = tmp_path / "good.csv"
    good.write_bytes("\ufeff".encode() + GOOD.encode())  # as a spreadsheet saves it, with a BOM
    imported = run("roster", "import", str(good), "--database-url", database_url)
    assert imported.returncode == 0, imported.stderr
    assert "rosters created: harbin.daoli" in imported.stdout
    assert await conn.fetchval("SELECT DISTINCT actor FROM roster_audit WHERE source = 'cli'") == (
        "cli:wangfang"
    )

    shown = run(
        "roster",
        "show",
        "harbin.daoli",
        "--from",
        "2026-11-27",
        "--to",
        "2026-11-28",
        "--database-url",
        database_url,
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("date"))
    rows = [line.split() for line in lines[header + 2 :]]
    # Friday the 27th: sun-li (Mon li-na, Tue sun-li, Wed li-na, Thu sun-li, Fri li-na)...
    assert [r[:3] for r in rows][:2] == [
        ["2026-11-23", "周一", "08:30"],
        ["2026-11-26", "周四", "08:30"],
    ]
    assert {r[-2] for r in rows} >= {"li-na", "zhou-min", "qian-jun"}
    # Columns line up although names are two columns wide per character.
    name_column = lines[header].index("name")
    assert all(line[:name_column].rstrip().split()[-1] for line in lines[header + 2 :])

    at = run("oncall", "harbin.daoli", "--at", "2026-11-25T10:00", "--database-url", database_url)
    assert at.returncode == 0, at.stderr
    assert "li-na" in at.stdout
    assert "qian-jun" in at.stdout
    assert "13900000009" in at.stdout
    township = run(
        "oncall", "harbin.daoli.xinyang", "--at", "2026-11-25T10:00", "--database-url", database_url
    )
    assert "pages climb to harbin.daoli" in township.stdout
    missing = run("oncall", "harbin.nowhere", "--database-url", database_url)
    assert missing.returncode == 2
    assert "not registered" in missing.stderr
