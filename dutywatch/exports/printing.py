"""Reusable pieces of printable documents: the translation table, the HTML page skeleton with
its print CSS, and the PDF document builder with its fonts.

The incident export (:mod:`dutywatch.exports.incident`) uses them; so can any other printable
report (the review report): add keys to :data:`TEXT`, write a template that extends
``page.html.j2`` (see :func:`render_html`) and lay a PDF out with :class:`PdfDocument`.

Every visible word comes from :data:`TEXT`, one table with both languages per key; a test
checks that no key lacks either. HTML is built with Jinja2 with autoescaping on, so a value
(an incident title with ``<script>``) is always text, never markup; the page carries a
Content-Security-Policy that forbids scripts and external resources, and has none.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo

import jinja2

from dutywatch import errors

Lang = Literal["zh", "en"]
LANGS: Final[tuple[Lang, ...]] = ("zh", "en")
DEFAULT_LANG: Final[Lang] = "zh"
#: The zone times are shown in when the organisation names none.
DEFAULT_ZONE: Final = "Asia/Shanghai"
#: A CJK TrueType font to embed in PDFs instead of the built-in STSong-Light.
PDF_FONT_ENV: Final = "DUTYWATCH_PDF_FONT"

#: Every visible word, in both languages. Keys are dotted so that a key left untranslated in
#: a page is easy to find (and tests look for them).
TEXT: Final[dict[str, dict[Lang, str]]] = {
    # documents
    "doc.incident_title": {"zh": "突发事件处置记录", "en": "Incident record"},
    "doc.made_by": {"zh": "由 dutywatch 生成", "en": "Made by dutywatch"},
    "doc.page": {"zh": "第 {page} 页", "en": "Page {page}"},
    "doc.times_in": {"zh": "时间均为 {zone} 时间", "en": "Times are in {zone}"},
    # sections
    "section.summary": {"zh": "概况", "en": "Summary"},
    "section.timeline": {"zh": "时间线", "en": "Timeline"},
    "section.response_times": {"zh": "响应时间", "en": "Response times"},
    "section.on_duty": {"zh": "值班与响应人员", "en": "Who was on duty"},
    "section.late": {"zh": "迟报、超时与催办", "en": "Late and missed items"},
    "section.head": {"zh": "记录核验", "en": "Record check"},
    # summary fields
    "field.incident_id": {"zh": "事件编号", "en": "Incident"},
    "field.incident_ref": {"zh": "报送编号", "en": "Reporter's reference"},
    "field.title": {"zh": "标题", "en": "Title"},
    "field.org": {"zh": "接报单位", "en": "Receiving office"},
    "field.responsible_org": {"zh": "责任单位", "en": "Responsible office"},
    "field.grade": {"zh": "事件等级", "en": "Grade"},
    "field.category": {"zh": "事件类别", "en": "Category"},
    "field.state": {"zh": "处置状态", "en": "State"},
    "field.status": {"zh": "信息性质", "en": "Status"},
    "field.sensitive": {"zh": "敏感事件", "en": "Sensitive"},
    "field.occurred_at": {"zh": "发生时间", "en": "Occurred"},
    "field.learned_at": {"zh": "接报时间", "en": "Learned"},
    "field.opened_at": {"zh": "立案时间", "en": "Opened"},
    "field.acknowledged_at": {"zh": "确认时间", "en": "Acknowledged"},
    "field.resolved_at": {"zh": "办结时间", "en": "Resolved"},
    "field.reports": {"zh": "报告份数", "en": "Reports"},
    # timeline columns
    "col.seq": {"zh": "序号", "en": "No."},
    "col.time": {"zh": "时间", "en": "Time"},
    "col.kind": {"zh": "事项", "en": "What"},
    "col.actor": {"zh": "操作者", "en": "Actor"},
    "col.source": {"zh": "来源", "en": "Source"},
    "col.summary": {"zh": "内容", "en": "Details"},
    "col.person": {"zh": "人员", "en": "Person"},
    "col.role": {"zh": "岗位", "en": "Role"},
    "col.org": {"zh": "单位", "en": "Office"},
    "col.reason": {"zh": "原因", "en": "Reason"},
    "col.shift": {"zh": "班次", "en": "Shift"},
    "col.measure": {"zh": "指标", "en": "Measure"},
    "col.value": {"zh": "用时", "en": "Time taken"},
    "col.at": {"zh": "发生于", "en": "At"},
    "col.item": {"zh": "事项", "en": "Item"},
    # response times
    "rt.to_ack": {"zh": "至首次确认", "en": "To first acknowledgement"},
    "rt.to_report_up": {"zh": "至向上级报告", "en": "To report up the hierarchy"},
    "rt.to_resolve": {"zh": "至办结", "en": "To resolution"},
    "rt.not_yet": {"zh": "尚未发生", "en": "not yet"},
    "rt.no_target": {"zh": "无须向上级报告", "en": "no report owed upward"},
    "rt.from_opened": {"zh": "自立案时间起算", "en": "Measured from the time the incident opened"},
    # on duty
    "duty.paged": {"zh": "被呼叫人员", "en": "People paged"},
    "duty.acknowledged": {"zh": "确认人员", "en": "Acknowledged by"},
    "duty.roster": {
        "zh": "立案时 {org} 值班表在岗人员",
        "en": "On duty in {org} when the incident opened",
    },
    "duty.climbed": {
        "zh": "{origin} 无人值班，取上级 {org} 值班表",
        "en": "{origin} had nobody on duty; the roster of {org} above it is shown",
    },
    "duty.nobody": {"zh": "无值班记录", "en": "nobody on any roster"},
    "duty.none_paged": {"zh": "无", "en": "none"},
    # late items
    "late.none": {"zh": "无迟报、超时或催办", "en": "Nothing late or missed"},
    "late.clock_missed": {
        "zh": "{target} {clock}时限 {due} 超时",
        "en": "{clock} report to {target} due {due} missed",
    },
    "late.clock_late": {
        "zh": "{target} {clock}于 {stopped} 报告，迟 {late}",
        "en": "{clock} report to {target} made {stopped}, {late} late",
    },
    # stated head
    "head.explain": {
        "zh": "本文件导出自事件 {incident} 时间线第 {seq} 条（链头哈希 {head}），生成于 {made}。"
        "可用 dutywatch verify --export 文件 核对记录此后未被改动。",
        "en": "Exported from incident {incident} at timeline entry {seq} (chain head {head}), "
        "made {made}. Check with dutywatch verify --export FILE that the record was not "
        "changed since.",
    },
    "head.short": {
        "zh": "事件 {incident} · 第 {seq} 条 · 链头 {head} · 生成于 {made}",
        "en": "incident {incident} · entry {seq} · head {head} · made {made}",
    },
    # values
    "value.yes": {"zh": "是", "en": "yes"},
    "value.no": {"zh": "否", "en": "no"},
    "grade.I": {"zh": "I 级（特别重大）", "en": "I (extremely serious)"},
    "grade.II": {"zh": "II 级（重大）", "en": "II (serious)"},
    "grade.III": {"zh": "III 级（较大）", "en": "III (major)"},
    "grade.IV": {"zh": "IV 级（一般）", "en": "IV (general)"},
    "category.natural_disaster": {"zh": "自然灾害", "en": "natural disaster"},
    "category.accident": {"zh": "事故灾难", "en": "accident"},
    "category.public_health": {"zh": "公共卫生事件", "en": "public health event"},
    "category.social_safety": {"zh": "社会安全事件", "en": "social safety event"},
    "state.open": {"zh": "待确认", "en": "open"},
    "state.acknowledged": {"zh": "已确认", "en": "acknowledged"},
    "state.resolved": {"zh": "已办结", "en": "resolved"},
    "status.actual": {"zh": "实际事件", "en": "actual"},
    "status.exercise": {"zh": "演练", "en": "exercise"},
    "status.test": {"zh": "测试", "en": "test"},
    "source.nats": {"zh": "消息总线", "en": "NATS"},
    "source.http": {"zh": "HTTP", "en": "HTTP"},
    "source.cli": {"zh": "命令行", "en": "command line"},
    "source.system": {"zh": "系统", "en": "system"},
    "stage.first": {"zh": "首报", "en": "first report"},
    "stage.follow_up": {"zh": "续报", "en": "follow-up report"},
    "stage.final": {"zh": "终报", "en": "final report"},
    "stage.supplementary": {"zh": "补报", "en": "supplementary report"},
    "role.duty_officer": {"zh": "值班员", "en": "duty officer"},
    "role.leader_on_duty": {"zh": "带班领导", "en": "leader on duty"},
    "role.deputy_officer": {"zh": "副班", "en": "deputy officer"},
    "role.standby": {"zh": "备班", "en": "standby"},
    "reason.first_page": {"zh": "首次呼叫", "en": "first page"},
    "reason.escalation": {"zh": "升级呼叫", "en": "escalation"},
    "reason.new_report": {"zh": "新报告", "en": "new report"},
    "reason.reminder": {"zh": "催办", "en": "reminder"},
    "reason.incident_opened": {"zh": "事件立案", "en": "incident opened"},
    "reason.policy_step": {"zh": "升级策略", "en": "policy step"},
    "reason.statutory": {"zh": "法定报告", "en": "statutory"},
    "reason.deadline_missed": {"zh": "报告超时", "en": "deadline missed"},
    "reason.forwarded": {"zh": "转办", "en": "forwarded"},
    "reason.skip_level": {"zh": "越级上报", "en": "skip-level"},
    "reason.opened": {"zh": "立案", "en": "opened"},
    "reason.upgraded": {"zh": "升级", "en": "upgraded"},
    "clock.phone": {"zh": "电话报告", "en": "phone"},
    "clock.written": {"zh": "书面报告", "en": "written"},
    "personal.present": {"zh": "含个人信息（另存）", "en": "personal data kept apart"},
    "personal.purged": {"zh": "个人信息已销毁", "en": "personal data purged"},
    "late.outstanding": {"zh": "仍未报", "en": "still outstanding"},
    # timeline entry kinds
    "kind.report_received": {"zh": "收到报告", "en": "report received"},
    "kind.incident_opened": {"zh": "事件立案", "en": "incident opened"},
    "kind.first_report_missing": {"zh": "缺首报", "en": "first report missing"},
    "kind.grade_changed": {"zh": "等级变更", "en": "grade changed"},
    "kind.paged": {"zh": "呼叫", "en": "paged"},
    "kind.roster_gap": {"zh": "值班空档", "en": "roster gap"},
    "kind.acknowledged": {"zh": "确认", "en": "acknowledged"},
    "kind.escalated": {"zh": "升级", "en": "escalated"},
    "kind.resolved": {"zh": "办结", "en": "resolved"},
    "kind.note": {"zh": "备注", "en": "note"},
    "kind.handed_over": {"zh": "交班", "en": "handed over"},
    "kind.handover_accepted": {"zh": "接班", "en": "handover taken"},
    "kind.alert_opened": {"zh": "启动告警", "en": "alert opened"},
    "kind.clock_started": {"zh": "报告时限开始", "en": "reporting clock started"},
    "kind.report_late": {"zh": "迟报", "en": "report late"},
    "kind.signed_off": {"zh": "签发", "en": "signed off"},
    "kind.fields_omitted": {"zh": "漏报", "en": "items omitted"},
    "kind.reminder_sent": {"zh": "催办", "en": "reminder sent"},
    "kind.zero_report_missing": {"zh": "零报告缺失", "en": "zero report missing"},
    "kind.forwarded": {"zh": "转办", "en": "forwarded"},
    "kind.skip_level": {"zh": "越级上报", "en": "skip-level report"},
    "kind.personal_data_purged": {"zh": "个人信息销毁", "en": "personal data purged"},
    "kind.retention_held": {"zh": "暂缓销毁", "en": "retention hold set"},
    "kind.retention_released": {"zh": "解除暂缓销毁", "en": "retention hold released"},
    "kind.correction": {"zh": "更正", "en": "correction"},
    "kind.instruction": {"zh": "领导批示", "en": "instruction"},
    "kind.deadline_met": {"zh": "按时报告", "en": "deadline met"},
    "kind.page_delivered": {"zh": "送达", "en": "page delivered"},
    "kind.page_failed": {"zh": "送达失败", "en": "page not delivered"},
    "kind.assigned": {"zh": "督办交办", "en": "assignment given"},
    "kind.assignment_accepted": {"zh": "承办单位签收", "en": "assignment accepted"},
    "kind.assignment_started": {"zh": "开始办理", "en": "assignment started"},
    "kind.feedback_reported": {"zh": "办理反馈", "en": "feedback reported"},
    "kind.feedback_verified": {"zh": "反馈核实", "en": "feedback verified"},
    "kind.feedback_sent_back": {"zh": "反馈退回", "en": "feedback sent back"},
    "kind.assignment_closed": {"zh": "督办办结", "en": "assignment closed"},
    "kind.supervision_reminded": {"zh": "督办催办", "en": "supervision reminder"},
    "kind.recheck_requested": {"zh": "回头看", "en": "re-check requested"},
    "kind.recheck_answered": {"zh": "二次反馈", "en": "re-check answered"},
    "kind.assignment_reopened": {"zh": "重新办理", "en": "assignment reopened"},
    # summaries of the kinds known today; any other kind is shown field by field
    "summary.report_received": {
        "zh": "{stage}：{title}，{grade}",
        "en": "{stage}: {title}, grade {grade}",
    },
    "summary.incident_opened": {"zh": "{grade}，{category}", "en": "grade {grade}, {category}"},
    "summary.first_report_missing": {
        "zh": "由{stage}立案，未收到首报",
        "en": "opened from a {stage}; no first report",
    },
    "summary.grade_changed": {"zh": "{from} → {to}", "en": "{from} → {to}"},
    "summary.paged": {
        "zh": "呼叫 {person}（{org} {role}，{reason}）",
        "en": "paged {person} ({role} of {org}, {reason})",
    },
    "summary.roster_gap": {
        "zh": "{org} 无{role}在岗，转至 {climbed_to}",
        "en": "nobody as {role} in {org}; page climbed to {climbed_to}",
    },
    "summary.acknowledged": {"zh": "{by} 确认 {note}", "en": "by {by} {note}"},
    "summary.resolved": {"zh": "{by} 办结 {note}", "en": "by {by} {note}"},
    "summary.escalated": {
        "zh": "{org} 第 {step} 步：{action}",
        "en": "{org} step {step}: {action}",
    },
    "summary.alert_opened": {
        "zh": "{org} 启动告警（{reason}）",
        "en": "alert in {org} ({reason})",
    },
    "summary.clock_started": {
        "zh": "向 {target} {kind}时限 {due_at}",
        "en": "{kind} report to {target} due {due_at}",
    },
    "summary.report_late": {
        "zh": "向 {target} {kind}迟 {late_by_s}（时限 {due_at}）",
        "en": "{kind} report to {target} {late_by_s} late (due {due_at})",
    },
    "summary.signed_off": {"zh": "{by} 签发{stage}", "en": "{stage} signed off by {by}"},
    "summary.fields_omitted": {"zh": "未报项目：{fields}", "en": "items missing: {fields}"},
    "summary.reminder_sent": {"zh": "催报，通知 {to}", "en": "reminder to {to}"},
    "summary.forwarded": {
        "zh": "{by} 由 {from} 转办至 {to}",
        "en": "forwarded by {by} from {from} to {to}",
    },
    "summary.skip_level": {
        "zh": "{by} 由 {from} 越级报至 {to}",
        "en": "{by} reported from {from} straight to {to}",
    },
    "summary.handed_over": {"zh": "{from} 交班给 {to}", "en": "from {from} to {to}"},
    "summary.handover_accepted": {"zh": "{by} 接班", "en": "taken over by {by}"},
    "summary.note": {"zh": "{text}", "en": "{text}"},
    # durations
    "duration.s": {"zh": "{s} 秒", "en": "{s} s"},
    "duration.m": {"zh": "{m} 分 {s} 秒", "en": "{m} min {s} s"},
    "duration.h": {"zh": "{h} 小时 {m} 分", "en": "{h} h {m} min"},
    "duration.d": {"zh": "{d} 天 {h} 小时", "en": "{d} d {h} h"},
}


def lang_of(value: str | None) -> Lang:
    """The language asked for (``zh`` by default); a clear error names the choices."""
    if value in (None, ""):
        return DEFAULT_LANG
    for lang in LANGS:
        if value == lang:
            return lang
    raise errors.RejectedInput(f"lang must be one of {', '.join(LANGS)}", field="lang")


def t(key: str, lang: Lang, **values: Any) -> str:
    """The text of ``key`` in ``lang``, with ``values`` filled in."""
    try:
        text = TEXT[key][lang]
    except KeyError:
        raise KeyError(f"no {lang} text for {key!r}: add it to printing.TEXT") from None
    return text.format(**values) if values else text


def t_or(key: str, lang: Lang, fallback: str) -> str:
    """``t(key)`` when the table has it, else ``fallback`` (a value nobody named yet)."""
    entry = TEXT.get(key)
    return entry[lang] if entry else fallback


def duration_text(value: timedelta | float, lang: Lang) -> str:
    seconds = round(value.total_seconds() if isinstance(value, timedelta) else value)
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        text = t("duration.d", lang, d=d, h=h)
    elif h:
        text = t("duration.h", lang, h=h, m=m)
    elif m:
        text = t("duration.m", lang, m=m, s=s)
    else:
        text = t("duration.s", lang, s=s)
    return sign + text


def local_time(value: datetime | None, zone: ZoneInfo, *, seconds: bool = True) -> str:
    """A time as people in ``zone`` read it: ``2026-11-25 10:00:05``."""
    if value is None:
        return ""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def zone_label(zone: ZoneInfo, at: datetime) -> str:
    """``Asia/Shanghai (UTC+08:00)``."""
    offset = at.astimezone(zone).strftime("%z")
    return f"{zone.key} (UTC{offset[:3]}:{offset[3:]})"


# ---------------------------------------------------------------------------------------------
# HTML


@functools.cache
def _environment(packages: tuple[str, ...]) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.PackageLoader(p, "templates") for p in packages]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(
    template: str, *, lang: Lang, package: str = "dutywatch.exports", **context: Any
) -> str:
    """Render ``template`` (found in ``package``'s ``templates/``, then in this package's, so
    it may extend ``page.html.j2``) with ``t`` bound to ``lang`` and autoescaping on."""
    packages = tuple(dict.fromkeys((package, "dutywatch.exports")))
    env = _environment(packages)

    def text(key: str, **values: Any) -> str:
        return t(key, lang, **values)

    return env.get_template(template).render(lang=lang, t=text, **context)


# ---------------------------------------------------------------------------------------------
# PDF

#: reportlab's built-in Adobe CID font for simplified Chinese: no font file is needed, readers
#: supply the glyphs (every PDF reader ships it or a substitute).
CID_FONT: Final = "STSong-Light"
_EMBEDDED_FONT: Final = "DutywatchCJK"


def pdf_font(font_path: str | None = None) -> str:
    """Register and name the font PDFs are set in.

    ``font_path`` (or ``$DUTYWATCH_PDF_FONT``) names a CJK TrueType font to embed; without
    one, the built-in CID font STSong-Light is used, for both languages: the record itself
    (titles, places, names) is Chinese whatever the language of the labels.
    """
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    path = font_path or os.environ.get(PDF_FONT_ENV) or None
    if path is None:
        if CID_FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
        return CID_FONT
    name = f"{_EMBEDDED_FONT}-{hashlib.sha256(path.encode()).hexdigest()[:12]}"
    if name not in pdfmetrics.getRegisteredFontNames():
        try:
            pdfmetrics.registerFont(TTFont(name, path))
        except (OSError, TTFError) as exc:
            raise errors.ConfigurationError(
                f"{PDF_FONT_ENV}={path!r} is not a readable TrueType font ({exc}); "
                "name a .ttf with Chinese glyphs, or unset it to use STSong-Light"
            ) from exc
    return name


@dataclass
class PdfDocument:
    """An A4 document built from headings, paragraphs, label/value lists and tables.

    Text is always escaped for reportlab's paragraph markup; lines wrap the CJK way (any
    character may start a line). ``footer`` is printed on every page with its number.
    """

    title: str
    lang: Lang
    footer: str = ""
    #: PDF keywords (document information): machine-readable facts such as the stated head.
    keywords: str = ""
    font_path: str | None = None
    _story: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        from reportlab.lib.styles import ParagraphStyle

        self.font = pdf_font(self.font_path)
        base = ParagraphStyle("body", fontName=self.font, fontSize=9, leading=12.5, wordWrap="CJK")
        self.styles = {
            "body": base,
            "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=10),
            "title": ParagraphStyle("title", parent=base, fontSize=16, leading=22, spaceAfter=6),
            "heading": ParagraphStyle(
                "heading", parent=base, fontSize=12, leading=16, spaceBefore=10, spaceAfter=4
            ),
            "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=10.5),
        }

    def _p(self, text: str, style: str = "body") -> Any:
        from reportlab.platypus import Paragraph

        return Paragraph(xml_escape(text).replace("\n", "<br/>"), self.styles[style])

    def heading(self, text: str, *, level: int = 2) -> None:
        self._story.append(self._p(text, "title" if level == 1 else "heading"))

    def paragraph(self, text: str, *, small: bool = False) -> None:
        self._story.append(self._p(text, "small" if small else "body"))

    def pairs(self, rows: Iterable[tuple[str, str]]) -> None:
        """Label/value lines, as a two-column table."""
        self.table([], [[label, value] for label, value in rows], widths=(0.25, 0.75))

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        widths: Sequence[float],
        highlight: Iterable[int] = (),
    ) -> None:
        """A table over the page width (``widths`` are fractions); ``highlight`` rows (indexes
        into ``rows``) get a tinted background."""
        from reportlab.lib import colors
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.units import mm
        from reportlab.platypus import Table, TableStyle

        usable = A4[0] - 30 * mm
        data = [[self._p(cell, "cell") for cell in row] for row in ([header] if header else [])]
        data += [[self._p(cell, "cell") for cell in row] for row in rows]
        table = Table(data, colWidths=[usable * w for w in widths], repeatRows=1 if header else 0)
        style: list[tuple[Any, ...]] = [
            ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
        if header:
            style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")))
        offset = 1 if header else 0
        for index in highlight:
            row = index + offset
            style.append(("BACKGROUND", (0, row), (-1, row), colors.HexColor("#fde2e1")))
        table.setStyle(TableStyle(style))
        self._story.append(table)

    def spacer(self, height_mm: float = 3) -> None:
        from reportlab.lib.units import mm
        from reportlab.platypus import Spacer

        self._story.append(Spacer(1, height_mm * mm))

    def page_break(self) -> None:
        from reportlab.platypus import PageBreak

        self._story.append(PageBreak())

    def build(self) -> bytes:
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.units import mm
        from reportlab.platypus import SimpleDocTemplate

        out = io.BytesIO()
        footer, font, lang = self.footer, self.font, self.lang

        def decorate(canvas: Any, doc: Any) -> None:
            canvas.saveState()
            canvas.setFont(font, 7)
            canvas.drawString(15 * mm, 8 * mm, footer)
            canvas.drawRightString(A4[0] - 15 * mm, 8 * mm, t("doc.page", lang, page=doc.page))
            canvas.restoreState()

        document = SimpleDocTemplate(
            out,
            pagesize=A4,
            leftMargin=15 * mm,
            rightMargin=15 * mm,
            topMargin=15 * mm,
            bottomMargin=16 * mm,
            title=self.title,
            author="dutywatch",
            creator="dutywatch",
            subject=t("doc.incident_title", lang),
            keywords=[self.keywords],
            lang="zh-CN" if lang == "zh" else "en",
        )
        document.build(self._story, onFirstPage=decorate, onLaterPages=decorate)
        return out.getvalue()


def html_lang(lang: Lang) -> str:
    return "zh-CN" if lang == "zh" else "en"
