"""Outbound channels (issue 6): pages delivered over people's contact methods.

The receivers are real servers in the test: an aiohttp webhook receiver and SMS gateway, and
an aiosmtpd SMTP server, all on 127.0.0.1 (so the service is told to allow loopback targets,
except in the test that proves the refusal).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import hmac
import ipaddress
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.smtp import SMTP, Envelope, Session

from dutywatch.config import Settings
from dutywatch.web.app import RUNTIME, create_app
from tests.acceptance.conftest import Inbox, Service, eventually, make_report
from tests.acceptance.test_record import run_cli
from tests.acceptance.test_reporting_deadlines import of_kind, timeline
from tests.unit.test_contracts import CONTRACTS_DIR

SECRET = "whsec-test-0123456789abcdef"
SMS_KEY = "sms-key-for-tests"
ATTEMPTS = 3
PERSON = "li-na"  # the Daoli district duty officer, paged for a report from Xinyang


@dataclass
class Receiver:
    """An HTTP server that records requests and answers with ``status``."""

    status: int = 200
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        return web.Response(status=self.status, text="ok" if self.status < 300 else "broken")


async def serve(receiver: Receiver) -> AsyncIterator[Receiver]:
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.port = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@pytest.fixture
async def webhook() -> AsyncIterator[Receiver]:
    async for receiver in serve(Receiver()):
        yield receiver


@pytest.fixture
async def gateway() -> AsyncIterator[Receiver]:
    async for receiver in serve(Receiver()):
        yield receiver


@pytest.fixture
async def mailbox() -> AsyncIterator[Mailbox]:
    box = Mailbox()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(box, hostname="smtp.test"), "127.0.0.1", 0
    )
    box.port = server.sockets[0].getsockname()[1]
    try:
        yield box
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def allowed_networks() -> tuple[Any, ...]:
    return (ipaddress.ip_network("127.0.0.0/8"),)


@pytest.fixture
def backoff() -> timedelta:
    return timedelta(milliseconds=50)


@pytest.fixture
def service_settings(
    service_settings: Settings,
    allowed_networks: tuple[Any, ...],
    backoff: timedelta,
    mailbox: Mailbox,
    gateway: Receiver,
) -> Settings:
    return service_settings.with_(
        webhook_secret=SECRET,
        webhook_allowed_networks=allowed_networks,
        delivery_attempts=ATTEMPTS,
        delivery_backoff=backoff,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_tls="off",
        smtp_from="duty@dutywatch.test",
        sms_gateway_url=gateway.url,
        sms_api_key=SMS_KEY,
        public_url="https://duty.example.gov.cn",
    )


async def add_contact(service: Service, kind: str, address: str, priority: int) -> int:
    [row] = await service.sql(
        "INSERT INTO contact_methods (person_id, kind, address, priority)"
        " VALUES ($1, $2, $3, $4) RETURNING id",
        PERSON,
        kind,
        address,
        priority,
    )
    contact_id: int = row["id"]
    return contact_id


async def page_of_person(service: Service, pages: Inbox) -> tuple[dict[str, Any], bytes]:
    """Open an incident; the page for PERSON as published, and its bytes."""
    await service.publish(make_report())

    async def mine() -> Any:
        return [m for m in pages.messages if json.loads(m.data)["person_id"] == PERSON]

    [msg] = await eventually(mine, what=f"the page for {PERSON}")
    return json.loads(msg.data), bytes(msg.data)


async def delivered(service: Service, incident_id: int, *, what: str) -> dict[str, Any]:
    """The one ``page_delivered`` entry of the incident, once it is there."""

    async def entries() -> Any:
        return of_kind(await timeline(service, incident_id), "page_delivered")

    [entry] = await eventually(entries, what=what)
    return entry


async def receipts(service: Service, incident_id: int) -> list[dict[str, Any]]:
    return [b for k, b in await timeline(service, incident_id) if k.startswith("page_")]


async def delivery_idle(service: Service) -> None:
    """The channel worker has settled every message it was given."""

    async def idle() -> bool:
        info = await service.js.consumer_info(service.settings.stream("NOTIFY"), "delivery")
        return info.num_pending == 0 and info.num_ack_pending == 0

    await eventually(idle, what="the delivery consumer to settle every page")


def verify_signature(header: str, body: bytes, *, secret: str, now: float) -> bool:
    """The README's recipe, written out as a receiver would."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = parts["t"]
    if abs(now - int(timestamp)) > 300:
        return False
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


