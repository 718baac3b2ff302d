"""One incident's exports (pure): JSON, CSV, and the printable report as HTML and PDF.

Everything here is a function of an :class:`IncidentRecord` (read in one snapshot by
:mod:`dutywatch.exports.store`) and the language. Each export states the chain head it was
made from (:class:`StatedHead`), so ``dutywatch verify --export FILE`` can check it later.

Timeline entries are rendered generically (kind, time, actor, source, the body summarised
field by field), with a readable sentence for the kinds known here; a kind added later still
shows, by its name and its fields.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec

from dutywatch.deadlines.rules import Clock
from dutywatch.deadlines.table import ReportKind
from dutywatch.escalation.alerts import Alert
from dutywatch.incidents.rules import Incident
from dutywatch.printing import (
    TEXT,
    Lang,
    PdfDocument,
    duration_text,
    local_time,
    render_html,
    t,
    t_or,
    zone_label,
)
from dutywatch.rosters.rules import ancestors
from dutywatch.timeline.chain import Entry, EntryKind, entry_bytes

SCHEMA: Final = "dutywatch.incident_export.v1"
#: Entry kinds shown as late or missed (highlighted, and listed under "late items").
LATE_KINDS: Final = frozenset(
    {"report_late", "reminder_sent", "fields_omitted", "zero_report_missing"}
)
CSV_COLUMNS: Final = (
    "incident_id",
    "seq",
    "at",
    "kind",
    "actor",
    "source",
    "summary",
    "personal_data",
    "prev_hash",
    "hash",
    "exported_at",
)
#: How a printed or CSV export states its head: found again by :meth:`StatedHead.find`.
_MARKER = re.compile(r"dutywatch-export incident=(\d+) seq=(\d+) head=([0-9a-f]{64}) made=(\S+?Z)")
_MAX_VALUE = 300


@dataclass(frozen=True, kw_only=True)
class StatedHead:
    """The chain head an export was made from."""

    incident_id: int
    seq: int
    head: bytes
    made_at: datetime

    def marker(self) -> str:
        """One line, ASCII: printed in HTML and PDF exports and found again by :meth:`find`."""
        made = self.made_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f"dutywatch-export incident={self.incident_id} seq={self.seq} "
            f"head={self.head.hex()} made={made}"
        )

    @classmethod
    def parse(cls, incident_id: Any, seq: Any, head: Any, made_at: Any) -> StatedHead:
        """From the text an export states it in; ValueError/TypeError when malformed."""
        return cls(
            incident_id=int(incident_id),
            seq=int(seq),
            head=bytes.fromhex(head),
            made_at=datetime.fromisoformat(made_at),
        )

    @classmethod
    def find(cls, text: str) -> StatedHead | None:
        match = _MARKER.search(text)
        return cls.parse(*match.groups()) if match else None

    def as_json(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "seq": self.seq,
            "head": self.head.hex(),
            "made_at": self.made_at.astimezone(UTC).isoformat(),
        }


@dataclass(frozen=True, kw_only=True)
class Personal:
    """An entry's personal data as stored apart; ``data`` and ``salt`` are None once purged."""

    salt: bytes | None
    data: Mapping[str, Any] | None


@dataclass(frozen=True, kw_only=True)
class OnDutyPerson:
    role: str
    slot: int
    person_id: str
    name: str | None
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, kw_only=True)
class IncidentRecord:
    """Everything one incident's exports show, read in one snapshot."""

    incident: Incident
    org_name: str
    zone: ZoneInfo
    entries: Sequence[Entry]
    #: Personal data rows still stored, by entry seq.
    personal: Mapping[int, Personal]
    reports: Sequence[Mapping[str, Any]]
    pages: Sequence[Mapping[str, Any]]
    alerts: Sequence[Alert]
    alerts_json: Sequence[Mapping[str, Any]]
    clocks: Sequence[Clock]
    clocks_json: Sequence[Mapping[str, Any]]
    #: Names of the people the record mentions, by person id.
    people: Mapping[str, str]
    #: The duty room whose roster is shown (the origin, or the nearest room above it with
    #: somebody on duty), and who held each role slot there when the incident opened.
    duty_org: str | None
    on_duty: Sequence[OnDutyPerson]
    made_at: datetime

    @property
    def head(self) -> StatedHead:
        last = self.entries[-1] if self.entries else None
        return StatedHead(
            incident_id=self.incident.id,
            seq=last.seq if last else 0,
            head=last.hash if last else b"",
            made_at=self.made_at,
        )


