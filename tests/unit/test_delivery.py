"""Pure parts of outbound delivery: planning from receipts, backoff, signatures, target
safety, the messages and the settings."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dutywatch.config import from_env
from dutywatch.contracts import Category, Grade, NotificationV1, PageReason, ReportStatus
from dutywatch.delivery import messages
from dutywatch.delivery.plan import (
    MAX_BACKOFF,
    Method,
    Tried,
    backoff,
    plan,
    receipt_id,
)
from dutywatch.delivery.signing import (
    address_problem,
    signature_header,
    url_problem,
    verify,
)
from dutywatch.errors import ConfigurationError
from dutywatch.orgs.kinds import ContactKind

KINDS = list(ContactKind)
methods_strategy = st.lists(
    st.builds(
        Method,
        id=st.integers(1, 10_000),
        kind=st.sampled_from(KINDS),
        address=st.just("x"),
        priority=st.integers(0, 99),
    ),
    max_size=6,
    unique_by=lambda m: m.id,
)


def run_to_end(
    methods: list[Method], attempts: int, succeeds: set[int]
) -> tuple[list[Tried], list[int]]:
    """Drive the plan as the worker does; methods in ``succeeds`` deliver on their last try.

    Returns the receipts and the ids of the methods that gave up, in order.
    """
    receipts: list[Tried] = []
    dead: dict[int, int] = {}
    gave_up: list[int] = []
    for _ in range(1000):
        current = plan(methods, receipts, attempts=attempts, dead=dead)
        for g in current.gave_up:
            dead[g.method.id] = g.last_attempt
            gave_up.append(g.method.id)
        if current.next is None:
            return receipts, gave_up
        attempt = current.next
        last_try = attempt.failed + 1 == (
            1 if attempt.method.kind is ContactKind.NATS else attempts
        )
        ok = attempt.method.kind is ContactKind.NATS or (attempt.method.id in succeeds and last_try)
        receipts.append(Tried(channel=attempt.method.kind, attempt=attempt.number, ok=ok))
    raise AssertionError("the plan never ends")


@given(methods_strategy, st.integers(1, 5), st.sets(st.integers(1, 10_000)))
def test_a_page_ends_delivered_or_with_every_method_given_up(
    methods: list[Method], attempts: int, succeeds: set[int]
) -> None:
    receipts, gave_up = run_to_end(methods, attempts, succeeds)
    final = plan(methods, receipts, attempts=attempts, dead=dict.fromkeys(gave_up, 10**6))
    assert final.next is None
    tried_methods = [m for m in methods if m.kind is not ContactKind.CONSOLE]
    if not any(r.ok for r in receipts):
        assert sorted(gave_up) == sorted(m.id for m in tried_methods)
    # At most one success, and it is the last receipt.
    assert [r.ok for r in receipts].count(True) <= 1
    if receipts and any(r.ok for r in receipts):
        assert receipts[-1].ok
    # Each (channel, attempt) is one try: receipt ids never collide.
    keys = [(r.channel, r.attempt) for r in receipts]
    assert len(keys) == len(set(keys))
    # Attempt numbers of a channel run 1, 2, 3 ... without gaps.
    for kind in KINDS:
        numbers = [r.attempt for r in receipts if r.channel is kind]
        assert numbers == list(range(1, len(numbers) + 1))
    # Never more tries than the methods allow; the console is never tried.
    assert len(receipts) <= sum(
        1 if m.kind is ContactKind.NATS else attempts for m in tried_methods
    )
    assert all(r.channel is not ContactKind.CONSOLE for r in receipts)


@given(methods_strategy, st.integers(1, 5), st.sets(st.integers(1, 10_000)), st.data())
def test_planning_again_from_the_same_receipts_gives_the_same_answer(
    methods: list[Method], attempts: int, succeeds: set[int], data: st.DataObject
) -> None:
    receipts, _ = run_to_end(methods, attempts, succeeds)
    cut = data.draw(st.integers(0, len(receipts)))
    first = plan(methods, receipts[:cut], attempts=attempts)
    again = plan(methods, list(reversed(receipts[:cut])), attempts=attempts)
    assert first == again


def test_methods_are_tried_in_priority_order_with_retries_then_fallback() -> None:
    hook = Method(id=7, kind=ContactKind.WEBHOOK, address="https://a.example/", priority=0)
    mail = Method(id=3, kind=ContactKind.EMAIL, address="a@b.cn", priority=1)
    first = plan([mail, hook], [], attempts=2)
    assert first.next is not None
    assert (first.next.method, first.next.number, first.next.retry) == (hook, 1, False)
    failed = [Tried(channel=ContactKind.WEBHOOK, attempt=1, ok=False, detail="HTTP 500")]
    second = plan([mail, hook], failed, attempts=2)
    assert second.next is not None
    assert (second.next.method, second.next.number, second.next.retry) == (hook, 2, True)
    failed.append(Tried(channel=ContactKind.WEBHOOK, attempt=2, ok=False, detail="HTTP 502"))
    third = plan([mail, hook], failed, attempts=2)
    assert third.next is not None
    assert third.next.method == mail
    [gave_up] = third.gave_up
    assert (gave_up.method, gave_up.first_attempt, gave_up.last_attempt) == (hook, 1, 2)
    assert gave_up.reason == "HTTP 502"
    # Once dead-lettered it is not given up again.
    assert plan([mail, hook], failed, attempts=2, dead={7: 2}).gave_up == []


def test_a_second_method_of_the_same_channel_continues_the_attempt_numbers() -> None:
    a = Method(id=1, kind=ContactKind.WEBHOOK, address="https://a.example/", priority=0)
    b = Method(id=2, kind=ContactKind.WEBHOOK, address="https://b.example/", priority=1)
    failed = [Tried(channel=ContactKind.WEBHOOK, attempt=1, ok=False)]
    # A refused first webhook was dead-lettered after one try: the second starts at 2.
    current = plan([a, b], failed, attempts=3, dead={1: 1})
    assert current.next is not None
    assert (current.next.method, current.next.number, current.next.failed) == (b, 2, 0)


def test_a_delivered_page_plans_nothing() -> None:
    hook = Method(id=1, kind=ContactKind.WEBHOOK, address="https://a.example/")
    done = plan([hook], [Tried(channel=ContactKind.SMS, attempt=1, ok=True)], attempts=3)
    assert done.delivered
    assert done.next is None
    assert not done.undeliverable
    # Nobody to deliver to (no methods, or the console only) is not "undeliverable".
    assert not plan([], [], attempts=3).undeliverable
    console = Method(id=2, kind=ContactKind.CONSOLE, address="desk")
    assert not plan([console], [], attempts=3).undeliverable
    failed = [Tried(channel=ContactKind.WEBHOOK, attempt=1, ok=False)]
    assert plan([hook, console], failed, attempts=1).undeliverable


@given(st.integers(1, 200), st.integers(1, 60_000))
def test_backoff_doubles_and_is_capped(failures: int, base_ms: int) -> None:
    base = timedelta(milliseconds=base_ms)
    wait = backoff(failures, base)
    assert base <= wait <= max(MAX_BACKOFF, base)
    assert wait == min(base * 2 ** (failures - 1), MAX_BACKOFF) if failures < 40 else MAX_BACKOFF
    assert backoff(failures + 1, base) >= wait


def test_receipt_ids_name_one_try() -> None:
    assert receipt_id(1, ContactKind.WEBHOOK, 1) == receipt_id(1, ContactKind.WEBHOOK, 1)
    ids = {
        receipt_id(page, kind, attempt) for page in (1, 2) for kind in KINDS for attempt in (1, 2)
    }
    assert len(ids) == 2 * len(KINDS) * 2


@given(st.text(min_size=1), st.integers(0, 2**40), st.binary())
def test_a_signature_verifies_and_any_change_breaks_it(secret: str, ts: int, body: bytes) -> None:
    header = signature_header(secret, ts, body)
    assert verify(secret, header, body, now=ts)
    assert verify(secret, header, body, now=ts + 300)
    assert not verify(secret, header, body, now=ts + 301)
    assert not verify(secret, header, body + b"x", now=ts)
    assert not verify(secret + "x", header, body, now=ts)
    assert not verify(secret, header.replace(f"t={ts}", f"t={ts + 1}"), body, now=ts)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://hooks.example.cn/dutywatch", None),
        ("http://hooks.example.cn:8443/a?b=c", None),
        ("https://hooks.example.cn/a\r\nX-Injected: 1", "header injection"),
        ("https://hooks.example.cn/a b", "header injection"),
        ("ftp://hooks.example.cn/", "scheme"),
        ("https:///nohost", "no host"),
        ("https://user:pw@hooks.example.cn/", "credentials"),
        ("https://hooks.example.cn:99999/", "malformed"),
    ],
)
def test_webhook_urls_are_checked_by_their_text(url: str, problem: str | None) -> None:
    found = url_problem(url)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("8.8.8.8", True),
        ("2400:3200::1", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.0.10", False),
        ("169.254.169.254", False),  # cloud metadata
        ("::1", False),
        ("fe80::1%eth0", False),
        ("::ffff:127.0.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 - the address under test, not a bind
        ("100.64.0.1", False),  # carrier-grade NAT is not public either
    ],
)
def test_webhook_addresses_must_be_public(address: str, allowed: bool) -> None:
    assert (address_problem(address, ()) is None) is allowed


def test_an_allowed_network_lets_a_private_address_through() -> None:
    networks = (ipaddress.ip_network("10.0.0.0/8"),)
    assert address_problem("10.1.2.3", networks) is None
    assert address_problem("192.168.0.1", networks) is not None


def page(**changes: object) -> NotificationV1:
    values: dict[str, object] = {
        "page_id": 9,
        "incident_id": 42,
        "person_id": "li-na",
        "role": "duty_officer",
        "org": "harbin.daoli",
        "reason": PageReason.FIRST_PAGE,
        "step": 0,
        "policy_version": "default@1",
        "grade": Grade.II,
        "category": Category.ACCIDENT,
        "title": "燃气泄漏<script>",
        "status": ReportStatus.ACTUAL,
        "created_at": datetime(2026, 11, 25, 2, 0, tzinfo=UTC),
        "ack_by": datetime(2026, 11, 25, 2, 10, tzinfo=UTC),
    }
    values.update(changes)
    return NotificationV1(**values)  # type: ignore[arg-type]


def test_the_email_is_chinese_plain_text_and_html_with_a_link() -> None:
    message = messages.email(
        page(), public_url="https://duty.example.gov.cn/", sender="d@x.cn", to="li@x.cn"
    )
    assert message["Subject"] == "【II级】燃气泄漏<script>"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    plain = text.get_content()
    assert "等级：II级（重大）" in plain
    assert "类别：事故灾难" in plain
    assert "单位：harbin.daoli" in plain
    assert "请于此前确认：2026-11-25 10:10" in plain  # Shanghai time
    assert "https://duty.example.gov.cn/console/#/incident/42" in plain
    assert "<script>" not in html.get_content()
    assert "&lt;script&gt;" in html.get_content()


def test_drills_are_marked_in_every_message() -> None:
    drill = page(status=ReportStatus.EXERCISE)
    assert messages.render(drill, public_url="http://x").subject.startswith("【演练】")
    assert messages.sms(drill, public_url="http://x").startswith("【演练】")


def test_channel_settings_are_read_from_the_environment() -> None:
    base = {"DUTYWATCH_DATABASE_URL": "postgresql://x/y", "DUTYWATCH_NATS_URL": "nats://x"}
    settings = from_env(
        {
            **base,
            "DUTYWATCH_WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8, fd00::/8",
            "DUTYWATCH_DELIVERY_ATTEMPTS": "4",
            "DUTYWATCH_DELIVERY_BACKOFF": "3",
            "DUTYWATCH_SMTP_PORT": "465",
            "DUTYWATCH_SMTP_TLS": "tls",
        }
    )
    assert settings.webhook_allowed_networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fd00::/8"),
    )
    assert (settings.delivery_attempts, settings.delivery_backoff) == (4, timedelta(seconds=3))
    assert (settings.smtp_port, settings.smtp_tls) == (465, "tls")
    for name, value, says in [
        ("DUTYWATCH_WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/33", "DUTYWATCH_WEBHOOK_ALLOWED"),
        ("DUTYWATCH_SMTP_PORT", "70000", "DUTYWATCH_SMTP_PORT"),
        ("DUTYWATCH_SMTP_TLS", "sometimes", "SMTP TLS mode 'sometimes'"),
        ("DUTYWATCH_DELIVERY_ATTEMPTS", "0", "DUTYWATCH_DELIVERY_ATTEMPTS"),
    ]:
        with pytest.raises(ConfigurationError, match=says):
            from_env({**base, name: value})
