"""Value kinds of the directory, for pure code to use without the store (no I/O here)."""

from __future__ import annotations

import enum


class ContactKind(enum.StrEnum):
    """Mirrors the PostgreSQL enum ``contact_kind``: how a page reaches a person."""

    CONSOLE = "console"  # the duty console page (`GET /api/v1/pages/live`)
    NATS = "nats"  # a subject the person's app reads
    WEBHOOK = "webhook"
    EMAIL = "email"
    SMS = "sms"  # a phone number for the SMS gateway
