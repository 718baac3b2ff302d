"""Zero reports (零报告): accept them, and alarm the parent duty room about missing ones.

Each subordinate duty room owes its parent a daily report for each local duty day, "nothing
to report" allowed (``POST /api/v1/zero-reports`` with ``{"org", "day"}``; the first one of a
day counts, a repeat changes nothing). Each parent room has one pending ``zero_report`` timer
at the instant the day's reports become missing (``Settings.zero_report_due_by`` local time
in ``zero_report_tz``, plus a microsecond: a report at the due time is on time). When it fires,
every direct subordinate room without a report for that day raises a ``zero_report_missing``
alarm (``dutywatch.alarm.v1``) to the parent room's duty officer, and the next day's timer is
armed in the same transaction.

Timers are armed when the scheduler starts (for the next due instant: a service started after
today's due time does not alarm for today) and by each firing; a parent room added later gets
its timer at the next start.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
import structlog

from dutywatch import errors
from dutywatch.config import Settings
from dutywatch.contracts import AlarmKind, AlarmV1
from dutywatch.db import OUTBOX_CHANNEL, TIMERS_CHANNEL, with_retries
from dutywatch.deadlines.rules import (
    TICK,
    DailyReport,
    ZeroReportRule,
    missing_zero_reports,
    zero_report_due_at,
)
from dutywatch.deadlines.store import queries
from dutywatch.escalation.engine import Rosters
from dutywatch.orgs.store import known_orgs
from dutywatch.rosters.model import Role
from dutywatch.rosters.rules import route_page
from dutywatch.sql import Conn
from dutywatch.writes import Writes

log = structlog.get_logger(__name__)

TIMER_KIND = "zero_report"


def rule_of(settings: Settings) -> ZeroReportRule | None:
    if settings.zero_report_due_by is None:
        return None
    return ZeroReportRule(due_by=settings.zero_report_due_by, tz=settings.zero_report_tz)


def next_check_after(rule: ZeroReportRule, now: datetime) -> datetime:
    """The first instant after ``now`` at which a day's zero reports become missing."""
    day = now.astimezone(ZoneInfo(rule.tz)).date()
    while (check := zero_report_due_at(rule, day) + TICK) <= now:
        day = date.fromordinal(day.toordinal() + 1)
    return check


def day_checked(rule: ZeroReportRule, check_at: datetime) -> date:
    """The duty day a check at ``check_at`` (a due time plus a tick) is about."""
    return (check_at - TICK).astimezone(ZoneInfo(rule.tz)).date()


async def arm_all(pool: asyncpg.Pool, settings: Settings, now: datetime) -> int:
    """Give every parent duty room its pending timer (idempotent across replicas)."""
    rule = rule_of(settings)
    if rule is None:
        return 0
    due = next_check_after(rule, now)
    async with pool.acquire() as conn, conn.transaction():
        parents = [row["path"] for row in await queries.many(conn, "parent_orgs")]
        for parent in parents:
            await queries.exec(conn, "arm_zero_report_timer", parent, due, now)
        await conn.execute("SELECT pg_notify($1, '')", TIMERS_CHANNEL)
    return len(parents)


async def accept(
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    org: str,
    day: date,
    actor: str,
    now: datetime,
    report_id: UUID | None = None,
) -> dict[str, Any]:
    """Record a room's zero report for ``day``; the first one of a day counts."""

    async def transaction() -> dict[str, Any]:
        async with pool.acquire() as conn, conn.transaction():
            if not await known_orgs(conn, [org]):
                raise errors.UnknownOrganisation(
                    f"organisation {org!r} is not registered; GET /api/v1/orgs lists them",
                    field="org",
                )
            inserted = await queries.one(
                conn, "insert_zero_report", org, day, now, report_id or uuid4(), actor
            )
            row = await queries.one(conn, "zero_report", org, day)
            if row is None:  # the report_id was used for another room's or day's report
                raise errors.Conflict(
                    "this report_id was already used for another zero report", field="report_id"
                )
            rule = rule_of(settings)
            due = zero_report_due_at(rule, day) if rule is not None else None
            log.info("zero_report", org=org, day=day.isoformat(), duplicate=inserted is None)
            return {
                "org": org,
                "day": day.isoformat(),
                "received_at": row["received_at"].isoformat(),
                "report_id": str(row["report_id"]),
                "due_at": due.isoformat() if due else None,
                "on_time": bool(due is None or row["received_at"] <= due),
                "duplicate": inserted is None,
            }

    return await with_retries(transaction, what=f"zero report {org} {day}")


async def fire(
    conn: Conn, writes: Writes, settings: Settings, timers: Sequence[asyncpg.Record]
) -> list[int]:
    """Alarm each parent room about its missing zero reports; arm the next day's timers."""
    rule = rule_of(settings)
    handled = [t["id"] for t in timers]
    if rule is None or not timers:
        return handled
    rosters = await Rosters.load(conn, (t["org_path"] for t in timers), writes)
    raised = 0
    for timer in timers:
        parent, check_at = timer["org_path"], timer["due_at"]
        day = day_checked(rule, check_at)
        rooms = [row["path"] for row in await queries.many(conn, "child_orgs", parent)]
        reports = [
            DailyReport(org=row["org_path"], day=row["day"], received_at=row["received_at"])
            for row in await queries.many(conn, "zero_reports_of_day", day, rooms)
        ]
        missing = missing_zero_reports(rooms, reports, day=day, now=writes.now, rule=rule)
        for room in missing:
            raised += await _alarm(conn, writes, settings, rosters, parent, room, day, check_at)
        writes.add_timer(
            kind=TIMER_KIND, org_path=parent, due_at=next_check_after(rule, writes.now)
        )
    if raised:
        await conn.execute("SELECT pg_notify($1, '')", OUTBOX_CHANNEL)
    return handled


async def _alarm(
    conn: Conn,
    writes: Writes,
    settings: Settings,
    rosters: Rosters,
    parent: str,
    room: str,
    day: date,
    check_at: datetime,
) -> int:
    role = str(Role.DUTY_OFFICER)
    recipients = route_page(rosters.shifts, parent, role, writes.now)
    due_at = check_at - TICK
    title = f"零报告缺报 zero report missing: {room} {day.isoformat()}"
    if not recipients.people or recipients.org_path is None:
        log.error("zero_report_missing_nobody_to_alert", parent=parent, room=room, day=str(day))
        return 0
    for person_id in recipients.people:
        alarm_id = await writes.alarm_ids.take(conn)
        writes.alarms.append(
            (
                alarm_id,
                str(AlarmKind.ZERO_REPORT_MISSING),
                room,
                person_id,
                role,
                title,
                None,
                json.dumps({"day": day.isoformat(), "parent": parent, "due_at": str(due_at)}),
                writes.now,
            )
        )
        writes.enqueue(
            settings.subject("notify", person_id),
            AlarmV1(
                alarm_id=alarm_id,
                kind=AlarmKind.ZERO_REPORT_MISSING,
                person_id=person_id,
                role=role,
                org=room,
                title=title,
                created_at=writes.now,
                starts_at=due_at,
            ),
        )
    log.warning(
        "zero_report_missing",
        parent=parent,
        room=room,
        day=day.isoformat(),
        alerted=list(recipients.people),
    )
    return len(recipients.people)
