"""Settings, read once from the environment (``DUTYWATCH_*``) or built by tests."""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from dutywatch.contracts import Grade
from dutywatch.deadlines.rules import DEFAULT_FOLLOW_UP, FollowUpRule
from dutywatch.errors import ConfigurationError
from dutywatch.supervision.rules import DEFAULT_REMINDERS, ReminderRule
from dutywatch.timeline.personal import DEFAULT_RETENTION, RetentionRule

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9_-]*$")

#: How long the duty officer has to acknowledge before the leader on duty is paged.
DEFAULT_ACK_TIMEOUTS: dict[Grade, timedelta] = {
    Grade.I: timedelta(minutes=5),
    Grade.II: timedelta(minutes=5),
    Grade.III: timedelta(minutes=10),
    Grade.IV: timedelta(minutes=15),
}


#: How the e-mail channel talks to its SMTP relay.
SMTP_TLS_MODES = ("starttls", "tls", "off")


@dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str
    nats_url: str
    #: First token of every subject (``dutywatch.report.<org>``); tests use their own.
    subject_prefix: str = "dutywatch"
    #: Prefix of every JetStream stream and consumer name (``REPORTS``, ``NOTIFY`` ...).
    stream_prefix: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    #: Secrets are kept out of ``repr`` so a logged Settings never shows them.
    admin_token: str | None = field(default=None, repr=False)
    #: The server's key for token hashes (HMAC-SHA256); None stores plain SHA-256.
    token_key: bytes | None = field(default=None, repr=False)
    #: Requests per second each token (or, before authentication, each client address) may
    #: make, and the burst it may save up; over it the answer is 429 with Retry-After.
    rate_limit: float = 50.0
    rate_burst: int = 200
    ack_timeouts: Mapping[Grade, timedelta] = field(
        default_factory=lambda: dict(DEFAULT_ACK_TIMEOUTS)
    )
    #: How long the incoming officer has to take a handover over before the leader is alerted.
    handover_accept_timeout: timedelta = timedelta(minutes=30)
    #: How far ahead the roster gap check looks, and how often it looks.
    gap_horizon: timedelta = timedelta(days=7)
    gap_check_interval: timedelta = timedelta(minutes=10)
    #: Local time of day by which each subordinate duty room owes its daily zero report
    #: (零报告); None turns the daily check off. In ``zero_report_tz``.
    zero_report_due_by: time | None = time(9, 0)
    zero_report_tz: str = "Asia/Shanghai"
    #: When follow-up (续报) and final (终报) reports fall due and when the reminder (催办)
    #: goes out; None turns follow-up reminders off. Project defaults: daily 08:00 Shanghai,
    #: reminder 30 minutes before, final report within 24 hours of resolution.
    follow_up: FollowUpRule | None = DEFAULT_FOLLOW_UP
    #: Supervision reminders (督办催办): one ``before`` the due date, then every ``every``
    #: after it; the unit's leader on duty is told too once overdue or after ``leader_after``.
    supervision_reminders: ReminderRule = DEFAULT_REMINDERS
    #: What is due is decided by PostgreSQL's clock, so replicas with skewed clocks agree and
    #: none fires early. Tests that move a ManualClock turn this off.
    timers_follow_database_clock: bool = True
    #: A UTC day is anchored (its chain heads in one digest) this long after it ends, so an
    #: entry stamped just before midnight that commits just after is still in it.
    anchor_grace: timedelta = timedelta(minutes=15)
    #: Days after resolution the personal data of an incident is kept, per grade, before
    #: the retention worker purges it (Art. 85) unless a hold is set; None turns it off.
    retention: RetentionRule | None = DEFAULT_RETENTION
    #: How often the retention worker looks for incidents past the rule.
    retention_check_interval: timedelta = timedelta(hours=1)
    #: Messages fetched from REPORTS per transaction.
    intake_batch: int = 256
    #: How long the intake waits for the messages it knows are waiting behind the first
    #: (they are in the stream already: this bounds a lost race with another replica).
    intake_fetch_timeout: float = 0.05
    #: Seconds JetStream waits for a report (or CAP message) taken by a replica to be
    #: acknowledged before it gives it to another: how long what a killed replica held waits.
    #: Long enough for a batch transaction under load; applied to the existing consumers at
    #: start.
    intake_ack_wait: float = 30.0
    #: Seconds between the NATS client's pings; after three unanswered the connection counts
    #: as lost and the client moves to another server. This is what notices a node that froze
    #: without closing its connections (a paused VM, a partition): nats-py's own default
    #: takes four minutes.
    nats_ping_interval: int = 10
    #: Stream replicas (3 on a production cluster, 1 on a single server).
    stream_replicas: int = 1
    #: Enable the background workers (intake, relay, scheduler); tests turn some off.
    run_intake: bool = True
    run_relay: bool = True
    run_scheduler: bool = True
    run_gap_check: bool = True
    run_anchors: bool = True
    run_retention: bool = True
    #: The channel worker that delivers pages over people's contact methods.
    run_delivery: bool = True
    #: Base URL people open from a message (e-mail, SMS) to see an incident.
    public_url: str = "http://127.0.0.1:8080"
    #: Tries of one contact method (webhook, e-mail, SMS) before the next one is used.
    delivery_attempts: int = 5
    #: Wait before the second try; doubled for each further try, at most an hour.
    delivery_backoff: timedelta = timedelta(seconds=2)
    #: HMAC-SHA256 key webhooks are signed with; unset, webhook deliveries fail (never unsigned).
    webhook_secret: str | None = field(default=None, repr=False)
    #: Networks a webhook may reach although private, loopback or link-local (e.g. 10.0.0.0/8).
    webhook_allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    #: SMTP relay for e-mail pages; unset, e-mail deliveries fail and fall back.
    smtp_host: str | None = None
    smtp_port: int = 587
    #: ``starttls`` (port 587), ``tls`` (implicit TLS, port 465) or ``off``.
    smtp_tls: str = "starttls"
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str = "dutywatch@localhost"
    #: SMS gateway: a JSON POST per message, with ``Authorization: Bearer <api key>``.
    sms_gateway_url: str | None = None
    sms_api_key: str | None = field(default=None, repr=False)
    db_pool_size: int = 10
    json_logs: bool = True
    #: A CJK TrueType font embedded in PDF exports; None: reportlab's built-in STSong-Light.
    pdf_font: str | None = None

    def __post_init__(self) -> None:
        if not _PREFIX_RE.match(self.subject_prefix):
            raise ConfigurationError(
                f"subject prefix {self.subject_prefix!r} must be one lowercase subject token"
            )
        try:
            ZoneInfo(self.zero_report_tz)
        except (ValueError, KeyError) as exc:
            raise ConfigurationError(
                f"zero report time zone {self.zero_report_tz!r} is unknown; e.g. Asia/Shanghai"
            ) from exc

        if self.smtp_tls not in SMTP_TLS_MODES:
            raise ConfigurationError(
                f"SMTP TLS mode {self.smtp_tls!r} is unknown; "
                f"use one of {', '.join(SMTP_TLS_MODES)}"
            )

    def subject(self, *tokens: str) -> str:
        return ".".join((self.subject_prefix, *tokens))

    def stream(self, name: str) -> str:
        return f"{self.stream_prefix}{name}"

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _parse_host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigurationError(f"expected HOST:PORT with a port from 1 to 65535, got {value!r}")
    return host or "127.0.0.1", int(port)


