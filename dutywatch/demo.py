"""A small demo world for `dutywatch up`: a city, two districts, townships, people on duty."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from dutywatch import auth
from dutywatch.escalation.rules import DUTY_OFFICER, LEADER_ON_DUTY
from dutywatch.orgs.store import queries as org_queries
from dutywatch.rosters.store import queries as roster_queries

SHANGHAI = ZoneInfo("Asia/Shanghai")

ORGS = [
    ("harbin", "哈尔滨市", None, "230100"),
    ("harbin.daoli", "道里区", "harbin", "230102"),
    ("harbin.nangang", "南岗区", "harbin", "230103"),
    ("harbin.daoli.xinyang", "新阳路街道", "harbin.daoli", None),
    ("harbin.daoli.zhaolin", "兆麟街道", "harbin.daoli", None),
    ("harbin.nangang.huayuan", "花园街道", "harbin.nangang", None),
]

#: (person id, name, org, role): one duty officer and one leader on duty per duty room.
#: Townships have no roster of their own, so their pages climb to the district.
PEOPLE = [
    ("wang-fang", "王芳", "harbin", DUTY_OFFICER),
    ("zhao-lei", "赵磊", "harbin", LEADER_ON_DUTY),
    ("li-na", "李娜", "harbin.daoli", DUTY_OFFICER),
    ("zhang-wei", "张伟", "harbin.daoli", LEADER_ON_DUTY),
    ("chen-jing", "陈静", "harbin.nangang", DUTY_OFFICER),
    ("liu-yang", "刘洋", "harbin.nangang", LEADER_ON_DUTY),
]

#: Duty changes at 08:30 local time (a common handover time for municipal duty rooms).
HANDOVER = time(8, 30)


@dataclass(frozen=True)
class DemoTokens:
    admin: str
    office_daoli: str
    officer_daoli: str
    leader_daoli: str


async def is_loaded(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM orgs WHERE path = 'harbin')"))


async def load(conn: asyncpg.Connection, now: datetime, days: int = 60) -> DemoTokens:
    """Insert the demo; shifts cover from yesterday's handover for ``days`` days."""
    async with conn.transaction():
        for path, name, parent, code in ORGS:
            await org_queries.exec(conn, "insert_org", path, name, parent, code, "Asia/Shanghai")
        for person_id, name, org, _role in PEOPLE:
            await org_queries.exec(conn, "insert_person", person_id, name, org, None)
        local_today = now.astimezone(SHANGHAI).date()
        first = datetime.combine(local_today - timedelta(days=1), HANDOVER, SHANGHAI)
        for person_id, _name, org, role in PEOPLE:
            await roster_queries.exec(
                conn,
                "insert_shift",
                org,
                role,
                person_id,
                first,
                first + timedelta(days=days),
            )
        return DemoTokens(
            admin=await auth.create_token(
                conn, label="demo-admin", role=auth.Role.ADMIN, org_path="harbin"
            ),
            office_daoli=await auth.create_token(
                conn, label="demo-office-daoli", role=auth.Role.OFFICE, org_path="harbin.daoli"
            ),
            officer_daoli=await auth.create_token(
                conn,
                label="demo-officer-li-na",
                role=auth.Role.OFFICER,
                org_path="harbin.daoli",
                person_id="li-na",
            ),
            leader_daoli=await auth.create_token(
                conn,
                label="demo-leader-zhang-wei",
                role=auth.Role.LEADER,
                org_path="harbin.daoli",
                person_id="zhang-wei",
            ),
        )
