"""What every request passes before a handler: the HTTP side of the threat model.

- Tokens belong in the ``Authorization`` header; one in the query string (where proxies and
  logs keep it) is refused before anything else.
- JSON bodies must be UTF-8 and nested at most :data:`MAX_JSON_DEPTH` levels (a deeply nested
  body would otherwise exhaust the decoder's recursion).
- Per-token rate limits (a token bucket per token, per replica) answer 429 with Retry-After;
  a client address that keeps failing authentication gets 429 instead of 401 for its further
  failures (valid tokens from the same address are not held back).
- Every response carries the security headers (no sniffing, no framing, no referrer, a
  Content-Security-Policy with no script; pages that need more set their own).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Final

from aiohttp import web

from dutywatch import errors
from dutywatch.contracts import MAX_JSON_DEPTH, json_depth

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Query parameters that look like credentials; refused outright.
TOKEN_PARAMETERS: Final = frozenset(
    {"token", "access_token", "api_key", "apikey", "auth", "auth_token", "authorization", "bearer"}
)
SECURITY_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}
#: For API answers and exported documents: no script, no framing, inline styles and data:
#: images only (the printable exports carry their CSS and charts inline).
DEFAULT_CSP: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
#: Failed authentications a client address may make at once, and how fast that refills.
AUTH_FAILURE_BURST: Final = 20
AUTH_FAILURE_RATE: Final = 1.0


class RateLimiter:
    """Token buckets by key: ``rate`` per second, saving up to ``burst``; least recently
    used keys are forgotten beyond ``max_keys`` (random tokens cannot grow it without end)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.rate, self.burst, self._clock, self._max = rate, burst, clock, max_keys
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()

    def take(self, key: Hashable) -> float | None:
        """Spend one request of ``key``; None if allowed, else seconds until one is."""
        now = self._clock()
        level, then = self._buckets.pop(key, (float(self.burst), now))
        level = min(float(self.burst), level + (now - then) * self.rate)
        if level >= 1.0:
            self._remember(key, (level - 1.0, now))
            return None
        self._remember(key, (level, now))
        return (1.0 - level) / self.rate

    def _remember(self, key: Hashable, value: tuple[float, float]) -> None:
        self._buckets[key] = value
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


#: Routes whose decoder refuses bad bodies itself and records each refusal (rejections
#: table + ``dutywatch.rejected``), like the bus does: the guard leaves their bodies alone.
RECORDS_REFUSALS: Final = frozenset({"/api/v1/reports"})

AUTH_FAILURES = web.AppKey("auth_failures", RateLimiter)


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


@web.middleware
async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if TOKEN_PARAMETERS & {name.lower() for name in request.query}:
        raise errors.RejectedInput(
            "credentials are not accepted in the URL (proxies and logs keep URLs); send "
            "`Authorization: Bearer <token>` instead",
            field="query",
        )
    if request.body_exists and request.path not in RECORDS_REFUSALS:
        raw = await request.read()  # aiohttp keeps it for the handler
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise errors.MalformedJson(
                f"the body is not valid UTF-8 (byte {exc.start}); send UTF-8 JSON"
            ) from None
        if json_depth(raw) > MAX_JSON_DEPTH:
            raise errors.MalformedJson(
                f"the body nests deeper than {MAX_JSON_DEPTH} levels; no contract needs that"
            )
    try:
        return await handler(request)
    except errors.Unauthenticated:
        # Only failures are counted and slowed: a valid token is never held back by others
        # failing from the same address (behind a proxy, every client shares one).
        wait = request.app[AUTH_FAILURES].take(client_address(request))
        if wait is None:
            raise
        raise errors.RateLimited(
            "too many failed authentications from this address; wait and check the token",
            retry_after=retry_after(wait),
        ) from None


def add_security_headers(response: web.StreamResponse) -> None:
    """Set each security header the handler did not set itself."""
    if response.prepared:
        return  # a streamed answer sent its headers already (it set its own)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