#: A week: longer than any statutory reporting clock, far below timedelta's range.
_MAX_TIMEOUT_SECONDS = 7 * 24 * 3600


def _parse_ack_timeouts(value: str) -> dict[Grade, timedelta]:
    """``I=300,II=300,III=600,IV=900`` (seconds)."""
    timeouts = dict(DEFAULT_ACK_TIMEOUTS)
    for item in filter(None, (part.strip() for part in value.split(","))):
        grade, sep, seconds = item.partition("=")
        if not sep:
            raise ConfigurationError(f"DUTYWATCH_ACK_TIMEOUTS item {item!r} has no '='")
        problem = ConfigurationError(
            f"DUTYWATCH_ACK_TIMEOUTS item {item!r}: expected GRADE=SECONDS with a grade "
            f"I-IV and 0 to {_MAX_TIMEOUT_SECONDS} seconds, e.g. III=600"
        )
        try:
            parsed = float(seconds)
            grade_value = Grade(grade.strip())
        except ValueError:
            raise problem from None
        if not math.isfinite(parsed) or not 0 <= parsed <= _MAX_TIMEOUT_SECONDS:
            raise problem
        timeouts[grade_value] = timedelta(seconds=parsed)
    return timeouts


def _parse_positive_int(name: str, value: str) -> int:
    try:
        parsed = int(value)
    except ValueError:
        parsed = 0
    if parsed < 1:
        raise ConfigurationError(f"{name} must be a whole number >= 1, got {value!r}")
    return parsed


