"""Zero reports (零报告): accepted over HTTP; a missing one alarms the parent duty room."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.acceptance.conftest import Inbox, Service

#: 09:00 in Shanghai on the day after the service starts (the default due time).
DUE = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


async def zero_report(service: Service, token: str, org: str, day: str = "2026-11-26") -> dict:
    response = await service.client.post(
        "/api/v1/zero-reports", json={"org": org, "day": day}, headers=service.auth(token)
    )
    assert response.status in (200, 201), await response.text()
    body: dict = await response.json()
    return body


async def test_a_missing_zero_report_alarms_the_parent_duty_room(
    service: Service, pages: Inbox
) -> None:
    office, admin = service.tokens.office_daoli, service.tokens.admin
    first = await zero_report(service, office, "harbin.daoli.xinyang")
    assert (first["on_time"], first["duplicate"]) == (True, False)
    assert first["due_at"] == DUE.isoformat()
    again = await zero_report(service, office, "harbin.daoli.xinyang")
    assert again["duplicate"] is True
    assert again["received_at"] == first["received_at"]
    for org in ("harbin.daoli", "harbin.nangang", "harbin.nangang.huayuan"):
        await zero_report(service, admin, org)
    foreign = await service.client.post(
        "/api/v1/zero-reports",
        json={"org": "harbin.nangang", "day": "2026-11-26"},
        headers=service.auth(office),
    )
    assert foreign.status == 403

    # A report at the due time is on time: nothing before 09:00:00.000001.
    await service.clock.advance(DUE - service.clock.now())
    await asyncio.sleep(0.3)
    assert pages.messages == []

    await service.clock.advance(timedelta(seconds=1))
    [alarm] = await pages.wait_for(1)
    assert alarm["schema"] == "dutywatch.alarm.v1"
    assert alarm["kind"] == "zero_report_missing"
    assert (alarm["org"], alarm["person_id"], alarm["role"]) == (
        "harbin.daoli.zhaolin",
        "li-na",
        "duty_officer",
    )
    assert alarm["starts_at"] == "2026-11-26T01:00:00Z"
    await asyncio.sleep(0.3)
    assert len(pages.messages) == 1, pages.payloads()
    [row] = await service.sql("SELECT kind, org_path, person_id FROM alarms")
    assert tuple(row) == ("zero_report_missing", "harbin.daoli.zhaolin", "li-na")

    # Sent after the due time: accepted, marked late, no second alarm.
    late = await zero_report(service, office, "harbin.daoli.zhaolin")
    assert late["on_time"] is False

    # Each parent room has its next day's check armed, once.
    timers = await service.sql(
        "SELECT org_path, due_at FROM timers WHERE kind = 'zero_report' "
        "AND fired_at IS NULL AND cancelled_at IS NULL ORDER BY org_path"
    )
    next_check = DUE + timedelta(days=1, microseconds=1)
    assert [(t["org_path"], t["due_at"]) for t in timers] == [
        ("harbin", next_check),
        ("harbin.daoli", next_check),
        ("harbin.nangang", next_check),
    ]


async def test_a_zero_report_needs_a_known_room_and_a_date(service: Service) -> None:
    auth = service.auth(service.tokens.admin)
    unknown = await service.client.post(
        "/api/v1/zero-reports", json={"org": "harbin.nowhere", "day": "2026-11-26"}, headers=auth
    )
    assert (unknown.status, (await unknown.json())["field"]) == (422, "org")
    bad_day = await service.client.post(
        "/api/v1/zero-reports", json={"org": "harbin.daoli", "day": "tomorrow"}, headers=auth
    )
    assert (bad_day.status, (await bad_day.json())["field"]) == (422, "day")
