"""Pure rules of the timeline chain: canonical encoding, hashing, verification.

An entry's hash is SHA-256 over a canonical JSON encoding of the entry including the
previous entry's hash, so changing, removing or reordering any entry breaks every hash
after it. Personal data is not in the chain: the chain holds a salted digest of it, so
purging the data (Emergency Response Law Art. 85) leaves the chain verifiable.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, ParamSpec

import msgspec


def _canonical(value: Any) -> bytes:
    """JSON with object keys sorted, no insignificant whitespace, UTF-8 (not ASCII-escaped)."""
    encoded = msgspec.json.encode(value, order="sorted")
    if b"null" in encoded:
        # Only an encoding with a null can hide a non-finite float: walk the value just then
        # (the walk in Python cost more than the encoding itself).
        _refuse_non_finite(value)
    return encoded


def canonical_body(body: Mapping[str, Any]) -> bytes:
    """An entry body's canonical JSON, as :func:`canonical_bytes` embeds it.

    Also what the timeline row stores (``jsonb``: the key order does not survive storage
    anyway), so a body is encoded once per entry.
    """
    return _canonical(body)


def _refuse_non_finite(value: Any) -> None:
    """msgspec writes NaN and infinities as null; refuse them so no two values share a hash."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"timeline values must be finite numbers, got {value!r}")
    elif isinstance(value, dict):
        for item in value.values():
            _refuse_non_finite(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_non_finite(item)


_P = ParamSpec("_P")

#: prev_hash of the first entry of every incident.
GENESIS: Final = b""


class EntryKind(enum.StrEnum):
    """Mirrors the PostgreSQL enum ``timeline_kind`` (values added by migrations 0001 to 0009
    and 0013)."""

    REPORT_RECEIVED = "report_received"  # a report stage was stored
    INCIDENT_OPENED = "incident_opened"  # the first report of an incident_ref opened it
    FIRST_REPORT_MISSING = "first_report_missing"  # opened from a later stage, flagged
    GRADE_CHANGED = "grade_changed"  # a later report changed the event grade
    PAGED = "paged"  # a page for one person was written to the outbox
    ROSTER_GAP = "roster_gap"  # nobody held the role; the page climbed to the parent
    ACKNOWLEDGED = "acknowledged"  # an officer acknowledged; the climb stops
    ESCALATED = "escalated"  # an escalation step fired: nobody acknowledged in time
    RESOLVED = "resolved"  # the incident was closed; every timer cancelled
    NOTE = "note"  # free text added by a person
    HANDED_OVER = "handed_over"  # carried into a handover by the outgoing officer
    HANDOVER_ACCEPTED = "handover_accepted"  # the incoming officer took the handover over
    ALERT_OPENED = "alert_opened"  # a linked alert opened in a parent, skip-level or peer room
    CLOCK_STARTED = "clock_started"  # a statutory reporting clock started or was tightened
    REPORT_LATE = "report_late"  # 迟报: a reporting clock ran out, or a report came after it
    SIGNED_OFF = "signed_off"  # 签发: the written report was signed off; written clocks stop
    FIELDS_OMITTED = "fields_omitted"  # 漏报: required items missing at sign-off
    REMINDER_SENT = "reminder_sent"  # 催办: a reminder that a report falls due
    ZERO_REPORT_MISSING = "zero_report_missing"  # a subordinate room's zero report is missing
    FORWARDED = "forwarded"  # a report sent to the wrong office was forwarded
    SKIP_LEVEL = "skip_level"  # 越级上报: a leader chose to report directly to an ancestor room
    CORRECTION = "correction"  # corrects an earlier entry (``body.corrects`` = its seq)
    INSTRUCTION = "instruction"  # 批示: a leader's instruction on the incident
    DEADLINE_MET = "deadline_met"  # a statutory reporting clock stopped in time
    PAGE_DELIVERED = "page_delivered"  # a channel confirmed a page reached its person
    PAGE_FAILED = "page_failed"  # a channel could not deliver a page, and why
    PERSONAL_DATA_PURGED = "personal_data_purged"  # Art. 85: the incident's personal data destroyed
    RETENTION_HELD = "retention_held"  # a hold keeps the personal data past the retention rule
    RETENTION_RELEASED = "retention_released"  # the hold was lifted; the rule applies again
    ASSIGNED = "assigned"  # 督办: an instruction's assignment given to a unit
    ASSIGNMENT_ACCEPTED = "assignment_accepted"  # the unit took the assignment on
    ASSIGNMENT_STARTED = "assignment_started"  # the unit is carrying it out
    FEEDBACK_REPORTED = "feedback_reported"  # 反馈: the unit reported back
    FEEDBACK_VERIFIED = "feedback_verified"  # the supervisor accepted the feedback
    FEEDBACK_SENT_BACK = "feedback_sent_back"  # refused: reason and new due date
    ASSIGNMENT_CLOSED = "assignment_closed"  # done; a re-check may be scheduled
    SUPERVISION_REMINDED = "supervision_reminded"  # 催办: a reminder to the unit (and leader)
    RECHECK_REQUESTED = "recheck_requested"  # 回头看: the supervisor was asked to re-check
    RECHECK_ANSWERED = "recheck_answered"  # 二次反馈: the re-check's answer
    ASSIGNMENT_REOPENED = "assignment_reopened"  # a failed re-check reopened the assignment


class Source(enum.StrEnum):
    NATS = "nats"
    HTTP = "http"
    CLI = "cli"
    SYSTEM = "system"


@dataclass(frozen=True, kw_only=True)
class Entry:
    incident_id: int
    seq: int
    kind: EntryKind
    at: datetime
    actor: str
    source: Source
    body: Mapping[str, Any]
    personal_digest: bytes | None
    prev_hash: bytes
    hash: bytes


@functools.lru_cache(maxsize=64)
def _time(value: datetime) -> str:
    # Cached: a transaction stamps all its entries with the same ``now``.
    if value.tzinfo is None:
        raise ValueError("timeline times must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(
    *,
    incident_id: int,
    seq: int,
    kind: EntryKind,
    at: datetime,
    actor: str,
    source: Source,
    body: Mapping[str, Any],
    personal_digest: bytes | None,
    prev_hash: bytes,
) -> bytes:
    """The exact bytes an entry's hash covers: sorted keys, no whitespace, UTF-8."""
    return chained_bytes(
        incident_id=incident_id,
        seq=seq,
        kind=kind,
        at=at,
        actor=actor,
        source=source,
        body_json=canonical_body(body),
        personal_digest=personal_digest,
        prev_hash=prev_hash,
    )


def chained_bytes(
    *,
    incident_id: int,
    seq: int,
    kind: EntryKind,
    at: datetime,
    actor: str,
    source: Source,
    body_json: bytes,
    personal_digest: bytes | None,
    prev_hash: bytes,
) -> bytes:
    """:func:`canonical_bytes` of a body already encoded by :func:`canonical_body`."""
    document = {
        "v": 1,
        "incident_id": incident_id,
        "seq": seq,
        "kind": str(kind),
        "at": _time(at),
        "actor": actor,
        "source": str(source),
        "body": msgspec.Raw(body_json),
        "personal_digest": personal_digest.hex() if personal_digest is not None else None,
        "prev_hash": prev_hash.hex(),
    }
    # Not _canonical: the body is checked already (canonical_body), and no other field of
    # the document is a float, so there is nothing the non-finite walk could find.
    return msgspec.json.encode(document, order="sorted")


def _sha256_of(encode: Callable[_P, bytes]) -> Callable[_P, bytes]:
    def digest(*args: _P.args, **kwargs: _P.kwargs) -> bytes:
        return hashlib.sha256(encode(*args, **kwargs)).digest()

    return digest


#: SHA-256 of :func:`canonical_bytes`; takes the same keyword arguments.
entry_hash = _sha256_of(canonical_bytes)
#: SHA-256 of :func:`chained_bytes` (the body already encoded).
chained_hash = _sha256_of(chained_bytes)


def entry_bytes(entry: Entry) -> bytes:
    """The bytes ``entry``'s hash covers, from its own fields."""
    return canonical_bytes(
        incident_id=entry.incident_id,
        seq=entry.seq,
        kind=entry.kind,
        at=entry.at,
        actor=entry.actor,
        source=entry.source,
        body=entry.body,
        personal_digest=entry.personal_digest,
        prev_hash=entry.prev_hash,
    )


def personal_digest(salt: bytes, data: Mapping[str, Any]) -> bytes:
    """Salted digest of personal data; the salt is destroyed with the data on purge."""
    return hashlib.sha256(salt + _canonical(data)).digest()


@dataclass(frozen=True)
class ChainProblem:
    incident_id: int
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"incident {self.incident_id} entry {self.seq}: {self.problem}"


def verify_chain(
    incident_id: int, entries: Iterable[Entry], *, head: bytes | None = None
) -> list[ChainProblem]:
    """Every problem in one incident's chain, in order; empty means the chain holds.

    ``head`` is the hash the incident row records as its latest entry, which catches a
    deleted tail that the chain alone cannot.
    """
    problems: list[ChainProblem] = []
    previous = GENESIS
    expected_seq = 1
    for entry in entries:
        if entry.seq != expected_seq:
            problems.append(
                ChainProblem(incident_id, entry.seq, f"expected entry {expected_seq} here")
            )
        if entry.prev_hash != previous:
            problems.append(
                ChainProblem(incident_id, entry.seq, "prev_hash does not match previous entry")
            )
        if hashlib.sha256(entry_bytes(entry)).digest() != entry.hash:
            problems.append(
                ChainProblem(incident_id, entry.seq, "content does not match its hash (edited)")
            )
        previous = entry.hash
        expected_seq = entry.seq + 1
    if head is not None and head != previous:
        problems.append(
            ChainProblem(incident_id, expected_seq - 1, "last entry is not the recorded head")
        )
    return problems