def _parse_time_of_day(name: str, value: str) -> time | None:
    """``09:00`` (local), or ``off``."""
    if value.strip().lower() == "off":
        return None
    try:
        parsed = time.fromisoformat(value.strip())
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is not None:
        raise ConfigurationError(
            f"{name} must be a local time HH:MM (e.g. 09:00) or off, got {value!r}"
        )
    return parsed


def _parse_follow_up(value: str) -> FollowUpRule | None:
    """``daily@08:00`` (local, Asia/Shanghai), ``every=3600`` (seconds after the latest report),
    or ``off``."""
    name = "DUTYWATCH_FOLLOW_UP"
    text = value.strip().lower()
    if text == "off":
        return None
    if text.startswith("daily@"):
        daily_at = _parse_time_of_day(name, text.removeprefix("daily@"))
        if daily_at is not None:
            return FollowUpRule(daily_at=daily_at)
    if text.startswith("every="):
        seconds = _parse_positive_int(name, text.removeprefix("every="))
        return FollowUpRule(interval=timedelta(seconds=seconds), daily_at=None)
    raise ConfigurationError(
        f"{name} must be daily@HH:MM, every=SECONDS or off (e.g. daily@08:00), got {value!r}"
    )


#: Longest retention the rule accepts: a century, far below timedelta's range.
_MAX_RETENTION_DAYS = 36500


def _parse_retention(value: str) -> RetentionRule | None:
    """``I=3650,II=1825,III=1095,IV=365`` (days after resolution; grades left out keep
    their default), or ``off``."""
    name = "DUTYWATCH_RETENTION_DAYS"
    if value.strip().lower() == "off":
        return None
    days = dict(DEFAULT_RETENTION.days)
    for item in filter(None, (part.strip() for part in value.split(","))):
        grade, sep, count = item.partition("=")
        grade = grade.strip()
        if not sep or grade not in days or not count.strip().isdigit():
            raise ConfigurationError(
                f"{name} item {item!r}: expected GRADE=DAYS with a grade I-IV and 0 to "
                f"{_MAX_RETENTION_DAYS} days, e.g. III=1095 (or the whole value off)"
            )
        parsed = int(count)
        if parsed > _MAX_RETENTION_DAYS:
            raise ConfigurationError(f"{name} item {item!r}: at most {_MAX_RETENTION_DAYS} days")
        days[grade] = parsed
    return RetentionRule(days)


def _parse_supervision_reminders(name: str, value: str) -> ReminderRule:
    """``before=SECONDS,every=SECONDS,leader_after=N`` (any of them; the rest default)."""
    fields: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        key, _, text = part.partition("=")
        if key not in ("before", "every", "leader_after"):
            raise ConfigurationError(
                f"{name} takes before=SECONDS,every=SECONDS,leader_after=N "
                f"(e.g. before=86400,every=86400,leader_after=2), got {value!r}"
            )
        number = 0 if text.strip() == "0" and key != "every" else _parse_positive_int(name, text)
        fields[key] = number if key == "leader_after" else timedelta(seconds=number)
    return replace(DEFAULT_REMINDERS, **fields)  # type: ignore[arg-type]


def _text(_: str, value: str) -> str:
    return value