# ---------------------------------------------------------------------------------------------
# figures


@dataclass(frozen=True, kw_only=True)
class ResponseTimes:
    """Measured from the time the incident opened; None when it has not happened yet."""

    to_ack: timedelta | None
    #: The first phone-speed report to a room above the reporting office that was made (its
    #: clock stopped): the report up the hierarchy.
    to_report_up: timedelta | None
    report_up_owed: bool
    to_resolve: timedelta | None


def response_times(
    incident: Incident, entries: Sequence[Entry], clocks: Sequence[Clock]
) -> ResponseTimes:
    opened = incident.opened_at
    acks = [e.at for e in entries if e.kind is EntryKind.ACKNOWLEDGED]
    first_ack = min(acks, default=incident.acknowledged_at)
    above = set(ancestors(incident.org_path)[1:])
    if incident.responsible_org:
        above |= set(ancestors(incident.responsible_org)[1:])
    upward = [c for c in clocks if c.kind is ReportKind.PHONE and c.target in above]
    stopped = [c.stopped_at for c in upward if c.stopped_at is not None]
    return ResponseTimes(
        to_ack=first_ack - opened if first_ack else None,
        # As the review figures count it (docs/DOMAIN.md "Review figures"): from the time the
        # office learned of it, which the statutory clocks count from too.
        to_report_up=min(stopped) - (incident.learned_at or opened) if stopped else None,
        report_up_owed=bool(upward),
        to_resolve=incident.resolved_at - opened if incident.resolved_at else None,
    )


# ---------------------------------------------------------------------------------------------
# readable text


def actor_text(actor: str | None, people: Mapping[str, str]) -> str:
    """``person:li-na`` → ``李娜 (li-na)`` when the name is known."""
    if not actor:
        return ""
    kind, _, ident = actor.partition(":")
    if kind == "person" and ident in people:
        return f"{people[ident]} ({ident})"
    return actor


def _value_text(  # noqa: PLR0911 - one return per kind of value reads best
    key: str, value: Any, lang: Lang, zone: ZoneInfo, people: Mapping[str, str]
) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return t("value.yes" if value else "value.no", lang)
    if isinstance(value, int | float) and key.endswith("_s") and math.isfinite(value):
        return duration_text(float(value), lang)
    if isinstance(value, str):
        if key.endswith("_at"):
            try:
                return local_time(datetime.fromisoformat(value), zone)
            except ValueError:
                return value
        for namespace in (
            "role",
            "reason",
            "stage",
            "category",
            "clock",
            "state",
            "status",
            "grade",
        ):
            if key == namespace or (namespace == "clock" and key == "kind"):
                return t_or(f"{namespace}.{value}", lang, value)
        if key == "person_id":
            return actor_text(f"person:{value}", people)
        if key == "by" or value.startswith("person:"):
            return actor_text(value, people)
        return value if len(value) <= _MAX_VALUE else value[:_MAX_VALUE] + "…"
    if isinstance(value, list):
        separator = "、" if lang == "zh" else ", "
        return separator.join(_value_text(key, item, lang, zone, people) for item in value)
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE] + "…"


def generic_summary(
    body: Mapping[str, Any], lang: Lang, zone: ZoneInfo, people: Mapping[str, str]
) -> str:
    """Every field of a body, ``key: value`` in key order (for kinds without a sentence)."""
    return "; ".join(
        f"{key}: {_value_text(key, body[key], lang, zone, people)}"
        for key in sorted(body)
        if body[key] not in (None, "", [], {})
    )


