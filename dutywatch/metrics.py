"""Prometheus metrics of this process, served at ``/metrics``.

Counters are process-wide (one registry per process, as Prometheus expects: each replica is
scraped on its own and the sums are taken in Prometheus).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

HTTP_REFUSALS = Counter(
    "dutywatch_http_refusals_total",
    "HTTP requests refused for authentication, authorisation or rate limits, by reason",
    ["reason"],
)


def exposition() -> tuple[bytes, str]:
    """The text exposition format and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
