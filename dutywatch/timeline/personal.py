"""Personal data of a response and its destruction (Emergency Response Law Art. 85), pure.

The personal fields of a report (the reporter, the on-scene commander, the leaders on
scene) are kept apart from the chained entry in ``personal_data`` with a random salt; the
entry commits to ``SHA-256(salt || canonical(data))``. Purging deletes the data and its
salt (so the digest can no longer be matched against guesses) and records a
``personal_data_purged`` entry naming the entries purged; the chain still verifies.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from dutywatch.timeline.chain import ChainProblem, Entry, EntryKind, personal_digest

#: The keys of a report that name people; kept apart from the chain and purged.
PERSONAL_KEYS: Final = ("reporter", "commander", "leaders_on_scene")


def split_personal(document: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the document without its personal keys, the personal keys present)."""
    rest = {k: v for k, v in document.items() if k not in PERSONAL_KEYS}
    personal = {k: document[k] for k in PERSONAL_KEYS if k in document}
    return rest, personal


def purged_seqs(entries: Iterable[Entry]) -> set[int]:
    """Entries whose personal data a ``personal_data_purged`` entry records as destroyed."""
    purged: set[int] = set()
    for entry in entries:
        if entry.kind is EntryKind.PERSONAL_DATA_PURGED:
            purged.update(int(seq) for seq in entry.body.get("entries", []))
    return purged


def verify_personal(
    incident_id: int,
    entries: Iterable[Entry],
    stored: Mapping[int, tuple[bytes, Mapping[str, Any]]],
) -> list[ChainProblem]:
    """Personal data still held must match the digest its entry commits to; data gone must
    have been purged on the record. ``stored`` maps seq to (salt, data)."""
    entries = list(entries)
    purged = purged_seqs(entries)
    problems: list[ChainProblem] = []
    committed = {e.seq: e.personal_digest for e in entries if e.personal_digest is not None}
    for seq, digest in committed.items():
        held = stored.get(seq)
        if held is None:
            if seq not in purged:
                problems.append(
                    ChainProblem(
                        incident_id,
                        seq,
                        "personal data is missing and no personal_data_purged entry records "
                        "its destruction (deleted behind the service's back)",
                    )
                )
        elif personal_digest(held[0], held[1]) != digest:
            problems.append(
                ChainProblem(incident_id, seq, "personal data does not match its digest (edited)")
            )
    for seq in sorted(set(stored) - set(committed)):
        problems.append(
            ChainProblem(incident_id, seq, "personal data is stored for an entry without a digest")
        )
    return problems


@dataclass(frozen=True)
class RetentionRule:
    """How many days after resolution personal data is kept, per event grade (Art. 85).

    The retention worker's query (``retention_due``) applies it in PostgreSQL, so a batch
    holds only incidents that are due."""

    days: Mapping[str, int]


#: Project defaults, in days after resolution: longer for graver events, whose review
#: (and any liability proceedings) run longer. See docs/DOMAIN.md "Personal data".
DEFAULT_RETENTION: Final = RetentionRule({"I": 3650, "II": 1825, "III": 1095, "IV": 365})


def scrub_rejected(
    raw: bytes,
    *,
    org: str,
    incident_ref: str,
    report_ids: Collection[str],
    msg_id: str | None,
) -> bytes | None:
    """A refused message of the incident without its personal fields; None if it is not
    one of the incident's reports or holds no personal field.

    A message is the incident's when its message id is one of the incident's report ids,
    or it is a JSON object naming the incident's ``org`` and ``incident_ref``. A message of
    the incident that is not a JSON object cannot be taken apart: it is blanked whole.
    """
    by_id = msg_id is not None and msg_id in report_ids
    try:
        document = json.loads(raw)
    except ValueError:
        return b"" if by_id and raw else None
    if not isinstance(document, dict):
        return b"" if by_id and raw else None
    ours = by_id or (document.get("org") == org and document.get("incident_ref") == incident_ref)
    rest, personal = split_personal(document)
    if not ours or not personal:
        return None
    return json.dumps(rest, ensure_ascii=False).encode()