async def test_a_webhook_receiver_verifies_the_signed_page_and_a_redelivery_sends_nothing_twice(
    service: Service, pages: Inbox, webhook: Receiver
) -> None:
    await add_contact(service, "webhook", webhook.url, 0)
    page, data = await page_of_person(service, pages)

    entry = await delivered(service, page["incident_id"], what="page_delivered")
    assert (entry["channel"], entry["attempt"], entry["page_id"]) == ("webhook", 1, page["page_id"])
    [(headers, body)] = webhook.requests
    assert body == data
    assert json.loads(body)["schema"] == "dutywatch.notification.v1"
    assert headers["Content-Type"] == "application/json"
    now = service.clock.now().timestamp()
    assert verify_signature(headers["Dutywatch-Signature"], body, secret=SECRET, now=now)
    assert not verify_signature(headers["Dutywatch-Signature"], body + b" ", secret=SECRET, now=now)
    assert not verify_signature(headers["Dutywatch-Signature"], body, secret="other", now=now)
    assert not verify_signature(headers["Dutywatch-Signature"], body, secret=SECRET, now=now + 301)

    # The same notification again (a republish after a crash, a redelivery): the receipt of
    # (page, webhook, attempt 1) exists, so nothing is sent or recorded again.
    await service.js.publish(
        service.settings.subject("notify", PERSON), data, headers={"Nats-Msg-Id": "again-1"}
    )
    await delivery_idle(service)
    assert len(webhook.requests) == 1
    assert len(await receipts(service, page["incident_id"])) == 1
    [count] = await service.sql("SELECT count(*) AS n FROM page_receipts")
    assert count["n"] == 1


async def test_a_failing_webhook_is_retried_then_dead_lettered_and_email_delivers_the_page(
    service: Service, pages: Inbox, webhook: Receiver, mailbox: Mailbox
) -> None:
    webhook.status = 500
    hook_id = await add_contact(service, "webhook", webhook.url, 0)
    await add_contact(service, "email", "li.na@daoli.example.gov.cn", 5)
    page, _ = await page_of_person(service, pages)
    incident_id = page["incident_id"]

    entry = await delivered(service, incident_id, what="delivery by e-mail")
    assert entry["channel"] == "email"
    failed = of_kind(await timeline(service, incident_id), "page_failed")
    assert [(f["channel"], f["attempt"]) for f in failed] == [
        ("webhook", n) for n in range(1, ATTEMPTS + 1)
    ]
    assert all(f["reason"] == "webhook answered HTTP 500" for f in failed)
    assert len(webhook.requests) == ATTEMPTS
    # Each try is signed anew and names itself, so a receiver can drop one it already took.
    assert len({h["Dutywatch-Delivery"] for h, _ in webhook.requests}) == ATTEMPTS

    response = await service.client.get(
        "/api/v1/dead-letters", headers=service.auth(service.settings.admin_token or "")
    )
    assert response.status == 200
    [letter] = (await response.json())["dead_letters"]
    assert letter["page_id"] == page["page_id"]
    assert (letter["contact_id"], letter["channel"]) == (hook_id, "webhook")
    assert (letter["first_attempt"], letter["last_attempt"]) == (1, ATTEMPTS)
    assert letter["reason"] == "webhook answered HTTP 500"
    assert letter["notification"] == page
    officer = await service.client.get(
        "/api/v1/dead-letters", headers=service.auth(service.tokens.officer_daoli)
    )
    assert officer.status == 403
    code, out, _ = await run_cli(
        service,
        "dead-letters",
        "--incident",
        str(incident_id),
        token=service.settings.admin_token or "",
    )
    assert code == 0
    assert f"incident {incident_id}  page {page['page_id']}  {PERSON}  webhook" in out
    assert "webhook answered HTTP 500" in out

    [message] = mailbox.messages
    assert mailbox.recipients == [["li.na@daoli.example.gov.cn"]]
    assert page["title"] in message["Subject"]
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    plain = text.get_content()
    assert page["title"] in plain
    assert "III级" in plain
    assert "较大" in plain
    assert page["org"] in plain
    assert f"https://duty.example.gov.cn/console/#/incident/{incident_id}" in plain
    assert page["title"] in html.get_content()


