"""PagerDuty Events API v2 (``POST /v2/enqueue``) as report v1, as pure functions.

A tool that pages PagerDuty pages dutywatch by changing the URL: the event's ``routing_key``
is a dutywatch routing key (it authenticates the caller and names the organisation, grade and
category), ``dedup_key`` names the incident (``incident_ref``). ``trigger`` becomes a report
(the first, or a follow-up of the same dedup_key); ``acknowledge`` and ``resolve`` become the
incident commands.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final

import msgspec
from msgspec import Meta

from dutywatch import errors
from dutywatch.contracts import (
    AwareTime,
    Category,
    Grade,
    ReportV1,
    Stage,
    decode_as,
    decode_report,
    encode,
)
from dutywatch.inbound.cap import ID_NAMESPACE

#: PagerDuty's integration keys are 32 characters; tools that check the length accept ours.
ROUTING_KEY_LENGTH: Final = 32
_REF_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,120}$")


class Action(enum.StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Payload(msgspec.Struct, frozen=True, kw_only=True):
    """``payload`` of a trigger (PagerDuty's field names; unknown fields are ignored, as
    PagerDuty does)."""

    summary: Annotated[str, Meta(min_length=1, max_length=1024)]
    source: Annotated[str, Meta(min_length=1, max_length=255)]
    severity: Severity
    timestamp: AwareTime | None = None
    component: Annotated[str, Meta(max_length=255)] | None = None
    group: Annotated[str, Meta(max_length=255)] | None = None
    # ``class`` in PagerDuty's JSON.
    class_: Annotated[str, Meta(max_length=255)] | None = msgspec.field(default=None, name="class")
    custom_details: Any = None


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """One PagerDuty Events API v2 event."""

    routing_key: Annotated[str, Meta(min_length=1, max_length=64)]
    event_action: Action
    dedup_key: Annotated[str, Meta(min_length=1, max_length=255)] | None = None
    payload: Payload | None = None
    client: Annotated[str, Meta(max_length=255)] | None = None
    client_url: Annotated[str, Meta(max_length=2048)] | None = None


def decode(data: bytes) -> Event:
    """Decode and check an event; only :class:`~dutywatch.errors.RejectedInput` escapes."""
    event = decode_as(Event, data)
    if event.event_action is Action.TRIGGER and event.payload is None:
        raise errors.SchemaViolation("a trigger needs a `payload`", field="payload")
    if event.event_action is not Action.TRIGGER and event.dedup_key is None:
        raise errors.SchemaViolation(
            f"{event.event_action} needs the `dedup_key` of the trigger", field="dedup_key"
        )
    return event


def new_routing_key() -> str:
    """128 random bits as 32 hex characters (PagerDuty's integration key length)."""
    return secrets.token_hex(ROUTING_KEY_LENGTH // 2)


def key_hash(key: str) -> bytes:
    """Keys carry 128 random bits, so one SHA-256 makes the stored value useless."""
    return hashlib.sha256(key.encode("utf-8")).digest()


@dataclass(frozen=True, kw_only=True)
class RoutingKey:
    """A stored routing key, without the key."""

    id: int
    label: str
    org_path: str
    grade: Grade
    category: Category


def new_dedup_key() -> str:
    """PagerDuty makes one up for a trigger without ``dedup_key``; so do we (returned)."""
    return uuid.uuid4().hex


def incident_ref_of(dedup_key: str) -> str:
    """``pd:<dedup_key>`` when it fits the incident_ref pattern, else ``pd-h:`` + a digest."""
    if _REF_SAFE.match(dedup_key):
        return f"pd:{dedup_key}"
    return "pd-h:" + hashlib.sha256(dedup_key.encode()).hexdigest()[:40]


def report_id_of(key: RoutingKey, data: bytes) -> uuid.UUID:
    """The same event body sent again with the same key is a duplicate."""
    return uuid.uuid5(ID_NAMESPACE, f"pagerduty/{key.id}/{hashlib.sha256(data).hexdigest()}")


def to_report(
    event: Event,
    data: bytes,
    *,
    key: RoutingKey,
    incident_ref: str,
    now: datetime,
    known: bool,
) -> ReportV1:
    """The report a trigger becomes: the key's organisation, grade and category; the payload's
    summary as the title; the rest of the payload in the summary text."""
    payload = event.payload
    assert payload is not None  # decode() requires it for triggers
    extras = (
        ("component", payload.component),
        ("group", payload.group),
        ("class", payload.class_),
        ("client", event.client),
        ("client_url", event.client_url),
    )
    details = [
        f"PagerDuty {payload.severity} from {payload.source}: {payload.summary}",
        *(f"{name}: {value}" for name, value in extras if value),
    ]
    if payload.custom_details is not None:
        details.append(
            "custom_details: " + json.dumps(payload.custom_details, ensure_ascii=False)[:10_000]
        )
    report = {
        "schema": "dutywatch.report.v1",
        "report_id": str(report_id_of(key, data)),
        "incident_ref": incident_ref,
        "org": key.org_path,
        "stage": str(Stage.FOLLOW_UP if known else Stage.FIRST),
        "grade": str(key.grade),
        "category": str(key.category),
        "title": payload.summary[:200],
        "occurred_at": (payload.timestamp or now).isoformat(),
        "reported_at": now.isoformat(),
        "reporter": {"name": payload.source[:100]},
        "summary": "\n".join(details)[:20_000],
        "reporting_unit": f"PagerDuty routing key {key.label}"[:500],
    }
    return decode_report(encode(report))
