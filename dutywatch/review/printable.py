"""The printable review report: the figures as tables and two charts, as HTML or PDF.

Charts are drawn with matplotlib (Agg, one ``Figure`` per chart, no pyplot state) and carry
no words: numbers, dates and the roman grade labels only. Titles, captions and what the
colours mean are in the document's text, so Chinese needs no CJK font inside matplotlib. The
PDF uses reportlab's built-in CID font ``STSong-Light`` for Chinese (no font file shipped).
Kept small on purpose: it moves onto the shared printing module of the exports later.
"""

from __future__ import annotations

import base64
import html as html_lib
import io
from collections import Counter
from datetime import timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dutywatch.contracts import Grade
from dutywatch.review.figures import Figures, Stats

#: Grade colours, most severe first (red, orange, yellow, blue: the warning colours).
GRADE_COLOURS: Final = {"I": "#c0392b", "II": "#e67e22", "III": "#f1c40f", "IV": "#2e86c1"}

TEXT: Final[dict[str, dict[str, str]]] = {
    "zh": {
        "title": "值班工作复盘统计",
        "period": "统计期间（按接报时间）",
        "as_of": "数据截至",
        "drills": "演练与测试",
        "drills_out": "不计入",
        "drills_in": "已计入",
        "incidents": "事件总数",
        "by_grade": "按等级",
        "by_category": "按类别",
        "grade": "等级",
        "category": "类别",
        "count": "数量",
        "times": "响应时间（分钟）",
        "measure": "指标",
        "to_acknowledge": "首次确认用时",
        "to_report_up": "向上级报告用时",
        "to_resolve": "处置完毕用时",
        "by_org": "迟报、漏报（按接报单位）",
        "org": "单位",
        "late": "迟报",
        "missing": "漏报",
        "omitted": "漏报事项",
        "levels": "升级到达的层级",
        "level": "层级（0为接报单位，1为上一级……）",
        "failed": "未送达的通知（按渠道）",
        "supervision": "督办落实情况（本期应办结的交办事项）",
        "sup_measure": "项目",
        "sup_value": "数值",
        "sup_due": "本期应办结",
        "sup_on_time": "按时落实",
        "sup_rate": "落实率",
        "sup_closed": "已办结",
        "sup_days": "平均办结天数",
        "sup_rechecks": "回头看（已答复／未通过）",
        "sup_overdue": "超期未办（按承办单位）",
        "channel": "渠道",
        "none": "无",
        "list": "事件清单",
        "id": "编号",
        "event": "事件",
        "opened": "接报时间",
        "chart_ack": "图1：首次确认用时分布。横轴为分钟，纵轴为事件数。",
        "chart_day": "图2：每日接报事件数，按等级堆叠；颜色：红Ⅰ级、橙Ⅱ级、黄Ⅲ级、蓝Ⅳ级。",
        "definitions": "口径：p50、p90为最近秩百分位数；定义见 docs/DOMAIN.md「复盘统计」。",
    },
    "en": {
        "title": "Duty review figures",
        "period": "Period (by time the incident was opened)",
        "as_of": "Figures as of",
        "drills": "Drills and tests",
        "drills_out": "left out",
        "drills_in": "included",
        "incidents": "Incidents",
        "by_grade": "By grade",
        "by_category": "By category",
        "grade": "Grade",
        "category": "Category",
        "count": "Count",
        "times": "Response times (minutes)",
        "measure": "Measure",
        "to_acknowledge": "Time to first acknowledgement",
        "to_report_up": "Time to report up",
        "to_resolve": "Time to resolve",
        "by_org": "Late (迟报) and missing (漏报) reports by receiving office",
        "org": "Organisation",
        "late": "Late",
        "missing": "Missing",
        "omitted": "Items omitted",
        "levels": "Escalations: levels reached",
        "level": "Level (0 the receiving office, 1 its parent, ...)",
        "failed": "Pages that failed to deliver, by channel",
        "supervision": "Supervision (督办): assignments first due in the period",
        "sup_measure": "measure",
        "sup_value": "value",
        "sup_due": "due in the period",
        "sup_on_time": "done on time",
        "sup_rate": "completion rate on time (落实率)",
        "sup_closed": "closed",
        "sup_days": "average days to close",
        "sup_rechecks": "re-checks answered / failed",
        "sup_overdue": "overdue now, by unit",
        "channel": "Channel",
        "none": "none",
        "list": "Incidents",
        "id": "Id",
        "event": "Incident",
        "opened": "Opened",
        "chart_ack": "Figure 1: time to first acknowledgement. Minutes across, incidents up.",
        "chart_day": "Figure 2: incidents opened per day, stacked by grade; "
        "red I, orange II, yellow III, blue IV.",
        "definitions": "p50 and p90 are nearest-rank percentiles; definitions in "
        "docs/DOMAIN.md 'Review figures'.",
    },
}


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


