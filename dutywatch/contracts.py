"""The published message contracts as typed values.

``contracts/*.schema.json`` is the source of truth other organisations code against; these
msgspec types decode and validate a message in one step at the edge, and
``tests/unit/test_contracts.py`` proves the two never drift apart.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Annotated, Final, TypeVar
from uuid import UUID

import msgspec
from msgspec import Meta

_T = TypeVar("_T")

#: Largest accepted message body, in bytes.
MAX_PAYLOAD_BYTES: Final = 256 * 1024

OrgPath = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=255,
        pattern=r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*(?!\n)$",
        description="Organisation path: subject tokens from the city down, e.g. harbin.daoli",
    ),
]
AwareTime = Annotated[datetime, Meta(tz=True, description="RFC 3339 time with an offset")]
Text = Annotated[str, Meta(max_length=20_000)]
ShortText = Annotated[str, Meta(max_length=500)]
Count = Annotated[int, Meta(ge=0, le=10_000_000)]
Level = Annotated[int, Meta(ge=1, le=4)]
PositiveInt = Annotated[int, Meta(ge=1)]


class Stage(enum.StrEnum):
    FIRST = "first"  # 首报
    FOLLOW_UP = "follow_up"  # 续报
    FINAL = "final"  # 终报
    SUPPLEMENTARY = "supplementary"  # 补报


class Grade(enum.StrEnum):
    """Event grade (Emergency Response Law Art. 3); I is the most severe."""

    I = "I"  # 特别重大  # noqa: E741 - the statutory name of the grade
    II = "II"  # 重大
    III = "III"  # 较大
    IV = "IV"  # 一般

    @property
    def rank(self) -> int:
        """1 for grade I (most severe) to 4 for grade IV."""
        return ("I", "II", "III", "IV").index(self.value) + 1


class Category(enum.StrEnum):
    """Emergency Response Law Art. 2."""

    NATURAL_DISASTER = "natural_disaster"
    ACCIDENT = "accident"
    PUBLIC_HEALTH = "public_health"
    SOCIAL_SAFETY = "social_safety"


class ReportStatus(enum.StrEnum):
    """Drills flow the same path as real events and are marked everywhere."""

    ACTUAL = "actual"
    EXERCISE = "exercise"
    TEST = "test"


class _Value(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Location(_Value, frozen=True):
    text: Annotated[str, Meta(min_length=1, max_length=500)]
    admin_code: Annotated[str, Meta(pattern=r"^[0-9]{6}([0-9]{3})?(?!\n)$")] | None = None
    lat: Annotated[float, Meta(ge=-90, le=90)] | None = None
    lon: Annotated[float, Meta(ge=-180, le=180)] | None = None


class Casualties(_Value, frozen=True):
    dead: Count = 0
    injured: Count = 0
    missing: Count = 0
    trapped: Count = 0


class Contact(_Value, frozen=True):
    """A person named in a report. Personal data: kept apart from the timeline chain."""

    name: Annotated[str, Meta(min_length=1, max_length=100)]
    post: Annotated[str, Meta(max_length=100)] | None = None
    phone: Annotated[str, Meta(max_length=40)] | None = None


class CapValue(_Value, frozen=True):
    """A CAP ``parameter``, ``geocode`` or ``eventCode``: a ``valueName`` and its ``value``."""

    name: ShortText
    value: ShortText


class CapArea(_Value, frozen=True):
    """A CAP ``area``: its description and shapes as CAP writes them."""

    area_desc: ShortText
    #: ``lat,lon lat,lon ...`` (WGS 84), closed: the first pair repeats as the last.
    polygons: list[Text] = msgspec.field(default_factory=list)
    #: ``lat,lon radius`` (radius in kilometres).
    circles: list[ShortText] = msgspec.field(default_factory=list)
    geocodes: list[CapValue] = msgspec.field(default_factory=list)


class CapInfo(_Value, frozen=True):
    """One CAP ``info`` block (one per language), kept whole."""

    categories: list[ShortText]
    event: ShortText
    urgency: ShortText
    severity: ShortText
    certainty: ShortText
    language: Annotated[str, Meta(min_length=1, max_length=35)] = "en-US"
    response_types: list[ShortText] = msgspec.field(default_factory=list)
    onset: AwareTime | None = None
    effective: AwareTime | None = None
    expires: AwareTime | None = None
    sender_name: ShortText | None = None
    headline: ShortText | None = None
    description: Text | None = None
    instruction: Text | None = None
    parameters: list[CapValue] = msgspec.field(default_factory=list)
    areas: list[CapArea] = msgspec.field(default_factory=list)


class CapOrigin(_Value, frozen=True):
    """The CAP 1.2 message a report was translated from (``POST /api/v1/cap``,
    ``dutywatch.cap.<org>``): its identity and every ``info`` block, all languages kept."""

    identifier: ShortText
    sender: ShortText
    sent: AwareTime
    msg_type: ShortText
    status: ShortText
    scope: ShortText
    references: list[ShortText] = msgspec.field(default_factory=list)
    incidents: ShortText | None = None
    note: Text | None = None
    info: list[CapInfo] = msgspec.field(default_factory=list)


class ReportV1(_Value, frozen=True, tag_field="schema", tag="dutywatch.report.v1"):
    """An incident report: first (首报), follow-up (续报), final (终报) or supplementary (补报)."""

    report_id: UUID
    incident_ref: Annotated[
        str, Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*(?!\n)$")
    ]
    org: OrgPath
    stage: Stage
    grade: Grade
    category: Category
    title: Annotated[str, Meta(min_length=1, max_length=200)]
    occurred_at: AwareTime
    reported_at: AwareTime
    reporter: Contact
    status: ReportStatus = ReportStatus.ACTUAL
    subtype: ShortText | None = None
    sequence: PositiveInt | None = None
    learned_at: AwareTime | None = None
    location: Location | None = None
    summary: Text = ""
    casualties: Casualties | None = None
    losses: ShortText | None = None
    cause: Text | None = None
    impact: Text | None = None
    measures: Text | None = None
    requests: Text | None = None
    warning_level: Level | None = None
    response_level: Level | None = None
    sensitive: bool = False
    reporting_unit: ShortText | None = None
    commander: Contact | None = None
    leaders_on_scene: list[Contact] = msgspec.field(default_factory=list)
    #: Set when the report was translated from a CAP 1.2 message (every language kept).
    cap: CapOrigin | None = None


class AckCommandV1(_Value, frozen=True, tag_field="schema", tag="dutywatch.cmd.ack.v1"):
    """Acknowledge an incident over ``dutywatch.cmd.ack`` (request/reply)."""

    command_id: UUID
    incident_id: PositiveInt
    token: Annotated[str, Meta(min_length=16, max_length=200)]
    note: ShortText | None = None


class CommandReplyV1(_Value, frozen=True, tag_field="schema", tag="dutywatch.cmd.reply.v1"):
    """The reply to a command: ``ok`` with the resulting state, or the error."""

    command_id: UUID | None
    ok: bool
    incident_id: int | None = None
    state: str | None = None
    error: str | None = None
    message: str | None = None


class PageReason(enum.StrEnum):
    FIRST_PAGE = "first_page"
    ESCALATION = "escalation"
    NEW_REPORT = "new_report"
    REMINDER = "reminder"  # 催办: a follow-up or final report falls due soon
    SUPERVISION = "supervision"  # 督办: an assignment falls due, is overdue, or is re-checked


class NotificationV1(_Value, frozen=True, tag_field="schema", tag="dutywatch.notification.v1"):
    """A page for one person, published on ``dutywatch.notify.<person id>``."""

    page_id: PositiveInt
    incident_id: PositiveInt
    person_id: Annotated[str, Meta(min_length=1, max_length=64)]
    role: Annotated[str, Meta(min_length=1, max_length=40)]
    org: OrgPath
    reason: PageReason
    step: Annotated[int, Meta(ge=0)]
    policy_version: Annotated[str, Meta(min_length=1, max_length=64)]
    grade: Grade
    category: Category
    title: Annotated[str, Meta(min_length=1, max_length=200)]
    status: ReportStatus
    created_at: AwareTime
    ack_by: AwareTime | None = None


class AlarmKind(enum.StrEnum):
    HANDOVER_OVERDUE = "handover_overdue"  # nobody took the handover over in time
    ROSTER_GAP = "roster_gap"  # a role slot has nobody on duty in the coming days
    ZERO_REPORT_MISSING = "zero_report_missing"  # a subordinate room's 零报告 is missing
    SUPERVISION = "supervision"  # 督办 of a standalone matter: a reminder or a re-check


class AlarmV1(_Value, frozen=True, tag_field="schema", tag="dutywatch.alarm.v1"):
    """An alarm of a duty room that is not about one incident, on ``dutywatch.notify.<person>``."""

    alarm_id: PositiveInt
    kind: AlarmKind
    person_id: Annotated[str, Meta(min_length=1, max_length=64)]
    role: Annotated[str, Meta(min_length=1, max_length=40)]
    org: OrgPath
    title: Annotated[str, Meta(min_length=1, max_length=200)]
    created_at: AwareTime
    handover_id: PositiveInt | None = None
    roster_id: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    starts_at: AwareTime | None = None
    ends_at: AwareTime | None = None


class EventKind(enum.StrEnum):
    OPENED = "opened"
    UPDATED = "updated"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    RESOLVED = "resolved"


class IncidentEventV1(_Value, frozen=True, tag_field="schema", tag="dutywatch.incident_event.v1"):
    """A change of an incident, published on ``dutywatch.event.<org path>.<kind>``."""

    event_id: PositiveInt
    kind: EventKind
    incident_id: PositiveInt
    org: OrgPath
    grade: Grade
    category: Category
    title: Annotated[str, Meta(min_length=1, max_length=200)]
    status: ReportStatus
    state: Annotated[str, Meta(min_length=1, max_length=40)]
    at: AwareTime
    actor: ShortText | None = None
    # Enough to mirror the incident in another system without asking dutywatch back:
    incident_ref: Annotated[str, Meta(min_length=1, max_length=128)] | None = None
    sensitive: bool = False
    occurred_at: AwareTime | None = None
    opened_at: AwareTime | None = None
    acknowledged_at: AwareTime | None = None
    acknowledged_by: ShortText | None = None
    resolved_at: AwareTime | None = None
    resolved_by: ShortText | None = None
    responsible_org: OrgPath | None = None
    skip_to: OrgPath | None = None
    reports_count: Annotated[int, Meta(ge=0)] = 0


class RejectionV1(_Value, frozen=True, tag_field="schema", tag="dutywatch.rejection.v1"):
    """A message that could not be accepted, published on ``dutywatch.rejected``."""

    rejection_id: PositiveInt
    received_at: AwareTime
    source: Annotated[str, Meta(min_length=1, max_length=20)]
    subject: ShortText | None
    msg_id: ShortText | None
    reason: Annotated[str, Meta(min_length=1, max_length=64)]
    message: Text
    field: ShortText | None
    raw_base64: str
    raw_size: Annotated[int, Meta(ge=0)]
    raw_truncated: bool


class RosterChange(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


class RosterEntity(enum.StrEnum):
    """The part of a roster that changed."""

    ROSTER = "roster"  # the roster itself: name, time zone, calendar, slots, removed people
    ROTATION = "rotation"
    LAYER = "layer"
    OVERRIDE = "override"
    SWAP = "swap"
    HOLIDAY_CALENDAR = "holiday_calendar"  # the calendar the roster follows was reloaded


class ChangeSource(enum.StrEnum):
    HTTP = "http"
    CLI = "cli"
    SYSTEM = "system"


class RosterEventV1(_Value, frozen=True, tag_field="schema", tag="dutywatch.roster_event.v1"):
    """A roster changed; published on ``dutywatch.event.<org path>.roster``."""

    event_id: PositiveInt
    roster_id: PositiveInt
    org: OrgPath
    version: PositiveInt
    change: RosterChange
    entity: RosterEntity
    entity_id: Annotated[str, Meta(min_length=1, max_length=64)]
    actor: Annotated[str, Meta(min_length=1, max_length=200)]
    source: ChangeSource
    at: AwareTime
    affects_from: AwareTime | None = None
    affects_to: AwareTime | None = None


class SupervisionEventKind(enum.StrEnum):
    """What happened to an assignment (督办); see dutywatch/supervision/rules.py."""

    ASSIGNED = "assigned"  # an instruction's assignment was given to the unit
    ACCEPTED = "accepted"
    STARTED = "started"
    REPORTED = "reported"  # 反馈
    VERIFIED = "verified"
    SENT_BACK = "sent_back"
    CLOSED = "closed"
    REMINDED = "reminded"  # 催办
    RECHECK_REQUESTED = "recheck_requested"  # 回头看: the supervisor was asked
    RECHECK_HELD = "recheck_held"  # 二次反馈: the result holds
    REOPENED = "reopened"  # 二次反馈: it did not hold; the assignment is open again


class SupervisionState(enum.StrEnum):
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    REPORTED = "reported"
    SENT_BACK = "sent_back"
    VERIFIED = "verified"
    CLOSED = "closed"


PersonId = Annotated[str, Meta(min_length=1, max_length=64)]


class SupervisionEventV1(
    _Value, frozen=True, tag_field="schema", tag="dutywatch.supervision_event.v1"
):
    """A step of an assignment, published on ``dutywatch.event.<unit org path>.supervision``."""

    event_id: PositiveInt
    kind: SupervisionEventKind
    instruction_id: PositiveInt
    assignment_id: PositiveInt
    incident_id: PositiveInt | None
    org: OrgPath
    assigned_by: OrgPath
    responsible: PersonId
    supervisor: PersonId
    state: SupervisionState
    due_at: AwareTime
    overdue: bool
    at: AwareTime
    actor: Annotated[str, Meta(min_length=1, max_length=200)]


#: Every contract type, keyed by its ``schema`` tag.
CONTRACTS: Final[dict[str, type[msgspec.Struct]]] = {
    "dutywatch.report.v1": ReportV1,
    "dutywatch.cmd.ack.v1": AckCommandV1,
    "dutywatch.cmd.reply.v1": CommandReplyV1,
    "dutywatch.notification.v1": NotificationV1,
    "dutywatch.alarm.v1": AlarmV1,
    "dutywatch.incident_event.v1": IncidentEventV1,
    "dutywatch.rejection.v1": RejectionV1,
    "dutywatch.roster_event.v1": RosterEventV1,
    "dutywatch.supervision_event.v1": SupervisionEventV1,
}

_report_decoder = msgspec.json.Decoder(ReportV1)
_ack_decoder = msgspec.json.Decoder(AckCommandV1)
encode = msgspec.json.Encoder().encode


def decode_report(data: bytes) -> ReportV1:
    """Decode and validate a report; raise a :class:`~dutywatch.errors.RejectedInput`."""
    return _decode(_report_decoder, data, "dutywatch.report.v1")


def decode_ack(data: bytes) -> AckCommandV1:
    return _decode(_ack_decoder, data, "dutywatch.cmd.ack.v1")


class _Envelope(msgspec.Struct):
    """Just the discriminator: read first so a missing or unknown ``schema`` is named as such."""

    schema: str | None = None


_envelope_decoder = msgspec.json.Decoder(_Envelope)
#: ``\u0000`` in a JSON string, i.e. preceded by an even number of backslashes.
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


#: No contract nests deeper; a deeper document is refused before decoding (a deeply nested
#: one would otherwise exhaust the decoder's recursion).
MAX_JSON_DEPTH: Final = 32

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(raw: bytes) -> int:
    """How deeply ``raw`` nests arrays and objects (brackets inside strings do not count).

    Strings are cut out and everything but brackets dropped by C-speed scans first, so only
    the brackets are walked in Python."""
    brackets = _STRINGS.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _refuse_unsafe(data: bytes) -> None:
    """Size and nesting limits, checked before any decoder sees the bytes."""
    from dutywatch import errors

    if len(data) > MAX_PAYLOAD_BYTES:
        raise errors.PayloadTooLarge(
            f"payload is {len(data)} bytes; the limit is {MAX_PAYLOAD_BYTES} bytes",
            size=len(data),
        )
    # Nesting needs an opening bracket per level: a document with few brackets (any real
    # report) cannot nest too deeply, and skips the walk.
    if data.count(b"{") + data.count(b"[") > MAX_JSON_DEPTH and json_depth(data) > MAX_JSON_DEPTH:
        raise errors.MalformedJson(
            f"the JSON nests deeper than {MAX_JSON_DEPTH} levels; no contract needs that"
        )


def _decode(decoder: msgspec.json.Decoder[_T], data: bytes, expected: str) -> _T:
    from dutywatch import errors

    _refuse_unsafe(data)
    try:
        envelope = _envelope_decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise errors.SchemaViolation(f"expected a JSON object: {exc}") from None
    except msgspec.DecodeError as exc:
        raise errors.MalformedJson(f"not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise errors.MalformedJson(f"not valid UTF-8 at byte {exc.start}; send UTF-8") from None
    if b"\\u0000" in data and _NUL_ESCAPE.search(data):
        raise errors.SchemaViolation(
            "text must not contain U+0000 (NUL): PostgreSQL cannot store it; remove the character"
        )
    if envelope.schema != expected:
        found = "no `schema` field" if envelope.schema is None else repr(envelope.schema)
        raise errors.UnknownSchema(f"`schema` must be {expected!r}; found {found}", field="schema")
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise errors.SchemaViolation(str(exc), field=_field_of(str(exc))) from None
    except UnicodeDecodeError as exc:
        raise errors.MalformedJson(f"not valid UTF-8 at byte {exc.start}; send UTF-8") from None


def _field_of(message: str) -> str | None:
    """Turn msgspec's messages into a dotted field path (``location.lat``, ``reporter.name``)."""
    at = message.rsplit(" - at `$.", 1)[1].rstrip("`") if " - at `$." in message else None
    for marker in ("missing required field `", "unknown field `"):
        if marker in message:
            name = message.split(marker, 1)[1].split("`", 1)[0]
            return f"{at}.{name}" if at else name
    return at


def decode_as(value_type: type[_T], data: bytes) -> _T:
    """Decode a JSON body into ``value_type`` (no ``schema`` tag needed), naming the bad field.

    For request bodies of the HTTP API that are not bus contracts: same errors as the
    contract decoders (``malformed_json``, ``schema_violation`` with ``field``).
    """
    from dutywatch import errors

    _refuse_unsafe(data)
    if b"\\u0000" in data and _NUL_ESCAPE.search(data):
        raise errors.SchemaViolation(
            "text must not contain U+0000 (NUL): PostgreSQL cannot store it; remove the character"
        )
    try:
        return msgspec.json.decode(data, type=value_type)
    except msgspec.ValidationError as exc:
        raise errors.SchemaViolation(str(exc), field=_field_of(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise errors.MalformedJson(f"not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise errors.MalformedJson(f"not valid UTF-8 at byte {exc.start}; send UTF-8") from None
