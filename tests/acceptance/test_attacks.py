"""Attacks on the HTTP API and the bus, each expected to fail safely (issue 7, "Proof").

Each test plays an attacker with what they could really send: another office's token, an
expired or revoked token, a token in a URL, hostile text, hostile bodies. The service must
refuse with the right status and reason, change nothing, store hostile text verbatim (never
execute it), and never write a secret into a log line.
"""

from __future__ import annotations

import io
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from dutywatch import auth
from dutywatch.contracts import MAX_JSON_DEPTH
from tests.acceptance.conftest import Inbox, Service, make_report

HOSTILE_TEXTS = [
    "'; DROP TABLE incidents; --",
    'Robert"); DELETE FROM timeline_entries WHERE ("1"="1',
    "$1 $$ E'\\x00' ::text; SELECT pg_sleep(10)",
    "\x07\x1b[31m红色\x1b[0m\r\n\tX-Injected: yes",
    "<script>alert(1)</script> {{7*7}} ${7*7}",
]


async def post_json(service: Service, path: str, body: Any, token: str) -> tuple[int, Any]:
    response = await service.client.post(path, json=body, headers=service.auth(token))
    return response.status, await response.json()


async def open_incident(service: Service, pages: Inbox, **overrides: Any) -> int:
    await service.publish(make_report(**overrides))
    page = (await pages.wait_for(len(pages.messages) + 1))[-1]
    incident_id: int = page["incident_id"]
    return incident_id


async def test_an_office_cannot_report_for_another_organisation(service: Service) -> None:
    report = make_report(org="harbin.nangang.huayuan")
    status, problem = await post_json(
        service, "/api/v1/reports", report, service.tokens.office_daoli
    )
    assert status == 403
    assert "harbin.nangang.huayuan" in problem["detail"]
    assert await service.sql("SELECT 1 FROM incidents") == []


async def test_an_officer_cannot_act_on_another_districts_incident(
    service: Service, pages: Inbox
) -> None:
    incident_id = await open_incident(service, pages, org="harbin.nangang.huayuan")
    officer = service.tokens.officer_daoli
    for path, body in [
        ("ack", {}),
        ("resolve", {"note": "closed by an intruder"}),
        ("notes", {"text": "planted"}),
        ("instructions", {"text": "stand down"}),
    ]:
        status, problem = await post_json(
            service, f"/api/v1/incidents/{incident_id}/{path}", body, officer
        )
        assert status == 403, (path, problem)
    response = await service.client.get(
        f"/api/v1/incidents/{incident_id}/timeline", headers=service.auth(officer)
    )
    assert response.status == 403
    kinds = await service.sql(
        "SELECT kind::text FROM timeline_entries WHERE incident_id = $1", incident_id
    )
    assert {"acknowledged", "resolved", "note", "instruction"}.isdisjoint(
        {k["kind"] for k in kinds}
    )


async def test_a_replayed_command_changes_nothing(service: Service, pages: Inbox) -> None:
    incident_id = await open_incident(service, pages)
    body = {"text": "一次", "command_id": str(uuid.uuid4())}
    path = f"/api/v1/incidents/{incident_id}/notes"
    first = await post_json(service, path, body, service.tokens.officer_daoli)
    replay = await post_json(service, path, body, service.tokens.officer_daoli)
    assert (first[0], replay[0]) == (201, 200)
    assert replay[1]["seq"] == first[1]["seq"]
    notes = await service.sql("SELECT 1 FROM timeline_entries WHERE kind = 'note'")
    assert len(notes) == 1


async def test_expired_and_revoked_tokens_are_refused_with_the_reason(service: Service) -> None:
    now = service.clock.now()
    async with service.runtime.pool.acquire() as conn:
        expired = await auth.create_token(
            conn,
            label="expired",
            role=auth.Role.OFFICER,
            org_path="harbin.daoli",
            expires_at=now - timedelta(seconds=1),
        )
        revoked = await auth.create_token(
            conn, label="revoked", role=auth.Role.OFFICER, org_path="harbin.daoli"
        )
        [row] = await conn.fetch("SELECT id FROM api_tokens WHERE label = 'revoked'")
        assert await auth.revoke_token(conn, row["id"], now=now) is True
        assert await auth.revoke_token(conn, row["id"], now=now) is False
    for token, reason in [
        (expired, "expired"),
        (revoked, "revoked"),
        ("dw_" + "A" * 43, "unknown"),
    ]:
        response = await service.client.get("/api/v1/incidents", headers=service.auth(token))
        assert response.status == 401
        assert reason in (await response.json())["detail"]


async def test_a_token_in_the_query_string_is_refused_and_never_logged(service: Service) -> None:
    token = service.tokens.officer_daoli
    with capture_logs() as logs:
        for name in ("token", "access_token", "API_KEY"):
            response = await service.client.get(f"/api/v1/incidents?{name}={token}")
            assert response.status == 400
            assert "Authorization" in (await response.json())["detail"]
    assert token not in json.dumps(logs, default=str)


