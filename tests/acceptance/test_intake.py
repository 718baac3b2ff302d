"""Intake: exactly-once effects, follow-ups, and every kind of bad input refused visibly."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from dutywatch.timeline import Source
from handlers.reports import Inbound, Verdict, ingest_batch
from tests.acceptance.conftest import Inbox, Service, eventually, make_report, timeline_kinds


async def counts(service: Service) -> dict[str, int]:
    rows = await service.sql(
        """
        SELECT (SELECT count(*) FROM incidents) AS incidents,
               (SELECT count(*) FROM reports) AS reports,
               (SELECT count(*) FROM pages) AS pages,
               (SELECT count(*) FROM timeline_entries) AS entries,
               (SELECT count(*) FROM outbox) AS outbox
        """
    )
    return dict(rows[0])


async def settled(service: Service) -> None:
    """Wait until the intake consumer has nothing pending or unacknowledged."""

    async def idle() -> bool:
        info = await service.js.consumer_info(service.settings.stream("REPORTS"), "intake")
        return info.num_pending == 0 and info.num_ack_pending == 0

    await eventually(idle, what="intake to drain")


async def test_republished_report_changes_nothing(service: Service, pages: Inbox) -> None:
    report = make_report()
    await service.publish(report)
    await pages.wait_for(1)
    await settled(service)
    before = await counts(service)

    # Same id within JetStream's window: dropped by the stream itself.
    await service.publish(report)
    # Without a message id the stream keeps it; PostgreSQL's unique report_id catches it.
    await service.publish(report, msg_id=None)
    await settled(service)
    await asyncio.sleep(0.2)
    assert await counts(service) == before
    assert len(pages.messages) == 1


async def test_redelivered_message_changes_nothing(service: Service) -> None:
    report = make_report()
    item = Inbound(
        data=json.dumps(report).encode(),
        subject=service.settings.subject("report", report["org"]),
        msg_id=report["report_id"],
        source=Source.NATS,
    )
    now = service.clock.now()
    pool, settings = service.runtime.pool, service.settings
    [first] = await ingest_batch(pool, settings, [item], now)
    before = await counts(service)
    # A redelivery after a crash before the ack, and a batch holding the message twice.
    [again] = await ingest_batch(pool, settings, [item], now)
    twice = await ingest_batch(pool, settings, [item, item], now)
    assert first.verdict is Verdict.ACCEPTED
    assert again.verdict is Verdict.DUPLICATE
    assert again.incident_id == first.incident_id
    assert [o.verdict for o in twice] == [Verdict.DUPLICATE, Verdict.DUPLICATE]
    assert await counts(service) == before


async def test_follow_up_joins_its_incident_and_upgrade_restarts_paging(
    service: Service, pages: Inbox
) -> None:
    first = make_report(grade="IV")
    await service.publish(first)
    [page] = await pages.wait_for(1)
    follow_up = make_report(
        incident_ref=first["incident_ref"],
        stage="follow_up",
        sequence=1,
        grade="II",
        title="新阳路燃气管道泄漏（续报一）",
        casualties={"dead": 0, "injured": 3, "missing": 0, "trapped": 0},
    )
    await service.publish(follow_up)
    second = (await pages.wait_for(2))[1]
    assert second["incident_id"] == page["incident_id"]
    assert second["grade"] == "II"

    [incident] = await service.sql("SELECT * FROM incidents")
    assert incident["reports_count"] == 2
    assert incident["grade"] == "II"
    assert incident["title"] == follow_up["title"]
    kinds = await timeline_kinds(service, incident["id"])
    assert kinds.count("report_received") == 2
    assert "grade_changed" in kinds


async def test_follow_up_without_first_report_is_kept_and_flagged(
    service: Service, pages: Inbox
) -> None:
    await service.publish(make_report(stage="follow_up", sequence=2))
    await pages.wait_for(1)
    [incident] = await service.sql("SELECT first_report_missing FROM incidents")
    assert incident["first_report_missing"] is True


BAD_INPUTS = {
    "unknown_org": (
        "harbin.daoli.nowhere",
        lambda r: json.dumps({**r, "org": "harbin.daoli.nowhere"}).encode(),
        "org",
    ),
    "org_mismatch": (
        "harbin.daoli.xinyang",
        lambda r: json.dumps({**r, "org": "harbin.nangang"}).encode(),
        "org",
    ),
    "malformed_json": ("harbin.daoli.xinyang", lambda r: b'{"schema": "dutywatch.rep', None),
    "payload_too_large": (
        "harbin.daoli.xinyang",
        lambda r: json.dumps({**r, "summary": "灾" * 100_000}).encode(),
        None,
    ),
    "unknown_schema": (
        "harbin.daoli.xinyang",
        lambda r: json.dumps({**r, "schema": "dutywatch.report.v9"}).encode(),
        "schema",
    ),
    "schema_violation": (
        "harbin.daoli.xinyang",
        lambda r: json.dumps({k: v for k, v in r.items() if k != "title"}).encode(),
        "title",
    ),
}


@pytest.mark.parametrize("reason", sorted(BAD_INPUTS))
async def test_bad_report_on_nats_is_rejected_with_its_reason(
    service: Service, rejected: Inbox, reason: str
) -> None:
    org, make_bytes, field = BAD_INPUTS[reason]
    data = make_bytes(make_report())
    await service.js.publish(service.settings.subject("report", org), data)

    [rejection] = await rejected.wait_for(1)
    assert rejection["reason"] == reason
    assert rejection["field"] == field
    assert rejection["source"] == "nats"
    assert rejection["raw_size"] == len(data)
    carried = base64.b64decode(rejection["raw_base64"])
    if rejection["raw_truncated"]:
        assert len(carried) < len(data)
        assert data.startswith(carried)
    else:
        assert carried == data
    assert rejection["message"]
    [row] = await service.sql("SELECT reason, raw FROM rejections")
    assert (row["reason"], bytes(row["raw"])) == (reason, data)
    # Terminated, not left to be redelivered forever; and nothing was opened.
    await settled(service)
    assert (await service.sql("SELECT count(*) AS n FROM incidents"))[0]["n"] == 0


async def test_bad_reports_do_not_hold_up_good_ones_in_the_same_batch(
    service: Service, pages: Inbox, rejected: Inbox
) -> None:
    good = make_report()
    subject = service.settings.subject("report", good["org"])
    await service.js.publish(subject, b"not json")
    await service.publish(good)
    await service.js.publish(subject, b"{}")
    await pages.wait_for(1)
    assert [r["reason"] for r in await rejected.wait_for(2)] == [
        "malformed_json",
        "unknown_schema",
    ]


@pytest.mark.parametrize(
    ("body", "status", "reason", "field"),
    [
        (b"{nope", 400, "malformed_json", None),
        (json.dumps({**make_report(), "grade": "V"}).encode(), 422, "schema_violation", "grade"),
        (
            json.dumps({**make_report(), "location": {"text": "x", "lat": 91}}).encode(),
            422,
            "schema_violation",
            "location.lat",
        ),
        (
            json.dumps({**make_report(), "org": "harbin.nangang"}).encode(),
            403,
            "org_mismatch",
            "org",
        ),
        (
            json.dumps({**make_report(), "pad": "x" * 300_000}).encode(),
            413,
            "payload_too_large",
            None,
        ),
    ],
)
async def test_bad_report_over_http_gets_problem_json_and_is_recorded(
    service: Service,
    rejected: Inbox,
    body: bytes,
    status: int,
    reason: str,
    field: str | None,
) -> None:
    response = await service.client.post(
        "/api/v1/reports",
        data=body,
        headers={
            **service.auth(service.tokens.office_daoli),
            "Content-Type": "application/json",
        },
    )
    assert response.status == status
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["type"].endswith("/" + reason)
    assert problem["status"] == status
    assert problem.get("field") == field
    assert problem["detail"]
    [rejection] = await rejected.wait_for(1)
    assert (rejection["reason"], rejection["source"]) == (reason, "http")


async def test_http_report_takes_the_same_intake_path(service: Service, pages: Inbox) -> None:
    report = make_report()
    response = await service.client.post(
        "/api/v1/reports", json=report, headers=service.auth(service.tokens.office_daoli)
    )
    assert response.status == 202, await response.text()
    accepted = await response.json()
    assert accepted["subject"] == service.settings.subject("report", report["org"])
    [page] = await pages.wait_for(1)
    [entry] = await service.sql(
        "SELECT source FROM timeline_entries WHERE incident_id = $1 AND seq = 1",
        page["incident_id"],
    )
    assert entry["source"] == "http"
    # Posting it again is accepted by HTTP but changes nothing downstream.
    again = await service.client.post(
        "/api/v1/reports", json=report, headers=service.auth(service.tokens.office_daoli)
    )
    assert (await again.json())["duplicate"] is True


async def test_http_requires_a_valid_token(service: Service) -> None:
    response = await service.client.post("/api/v1/reports", json=make_report())
    assert response.status == 401
    response = await service.client.get(
        "/api/v1/incidents", headers=service.auth("dw_not-a-real-token")
    )
    assert response.status == 401
    assert (await response.json())["type"].endswith("/unauthenticated")


async def test_each_report_is_logged_once_with_its_ids(service: Service) -> None:
    from structlog.testing import capture_logs

    report = make_report()
    item = Inbound(
        data=json.dumps(report).encode(),
        subject=service.settings.subject("report", report["org"]),
        msg_id=report["report_id"],
    )
    with capture_logs() as logs:
        [outcome] = await ingest_batch(
            service.runtime.pool, service.settings, [item], service.clock.now()
        )
    accepted = [e for e in logs if e["event"] == "report_accepted"]
    assert len(accepted) == 1
    assert accepted[0]["incident_id"] == outcome.incident_id
    assert accepted[0]["report_id"] == report["report_id"]
    assert accepted[0]["org"] == report["org"]
