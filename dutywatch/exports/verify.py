"""``dutywatch verify --export FILE``: check an export against its own chain and the record.

* A JSON export carries every hashed field of every entry: its chain is recomputed from the
  file alone (offline), each personal data section still present is checked against its
  digest, and the stated head must be the file's last entry.
* Every export (JSON, CSV, HTML, PDF) states the head it was made from (incident, seq, head
  hash, time made). Against a database, that head must still be in the incident's chain at
  that seq. If the chain has grown since, the record **moved on**: that is information (the
  export is true of the record up to its seq), not tampering. Tampering is a stated head that
  is not in the chain at that seq, an incident or entries that are gone, or a record whose own
  chain no longer verifies.

The printed formats prove which record they were made from, not their own text: edit a CSV
summary or an HTML cell and nothing here can tell. The JSON export is the one to hand on when
the content itself must be checkable.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Any, Literal, cast

from dutywatch.exports.incident import CSV_COLUMNS, SCHEMA, StatedHead
from dutywatch.exports.store import recorded_hash_at
from dutywatch.sql import Conn
from dutywatch.timeline.chain import Entry, EntryKind, Source, personal_digest, verify_chain
from dutywatch.timeline.store import entries_of

Format = Literal["json", "csv", "html", "pdf"]
Level = Literal["ok", "info", "problem"]


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str

    def __str__(self) -> str:
        label = {"ok": "OK", "info": "NOTE", "problem": "PROBLEM"}[self.level]
        return f"{label}: {self.text}"


@dataclass
class ExportFile:
    """What an export file says: its format, its stated head, and what can be checked."""

    format: Format
    head: StatedHead | None
    findings: list[Finding] = field(default_factory=list)
    #: (seq, hash) of every entry the file lists, for CSV and JSON.
    listed: list[tuple[int, bytes]] = field(default_factory=list)


def detect_format(data: bytes) -> Format:
    if data.startswith(b"%PDF-"):
        return "pdf"
    start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:15].lower()
    if start.startswith(b"{"):
        return "json"
    if start.startswith((b"<!doctype html", b"<html")):
        return "html"
    return "csv"


def read_export(data: bytes) -> ExportFile:
    """Read ``data`` (any export format) and check what the file alone can prove."""
    fmt = detect_format(data)
    if fmt == "json":
        return _read_json(data)
    if fmt == "csv":
        return _read_csv(data)
    if fmt == "html":
        text = data.decode("utf-8", errors="replace")
        finder = _MetaFinder()
        finder.feed(text)
        head = StatedHead.find(finder.marker or "") or StatedHead.find(text)
    else:
        head = StatedHead.find(data.decode("latin-1"))
    found = ExportFile(format=fmt, head=head)
    if head is None:
        found.findings.append(
            Finding("problem", f"this {fmt.upper()} file states no dutywatch chain head")
        )
    return found


class _MetaFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.marker: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "meta" and values.get("name") == "dutywatch-export":
            self.marker = values.get("content")


def _read_json(data: bytes) -> ExportFile:
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return ExportFile(
            format="json",
            head=None,
            findings=[Finding("problem", f"the file is not valid JSON ({exc})")],
        )
    found = ExportFile(format="json", head=None)
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        found.findings.append(Finding("problem", f"not a dutywatch incident export ({SCHEMA})"))
        return found
    try:
        stated = document["export"]
        found.head = StatedHead.parse(
            stated["incident_id"], stated["seq"], stated["head"], stated["made_at"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        found.findings.append(Finding("problem", f"the `export` section is malformed ({exc})"))
        return found
    found.findings += _check_json_chain(found.head, document.get("timeline"), found.listed)
    return found


def _entry_of(raw: Any) -> tuple[Entry, dict[str, Any]]:
    """An entry from its JSON form; KeyError/TypeError/ValueError name what is malformed."""
    if not isinstance(raw, dict):
        raise TypeError("not an object")
    try:
        kind: EntryKind | str = EntryKind(raw["kind"])
    except ValueError:
        kind = str(raw["kind"])  # a kind newer than this program: hashed by its text
    at = datetime.fromisoformat(raw["at"])
    if at.tzinfo is None:
        raise ValueError("`at` has no time zone")
    body = raw["body"]
    if not isinstance(body, dict):
        raise TypeError("`body` is not an object")
    digest = raw["personal_digest"]
    entry = Entry(
        incident_id=int(raw["incident_id"]),
        seq=int(raw["seq"]),
        kind=cast(EntryKind, kind),
        at=at,
        actor=str(raw["actor"]),
        source=Source(raw["source"]),
        body=body,
        personal_digest=bytes.fromhex(digest) if digest is not None else None,
        prev_hash=bytes.fromhex(raw["prev_hash"]),
        hash=bytes.fromhex(raw["hash"]),
    )
    personal = raw.get("personal") or {}
    return entry, personal if isinstance(personal, dict) else {"state": "malformed"}


def _check_json_chain(
    head: StatedHead, timeline: Any, listed: list[tuple[int, bytes]]
) -> list[Finding]:
    findings: list[Finding] = []
    if not isinstance(timeline, list) or not timeline:
        return [Finding("problem", "the export lists no timeline entries")]
    entries: list[Entry] = []
    purged = 0
    for position, raw in enumerate(timeline, start=1):
        where = f"entry {raw.get('seq', '?') if isinstance(raw, dict) else '?'}"
        try:
            entry, personal = _entry_of(raw)
        except (KeyError, TypeError, ValueError) as exc:
            findings.append(
                Finding("problem", f"{where} (position {position}): malformed field {exc}")
            )
            continue
        if entry.incident_id != head.incident_id:
            findings.append(
                Finding(
                    "problem",
                    f"entry {entry.seq} belongs to incident {entry.incident_id}, "
                    f"not {head.incident_id}",
                )
            )
        entries.append(entry)
        listed.append((entry.seq, entry.hash))
        findings += _check_personal(entry, personal)
        purged += personal.get("state") == "purged"
    problems = verify_chain(head.incident_id, entries, head=head.head)
    findings += [Finding("problem", str(p)) for p in problems]
    if entries and entries[-1].seq != head.seq:
        findings.append(
            Finding(
                "problem",
                f"the export states entry {head.seq} as its head, "
                f"but its last entry is {entries[-1].seq}",
            )
        )
    if not any(f.level == "problem" for f in findings):
        findings.append(
            Finding(
                "ok",
                f"the file's chain of {len(entries)} entries recomputes to the stated head "
                f"{head.head.hex()[:16]}… at entry {head.seq}",
            )
        )
    if purged:
        findings.append(
            Finding(
                "info",
                f"personal data purged in {purged} entr{'y' if purged == 1 else 'ies'} "
                "(the chain still holds: it commits to their digests)",
            )
        )
    return findings


def _check_personal(  # noqa: PLR0911 - one return per state of the section
    entry: Entry, personal: dict[str, Any]
) -> list[Finding]:
    state = personal.get("state")
    if entry.personal_digest is None:
        if personal:
            return [Finding("problem", f"entry {entry.seq}: personal data listed, but no digest")]
        return []
    if state == "purged":
        return []
    if state != "present":
        return [Finding("problem", f"entry {entry.seq}: personal data neither present nor purged")]
    try:
        digest = personal_digest(bytes.fromhex(personal["salt"]), personal["data"])
    except (KeyError, TypeError, ValueError) as exc:
        return [Finding("problem", f"entry {entry.seq}: personal data malformed ({exc})")]
    if digest != entry.personal_digest:
        return [
            Finding(
                "problem",
                f"entry {entry.seq}: personal data does not match its digest (edited)",
            )
        ]
    return []


def _read_csv(data: bytes) -> ExportFile:
    found = ExportFile(format="csv", head=None)
    try:
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        found.findings.append(Finding("problem", f"the file is not a readable CSV ({exc})"))
        return found
    if not rows or not set(CSV_COLUMNS) <= set(rows[0]):
        found.findings.append(
            Finding("problem", "not a dutywatch timeline export: columns " + ", ".join(CSV_COLUMNS))
        )
        return found
    previous = b""
    try:
        for number, row in enumerate(rows, start=1):
            seq, digest = int(row["seq"]), bytes.fromhex(row["hash"])
            if seq != number:
                found.findings.append(
                    Finding("problem", f"line {number + 1}: expected entry {number}, found {seq}")
                )
            if bytes.fromhex(row["prev_hash"]) != previous:
                found.findings.append(
                    Finding("problem", f"entry {seq}: prev_hash does not match the line before")
                )
            previous = digest
            found.listed.append((seq, digest))
        last = rows[-1]
        found.head = StatedHead.parse(
            last["incident_id"], last["seq"], last["hash"], last["exported_at"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        found.findings.append(Finding("problem", f"a line is malformed ({exc})"))
    return found


async def check_against_database(conn: Conn, export: ExportFile) -> list[Finding]:
    """Is the stated head still in the record's chain at its seq, and does the record hold?"""
    head = export.head
    if head is None:
        return []
    recorded = await recorded_hash_at(conn, head.incident_id, head.seq)
    if recorded is None:
        return [
            Finding(
                "problem",
                f"incident {head.incident_id} is not in the database: it was deleted, "
                "or this is not the database the export was made from",
            )
        ]
    at_seq, length, record_head = recorded
    entries = await entries_of(conn, head.incident_id)
    findings = [
        Finding("problem", f"the record itself does not verify: {p}")
        for p in verify_chain(head.incident_id, entries, head=record_head)
    ]
    if at_seq is None:
        findings.append(
            Finding(
                "problem",
                f"TAMPERING: the record of incident {head.incident_id} has {length} entries, "
                f"but the export states entry {head.seq}: entries were removed, or this is "
                "not the database the export was made from",
            )
        )
        return findings
    if at_seq != head.head:
        findings.append(
            Finding(
                "problem",
                f"TAMPERING: the stated head is not in the chain: the record's entry {head.seq} "
                f"of incident {head.incident_id} has hash {at_seq.hex()}, the export states "
                f"{head.head.hex()}; the export or the record was altered",
            )
        )
        return findings
    recorded_hashes = {e.seq: e.hash for e in entries}
    for seq, digest in export.listed:
        if recorded_hashes.get(seq) != digest:
            findings.append(
                Finding(
                    "problem",
                    f"entry {seq} in the file does not match the record's entry {seq} "
                    "(the file or the record was altered)",
                )
            )
    if length > head.seq:
        findings.append(
            Finding(
                "info",
                f"the record has moved on since this export was made: incident "
                f"{head.incident_id} now has {length} entries ({length - head.seq} added after "
                f"entry {head.seq}). That is new information, not tampering: the export is "
                f"true of the record up to entry {head.seq}",
            )
        )
    else:
        findings.append(
            Finding(
                "ok",
                f"the database still has this head at entry {head.seq} of incident "
                f"{head.incident_id}: the record was not changed since the export was made",
            )
        )
    return findings