async def test_no_secret_appears_in_any_log_line(service: Service, pages: Inbox) -> None:
    officer, admin = service.tokens.officer_daoli, service.tokens.admin
    wrong = "dw_" + "B" * 43
    with capture_logs() as logs:
        incident_id = await open_incident(service, pages)
        await post_json(service, f"/api/v1/incidents/{incident_id}/ack", {}, officer)
        await post_json(service, f"/api/v1/incidents/{incident_id}/ack", {}, wrong)
        await post_json(service, "/api/v1/policies", {"id": 1}, admin)
        await service.client.get("/api/v1/incidents", headers={"Authorization": wrong})
    assert any(e.get("event") == "request_refused" for e in logs), "refusals are logged"
    dumped = json.dumps(logs, default=str)
    for secret in (officer, admin, wrong, service.settings.admin_token or "unset"):
        assert secret not in dumped
    assert "admin_token" not in repr(service.settings)


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
async def test_hostile_text_is_stored_and_shown_verbatim(
    service: Service, pages: Inbox, text: str
) -> None:
    incident_id = await open_incident(service, pages, title=text[:200], summary=text)
    status, _ = await post_json(
        service,
        f"/api/v1/incidents/{incident_id}/notes",
        {"text": text + " 备注"},
        service.tokens.officer_daoli,
    )
    assert status == 201
    [stored] = await service.sql("SELECT title FROM incidents WHERE id = $1", incident_id)
    assert stored["title"] == text[:200].strip() or stored["title"] == text[:200]
    response = await service.client.get(
        f"/api/v1/incidents/{incident_id}/timeline",
        headers=service.auth(service.tokens.officer_daoli),
    )
    entries = (await response.json())["entries"]
    assert entries[0]["body"]["summary"] == text
    assert entries[-1]["body"]["text"] == (text + " 备注").strip()
    # The tables the hostile SQL named are intact.
    assert await service.sql("SELECT 1 FROM incidents WHERE id = $1", incident_id)


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), 400, "deeper"),
        (b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "deeper"),
        (b'{"text": "\xff\xfe caf\xc3"}', 400, "UTF-8"),
        (b'{"text": "' + b"x" * (1024 * 1024 + 10) + b'"}', 413, ""),
    ],
)
async def test_hostile_bodies_are_refused_not_crashed_on(
    service: Service, pages: Inbox, body: bytes, status: int, fragment: str
) -> None:
    incident_id = await open_incident(service, pages)
    response = await service.client.post(
        f"/api/v1/incidents/{incident_id}/notes",
        data=io.BytesIO(body),
        headers={**service.auth(service.tokens.officer_daoli), "Content-Type": "application/json"},
    )
    assert response.status == status
    assert fragment in await response.text()


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000 + b"]" * 5000,
        json.dumps({**make_report(), "location": {"text": "x"}}).encode()[:-1]
        + b', "extra": '
        + b"[" * 5000
        + b"]" * 5000
        + b"}",
        b'{"schema": "dutywatch.report.v1", "title": "\xff"}',
    ],
)
async def test_hostile_reports_are_refused_and_recorded(
    service: Service, rejected: Inbox, body: bytes
) -> None:
    """Over HTTP and over the bus, the report decoder refuses them as malformed and records
    each refusal; nothing crashes and the intake keeps going."""
    response = await service.client.post(
        "/api/v1/reports",
        data=body,
        headers={**service.auth(service.tokens.office_daoli), "Content-Type": "application/json"},
    )
    assert response.status == 400
    await service.js.publish(service.settings.subject("report", "harbin.daoli.xinyang"), body)
    refusals = await rejected.wait_for(2)
    assert [r["reason"] for r in refusals] == ["malformed_json", "malformed_json"]
    assert [r["source"] for r in refusals] == ["http", "nats"]


async def test_every_answer_carries_the_security_headers(service: Service) -> None:
    for path, token in [
        ("/healthz", None),
        ("/api/v1/incidents", service.tokens.officer_daoli),
        ("/api/v1/incidents", None),  # a problem answer too
    ]:
        response = await service.client.get(path, headers=service.auth(token) if token else {})
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "script-src" not in headers["Content-Security-Policy"]
        assert headers["Referrer-Policy"] == "no-referrer"


async def test_refusals_are_counted(service: Service) -> None:
    def refused() -> float:
        for line in metrics_text.splitlines():
            if line.startswith('dutywatch_http_refusals_total{reason="unauthenticated"}'):
                return float(line.split()[-1])
        return 0.0

    metrics_text = await (await service.client.get("/metrics")).text()
    before = refused()
    await service.client.get("/api/v1/incidents")
    metrics_text = await (await service.client.get("/metrics")).text()
    assert refused() == before + 1
