"""What a page says over e-mail and SMS, in Chinese (pure)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from dutywatch.contracts import Category, Grade, NotificationV1, PageReason, ReportStatus

# Chinese punctuation is full width; ruff's RUF001 would have it ASCII.
COLON, OPEN, CLOSE = "\uff1a", "\uff08", "\uff09"

#: Times in messages are shown in the duty rooms' zone.
SHOWN_TZ = ZoneInfo("Asia/Shanghai")

GRADE_NAMES = {Grade.I: "特别重大", Grade.II: "重大", Grade.III: "较大", Grade.IV: "一般"}
CATEGORY_NAMES = {
    Category.NATURAL_DISASTER: "自然灾害",
    Category.ACCIDENT: "事故灾难",
    Category.PUBLIC_HEALTH: "公共卫生事件",
    Category.SOCIAL_SAFETY: "社会安全事件",
}
REASON_NAMES = {
    PageReason.FIRST_PAGE: "新事件",
    PageReason.ESCALATION: "升级提醒",
    PageReason.NEW_REPORT: "新报告",
    PageReason.REMINDER: "续报催办",
}
DRILL_NAMES = {ReportStatus.EXERCISE: "【演练】", ReportStatus.TEST: "【测试】"}


@dataclass(frozen=True, kw_only=True)
class Rendered:
    subject: str
    lines: list[tuple[str, str]]
    link: str

    @property
    def text(self) -> str:
        body = "\n".join(f"{label}{COLON}{value}" for label, value in self.lines)
        return f"{self.subject}\n\n{body}\n\n查看详情{COLON}{self.link}\n"

    @property
    def html(self) -> str:
        rows = "".join(
            f"<tr><th align='left'>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>"
            for label, value in self.lines
        )
        link = html.escape(self.link, quote=True)
        return (
            "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.subject)}</title></head><body>"
            f"<h1>{html.escape(self.subject)}</h1><table>{rows}</table>"
            f"<p><a href='{link}'>查看详情</a></p></body></html>"
        )


def render(page: NotificationV1, *, public_url: str) -> Rendered:
    """The subject, labelled lines and link of a page."""
    drill = DRILL_NAMES.get(page.status, "")
    grade = f"{page.grade}级{OPEN}{GRADE_NAMES[page.grade]}{CLOSE}"
    lines = [
        ("事件", page.title),
        ("等级", grade),
        ("类别", CATEGORY_NAMES[page.category]),
        ("单位", page.org),
        ("事由", REASON_NAMES[page.reason]),
        ("事件编号", str(page.incident_id)),
    ]
    if page.ack_by is not None:
        lines.append(("请于此前确认", page.ack_by.astimezone(SHOWN_TZ).strftime("%Y-%m-%d %H:%M")))
    return Rendered(
        subject=f"{drill}【{page.grade}级】{page.title}",
        lines=lines,
        link=console_link(public_url, page.incident_id),
    )


def console_link(public_url: str, incident_id: int) -> str:
    """The incident's page in the duty console: where a person who follows the link can act."""
    return f"{public_url.rstrip('/')}/console/#/incident/{incident_id}"


def email(page: NotificationV1, *, public_url: str, sender: str, to: str) -> EmailMessage:
    """A plain-text message with an HTML alternative."""
    rendered = render(page, public_url=public_url)
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = to
    message["X-Dutywatch-Page"] = str(page.page_id)
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def sms(page: NotificationV1, *, public_url: str) -> str:
    """One short text: subject, organisation and link."""
    rendered = render(page, public_url=public_url)
    return f"{rendered.subject} {page.org} {rendered.link}"