@pytest.mark.parametrize("backoff", [timedelta(seconds=1)])
async def test_a_retry_waiting_when_the_service_stops_is_made_by_the_next_one(
    service: Service, pages: Inbox, webhook: Receiver
) -> None:
    webhook.status = 503
    await add_contact(service, "webhook", webhook.url, 0)
    page, _ = await page_of_person(service, pages)

    async def first_try() -> Any:
        return of_kind(await timeline(service, page["incident_id"]), "page_failed")

    await eventually(first_try, what="the first try to fail")
    # The service goes away while the retry waits in JetStream (nak with the backoff).
    await service.client.close()
    # The stopping service may have made a second try (the redelivery can come while it
    # finishes its last fetch); whatever it made, the next try is the new service's.
    tries_before = len(webhook.requests)
    webhook.status = 200
    app = create_app(service.settings, service.clock)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    service.runtime = app[RUNTIME]
    try:
        entry = await delivered(service, page["incident_id"], what="the retry by the new service")
    finally:
        await client.close()
    assert (entry["channel"], entry["attempt"]) == ("webhook", tries_before + 1)
    assert len(webhook.requests) == tries_before + 1


async def test_the_sms_gateway_receives_the_page_and_the_console_is_left_to_the_console(
    service: Service, pages: Inbox, gateway: Receiver
) -> None:
    await add_contact(service, "console", "daoli-desk-1", 0)
    await add_contact(service, "sms", "+8613800000001", 1)
    page, _ = await page_of_person(service, pages)

    entry = await delivered(service, page["incident_id"], what="delivery by SMS")
    assert entry["channel"] == "sms"
    [(headers, body)] = gateway.requests
    assert headers["Authorization"] == f"Bearer {SMS_KEY}"
    sent = json.loads(body)
    assert sent["to"] == "+8613800000001"
    assert page["title"] in sent["text"]
    assert f"/console/#/incident/{page['incident_id']}" in sent["text"]
    # The console posts its own receipts (issue 8); the worker records nothing for it.
    assert [r["channel"] for r in await receipts(service, page["incident_id"])] == ["sms"]


@pytest.mark.parametrize("allowed_networks", [()])
async def test_webhooks_to_loopback_are_refused_without_the_allowance(
    service: Service, pages: Inbox, webhook: Receiver
) -> None:
    by_name = webhook.url.replace("127.0.0.1", "localhost")
    await add_contact(service, "webhook", webhook.url, 0)
    await add_contact(service, "webhook", by_name, 1)
    await add_contact(service, "nats", "app.li-na", 3)
    page, _ = await page_of_person(service, pages)

    entry = await delivered(service, page["incident_id"], what="delivery on the NATS subject")
    assert entry["channel"] == "nats"
    assert webhook.requests == []
    failed = of_kind(await timeline(service, page["incident_id"]), "page_failed")
    # Refused at once (no retries): by the literal address, and by what the name resolves to.
    assert [(f["channel"], f["attempt"]) for f in failed] == [("webhook", 1), ("webhook", 2)]
    assert "loopback" in failed[0]["reason"]
    assert "localhost resolves to" in failed[1]["reason"]
    rows = await service.sql("SELECT count(*) AS n FROM dead_letters")
    assert rows[0]["n"] == 2


async def test_incident_events_carry_enough_to_mirror_the_incident(
    service: Service, pages: Inbox, events: Inbox
) -> None:
    report = make_report()
    await service.publish(report)
    [opened] = await events.wait_for(1)
    assert opened["incident_ref"] == report["incident_ref"]
    assert opened["opened_at"] == service.clock.now().isoformat().replace("+00:00", "Z")
    assert opened["occurred_at"] is not None
    assert (opened["acknowledged_at"], opened["resolved_at"]) == (None, None)
    assert (opened["sensitive"], opened["reports_count"]) == (False, 1)
    response = await service.client.post(
        f"/api/v1/incidents/{opened['incident_id']}/ack",
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert response.status == 200, await response.text()
    acknowledged = (await events.wait_for(2))[1]
    assert acknowledged["kind"] == "acknowledged"
    assert acknowledged["acknowledged_at"] is not None
    assert acknowledged["acknowledged_by"] == acknowledged["actor"]
    assert acknowledged["incident_ref"] == report["incident_ref"]


async def test_the_openapi_document_is_served_as_json_equal_to_the_yaml(service: Service) -> None:
    response = await service.client.get("/api/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    served = await response.json()
    published = yaml.safe_load((CONTRACTS_DIR / "openapi.yaml").read_text(encoding="utf-8"))
    assert served == published
    assert "/api/v1/dead-letters" in served["paths"]
    # Its relative $ref resolves beside it.
    schema = await service.client.get("/api/report.v1.schema.json")
    assert schema.status == 200
    assert json.loads(await schema.read()) == json.loads(
        (CONTRACTS_DIR / "report.v1.schema.json").read_bytes()
    )
    missing = await service.client.get("/api/nothing.v1.schema.json")
    assert missing.status == 404
