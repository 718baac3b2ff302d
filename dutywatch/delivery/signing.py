"""Webhook signatures and webhook target safety (pure).

A webhook body is signed with HMAC-SHA256 over ``timestamp + "." + body`` and sent as
``Dutywatch-Signature: t=<unix seconds>,v1=<hex digest>`` (the shape Stripe made familiar), so a
receiver can check both who sent it and that it is fresh (README "Verifying a webhook").
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

SIGNATURE_HEADER = "Dutywatch-Signature"
#: How old a signature a receiver should accept, in seconds (the recipe in README uses it).
DEFAULT_TOLERANCE = 300

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``timestamp.body`` under ``secret``."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(
    secret: str, header: str, body: bytes, *, now: int, tolerance: int = DEFAULT_TOLERANCE
) -> bool:
    """Does ``header`` sign ``body`` with ``secret``, at most ``tolerance`` seconds from ``now``?"""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    stamps = parts.get("t", [])
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in parts.get("v1", []))


def url_problem(url: str) -> str | None:  # noqa: PLR0911 - one return per rule
    """Why ``url`` cannot be a webhook target by its text alone, or None."""
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        return "the URL contains a control character, space or line break (header injection)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"the URL is malformed: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"the URL scheme must be http or https, not {parts.scheme!r}"
    if not parts.hostname:
        return "the URL names no host"
    if parts.username is not None or parts.password is not None:
        return "the URL must not carry credentials; the body is signed instead"
    if port == 0:
        return "the URL's port must be from 1 to 65535"
    return None


def address_problem(address: str, allowed: Iterable[Network]) -> str | None:
    """Why a webhook must not connect to ``address``, or None.

    Private, loopback, link-local, multicast, reserved and unspecified addresses reach the
    service's own network (the database, the cloud metadata endpoint); only networks the
    operator listed (DUTYWATCH_WEBHOOK_ALLOWED_NETWORKS) are let through.
    """
    try:
        ip: Address = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allowed):
        return None
    if (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    ):
        return (
            f"{ip} is a private, loopback or link-local address; list its network in "
            "DUTYWATCH_WEBHOOK_ALLOWED_NETWORKS to allow it"
        )
    return None