def entry_summary(
    kind: str,
    body: Mapping[str, Any],
    lang: Lang,
    zone: ZoneInfo,
    people: Mapping[str, str],
) -> str:
    """A readable sentence for a known kind; otherwise (or when a field the sentence needs is
    missing) every field of the body."""
    values = {key: _value_text(key, value, lang, zone, people) for key, value in body.items()}
    if "person_id" in body:
        values["person"] = values["person_id"]
    if kind == "reminder_sent" and isinstance(body.get("to"), list):
        values["to"] = _value_text("to", [f"person:{p}" for p in body["to"]], lang, zone, people)
    if values.get("note"):
        values["note"] = f"「{values['note']}」" if lang == "zh" else f"“{values['note']}”"
    key = f"summary.{kind}"
    if key in _SUMMARY_KEYS:
        try:
            return " ".join(t(key, lang, **values).split())
        except (KeyError, IndexError):
            pass
    return generic_summary(body, lang, zone, people)


_SUMMARY_KEYS: Final = frozenset(k for k in TEXT if k.startswith("summary."))


def kind_label(kind: str, lang: Lang) -> str:
    return t_or(f"kind.{kind}", lang, kind)


def personal_state(entry: Entry, personal: Mapping[int, Personal]) -> str:
    """``present``, ``purged`` or empty (the entry has no personal data)."""
    if entry.personal_digest is None:
        return ""
    row = personal.get(entry.seq)
    present = row is not None and row.salt is not None and row.data is not None
    return "present" if present else "purged"


# ---------------------------------------------------------------------------------------------
# JSON


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def entry_json(entry: Entry, personal: Mapping[int, Personal]) -> dict[str, Any]:
    """An entry with every field its hash covers exactly as the chain encodes them (decoded
    from :func:`~dutywatch.timeline.chain.entry_bytes` itself), and its hash."""
    document: dict[str, Any] = msgspec.json.decode(entry_bytes(entry))
    document["hash"] = entry.hash.hex()
    state = personal_state(entry, personal)
    if state == "present":
        row = personal[entry.seq]
        salt = row.salt or b""  # present means salt and data are both there
        document["personal"] = {"state": "present", "salt": salt.hex(), "data": row.data}
    elif state == "purged":
        document["personal"] = {"state": "purged"}
    return document


CHAIN_RULE: Final = {
    "hash": "sha256",
    "covers": "canonical JSON of {v: 1, incident_id, seq, kind, at, actor, source, body, "
    "personal_digest, prev_hash}: keys sorted, no whitespace, UTF-8 (not ASCII-escaped); "
    "digests as lowercase hex, personal_digest null when absent; `at` exactly as given here; "
    "the first entry's prev_hash is empty",
    "personal_digest": "sha256(salt || canonical JSON of personal.data)",
}


def export_json(record: IncidentRecord) -> bytes:
    """The complete record, machine-checkable: ``dutywatch verify --export`` recomputes the
    chain from ``timeline`` alone. The other sections are the service's state when the export
    was made, for the reader (not covered by the chain)."""
    from dutywatch.incidents.store import incident_json

    times = response_times(record.incident, record.entries, record.clocks)
    document = {
        "schema": SCHEMA,
        "export": record.head.as_json(),
        "chain": CHAIN_RULE,
        "incident": {
            **incident_json(record.incident),
            "org_name": record.org_name,
            "time_zone": record.zone.key,
            "learned_at": _iso(record.incident.learned_at),
        },
        "timeline": [entry_json(e, record.personal) for e in record.entries],
        "reports": list(record.reports),
        "pages": list(record.pages),
        "alerts": list(record.alerts_json),
        "clocks": list(record.clocks_json),
        "response_times": {
            "to_first_ack_s": _seconds(times.to_ack),
            "to_report_up_s": _seconds(times.to_report_up),
            "report_up_owed": times.report_up_owed,
            "to_resolve_s": _seconds(times.to_resolve),
        },
        "on_duty": {
            "org": record.duty_org,
            "at": _iso(record.incident.opened_at),
            "people": [
                {
                    "role": p.role,
                    "slot": p.slot,
                    "person_id": p.person_id,
                    "name": p.name,
                    "starts_at": p.starts_at.isoformat(),
                    "ends_at": p.ends_at.isoformat(),
                }
                for p in record.on_duty
            ],
        },
    }
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


