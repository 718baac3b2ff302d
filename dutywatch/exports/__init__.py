"""Exports of one incident (JSON, CSV, printable HTML and PDF) and their verification.

``incident.py`` builds each format from an :class:`~dutywatch.exports.incident.IncidentRecord`
(pure); ``store.py`` reads that record in one snapshot; the printable report is built on
the shared printing layer :mod:`dutywatch.printing` (``printing.py`` keeps its old import path);
``verify.py`` checks an export file offline and against the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from dutywatch import errors
from dutywatch.exports.incident import (
    IncidentRecord,
    export_csv,
    export_html,
    export_json,
    export_pdf,
)
from dutywatch.printing import Lang

Format = Literal["json", "csv", "html", "pdf"]
FORMATS: Final[tuple[Format, ...]] = ("json", "csv", "html", "pdf")
CONTENT_TYPES: Final[dict[Format, str]] = {
    "json": "application/json",
    "csv": "text/csv",
    "html": "text/html",
    "pdf": "application/pdf",
}


@dataclass(frozen=True, kw_only=True)
class Rendered:
    body: bytes
    content_type: str
    #: text formats are UTF-8
    charset: str | None
    filename: str


def format_of(value: str | None) -> Format:
    for fmt in FORMATS:
        if (value or "json") == fmt:
            return fmt
    raise errors.RejectedInput(f"format must be one of {', '.join(FORMATS)}", field="format")


def render(
    record: IncidentRecord, fmt: Format, lang: Lang, *, font_path: str | None = None
) -> Rendered:
    """The export in ``fmt``; CPU-bound for PDF (run it off the event loop)."""
    if fmt == "json":
        body = export_json(record)
    elif fmt == "csv":
        body = export_csv(record, lang).encode("utf-8")
    elif fmt == "html":
        body = export_html(record, lang).encode("utf-8")
    else:
        body = export_pdf(record, lang, font_path=font_path)
    head = record.head
    suffix = "" if fmt == "json" else f"-{lang}"
    return Rendered(
        body=body,
        content_type=CONTENT_TYPES[fmt],
        charset=None if fmt == "pdf" else "utf-8",
        filename=f"incident-{head.incident_id}-entry-{head.seq}{suffix}.{fmt}",
    )