def parse_secret_key(name: str, value: str) -> bytes:
    if len(value) < 32:
        raise ConfigurationError(
            f"{name} must be at least 32 characters of random text, e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    return value.encode("utf-8")


def _positive_float(name: str, value: str) -> float:
    try:
        parsed = float(value)
    except ValueError:
        parsed = 0.0
    if not parsed > 0:
        raise ConfigurationError(f"{name} must be a number > 0, got {value!r}")
    return parsed


def _seconds(name: str, value: str) -> timedelta:
    return timedelta(seconds=_parse_positive_int(name, value))


def _days(name: str, value: str) -> timedelta:
    return timedelta(days=_parse_positive_int(name, value))


def _networks(name: str, value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``127.0.0.0/8,10.0.0.0/8,fd00::/8`` (empty: none)."""
    try:
        return tuple(
            ipaddress.ip_network(item.strip(), strict=False)
            for item in value.split(",")
            if item.strip()
        )
    except ValueError as exc:
        raise ConfigurationError(
            f"{name} must be a comma-separated list of networks "
            f"(e.g. 10.0.0.0/8,127.0.0.1/32): {exc}"
        ) from None


def _port(name: str, value: str) -> int:
    port = _parse_positive_int(name, value)
    if port > 65535:
        raise ConfigurationError(f"{name} must be a port from 1 to 65535, got {value!r}")
    return port


#: Optional variables: the setting each one sets, and how its text is read.
_OPTIONAL: dict[str, tuple[str, Callable[[str, str], object]]] = {
    "DUTYWATCH_ADMIN_TOKEN": ("admin_token", _text),
    "DUTYWATCH_TOKEN_KEY": ("token_key", parse_secret_key),
    "DUTYWATCH_RATE_LIMIT": ("rate_limit", _positive_float),
    "DUTYWATCH_RATE_BURST": ("rate_burst", _parse_positive_int),
    "DUTYWATCH_SUBJECT_PREFIX": ("subject_prefix", _text),
    "DUTYWATCH_STREAM_PREFIX": ("stream_prefix", _text),
    "DUTYWATCH_ACK_TIMEOUTS": ("ack_timeouts", lambda _, v: _parse_ack_timeouts(v)),
    "DUTYWATCH_HANDOVER_TIMEOUT": ("handover_accept_timeout", _seconds),
    "DUTYWATCH_GAP_HORIZON_DAYS": ("gap_horizon", _days),
    "DUTYWATCH_ZERO_REPORT_AT": ("zero_report_due_by", _parse_time_of_day),
    "DUTYWATCH_ZERO_REPORT_TZ": ("zero_report_tz", _text),
    "DUTYWATCH_FOLLOW_UP": ("follow_up", lambda _, v: _parse_follow_up(v)),
    "DUTYWATCH_SUPERVISION_REMINDERS": ("supervision_reminders", _parse_supervision_reminders),
    "DUTYWATCH_STREAM_REPLICAS": ("stream_replicas", _parse_positive_int),
    "DUTYWATCH_INTAKE_ACK_WAIT": ("intake_ack_wait", _positive_float),
    "DUTYWATCH_NATS_PING_INTERVAL": ("nats_ping_interval", _parse_positive_int),
    "DUTYWATCH_ANCHOR_GRACE": ("anchor_grace", _seconds),
    "DUTYWATCH_RETENTION_DAYS": ("retention", lambda _, v: _parse_retention(v)),
    "DUTYWATCH_PDF_FONT": ("pdf_font", lambda _, v: v or None),  # empty: the built-in font
    "DUTYWATCH_PUBLIC_URL": ("public_url", _text),
    "DUTYWATCH_DELIVERY_ATTEMPTS": ("delivery_attempts", _parse_positive_int),
    "DUTYWATCH_DELIVERY_BACKOFF": ("delivery_backoff", _seconds),
    "DUTYWATCH_WEBHOOK_SECRET": ("webhook_secret", _text),
    "DUTYWATCH_WEBHOOK_ALLOWED_NETWORKS": ("webhook_allowed_networks", _networks),
    "DUTYWATCH_SMTP_HOST": ("smtp_host", _text),
    "DUTYWATCH_SMTP_PORT": ("smtp_port", _port),
    "DUTYWATCH_SMTP_TLS": ("smtp_tls", _text),
    "DUTYWATCH_SMTP_USER": ("smtp_user", _text),
    "DUTYWATCH_SMTP_PASSWORD": ("smtp_password", _text),
    "DUTYWATCH_SMTP_FROM": ("smtp_from", _text),
    "DUTYWATCH_SMS_GATEWAY_URL": ("sms_gateway_url", _text),
    "DUTYWATCH_SMS_API_KEY": ("sms_api_key", _text),
}


def from_env(
    env: Mapping[str, str] | None = None,
    *,
    database_url: str | None = None,
    nats_url: str | None = None,
    **overrides: object,
) -> Settings:
    """Build settings from ``DUTYWATCH_*`` variables; explicit arguments win."""
    env = os.environ if env is None else env
    db = database_url or env.get("DUTYWATCH_DATABASE_URL")
    nats = nats_url or env.get("DUTYWATCH_NATS_URL")
    if not db:
        raise ConfigurationError(
            "DUTYWATCH_DATABASE_URL is not set; e.g. postgresql://dutywatch@db/dutywatch "
            "(or run `dutywatch up` for a local embedded stack)"
        )
    if not nats:
        raise ConfigurationError(
            "DUTYWATCH_NATS_URL is not set; e.g. nats://127.0.0.1:4222 "
            "(or run `dutywatch up` for a local embedded stack)"
        )
    values: dict[str, object] = {"database_url": db, "nats_url": nats}
    if "DUTYWATCH_HTTP" in env:
        values["http_host"], values["http_port"] = _parse_host_port(env["DUTYWATCH_HTTP"])
    for name, (setting, parse) in _OPTIONAL.items():
        if name in env:
            values[setting] = parse(name, env[name])
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
