"""`/metrics`: what the service did shows up in the Prometheus exposition (issue 9)."""

from __future__ import annotations

import asyncio
import uuid

from prometheus_client.parser import text_string_to_metric_families

from dutywatch import metrics
from tests.acceptance.conftest import ACK_TIMEOUT, Inbox, Service, make_report


async def scrape(service: Service) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await service.client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return float(samples.get((name, tuple(sorted(labels.items()))), 0.0))


async def test_intake_timers_receipts_and_backlogs_are_measured(
    service: Service, pages: Inbox, rejected: Inbox
) -> None:
    before = await scrape(service)
    await service.publish(make_report())
    await service.js.publish(service.settings.subject("report", "harbin.daoli.xinyang"), b"{")
    [page] = await pages.wait_for(1)
    await rejected.wait_for(1)
    after = await scrape(service)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("dutywatch_reports_total", outcome="accepted") == 1
    assert grew("dutywatch_reports_total", outcome="rejected") == 1
    assert grew("dutywatch_rejections_total", reason="malformed_json") == 1
    assert grew("dutywatch_report_latency_seconds_count") == 1
    assert grew("dutywatch_intake_batch_seconds_count") >= 1

    # Nobody acknowledges: the escalation timer fires, and its lateness is observed.
    await service.clock.advance(ACK_TIMEOUT)
    await pages.wait_for(2)
    await asyncio.sleep(0.2)
    fired = await scrape(service)
    assert value(fired, "dutywatch_timer_lateness_seconds_count") > value(
        after, "dutywatch_timer_lateness_seconds_count"
    )

    receipt = {
        "receipt_id": str(uuid.uuid4()),
        "page_id": page["page_id"],
        "channel": "sms",
        "ok": False,
        "detail": "unreachable",
    }
    response = await service.client.post(
        "/api/v1/receipts",
        json={"receipts": [receipt, receipt]},
        headers=service.auth(service.tokens.admin),
    )
    assert response.status == 200, await response.text()
    counted = await scrape(service)
    assert (
        value(counted, "dutywatch_page_deliveries_total", channel="sms", result="failed")
        - value(fired, "dutywatch_page_deliveries_total", channel="sms", result="failed")
        == 1
    )

    await metrics.read_gauges(
        service.runtime.pool, service.js, service.settings, service.clock.now()
    )
    gauges = await scrape(service)
    [timers] = await service.sql(
        "SELECT count(*) AS n FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL"
    )
    assert value(gauges, "dutywatch_timers_pending") == timers["n"] > 0
    assert value(gauges, "dutywatch_intake_pending") == 0
    assert value(gauges, "dutywatch_timers_overdue_seconds") == 0
