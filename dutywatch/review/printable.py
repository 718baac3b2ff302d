"""The printable review report: the figures as tables and two charts, as HTML or PDF.

Charts are drawn with matplotlib (Agg, one ``Figure`` per chart, no pyplot state) and carry
no words: numbers, dates and the roman grade labels only. Titles, captions and what the
colours mean are in the document's text, so Chinese needs no CJK font inside matplotlib.

Words, page skeleton, print CSS, PDF page layout and font are the shared printing layer's
(:mod:`dutywatch.printing`), the same as the incident export's: the labels are the
``review.*`` keys of its table, the HTML extends ``page.html.j2`` (``templates/review.html.j2``)
and the PDF is a :class:`~dutywatch.printing.PdfDocument`.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dutywatch.contracts import Grade
from dutywatch.printing import DEFAULT_LANG, Lang, PdfDocument, local_time, render_html, t, t_or
from dutywatch.review.figures import Figures, Stats

#: Grade colours, most severe first (red, orange, yellow, blue: the warning colours).
GRADE_COLOURS: Final = {"I": "#c0392b", "II": "#e67e22", "III": "#f1c40f", "IV": "#2e86c1"}


def _minutes(value: timedelta | None) -> str:
    return "-" if value is None else f"{value.total_seconds() / 60:.1f}"


# ------------------------------------------------------------------------------- charts


def _save(figure: Figure, fmt: str) -> bytes:
    out = io.BytesIO()
    # A fixed date in the metadata keeps the output reproducible.
    metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {}
    figure.savefig(out, format=fmt, dpi=150, bbox_inches="tight", metadata=metadata)
    return out.getvalue()


def ack_histogram(computed: Figures, fmt: str = "svg") -> bytes:
    """Time to first acknowledgement in minutes, as a histogram (no words in the image)."""
    minutes = [
        f.to_acknowledge.total_seconds() / 60
        for f in computed.incidents
        if f.to_acknowledge is not None
    ]
    figure = Figure(figsize=(6, 2.6))
    axes = figure.add_subplot()
    if minutes:
        axes.hist(minutes, bins=min(20, max(5, len(minutes))), color="#2e86c1", edgecolor="white")
    axes.set_xlim(left=0)
    axes.grid(axis="y", alpha=0.3)
    return _save(figure, fmt)


def days_of(computed: Figures, zone: ZoneInfo) -> list[str]:
    """The local days of the period, as MM-DD."""
    first = computed.start.astimezone(zone).date()
    last = (computed.end - timedelta(microseconds=1)).astimezone(zone).date()
    return [(first + timedelta(days=n)).strftime("%m-%d") for n in range((last - first).days + 1)]


def per_day_bars(computed: Figures, zone: ZoneInfo, fmt: str = "svg") -> bytes:
    """Incidents opened per local day, stacked by grade; legend labels are roman numerals."""
    days = days_of(computed, zone)
    counts = Counter(
        (f.incident.opened_at.astimezone(zone).strftime("%m-%d"), f.incident.grade)
        for f in computed.incidents
    )
    figure = Figure(figsize=(6, 2.6))
    axes = figure.add_subplot()
    bottom = [0] * len(days)
    for grade in Grade:
        heights = [counts[(day, str(grade))] for day in days]
        axes.bar(days, heights, bottom=bottom, color=GRADE_COLOURS[grade], label=str(grade))
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    axes.legend(loc="upper right", fontsize="small")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    if len(days) > 14:
        axes.set_xticks(days[:: max(1, len(days) // 14)])
    axes.tick_params(axis="x", labelrotation=45, labelsize="small")
    axes.grid(axis="y", alpha=0.3)
    return _save(figure, fmt)


# ------------------------------------------------------------------------------- tables


@dataclass(frozen=True, kw_only=True)
class ReportTable:
    heading: str
    header: list[str]
    rows: list[list[str]]
    #: Column widths as fractions of the page width in the PDF; None: as wide as the content.
    widths: tuple[float, ...] | None = None


#: Column widths of the list of incidents (id, title, org, grade, opened, late, missing).
LIST_WIDTHS: Final = (0.07, 0.28, 0.23, 0.07, 0.15, 0.1, 0.1)


def supervision_tables(computed: Figures, lang: Lang) -> list[ReportTable]:
    """The 督办 figures as a table, and overdue assignments by unit (none if not joined)."""
    s = computed.supervision
    if s is None:
        return []
    rate = f"{s.completion_rate:.0%}" if s.completion_rate is not None else "—"
    days = f"{s.average_days_to_close:.1f}" if s.average_days_to_close is not None else "—"
    rows = [
        [t("review.sup_due", lang), str(s.due)],
        [t("review.sup_on_time", lang), str(s.on_time)],
        [t("review.sup_rate", lang), rate],
        [t("review.sup_closed", lang), str(s.closed)],
        [t("review.sup_days", lang), days],
        [t("review.sup_rechecks", lang), f"{s.rechecks_answered} / {s.rechecks_failed}"],
    ]
    overdue = [[unit, str(n)] for unit, n in sorted(s.overdue_by_unit.items())]
    return [
        ReportTable(
            heading=t("review.supervision", lang),
            header=[t("review.sup_measure", lang), t("review.sup_value", lang)],
            rows=rows,
        ),
        ReportTable(
            heading=t("review.sup_overdue", lang),
            header=[t("review.org", lang), t("review.count", lang)],
            rows=overdue or [[t("value.none", lang), "0"]],
        ),
    ]


def tables(computed: Figures, lang: Lang, zone: ZoneInfo) -> list[ReportTable]:
    """Every table of the report, in order."""
    data = computed.as_json()

    def stat_row(key: str, s: Stats) -> list[str]:
        return [t(key, lang), str(s.count), _minutes(s.p50), _minutes(s.p90), _minutes(s.max)]

    failed = [[ch, str(n)] for ch, n in data["failed_pages"]["by_channel"].items()]
    return [
        ReportTable(
            heading=t("review.by_grade", lang),
            header=[t("review.grade", lang), t("review.count", lang)],
            rows=[[t_or(f"grade.{g}", lang, g), str(n)] for g, n in data["by_grade"].items()],
        ),
        ReportTable(
            heading=t("review.by_category", lang),
            header=[t("review.category", lang), t("review.count", lang)],
            rows=[[t_or(f"category.{c}", lang, c), str(n)] for c, n in data["by_category"].items()],
        ),
        ReportTable(
            heading=t("review.times", lang),
            header=[t("col.measure", lang), t("review.count", lang), "p50", "p90", "max"],
            rows=[
                stat_row("review.to_acknowledge", computed.to_acknowledge),
                stat_row("review.to_report_up", computed.to_report_up),
                stat_row("review.to_resolve", computed.to_resolve),
            ],
        ),
        ReportTable(
            heading=t("review.by_org", lang),
            header=[
                t("review.org", lang),
                t("review.incidents", lang),
                t("review.late", lang),
                t("review.missing", lang),
                t("review.omitted", lang),
            ],
            rows=[
                [
                    o["org"],
                    str(o["incidents"]),
                    str(o["late"]),
                    str(o["missing"]),
                    str(o["omitted_items"]),
                ]
                for o in data["by_org"]
            ],
        ),
        ReportTable(
            heading=t("review.levels", lang),
            header=[t("review.level", lang), t("review.incidents", lang)],
            rows=[[str(x["level"]), str(x["incidents"])] for x in data["escalation_levels"]],
        ),
        ReportTable(
            heading=t("review.failed", lang),
            header=[t("review.channel", lang), t("review.count", lang)],
            rows=failed or [[t("value.none", lang), "0"]],
        ),
        *supervision_tables(computed, lang),
        ReportTable(
            heading=t("review.list", lang),
            header=[
                t("review.id", lang),
                t("review.event", lang),
                t("review.org", lang),
                t("review.grade", lang),
                t("review.opened", lang),
                t("review.late", lang),
                t("review.missing", lang),
            ],
            rows=[
                [
                    str(f.incident.id),
                    f.incident.title,
                    f.incident.org_path,
                    f.incident.grade,
                    local_time(f.incident.opened_at, zone, seconds=False),
                    str(f.late),
                    str(f.missing),
                ]
                for f in computed.incidents
            ],
            widths=LIST_WIDTHS,
        ),
    ]


def summary_lines(computed: Figures, zone: ZoneInfo, lang: Lang) -> list[str]:
    drills = "review.drills_in" if computed.include_drills else "review.drills_out"
    start, end, as_of = (
        local_time(when, zone, seconds=False)
        for when in (computed.start, computed.end, computed.as_of)
    )
    return [
        f"{t('review.period', lang)}: {start} \N{EN DASH} {end} ({zone.key})",
        f"{t('review.as_of', lang)}: {as_of}",
        f"{t('review.drills', lang)}: {t(drills, lang)}",
        f"{t('review.incidents', lang)}: {computed.count}",
        t("review.definitions", lang),
    ]


def title_of(computed: Figures, lang: Lang) -> str:
    return f"{t('review.title', lang)} · {computed.org}"


def _captions(lang: Lang) -> tuple[str, str]:
    return t("review.chart_ack", lang), t("review.chart_day", lang)


# ------------------------------------------------------------------------------- HTML


def _numeric(text: str) -> bool:
    return text.replace(".", "", 1).isdigit()


def html(computed: Figures, *, zone: ZoneInfo, lang: Lang = DEFAULT_LANG) -> str:
    """A self-contained page on the shared skeleton: inline CSS, charts as data: SVG images, no
    script, no links."""
    ack, day = _captions(lang)
    charts = [
        {"id": chart_id, "caption": caption, "base64": base64.b64encode(image).decode()}
        for chart_id, caption, image in (
            ("chart-ack", ack, ack_histogram(computed)),
            ("chart-day", day, per_day_bars(computed, zone)),
        )
    ]
    return render_html(
        "review.html.j2",
        package="dutywatch.review",
        lang=lang,
        page_title=title_of(computed, lang),
        summary=summary_lines(computed, zone, lang),
        tables=tables(computed, lang, zone),
        charts=charts,
        numeric=_numeric,
    )


# ------------------------------------------------------------------------------- PDF


def pdf(
    computed: Figures, *, zone: ZoneInfo, lang: Lang = DEFAULT_LANG, font_path: str | None = None
) -> bytes:
    """A4 PDF of the same content, on the shared page layout and font (see
    :func:`dutywatch.printing.pdf_font`); the same content gives the same bytes."""
    title = title_of(computed, lang)
    doc = PdfDocument(
        title=title,
        lang=lang,
        footer=title,
        subject=t("review.title", lang),
        font_path=font_path,
        invariant=True,
    )
    doc.heading(title, level=1)
    for line in summary_lines(computed, zone, lang):
        doc.paragraph(line)
    for table in tables(computed, lang, zone):
        doc.heading(table.heading)
        doc.table(table.header, table.rows, widths=table.widths)
    ack, day = _captions(lang)
    for image, caption in (
        (ack_histogram(computed, "png"), ack),
        (per_day_bars(computed, zone, "png"), day),
    ):
        doc.spacer(4)
        doc.image(image, width_mm=160, height_mm=70)
        doc.paragraph(caption, small=True)
    return doc.build()
