"""A small demo world for `dutywatch up`: a city, two districts, townships, people on duty."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from dutywatch import auth
from dutywatch.contracts import ChangeSource
from dutywatch.orgs import store as orgs
from dutywatch.rosters import store as rosters
from dutywatch.rosters.audit import Change
from dutywatch.rosters.model import DayKind, Role

SHANGHAI = ZoneInfo("Asia/Shanghai")

ORGS = [
    ("harbin", "哈尔滨市", "230100"),
    ("harbin.daoli", "道里区", "230102"),
    ("harbin.nangang", "南岗区", "230103"),
    ("harbin.daoli.xinyang", "新阳路街道", None),
    ("harbin.daoli.zhaolin", "兆麟街道", None),
    ("harbin.nangang.huayuan", "花园街道", None),
]

#: (person id, name, org, role): one duty officer and one leader on duty per duty room.
#: Townships have no roster of their own, so their pages climb to the district.
PEOPLE = [
    ("wang-fang", "王芳", "harbin", Role.DUTY_OFFICER),
    ("zhao-lei", "赵磊", "harbin", Role.LEADER_ON_DUTY),
    ("li-na", "李娜", "harbin.daoli", Role.DUTY_OFFICER),
    ("zhang-wei", "张伟", "harbin.daoli", Role.LEADER_ON_DUTY),
    ("chen-jing", "陈静", "harbin.nangang", Role.DUTY_OFFICER),
    ("liu-yang", "刘洋", "harbin.nangang", Role.LEADER_ON_DUTY),
]
DUTY_ROOMS = ("harbin", "harbin.daoli", "harbin.nangang")
ORG_NAMES = {path: name for path, name, _code in ORGS}

#: Duty changes at 08:30 local time (a common handover time for municipal duty rooms).
HANDOVER = time(8, 30)
HOLIDAY_CALENDAR = "cn"


def fixed_date_holidays(years: range) -> list[date]:
    """The statutory holidays that fall on fixed solar dates (New Year, Labour Day, National
    Day); the lunar ones and the make-up workdays (调休) come from the State Council's yearly
    schedule, loaded with ``PUT /api/v1/holiday-calendars/cn``."""
    return [
        date(year, month, day)
        for year in years
        for month, day in ((1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3))
    ]


@dataclass(frozen=True)
class DemoTokens:
    admin: str
    office_daoli: str
    officer_daoli: str
    leader_daoli: str


async def is_loaded(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM orgs WHERE path = 'harbin')"))


async def load(
    conn: asyncpg.Connection,
    now: datetime,
    *,
    subject_prefix: str = "dutywatch",
    token_key: bytes | None = None,
) -> DemoTokens:
    """Insert the demo: a roster per duty room, 24-hour duty handing over at 08:30 Shanghai
    time from yesterday's handover on, with a workday and a rest-day layer per role.

    Both layers of a role hold the same person, so "who is on duty" has one answer any day;
    edit either rotation to see the other take effect. Roster events go out on
    ``<subject_prefix>.event.<org>.roster``.
    """
    change = Change(
        actor="system:demo", source=ChangeSource.SYSTEM, at=now, subject_prefix=subject_prefix
    )
    first_day = now.astimezone(SHANGHAI).date() - timedelta(days=1)
    async with conn.transaction():
        for path, name, code in ORGS:
            await orgs.create_org(conn, change, path=path, name=name, admin_code=code)
        for person_id, name, org, _role in PEOPLE:
            await orgs.create_person(
                conn, change, person_id=person_id, name=name, org_path=org, phone=None
            )
        await rosters.put_calendar(
            conn,
            change,
            HOLIDAY_CALENDAR,
            name="中国法定节假日 (demo: fixed-date holidays only)",
            holidays=fixed_date_holidays(range(first_day.year, first_day.year + 2)),
            makeup_workdays=(),
        )
        for org in DUTY_ROOMS:
            roster_id = await rosters.create_roster(
                conn,
                change,
                org_path=org,
                name=f"{ORG_NAMES[org]}值班表",
                calendar_id=HOLIDAY_CALENDAR,
            )
            for person_id, _name, person_org, role in PEOPLE:
                if person_org != org:
                    continue
                for days in (DayKind.WORKDAYS, DayKind.RESTDAYS):
                    rotation_id = await rosters.add_rotation(
                        conn,
                        change,
                        roster_id,
                        name=f"{role}-{days}",
                        people=[person_id],
                        shift_length=timedelta(days=1),
                        handoff=HANDOVER,
                        start=first_day,
                    )
                    await rosters.add_layer(
                        conn, change, roster_id, rotation_id=rotation_id, role=role, days=days
                    )
        return DemoTokens(
            admin=await auth.create_token(
                conn, label="demo-admin", role=auth.Role.ADMIN, org_path="harbin", key=token_key
            ),
            office_daoli=await auth.create_token(
                conn,
                label="demo-office-daoli",
                role=auth.Role.OFFICE,
                org_path="harbin.daoli",
                key=token_key,
            ),
            officer_daoli=await auth.create_token(
                conn,
                label="demo-officer-li-na",
                role=auth.Role.OFFICER,
                org_path="harbin.daoli",
                person_id="li-na",
                key=token_key,
            ),
            leader_daoli=await auth.create_token(
                conn,
                label="demo-leader-zhang-wei",
                role=auth.Role.LEADER,
                org_path="harbin.daoli",
                person_id="zhang-wei",
                key=token_key,
            ),
        )
