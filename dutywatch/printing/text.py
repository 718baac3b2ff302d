"""The words of printable documents: one zh/en table for every report, the language choice,
and how times and durations read.

Every visible word of a printable report comes from :data:`TEXT`, one table with both
languages per key; a unit test checks that no key lacks either, and that placeholders agree.
Keys are dotted and grouped by the report that owns them (``review.*`` for the review
report); a word both reports print (``col.measure``, ``value.none``) has one key, so a
correction is made once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from dutywatch import errors

Lang = Literal["zh", "en"]
LANGS: Final[tuple[Lang, ...]] = ("zh", "en")
DEFAULT_LANG: Final[Lang] = "zh"
#: The zone times are shown in when the organisation names none.
DEFAULT_ZONE: Final = "Asia/Shanghai"

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
    "value.none": {"zh": "无", "en": "none"},
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
    # the review report of a period (dutywatch.review.printable)
    "review.title": {"zh": "值班工作复盘统计", "en": "Duty review figures"},
    "review.period": {
        "zh": "统计期间（按立案时间）",
        "en": "Period (by time the incident was opened)",
    },
    "review.as_of": {"zh": "数据截至", "en": "Figures as of"},
    "review.drills": {"zh": "演练与测试", "en": "Drills and tests"},
    "review.drills_out": {"zh": "不计入", "en": "left out"},
    "review.drills_in": {"zh": "已计入", "en": "included"},
    "review.incidents": {"zh": "事件总数", "en": "Incidents"},
    "review.by_grade": {"zh": "按等级", "en": "By grade"},
    "review.by_category": {"zh": "按类别", "en": "By category"},
    "review.grade": {"zh": "等级", "en": "Grade"},
    "review.category": {"zh": "类别", "en": "Category"},
    "review.count": {"zh": "数量", "en": "Count"},
    "review.times": {"zh": "响应时间（分钟）", "en": "Response times (minutes)"},
    "review.to_acknowledge": {"zh": "首次确认用时", "en": "Time to first acknowledgement"},
    "review.to_report_up": {"zh": "向上级报告用时", "en": "Time to report up"},
    "review.to_resolve": {"zh": "处置完毕用时", "en": "Time to resolve"},
    "review.by_org": {
        "zh": "迟报、漏报（按接报单位）",
        "en": "Late (迟报) and missing (漏报) reports by receiving office",
    },
    "review.org": {"zh": "单位", "en": "Organisation"},
    "review.late": {"zh": "迟报", "en": "Late"},
    "review.missing": {"zh": "漏报", "en": "Missing"},
    "review.omitted": {"zh": "漏报事项", "en": "Items omitted"},
    "review.levels": {"zh": "升级到达的层级", "en": "Escalations: levels reached"},
    "review.level": {
        "zh": "层级（0为接报单位，1为上一级……）",
        "en": "Level (0 the receiving office, 1 its parent, ...)",
    },
    "review.failed": {
        "zh": "未送达的通知（按渠道）",
        "en": "Pages that failed to deliver, by channel",
    },
    "review.channel": {"zh": "渠道", "en": "Channel"},
    "review.supervision": {
        "zh": "督办落实情况（本期应办结的交办事项）",
        "en": "Supervision (督办): assignments first due in the period",
    },
    "review.sup_measure": {"zh": "项目", "en": "measure"},
    "review.sup_value": {"zh": "数值", "en": "value"},
    "review.sup_due": {"zh": "本期应办结", "en": "due in the period"},
    "review.sup_on_time": {"zh": "按时落实", "en": "done on time"},
    "review.sup_rate": {"zh": "落实率", "en": "completion rate on time (落实率)"},
    "review.sup_closed": {"zh": "已办结", "en": "closed"},
    "review.sup_days": {"zh": "平均办结天数", "en": "average days to close"},
    "review.sup_rechecks": {"zh": "回头看（已答复／未通过）", "en": "re-checks answered / failed"},
    "review.sup_overdue": {"zh": "超期未办（按承办单位）", "en": "overdue now, by unit"},
    "review.list": {"zh": "事件清单", "en": "Incidents"},
    "review.id": {"zh": "编号", "en": "Id"},
    "review.event": {"zh": "事件", "en": "Incident"},
    "review.opened": {"zh": "立案时间", "en": "Opened"},
    "review.chart_ack": {
        "zh": "图1：首次确认用时分布。横轴为分钟，纵轴为事件数。",
        "en": "Figure 1: time to first acknowledgement. Minutes across, incidents up.",
    },
    "review.chart_day": {
        "zh": "图2：每日接报事件数，按等级堆叠；颜色：红Ⅰ级、橙Ⅱ级、黄Ⅲ级、蓝Ⅳ级。",
        "en": "Figure 2: incidents opened per day, stacked by grade; "
        "red I, orange II, yellow III, blue IV.",
    },
    "review.definitions": {
        "zh": "口径：p50、p90为最近秩百分位数；定义见 docs/DOMAIN.md「复盘统计」。",
        "en": "p50 and p90 are nearest-rank percentiles; definitions in "
        "docs/DOMAIN.md 'Review figures'.",
    },
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
        raise KeyError(
            f"no {lang} text for {key!r}: add it to printing.TEXT (dutywatch/printing/text.py)"
        ) from None
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


def html_lang(lang: Lang) -> str:
    return "zh-CN" if lang == "zh" else "en"
