"""Appending to and reading the chained timeline."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import msgspec

from dutywatch.sql import Conn, Queries
from dutywatch.timeline.anchoring import AnchorStatus, verify_stored_anchors
from dutywatch.timeline.anchors import AnchorProblem
from dutywatch.timeline.chain import (
    ChainProblem,
    Entry,
    EntryKind,
    Source,
    canonical_body,
    chained_hash,
    personal_digest,
    verify_chain,
)
from dutywatch.timeline.personal import verify_personal

if TYPE_CHECKING:
    from dutywatch.incidents.rules import Fact, Incident
    from dutywatch.writes import Writes

queries = Queries(__package__)


def append(
    writes: Writes,
    incident: Incident,
    facts: Sequence[Fact],
    *,
    actor: str,
    source: Source,
) -> Incident:
    """Chain ``facts`` after the incident's head; return the incident with its new head.

    The entries go into ``writes`` and the new head onto the incident, which the caller saves
    in the same transaction: a failed audit write fails the whole operation.
    """
    seq, head, at = incident.timeline_seq, incident.timeline_head, writes.now
    for fact in facts:
        seq += 1
        digest = None
        if fact.personal:
            salt = secrets.token_bytes(16)
            digest = personal_digest(salt, fact.personal)
            writes.personal.append(
                (incident.id, seq, salt, msgspec.json.encode(fact.personal).decode())
            )
        body_json = canonical_body(fact.body)
        new_hash = chained_hash(
            incident_id=incident.id,
            seq=seq,
            kind=fact.kind,
            at=at,
            actor=actor,
            source=source,
            body_json=body_json,
            personal_digest=digest,
            prev_hash=head,
        )
        writes.entries.append(
            (
                incident.id,
                seq,
                str(fact.kind),
                at,
                actor,
                str(source),
                body_json.decode(),
                digest,
                head,
                new_hash,
            )
        )
        head = new_hash
    return replace(incident, timeline_seq=seq, timeline_head=head)


def _entry(row: Any) -> Entry:
    return Entry(
        incident_id=row["incident_id"],
        seq=row["seq"],
        kind=EntryKind(row["kind"]),
        at=row["at"],
        actor=row["actor"],
        source=Source(row["source"]),
        body=msgspec.json.decode(row["body"]),
        personal_digest=row["personal_digest"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


async def entries_of(conn: Conn, incident_id: int) -> list[Entry]:
    return [_entry(row) for row in await queries.many(conn, "entries_of", incident_id)]


#: Anything ``dutywatch verify`` finds wrong.
Problem = ChainProblem | AnchorProblem


@dataclass(frozen=True)
class Verification:
    incidents: int
    problems: list[Problem]
    anchors: AnchorStatus
    #: False when this role may not read personal data (the review role): not checked.
    personal_checked: bool


async def verify_everything(conn: Conn) -> Verification:
    """Every incident's chain and its personal data, incidents deleted but for their
    entries, and the daily anchors against what the database holds now."""
    problems: list[Problem] = []
    personal_checked = bool(await queries.val(conn, "can_read_personal"))
    heads = await queries.many(conn, "incident_heads")
    for row in heads:
        entries = await entries_of(conn, row["id"])
        problems.extend(verify_chain(row["id"], entries, head=bytes(row["timeline_head"])))
        if personal_checked:
            stored = {
                r["seq"]: (bytes(r["salt"]), msgspec.json.decode(r["data"]))
                for r in await queries.many(conn, "personal_of", row["id"])
            }
            problems.extend(verify_personal(row["id"], entries, stored))
    for row in await queries.many(conn, "orphan_entries"):
        problems.append(
            ChainProblem(
                row["incident_id"], 0, "has timeline entries but no incident row (deleted)"
            )
        )
    anchors = await verify_stored_anchors(conn)
    problems.extend(anchors.problems)
    return Verification(len(heads), problems, anchors, personal_checked)


async def verify_all(conn: Conn) -> tuple[int, list[Problem]]:
    """Check every incident's chain, its personal data and the anchors; return (incidents
    checked, problems)."""
    result = await verify_everything(conn)
    return result.incidents, result.problems