# ---------------------------------------------------------------------------------------------
# CSV


def export_csv(record: IncidentRecord, lang: Lang) -> str:
    """One line per timeline entry after the header; the last line is the stated head (its
    ``seq`` and ``hash``), and ``exported_at`` says when the export was made."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    made = record.made_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for entry in record.entries:
        writer.writerow(
            [
                entry.incident_id,
                entry.seq,
                entry.at.astimezone(record.zone).isoformat(),
                str(entry.kind),
                entry.actor,
                str(entry.source),
                # one physical line per entry, even for a note written over several lines
                " ".join(
                    entry_summary(
                        str(entry.kind), entry.body, lang, record.zone, record.people
                    ).split()
                ),
                personal_state(entry, record.personal),
                entry.prev_hash.hex(),
                entry.hash.hex(),
                made,
            ]
        )
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# the printable report: one view, rendered as HTML or PDF


@dataclass(frozen=True, kw_only=True)
class TimelineRow:
    seq: int
    time: str
    kind: str
    actor: str
    source: str
    summary: str
    late: bool


@dataclass(frozen=True, kw_only=True)
class ReportView:
    """What the printable report shows, as text in one language."""

    lang: Lang
    title: str
    heading: str
    times_in: str
    summary: list[tuple[str, str]]
    timeline: list[TimelineRow]
    response: list[tuple[str, str]]
    response_note: str
    paged: list[tuple[str, str, str, str, str]]
    acknowledged: list[tuple[str, str, str]]
    roster_heading: str
    roster: list[tuple[str, str, str]]
    late: list[tuple[str, str, str]]
    head_text: str
    head_short: str
    marker: str
    head: StatedHead


def report_view(record: IncidentRecord, lang: Lang) -> ReportView:
    i, zone, people = record.incident, record.zone, record.people

    def when(value: datetime | None) -> str:
        return local_time(value, zone) if value else t("rt.not_yet", lang)

    def org_text(path: str | None) -> str:
        return path or ""

    summary = [
        (t("field.incident_id", lang), str(i.id)),
        (t("field.title", lang), i.title),
        (t("field.org", lang), f"{record.org_name} ({i.org_path})"),
        (t("field.grade", lang), t(f"grade.{i.grade}", lang)),
        (t("field.category", lang), t_or(f"category.{i.category}", lang, str(i.category))),
        (t("field.state", lang), t_or(f"state.{i.state}", lang, str(i.state))),
        (t("field.status", lang), t_or(f"status.{i.status}", lang, str(i.status))),
        (t("field.sensitive", lang), t("value.yes" if i.sensitive else "value.no", lang)),
        (t("field.incident_ref", lang), i.incident_ref),
        (t("field.occurred_at", lang), when(i.occurred_at)),
        (t("field.learned_at", lang), when(i.learned_at)),
        (t("field.opened_at", lang), when(i.opened_at)),
        (t("field.acknowledged_at", lang), when(i.acknowledged_at)),
        (t("field.resolved_at", lang), when(i.resolved_at)),
        (t("field.reports", lang), str(i.reports_count)),
    ]
    if i.responsible_org and i.responsible_org != i.org_path:
        summary.insert(3, (t("field.responsible_org", lang), i.responsible_org))

    timeline = [
        TimelineRow(
            seq=e.seq,
            time=local_time(e.at, zone),
            kind=kind_label(str(e.kind), lang),
            actor=actor_text(e.actor, people),
            source=t_or(f"source.{e.source}", lang, str(e.source)),
            summary=_with_personal(
                entry_summary(str(e.kind), e.body, lang, zone, people),
                personal_state(e, record.personal),
                lang,
            ),
            late=str(e.kind) in LATE_KINDS,
        )
        for e in record.entries
    ]

    times = response_times(i, record.entries, record.clocks)
    up = (
        duration_text(times.to_report_up, lang)
        if times.to_report_up is not None
        else t("rt.not_yet" if times.report_up_owed else "rt.no_target", lang)
    )
    response = [
        (t("rt.to_ack", lang), _duration_or(times.to_ack, lang)),
        (t("rt.to_report_up", lang), up),
        (t("rt.to_resolve", lang), _duration_or(times.to_resolve, lang)),
    ]

    paged = [
        (
            local_time(datetime.fromisoformat(p["created_at"]), zone),
            actor_text(f"person:{p['person_id']}", people),
            t_or(f"role.{p['role']}", lang, p["role"]),
            org_text(p["org"]),
            t_or(f"reason.{p['reason']}", lang, p["reason"]),
        )
        for p in record.pages
    ]
    acknowledged = [
        (local_time(a.acknowledged_at, zone), actor_text(a.acknowledged_by, people), a.org_path)
        for a in sorted(record.alerts, key=lambda a: (a.acknowledged_at or a.created_at, a.id))
        if a.acknowledged_at is not None
    ]
    if record.duty_org is None:
        roster_heading = t("duty.roster", lang, org=i.org_path) + ": " + t("duty.nobody", lang)
    elif record.duty_org != i.org_path:
        roster_heading = t("duty.climbed", lang, origin=i.org_path, org=record.duty_org)
    else:
        roster_heading = t("duty.roster", lang, org=record.duty_org)
    roster = [
        (
            t_or(f"role.{p.role}", lang, p.role) + (f" #{p.slot + 1}" if p.slot else ""),
            f"{p.name} ({p.person_id})" if p.name else p.person_id,
            f"{local_time(p.starts_at, zone, seconds=False)} - "
            f"{local_time(p.ends_at, zone, seconds=False)}",
        )
        for p in record.on_duty
    ]

    late = [
        (local_time(e.at, zone), f"#{e.seq} {kind_label(str(e.kind), lang)}", row.summary)
        for e, row in zip(record.entries, timeline, strict=True)
        if row.late
    ]
    late += [row for clock in record.clocks if (row := _late_clock(clock, lang, zone))]

    head = record.head
    made = local_time(head.made_at, zone)
    return ReportView(
        lang=lang,
        title=f"{t('doc.incident_title', lang)} · {i.title}",
        heading=i.title,
        times_in=t("doc.times_in", lang, zone=zone_label(zone, record.made_at)),
        summary=summary,
        timeline=timeline,
        response=response,
        response_note=t("rt.from_opened", lang),
        paged=paged,
        acknowledged=acknowledged,
        roster_heading=roster_heading,
        roster=roster,
        late=late,
        head_text=t(
            "head.explain",
            lang,
            incident=head.incident_id,
            seq=head.seq,
            head=head.head.hex(),
            made=made,
        ),
        head_short=t(
            "head.short",
            lang,
            incident=head.incident_id,
            seq=head.seq,
            head=head.head.hex()[:16] + "…",
            made=made,
        ),
        marker=head.marker(),
        head=head,
    )


def _late_clock(clock: Clock, lang: Lang, zone: ZoneInfo) -> tuple[str, str, str] | None:
    """A clock reported late or missed, as a row of the late items; None if it was not."""
    label = t_or(f"clock.{clock.kind}", lang, str(clock.kind))
    if clock.stopped_at is not None and clock.stopped_at > clock.due_at:
        at = clock.stopped_at
        text = t(
            "late.clock_late",
            lang,
            target=clock.target,
            clock=label,
            stopped=local_time(clock.stopped_at, zone),
            late=duration_text(clock.stopped_at - clock.due_at, lang),
        )
    elif clock.missed_at is not None:
        at = clock.missed_at
        text = t(
            "late.clock_missed",
            lang,
            target=clock.target,
            clock=label,
            due=local_time(clock.due_at, zone),
        )
        if clock.stopped_at is None:
            text += f" ({t('late.outstanding', lang)})"
    else:
        return None
    return local_time(at, zone), label, text


def _duration_or(value: timedelta | None, lang: Lang) -> str:
    return duration_text(value, lang) if value is not None else t("rt.not_yet", lang)


def _with_personal(summary: str, state: str, lang: Lang) -> str:
    if not state:
        return summary
    return f"{summary} [{t(f'personal.{state}', lang)}]"


def export_html(record: IncidentRecord, lang: Lang) -> str:
    view = report_view(record, lang)
    return render_html(
        "incident.html.j2", package="dutywatch.exports", lang=lang, page_title=view.title, view=view
    )


def export_pdf(record: IncidentRecord, lang: Lang, *, font_path: str | None = None) -> bytes:
    view = report_view(record, lang)
    doc = PdfDocument(
        title=view.title,
        lang=lang,
        subject=t("doc.incident_title", lang),
        footer=view.head_short,
        keywords=view.marker,
        font_path=font_path,
    )
    doc.heading(t("doc.incident_title", lang), level=2)
    doc.heading(view.heading, level=1)
    doc.paragraph(view.times_in, small=True)
    doc.heading(t("section.summary", lang))
    doc.pairs(view.summary)
    doc.heading(t("section.response_times", lang))
    doc.table([t("col.measure", lang), t("col.value", lang)], view.response, widths=(0.4, 0.6))
    doc.paragraph(view.response_note, small=True)
    doc.heading(t("section.timeline", lang))
    doc.table(
        [
            t("col.seq", lang),
            t("col.time", lang),
            t("col.kind", lang),
            t("col.actor", lang),
            t("col.source", lang),
            t("col.summary", lang),
        ],
        [[str(r.seq), r.time, r.kind, r.actor, r.source, r.summary] for r in view.timeline],
        widths=(0.05, 0.11, 0.14, 0.16, 0.085, 0.455),
        highlight=[n for n, r in enumerate(view.timeline) if r.late],
    )
    doc.heading(t("section.late", lang))
    if view.late:
        doc.table(
            [t("col.time", lang), t("col.item", lang), t("col.summary", lang)],
            view.late,
            widths=(0.18, 0.2, 0.62),
            highlight=range(len(view.late)),
        )
    else:
        doc.paragraph(t("late.none", lang))
    doc.heading(t("section.on_duty", lang))
    doc.paragraph(t("duty.paged", lang))
    doc.table(
        [
            t("col.time", lang),
            t("col.person", lang),
            t("col.role", lang),
            t("col.org", lang),
            t("col.reason", lang),
        ],
        view.paged or [[t("value.none", lang), "", "", "", ""]],
        widths=(0.18, 0.22, 0.15, 0.25, 0.2),
    )
    doc.paragraph(t("duty.acknowledged", lang))
    doc.table(
        [t("col.time", lang), t("col.person", lang), t("col.org", lang)],
        view.acknowledged or [[t("value.none", lang), "", ""]],
        widths=(0.25, 0.4, 0.35),
    )
    doc.paragraph(view.roster_heading)
    if view.roster:
        doc.table(
            [t("col.role", lang), t("col.person", lang), t("col.shift", lang)],
            view.roster,
            widths=(0.25, 0.35, 0.4),
        )
    doc.heading(t("section.head", lang))
    doc.paragraph(view.head_text)
    doc.paragraph(view.marker, small=True)
    return doc.build()
