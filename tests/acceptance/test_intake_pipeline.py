"""The pipelined intake loop: the next batch is fetched while the current one commits.

Small batches make many batches overlap; whatever the overlap, each report is stored once,
opens or joins its incident once and pages once, and a batch fetched but not handled (the
loop stopping) goes back to JetStream at once instead of waiting out its ack wait.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NatsClient

from dutywatch import demo
from dutywatch.clock import ManualClock
from dutywatch.config import Settings
from handlers import reports
from tests.acceptance.conftest import (
    Inbox,
    Service,
    eventually,
    make_report,
    running_service,
)

#: Reports per batch: small, so that a run of reports is many pipelined batches.
BATCH = 4


@pytest.fixture
def service_settings(settings: Settings) -> Settings:
    return settings.with_(intake_batch=BATCH, admin_token="admin-token-for-tests-0123")


async def _intake_idle(service: Service) -> bool:
    info = await service.js.consumer_info(service.settings.stream("REPORTS"), "intake")
    return info.num_pending == 0 and info.num_ack_pending == 0


async def test_pipelined_batches_make_one_incident_and_one_page_per_report(
    service: Service, pages: Inbox
) -> None:
    firsts = [make_report(title=f"pipeline #{i}") for i in range(40)]
    # A follow-up lands in a later batch than its first report: order is kept across batches.
    follow_ups = [
        make_report(
            incident_ref=first["incident_ref"], stage="follow_up", sequence=1, title=first["title"]
        )
        for first in firsts[:8]
    ]
    for report in [*firsts, *follow_ups]:
        await service.publish(report)
    await pages.wait_for(len(firsts))
    await eventually(lambda: _intake_idle(service), what="intake to drain")

    rows = await service.sql(
        """SELECT i.incident_ref, i.reports_count, i.first_report_missing,
                  (SELECT count(*) FROM pages p WHERE p.incident_id = i.id) AS pages
           FROM incidents i WHERE i.title LIKE 'pipeline #%'"""
    )
    assert len(rows) == len(firsts)
    assert not any(r["first_report_missing"] for r in rows)
    followed = {f["incident_ref"] for f in follow_ups}
    assert {r["incident_ref"]: r["reports_count"] for r in rows} == {
        f["incident_ref"]: 2 if f["incident_ref"] in followed else 1 for f in firsts
    }
    assert all(r["pages"] == 1 for r in rows)
    paged = Counter(p["incident_id"] for p in pages.payloads())
    assert len(paged) == len(firsts)
    assert set(paged.values()) == {1}


@pytest.fixture
async def no_intake(
    settings: Settings, clock: ManualClock, tokens: demo.DemoTokens, nc: NatsClient
) -> AsyncIterator[Service]:
    """The service without its own intake worker: the test runs the consumer itself."""
    quiet = settings.with_(intake_batch=BATCH, run_intake=False)
    async with running_service(quiet, clock, tokens, nc) as service:
        yield service


async def test_a_batch_fetched_when_the_loop_stops_goes_back_at_once(no_intake: Service) -> None:
    service = no_intake
    runtime, settings = service.runtime, service.settings
    reports_sent = [make_report(title=f"handed back #{i}") for i in range(60)]
    for report in reports_sent:
        await service.publish(report)

    stop = asyncio.Event()
    commits = 0

    def after_commit() -> None:
        nonlocal commits
        commits += 1
        if commits == 3:
            stop.set()  # stop mid-stream: the batch fetched ahead is not handled

    await asyncio.wait_for(
        reports.consume(service.js, runtime.pool, settings, service.clock, stop, after_commit),
        timeout=30,
    )
    stored = (await service.sql("SELECT count(*) AS n FROM reports"))[0]["n"]
    assert stored == 3 * BATCH
    # One batch was fetched ahead and not handled; the stopped loop handed it back (nak).
    info = await service.js.consumer_info(settings.stream("REPORTS"), "intake")
    assert info.num_pending == len(reports_sent) - stored - BATCH

    # A fresh loop (another replica, or this one restarted) takes every report left, once.
    again = asyncio.Event()
    task = asyncio.create_task(
        reports.consume(service.js, runtime.pool, settings, service.clock, again, lambda: None)
    )
    try:

        async def all_stored() -> bool:
            rows = await service.sql("SELECT count(*) AS n FROM reports")
            return bool(rows[0]["n"] == len(reports_sent))

        # Well within the intake's 30 s ack wait: the batch handed back is redelivered at once,
        # not when its ack wait runs out.
        await eventually(all_stored, timeout=15, what="every report stored")
        await eventually(lambda: _intake_idle(service), what="intake to drain")
    finally:
        again.set()
        await asyncio.wait_for(task, timeout=10)
    rows = await service.sql(
        "SELECT count(*) AS incidents, count(DISTINCT incident_ref) AS refs FROM incidents "
        "WHERE title LIKE 'handed back #%'"
    )
    assert dict(rows[0]) == {"incidents": len(reports_sent), "refs": len(reports_sent)}
