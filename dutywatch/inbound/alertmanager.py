"""Prometheus Alertmanager webhook (JSON version 4) as report v1, as pure functions.

One notification is about one alert group (``groupKey``), which is one incident. Each
notification is a report: the first while the group fires, a follow-up after (a changed set
of firing or resolved alerts); the same notification sent again (Alertmanager repeats it every
``repeat_interval``) is a duplicate. When the group's ``status`` is ``resolved`` every alert of
it is, and the incident is resolved through the commands; a partly resolved group is recorded
and stays open.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from datetime import datetime
from typing import Annotated, Final, TypeVar

import msgspec
from msgspec import Meta

from dutywatch import errors
from dutywatch.contracts import Category, Grade, ReportV1, Stage, decode_as, decode_report, encode
from dutywatch.inbound.cap import ID_NAMESPACE

#: Labels that route a group (read from ``commonLabels``, then ``groupLabels``).
LABEL_ORG: Final = "dutywatch_org"
LABEL_GRADE: Final = "dutywatch_grade"
LABEL_CATEGORY: Final = "dutywatch_category"
DEFAULT_GRADE: Final = Grade.IV
DEFAULT_CATEGORY: Final = Category.ACCIDENT

_E = TypeVar("_E", Grade, Category)
_Labels = dict[Annotated[str, Meta(max_length=1024)], Annotated[str, Meta(max_length=10_000)]]


class Status(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    status: Status
    labels: _Labels = msgspec.field(default_factory=dict)
    annotations: _Labels = msgspec.field(default_factory=dict)
    startsAt: str = ""
    endsAt: str = ""
    generatorURL: str = ""
    fingerprint: str = ""


class Webhook(msgspec.Struct, frozen=True, kw_only=True):
    """Alertmanager's webhook body, version 4 (unknown fields ignored, for later versions'
    additions)."""

    version: str
    groupKey: Annotated[str, Meta(min_length=1, max_length=10_000)]
    status: Status
    receiver: str = ""
    truncatedAlerts: int = 0
    groupLabels: _Labels = msgspec.field(default_factory=dict)
    commonLabels: _Labels = msgspec.field(default_factory=dict)
    commonAnnotations: _Labels = msgspec.field(default_factory=dict)
    externalURL: str = ""
    alerts: Annotated[list[Alert], Meta(min_length=1, max_length=10_000)]


def decode(data: bytes) -> Webhook:
    """Decode a webhook body; only :class:`~dutywatch.errors.RejectedInput` escapes."""
    hook = decode_as(Webhook, data)
    if hook.version != "4":
        raise errors.SchemaViolation(
            f"webhook version {hook.version[:10]!r} is not supported; dutywatch reads version 4",
            field="version",
        )
    return hook


def label(hook: Webhook, name: str) -> str | None:
    return hook.commonLabels.get(name) or hook.groupLabels.get(name)


def org_of(hook: Webhook, token_org: str) -> str:
    """The ``dutywatch_org`` label, else the token's organisation."""
    return label(hook, LABEL_ORG) or token_org


def incident_ref_of(group_key: str) -> str:
    return "am:" + uuid.uuid5(ID_NAMESPACE, f"alertmanager/group/{group_key}").hex


def report_id_of(org: str, hook: Webhook) -> uuid.UUID:
    """The notification's content: the group's status and each alert's state."""
    state = sorted(
        f"{a.fingerprint or hashlib.sha256(repr(sorted(a.labels.items())).encode()).hexdigest()}"
        f"/{a.status}/{a.startsAt}/{a.endsAt if a.status is Status.RESOLVED else ''}"
        for a in hook.alerts
    )
    return uuid.uuid5(
        ID_NAMESPACE, f"alertmanager/{org}/{hook.groupKey}/{hook.status}/{'|'.join(state)}"
    )


def all_resolved(hook: Webhook) -> bool:
    """Alertmanager's group status is ``resolved`` only when every alert of it is."""
    return hook.status is Status.RESOLVED and all(a.status is Status.RESOLVED for a in hook.alerts)


def _choice(kind: type[_E], value: str | None, default: _E, name: str) -> _E:
    if value is None:
        return default
    try:
        return kind(value)
    except ValueError:
        raise errors.SchemaViolation(
            f"label {name} must be one of {[str(v) for v in kind]}; found {value[:20]!r}",
            field=f"commonLabels.{name}",
        ) from None


def to_report(
    hook: Webhook, *, org: str, incident_ref: str, now: datetime, known: bool
) -> ReportV1:
    firing = [a for a in hook.alerts if a.status is Status.FIRING]
    resolved = [a for a in hook.alerts if a.status is Status.RESOLVED]
    name = label(hook, "alertname") or "alert group"
    title = hook.commonAnnotations.get("summary") or f"{name} ({len(firing)} firing)"
    lines = [f"Alertmanager group {hook.groupKey}: {hook.status}, {len(firing)} firing, "
             f"{len(resolved)} resolved"]  # fmt: skip
    for alert in hook.alerts:
        what = alert.annotations.get("summary") or alert.labels.get("alertname", "")
        lines.append(f"- {alert.status} {what} since {alert.startsAt} {alert.generatorURL}")
    if hook.truncatedAlerts:
        lines.append(f"({hook.truncatedAlerts} more alerts not sent by Alertmanager)")
    report = {
        "schema": "dutywatch.report.v1",
        "report_id": str(report_id_of(org, hook)),
        "incident_ref": incident_ref,
        "org": org,
        "stage": str(Stage.FOLLOW_UP if known else Stage.FIRST),
        "grade": str(_choice(Grade, label(hook, LABEL_GRADE), DEFAULT_GRADE, LABEL_GRADE)),
        "category": str(
            _choice(Category, label(hook, LABEL_CATEGORY), DEFAULT_CATEGORY, LABEL_CATEGORY)
        ),
        "title": title[:200],
        "occurred_at": _earliest(hook, now).isoformat(),
        "reported_at": now.isoformat(),
        "reporter": {"name": (hook.receiver or "alertmanager")[:100]},
        "summary": "\n".join(lines)[:20_000],
        "reporting_unit": (hook.externalURL or "Alertmanager")[:500],
    }
    return decode_report(encode(report))


def _earliest(hook: Webhook, now: datetime) -> datetime:
    times = []
    for alert in hook.alerts:
        try:
            at = datetime.fromisoformat(alert.startsAt)
        except ValueError:
            continue
        if at.tzinfo is not None:
            times.append(at)
    return min(times, default=now)
