"""Notes, corrections and instructions: facts that change nothing but the record (pure).

A note may carry the metadata of attachments (name, media type, size, SHA-256; the files
themselves are kept outside dutywatch, and the digest in the chain proves which file was
meant). Nothing on the timeline is edited in place: a correction is a new entry naming the
earlier entry it corrects. An instruction (批示) is a leader's direction on the incident.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from dutywatch import errors
from dutywatch.incidents.rules import Fact, Incident
from dutywatch.timeline import EntryKind

Text = Annotated[str, Meta(min_length=1, max_length=4000)]


class Attachment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An attachment's metadata; the file lives in the office's document store."""

    name: Annotated[str, Meta(min_length=1, max_length=255)]
    media_type: Annotated[str, Meta(max_length=127, pattern=r"^[\w.+-]+/[\w.+-]+$")]
    size: Annotated[int, Meta(ge=0)]
    sha256: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
    #: Where the file is kept, if the office gives it (a document store URL or reference).
    location: Annotated[str, Meta(max_length=1000)] | None = None


def _text(value: str, field: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise errors.SchemaViolation(f"`{field}` must not be blank", field=field)
    return stripped


def note(
    incident: Incident,
    *,
    text: str,
    attachments: Sequence[Attachment] = (),
    corrects: int | None = None,
) -> Fact:
    """A note, or with ``corrects`` a correction of entry ``corrects`` of this incident.

    Only an entry that exists can be corrected: 1 ≤ ``corrects`` ≤ the incident's last seq.
    """
    body: dict[str, Any] = {"text": _text(text, "text")}
    if attachments:
        body["attachments"] = [msgspec.to_builtins(a) for a in attachments]
    if corrects is None:
        return Fact(kind=EntryKind.NOTE, body=body)
    if not 1 <= corrects <= incident.timeline_seq:
        raise errors.SchemaViolation(
            f"incident {incident.id} has entries 1 to {incident.timeline_seq}; "
            f"`corrects` must name one of them, not {corrects}",
            field="corrects",
        )
    return Fact(kind=EntryKind.CORRECTION, body={**body, "corrects": corrects})


def instruction(incident: Incident, *, text: str, leader: str) -> Fact:
    """批示: ``leader``'s instruction on the incident, recorded word for word."""
    del incident  # any incident, open or closed, may be instructed on
    return Fact(kind=EntryKind.INSTRUCTION, body={"text": _text(text, "text"), "leader": leader})