def supervision_tables(
    computed: Figures, t: dict[str, str]
) -> list[tuple[str, list[str], list[list[str]]]]:
    """The 督办 figures as a table, and overdue assignments by unit (none if not joined)."""
    s = computed.supervision
    if s is None:
        return []
    rate = f"{s.completion_rate:.0%}" if s.completion_rate is not None else "—"
    days = f"{s.average_days_to_close:.1f}" if s.average_days_to_close is not None else "—"
    rows = [
        [t["sup_due"], str(s.due)],
        [t["sup_on_time"], str(s.on_time)],
        [t["sup_rate"], rate],
        [t["sup_closed"], str(s.closed)],
        [t["sup_days"], days],
        [t["sup_rechecks"], f"{s.rechecks_answered} / {s.rechecks_failed}"],
    ]
    overdue = [[unit, str(n)] for unit, n in sorted(s.overdue_by_unit.items())]
    return [
        (t["supervision"], [t["sup_measure"], t["sup_value"]], rows),
        (t["sup_overdue"], [t["org"], t["count"]], overdue or [[t["none"], "0"]]),
    ]


def tables(computed: Figures, t: dict[str, str]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(heading, header row, rows) of every table of the report, in order."""
    data = computed.as_json()

    def stat_row(label: str, s: Stats) -> list[str]:
        return [label, str(s.count), _minutes(s.p50), _minutes(s.p90), _minutes(s.max)]

    failed = [[ch, str(n)] for ch, n in data["failed_pages"]["by_channel"].items()]
    return [
        (
            t["by_grade"],
            [t["grade"], t["count"]],
            [[g, str(n)] for g, n in data["by_grade"].items()],
        ),
        (
            t["by_category"],
            [t["category"], t["count"]],
            [[c, str(n)] for c, n in data["by_category"].items()],
        ),
        (
            t["times"],
            [t["measure"], t["count"], "p50", "p90", "max"],
            [
                stat_row(t["to_acknowledge"], computed.to_acknowledge),
                stat_row(t["to_report_up"], computed.to_report_up),
                stat_row(t["to_resolve"], computed.to_resolve),
            ],
        ),
        (
            t["by_org"],
            [t["org"], t["incidents"], t["late"], t["missing"], t["omitted"]],
            [
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
        (
            t["levels"],
            [t["level"], t["incidents"]],
            [[str(x["level"]), str(x["incidents"])] for x in data["escalation_levels"]],
        ),
        (t["failed"], [t["channel"], t["count"]], failed or [[t["none"], "0"]]),
        *supervision_tables(computed, t),
        (
            t["list"],
            [t["id"], t["event"], t["org"], t["grade"], t["opened"], t["late"], t["missing"]],
            [
                [
                    str(f.incident.id),
                    f.incident.title,
                    f.incident.org_path,
                    f.incident.grade,
                    f.incident.opened_at.isoformat(timespec="minutes"),
                    str(f.late),
                    str(f.missing),
                ]
                for f in computed.incidents
            ],
        ),
    ]


def summary_lines(computed: Figures, zone: ZoneInfo, t: dict[str, str]) -> list[str]:
    local = "%Y-%m-%d %H:%M"
    return [
        f"{t['period']}: {computed.start.astimezone(zone):{local}} – "
        f"{computed.end.astimezone(zone):{local}} ({zone.key})",
        f"{t['as_of']}: {computed.as_of.astimezone(zone):{local}}",
        f"{t['drills']}: {t['drills_in'] if computed.include_drills else t['drills_out']}",
        f"{t['incidents']}: {computed.count}",
        t["definitions"],
    ]


def title_of(computed: Figures, t: dict[str, str]) -> str:
    return f"{t['title']} · {computed.org}"


# ------------------------------------------------------------------------------- HTML

PRINT_CSS: Final = """
body { font-family: "Noto Serif CJK SC", "Songti SC", SimSun, serif; margin: 2em; color: #111; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.4em; }
table { border-collapse: collapse; margin: .4em 0; }
th, td { border: 1px solid #999; padding: .2em .6em; text-align: left; }
td.n { text-align: right; }
figure { margin: 1em 0; } figure img { max-width: 100%; }
@page { size: A4; margin: 18mm; }
@media print { body { margin: 0; } h2, figure, table { break-inside: avoid; } }
"""


def _numeric(text: str) -> bool:
    return text.replace(".", "", 1).isdigit()


def html(computed: Figures, *, zone: ZoneInfo, lang: str = "zh") -> str:
    """A self-contained page: inline CSS, charts as data: SVG images, no script, no links."""
    t = TEXT[lang]
    esc = html_lib.escape
    parts = [
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">',
        f"<title>{esc(title_of(computed, t))}</title><style>{PRINT_CSS}</style></head><body>",
        f"<h1>{esc(title_of(computed, t))}</h1>",
        *(f"<p>{esc(line)}</p>" for line in summary_lines(computed, zone, t)),
    ]
    for heading, header, rows in tables(computed, t):
        parts.append(f"<h2>{esc(heading)}</h2><table><thead><tr>")
        parts += [f"<th>{esc(h)}</th>" for h in header]
        parts.append("</tr></thead><tbody>")
        for row in rows:
            cells = (
                f'<td class="n">{esc(c)}</td>' if _numeric(c) else f"<td>{esc(c)}</td>" for c in row
            )
            parts.append(f"<tr>{''.join(cells)}</tr>")
        parts.append("</tbody></table>")
    for chart_id, image, caption in (
        ("chart-ack", ack_histogram(computed), t["chart_ack"]),
        ("chart-day", per_day_bars(computed, zone), t["chart_day"]),
    ):
        data = base64.b64encode(image).decode()
        parts.append(
            f'<figure id="{chart_id}"><img alt="{esc(caption)}" '
            f'src="data:image/svg+xml;base64,{data}"><figcaption>{esc(caption)}</figcaption>'
            "</figure>"
        )
    parts.append("</body></html>")
    return "".join(parts)


# ------------------------------------------------------------------------------- PDF

CJK_FONT: Final = "STSong-Light"
#: Column widths of the list of incidents (id, title, org, grade, opened, late, missing).
LIST_WIDTHS_MM: Final = (12, 50, 42, 12, 28, 13, 13)


def pdf(computed: Figures, *, zone: ZoneInfo, lang: str = "zh") -> bytes:
    """A4 PDF of the same content; text in reportlab's built-in CID font STSong-Light."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    t = TEXT[lang]
    styles = getSampleStyleSheet()
    for style in styles.byName.values():
        style.fontName = CJK_FONT
    esc = html_lib.escape
    story: list[Any] = [Paragraph(esc(title_of(computed, t)), styles["Title"])]
    story += [Paragraph(esc(line), styles["Normal"]) for line in summary_lines(computed, zone, t)]
    cell = ParagraphStyle("cell", fontName=CJK_FONT, fontSize=8, leading=10, wordWrap="CJK")
    for heading, header, rows in tables(computed, t):
        story.append(Paragraph(esc(heading), styles["Heading2"]))
        # Cells wrap (a long title or organisation path stays inside the page).
        wrapped = [[Paragraph(esc(c), cell) for c in row] for row in [header, *rows]]
        widths = LIST_WIDTHS_MM if len(header) == len(LIST_WIDTHS_MM) else None
        table = Table(
            wrapped,
            repeatRows=1,
            hAlign="LEFT",
            colWidths=[w * mm for w in widths] if widths else None,
        )
        table.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, -1), CJK_FONT),
                    ("FONTSIZE", (0, 0), (-1, -1), 8),
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                ]
            )
        )
        story.append(table)
    for image, caption in (
        (ack_histogram(computed, "png"), t["chart_ack"]),
        (per_day_bars(computed, zone, "png"), t["chart_day"]),
    ):
        story += [
            Spacer(1, 4 * mm),
            Image(io.BytesIO(image), width=160 * mm, height=70 * mm, kind="proportional"),
            Paragraph(esc(caption), styles["Italic"]),
        ]
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out, pagesize=A4, title=title_of(computed, t), author="dutywatch", invariant=1
    )
    document.build(story)
    return out.getvalue()
