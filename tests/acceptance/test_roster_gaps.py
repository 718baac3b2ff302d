"""Roster gaps (值班空档): found ahead of time, alarmed once to the leader and the parent room."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from dutywatch.contracts import ChangeSource
from dutywatch.rosters import gaps, store
from dutywatch.rosters.audit import Change
from tests.acceptance.conftest import Inbox, Service


async def nangang_roster_id(service: Service) -> int:
    [row] = await service.sql("SELECT id FROM rosters WHERE org_path = 'harbin.nangang'")
    roster_id: int = row["id"]
    return roster_id


async def ask_for_two_officers(service: Service) -> int:
    """Two-person duty (双人值班) configured, but only one rotation fills slot 0: a gap."""
    roster_id = await nangang_roster_id(service)
    async with service.runtime.pool.acquire() as conn:
        await store.update_roster(
            conn,
            Change(
                actor="admin",
                source=ChangeSource.HTTP,
                at=service.clock.now(),
                subject_prefix=service.settings.subject_prefix,
            ),
            roster_id,
            {"slots": {"duty_officer": 2, "leader_on_duty": 1}},
        )
    return roster_id


def alarms_of(inbox: Inbox) -> list[dict]:
    return [p for p in inbox.payloads() if p["schema"] == "dutywatch.alarm.v1"]


async def test_a_gap_alarms_the_leader_and_the_parent_duty_room_once(
    service: Service, pages: Inbox
) -> None:
    # The demo rosters have no gaps: the check that ran at start-up found nothing.
    assert await service.sql("SELECT * FROM roster_gaps") == []
    roster_id = await ask_for_two_officers(service)
    service.runtime.gap_wake.set()

    alarms = sorted(await pages.wait_for(2), key=lambda a: a["person_id"])
    assert [(a["person_id"], a["role"], a["org"]) for a in alarms] == [
        ("liu-yang", "leader_on_duty", "harbin.nangang"),
        ("wang-fang", "duty_officer", "harbin.nangang"),
    ]
    assert {a["kind"] for a in alarms} == {"roster_gap"}
    assert {a["roster_id"] for a in alarms} == {str(roster_id)}
    # The gap is open-ended in slot 1: from now to the end of the 7-day horizon.
    assert {datetime.fromisoformat(a["starts_at"]) for a in alarms} == {service.clock.now()}
    assert {datetime.fromisoformat(a["ends_at"]) for a in alarms} == {
        service.clock.now() + timedelta(days=7)
    }

    # Seen again as time passes (the window moves): the same gap, no second alarm.
    for _ in range(3):
        await service.clock.advance(timedelta(minutes=10))
        await asyncio.sleep(0.2)
    async with service.runtime.pool.acquire() as conn:
        assert (
            await gaps.check_gaps(service.runtime.pool, service.settings, service.clock.now()) == 0
        )
        recorded = await gaps.queries.many(conn, "gaps_of_roster", roster_id)
    assert [(g["role"], g["slot"]) for g in recorded] == [("duty_officer", 1)]
    assert recorded[0]["ends_at"] >= service.clock.now() + timedelta(days=7) - timedelta(minutes=1)
    assert len(alarms_of(pages)) == 2


async def test_gap_check_runs_once_per_gap_across_replicas(service: Service) -> None:
    await ask_for_two_officers(service)
    now = service.clock.now()
    pool, settings = service.runtime.pool, service.settings
    found = await asyncio.gather(*(gaps.check_gaps(pool, settings, now) for _ in range(4)))
    # The worker may have found it first; either way exactly one check records it.
    assert sum(found) <= 1
    [count] = await service.sql("SELECT count(*) AS n FROM roster_gaps")
    assert count["n"] == 1
    [alarms] = await service.sql("SELECT count(*) AS n FROM alarms WHERE kind = 'roster_gap'")
    assert alarms["n"] == 2
