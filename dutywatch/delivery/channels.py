"""The outbound channels: one try of one page over one contact method.

Each ``send`` returns a :class:`Result` and never raises for a failure of the other side:
the caller records every result as a receipt. ``permanent`` failures (a refused target, a
4xx answer, a channel that is not configured) are not retried; the next method is used.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import aiohttp
import aiosmtplib
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from dutywatch import errors
from dutywatch.clock import Clock
from dutywatch.config import Settings
from dutywatch.contracts import NotificationV1
from dutywatch.delivery import messages
from dutywatch.delivery.signing import (
    SIGNATURE_HEADER,
    Network,
    address_problem,
    signature_header,
    url_problem,
)
from dutywatch.orgs.kinds import ContactKind

#: Seconds one HTTP or SMTP try may take.
SEND_TIMEOUT = 10.0
#: Header naming the try, so a receiver can drop a try it already took (at-least-once).
DELIVERY_HEADER = "Dutywatch-Delivery"
USER_AGENT = "dutywatch-webhook/1"


@dataclass(frozen=True, kw_only=True)
class Result:
    ok: bool
    detail: str | None = None
    permanent: bool = False


class CheckedResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then refuses addresses pages must not reach.

    Checking at connect time (not before the request) leaves no gap for a name that
    resolves to a public address when checked and to a private one when used.
    """

    def __init__(self, allowed: tuple[Network, ...]) -> None:
        self._inner = DefaultResolver()
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            problem = address_problem(result["host"], self._allowed)
            if problem:
                raise errors.TargetRefused(f"webhook refused: {host} resolves to {problem}")
        return results

    async def close(self) -> None:
        await self._inner.close()


def check_target(url: str, allowed: tuple[Network, ...]) -> None:
    """Refuse a webhook URL by its text, or by its host when that is an IP literal.

    aiohttp does not ask the resolver about IP literals, so they are checked here.
    """
    problem = url_problem(url)
    if problem:
        raise errors.TargetRefused(f"webhook refused: {problem}")
    host = URL(url).raw_host or ""
    literal = address_problem(host, allowed) if _is_ip(host) else None
    if literal:
        raise errors.TargetRefused(f"webhook refused: {literal}")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


class Channels:
    """Sends pages; owns the HTTP sessions (one whose resolver refuses private addresses)."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings, self.clock = settings, clock
        timeout = aiohttp.ClientTimeout(total=SEND_TIMEOUT)
        self._webhooks = aiohttp.ClientSession(
            timeout=timeout,
            connector=aiohttp.TCPConnector(
                resolver=CheckedResolver(settings.webhook_allowed_networks)
            ),
            headers={"User-Agent": USER_AGENT},
        )
        # The SMS gateway is the operator's own configuration, not a user's address.
        self._gateway = aiohttp.ClientSession(timeout=timeout)

    async def close(self) -> None:
        await self._webhooks.close()
        await self._gateway.close()

    async def send(  # noqa: PLR0911 - one return per channel
        self, kind: ContactKind, address: str, page: NotificationV1, body: bytes, receipt: UUID
    ) -> Result:
        try:
            if kind is ContactKind.WEBHOOK:
                return await self._webhook(address, page, body, receipt)
            if kind is ContactKind.EMAIL:
                return await self._email(address, page)
            if kind is ContactKind.SMS:
                return await self._sms(address, page, receipt)
            if kind is ContactKind.NATS:
                # The page on the person's subject is the delivery: it is there, since this
                # worker read it from the stream.
                subject = self.settings.subject("notify", page.person_id)
                return Result(ok=True, detail=f"published on {subject}")
            return Result(ok=False, detail=f"{kind} is not delivered by the worker", permanent=True)
        except errors.TargetRefused as exc:
            return Result(ok=False, detail=exc.message[:500], permanent=True)
        except (aiohttp.ClientError, aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Result(ok=False, detail=_short(exc))

    async def _webhook(self, url: str, page: NotificationV1, body: bytes, receipt: UUID) -> Result:
        secret = self.settings.webhook_secret
        if not secret:
            return Result(
                ok=False,
                detail="DUTYWATCH_WEBHOOK_SECRET is not set; webhooks are never sent unsigned",
                permanent=True,
            )
        check_target(url, self.settings.webhook_allowed_networks)
        timestamp = int(self.clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature_header(secret, timestamp, body),
            DELIVERY_HEADER: str(receipt),
        }
        async with self._webhooks.post(
            url, data=body, headers=headers, allow_redirects=False
        ) as response:
            await response.read()
            return _http_result(response.status, "webhook")

    async def _email(self, address: str, page: NotificationV1) -> Result:
        s = self.settings
        if not s.smtp_host:
            return Result(ok=False, detail="DUTYWATCH_SMTP_HOST is not set", permanent=True)
        message = messages.email(page, public_url=s.public_url, sender=s.smtp_from, to=address)
        options: dict[str, Any] = {
            "hostname": s.smtp_host,
            "port": s.smtp_port,
            "timeout": SEND_TIMEOUT,
            "use_tls": s.smtp_tls == "tls",
            "start_tls": s.smtp_tls == "starttls",
        }
        if s.smtp_user:
            options.update(username=s.smtp_user, password=s.smtp_password or "")
        try:
            refused, reply = await aiosmtplib.send(message, **options)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # Receipts never carry an address: the relay's answer only.
            answers = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            return Result(
                ok=False,
                detail=f"SMTP relay refused the recipient: {answers}"[:500],
                permanent=True,
            )
        if refused:
            answers = "; ".join(f"{r.code} {r.message}" for r in refused.values())
            return Result(ok=False, detail=f"SMTP relay refused the recipient: {answers}"[:500])
        return Result(ok=True, detail=f"SMTP relay accepted it: {reply}"[:500])

    async def _sms(self, phone: str, page: NotificationV1, receipt: UUID) -> Result:
        s = self.settings
        if not s.sms_gateway_url:
            return Result(ok=False, detail="DUTYWATCH_SMS_GATEWAY_URL is not set", permanent=True)
        payload = {
            "to": phone,
            "text": messages.sms(page, public_url=s.public_url),
            "reference": str(receipt),
        }
        headers = {"Authorization": f"Bearer {s.sms_api_key}"} if s.sms_api_key else {}
        async with self._gateway.post(s.sms_gateway_url, json=payload, headers=headers) as response:
            await response.read()
            return _http_result(response.status, "SMS gateway")


def _http_result(status: int, who: str) -> Result:
    if 200 <= status < 300:
        return Result(ok=True, detail=f"{who} answered HTTP {status}")
    # A 4xx other than timeout and throttling will not change by trying again.
    permanent = 400 <= status < 500 and status not in (408, 425, 429)
    return Result(ok=False, detail=f"{who} answered HTTP {status}", permanent=permanent)


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:500]
