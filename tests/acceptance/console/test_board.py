"""The board, the actions and the incident page in a real browser (issue 8): live without a
reload, acknowledge stops the escalation, a cut connection catches up, both languages fully
translated, and another district's incidents never shown."""

from __future__ import annotations

import asyncio
import contextlib
import re
from datetime import timedelta
from typing import Any

from playwright.async_api import Page

from dutywatch import auth
from tests.acceptance.conftest import (
    ACK_TIMEOUT,
    START,
    Service,
    eventually,
    make_report,
    make_token,
)
from tests.acceptance.console.conftest import Console, OpenConsole
from tests.acceptance.test_board_api import incident_of as incident_id

#: Chinese characters (CJK ideographs and punctuation) in text that ought to be English.
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


async def board_ready(page: Page) -> None:
    await page.wait_for_selector("#view[data-loaded]")
    await page.wait_for_selector("#conn[data-state=live]")


def row(incident: int) -> str:
    return f"tr[data-incident-id='{incident}']"


async def mark_no_reload(page: Page) -> None:
    """A reload would lose this: the tests check it is still there at the end."""
    await page.evaluate("window.__dwSamePage = true")


async def same_page(page: Page) -> bool:
    return bool(await page.evaluate("window.__dwSamePage === true"))


#: Records each browser notification the page makes (headless Chromium shows none).
NOTIFICATION_SPY = """() => {
  window.__dwNotes = [];
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) {
      window.__dwNotes.push(`${title}|${options.body}`);
      super(title, options);
    }
  };
}"""


async def test_a_report_on_nats_appears_on_the_board_within_two_seconds(
    service: Service, console: OpenConsole
) -> None:
    opened = await console(service.tokens.officer_daoli)
    page = opened.page
    await opened.context.grant_permissions(["notifications"])
    await page.evaluate(NOTIFICATION_SPY)
    await board_ready(page)
    await mark_no_reload(page)
    report = make_report(title="松花江沿岸冰面塌陷", grade="II")
    await service.publish(report)

    async def shown() -> bool:
        return await page.locator("table.board", has_text="松花江沿岸冰面塌陷").count() == 1

    await eventually(shown, timeout=2.0, what="the report on the board")
    assert await same_page(page)
    incident = await incident_id(service, report["incident_ref"])
    cells = page.locator(row(incident))
    assert await cells.locator(".grade.grade-II").text_content() == "Ⅱ级"
    assert await cells.get_attribute("data-state") == "open"
    # li-na is paged for it: her page came over the live feed and beeped.
    await page.wait_for_function("(window.__dwBeeps || 0) >= 1", timeout=3000)
    assert "李娜" in (await cells.text_content() or "")
    assert await page.evaluate("window.__dwNotes") == ["新的呼叫|松花江沿岸冰面塌陷"]


async def test_acknowledge_stops_the_escalation_and_the_timeline_shows_it(
    service: Service, console: OpenConsole
) -> None:
    opened = await console(service.tokens.officer_daoli)
    page = opened.page
    await board_ready(page)
    report = make_report(title="新阳路燃气管道泄漏")
    await service.publish(report)
    incident = await incident_id(service, report["incident_ref"])
    # Left alone, to show the scheduler did climb past the timeout meanwhile.
    control = make_report(title="无人确认的事件")
    await service.publish(control)
    control_id = await incident_id(service, control["incident_ref"])
    await page.wait_for_selector(f"{row(incident)} button.act-ack")
    escalation = page.locator(f"{row(incident)} .countdown").first
    assert re.fullmatch(r"\d+分\d\d秒|\d+秒", await escalation.text_content() or "")

    await page.click(f"{row(incident)} button.act-ack")
    # The result says what happened and names the timeline entry it made.
    entry = page.locator(".act-result li[data-kind=acknowledged]")
    await entry.wait_for()
    assert "已确认" in (await entry.text_content() or "")
    await page.wait_for_selector(f"{row(incident)}[data-state=acknowledged]")

    timers = await service.sql(
        "SELECT fired_at, cancelled_at FROM timers WHERE incident_id = $1 AND kind = 'escalation'",
        incident,
    )
    assert timers, "no escalation timer was armed"
    assert all(t["cancelled_at"] is not None for t in timers), timers
    pages_before = await service.sql("SELECT id FROM pages WHERE incident_id = $1", incident)
    await service.clock.advance(ACK_TIMEOUT + timedelta(minutes=5))

    async def control_escalated() -> bool:
        rows = await service.sql(
            "SELECT 1 FROM pages WHERE incident_id = $1 AND reason = 'escalation'", control_id
        )
        return bool(rows)

    await eventually(control_escalated, what="the unacknowledged incident's escalation")
    pages_after = await service.sql("SELECT id FROM pages WHERE incident_id = $1", incident)
    assert pages_after == pages_before, "paged again after the acknowledgement"

    await page.click(f"{row(incident)} a.incident-link")
    ack_entry = page.locator("table.timeline tr[data-kind=acknowledged]")
    await ack_entry.wait_for()
    text = await ack_entry.text_content() or ""
    assert "person:li-na" in text
    assert "接口" in text  # the source: the console calls the HTTP API
    assert await page.evaluate("document.activeElement.tagName") == "H1"


async def test_keys_move_the_selection_and_acknowledge(
    service: Service, console: OpenConsole
) -> None:
    opened = await console(service.tokens.officer_daoli, lang="en")
    page = opened.page
    first, second = make_report(title="一号"), make_report(title="二号")
    await service.publish(first)
    await incident_id(service, first["incident_ref"])
    await service.clock.advance(timedelta(seconds=30))
    await service.publish(second)
    newer = await incident_id(service, second["incident_ref"])
    older = await incident_id(service, first["incident_ref"])
    await page.wait_for_selector(row(older))
    await page.wait_for_selector(row(newer))
    assert "a acknowledge" in (await page.text_content("#board-help") or "")
    await page.locator("body").click(position={"x": 5, "y": 880})
    await page.keyboard.press("j")
    assert await page.get_attribute(row(newer), "aria-current") == ""
    await page.keyboard.press("j")
    assert await page.get_attribute(row(older), "aria-current") == ""
    assert await page.get_attribute(row(newer), "aria-current") is None
    focused = await page.evaluate("document.activeElement.closest('tr').dataset.incidentId")
    assert focused == str(older)
    await page.keyboard.press("k")
    await page.keyboard.press("n")
    await page.keyboard.press("a")
    await page.wait_for_selector(f"{row(older)}[data-state=acknowledged]")
    assert await page.get_attribute(row(newer), "data-state") == "open"
    # On the incident page, `a` acknowledges the incident shown.
    await page.keyboard.press("k")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("table.timeline")
    await page.keyboard.press("a")
    await page.wait_for_selector("table.timeline tr[data-kind=acknowledged]")
    [state] = await service.sql("SELECT state::text FROM incidents WHERE id = $1", newer)
    assert state["state"] == "acknowledged"


async def test_a_deadline_that_ran_out_is_shown_late(
    service: Service, console: OpenConsole
) -> None:
    opened = await console(service.tokens.officer_daoli)
    page = opened.page
    report = make_report(title="超时未报的事件", grade="IV")
    await service.publish(report)
    incident = await incident_id(service, report["incident_ref"])
    deadline = page.locator(f"{row(incident)} td:nth-child(7) .countdown")
    await deadline.wait_for()
    assert "超时" not in (await deadline.text_content() or "")
    await service.clock.advance(timedelta(hours=3))
    # The miss (迟报) is an incident event: the board refetches and counts up from the due time.
    await page.wait_for_selector(f"{row(incident)}.row-late td:nth-child(7) .countdown.late")
    assert (await deadline.text_content() or "").startswith("已超时")


async def test_note_follow_up_report_resolve_and_handover_each_show_their_entry(
    service: Service, console: OpenConsole
) -> None:
    opened = await console(service.tokens.officer_daoli)
    page = opened.page
    report = make_report(title="兆麟街道积水")
    await service.publish(report)
    incident = await incident_id(service, report["incident_ref"])
    await page.goto(f"{opened.base}/console/#/incident/{incident}")
    await page.wait_for_selector("table.timeline")

    await page.click("button.act-note")
    await page.fill("dialog textarea", "已通知排水公司")
    await page.click("dialog button[type=submit]")
    await page.wait_for_selector(".act-result li[data-kind=note]")
    assert await page.evaluate("document.activeElement.classList.contains('act-note')")
    await page.wait_for_selector("table.timeline tr[data-kind=note]")

    await page.click("button.act-report")
    await page.select_option("dialog select[name=grade]", "II")
    await page.fill("dialog textarea", "积水已退，两人受伤送医")
    await page.click("dialog button[type=submit]")
    await page.wait_for_selector(".act-result li[data-kind=report_received]")
    stages = await service.sql(
        "SELECT stage::text, payload FROM reports r JOIN incidents i ON i.id = r.incident_id"
        " WHERE i.id = $1 ORDER BY received_at",
        incident,
    )
    assert [s["stage"] for s in stages] == ["first", "follow_up"]
    await page.wait_for_selector(".incident-head .grade.grade-II")

    await page.click("a[href='#/board']")
    await page.wait_for_selector("button.act-handover")
    await page.click("button.act-handover")
    await page.fill("dialog textarea", "夜班交接：兆麟街道积水已续报")
    await page.click("dialog button[type=submit]")
    await page.wait_for_selector(".act-result li[data-kind=handed_over]")
    [handover] = await service.sql("SELECT org_path, outgoing_person FROM handovers")
    assert tuple(handover) == ("harbin.daoli", "li-na")
    await page.wait_for_selector(".handovers li")  # waiting for the incoming officer

    # The leader on duty takes it over from their own console.
    leader = await console(service.tokens.leader_daoli)
    await leader.page.click(".handovers button.act-take-over")
    await leader.page.wait_for_selector(".act-result li[data-kind=handover_accepted]")
    await leader.page.wait_for_selector(".handovers", state="detached")
    [taken] = await service.sql("SELECT accepted_by FROM handovers")
    assert taken["accepted_by"] == "zhang-wei"

    await page.click(f"{row(incident)} button.act-resolve")
    await page.fill("dialog textarea", "现场处置完毕")
    await page.click("dialog button[type=submit]")
    await page.wait_for_selector(".act-result li[data-kind=resolved]")
    await page.wait_for_selector(row(incident), state="detached")
    [state] = await service.sql("SELECT state::text FROM incidents WHERE id = $1", incident)
    assert state["state"] == "resolved"
    assert await opened.missing_strings() == []  # the forms' strings too


class Proxy:
    """A TCP proxy between the browser and the service that can be cut: every connection
    dropped and new ones refused, until it is restored on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.writers.update({writer, up_writer})

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers.difference_update({writer, up_writer})


async def test_a_cut_connection_is_restored_and_the_board_catches_up(
    service: Service, console: OpenConsole
) -> None:
    proxy = Proxy(service.client.server.port)  # type: ignore[union-attr]
    await proxy.start()
    try:
        first = await console(service.tokens.officer_daoli)
        opened = Console(
            page=await first.context.new_page(),
            context=first.context,
            base=f"http://127.0.0.1:{proxy.port}",
        )
        page = opened.page
        await page.goto(f"{opened.base}/console/#/board")  # signed in already: the cookie
        await board_ready(page)
        await mark_no_reload(page)

        await proxy.cut()
        await page.wait_for_selector("#conn[data-state=lost]", timeout=5000)
        assert await page.text_content("#conn") == "连接中断，正在重连"
        missed = make_report(title="断线期间的事件")
        await service.publish(missed)
        await incident_id(service, missed["incident_ref"])
        await asyncio.sleep(1.5)  # the browser tries, and is refused, meanwhile
        assert await page.locator("table.board", has_text="断线期间的事件").count() == 0

        await proxy.start()
        await page.wait_for_selector("#conn[data-state=live]", timeout=10000)
        await page.locator("table.board", has_text="断线期间的事件").wait_for(timeout=5000)
        assert await same_page(page)
    finally:
        with contextlib.suppress(Exception):
            await proxy.cut()


#: Keeps each EventSource a page makes, to count the open ones (OPEN_STREAMS: their paths).
STREAM_COUNTER = """(() => {
  window.__dwStreams = [];
  const Real = window.EventSource;
  window.EventSource = class extends Real {
    constructor(url, options) {
      super(url, options);
      window.__dwStreams.push(this);
    }
  };
})()"""
OPEN_STREAMS = """window.__dwStreams
  .filter((s) => s.readyState !== EventSource.CLOSED)
  .map((s) => new URL(s.url).pathname)"""


async def test_three_tabs_of_one_person_each_load_the_board_and_act(
    service: Service, console: OpenConsole
) -> None:
    """Browsers open at most six HTTP/1.1 connections per origin: each tab holds one live
    stream, so three tabs of the same person leave room for their own requests."""
    first = await console(service.tokens.officer_daoli)
    # Counts the streams a tab opens (the tabs opened from here on).
    await first.context.add_init_script(STREAM_COUNTER)
    tabs = [first.page]
    for _ in range(2):
        tab = await first.context.new_page()
        await tab.goto(f"{first.base}/console/#/board")  # signed in already: the cookie
        tabs.append(tab)
    for tab in tabs:
        await board_ready(tab)
        await mark_no_reload(tab)
    reports = [make_report(title=f"第{n}个标签页的事件") for n in (1, 2, 3)]
    ids = []
    for report in reports:
        await service.publish(report)
        ids.append(await incident_id(service, report["incident_ref"]))
    for tab, incident in zip(tabs, ids, strict=True):
        # Each tab acknowledges its own incident: a request made beside three open streams.
        await tab.bring_to_front()
        await tab.click(f"{row(incident)} button.act-ack", timeout=5000)
        await tab.locator(".act-result li[data-kind=acknowledged]").wait_for(timeout=5000)
    for tab in tabs:
        # And every tab learns of the others' acknowledgements live.
        for incident in ids:
            await tab.wait_for_selector(f"{row(incident)}[data-state=acknowledged]", timeout=5000)
        assert await same_page(tab)
        assert await tab.get_attribute("#conn", "data-state") == "live"
    # One stream per tab, not two.
    for tab in tabs[1:]:
        assert await tab.evaluate(OPEN_STREAMS) == ["/api/v1/console/live"]


VISIBLE_TEXT = """() => {
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest('[translate="no"], [hidden], script, style, option[lang]')) continue;
    if (node.textContent.trim()) texts.push(node.textContent.trim());
  }
  for (const el of document.querySelectorAll('[aria-label], [title]')) {
    if (el.closest('[translate="no"], [hidden]')) continue;
    for (const name of ['aria-label', 'title']) {
      if (el.getAttribute(name)) texts.push(el.getAttribute(name));
    }
  }
  return texts;
}"""


async def test_board_and_incident_page_are_fully_translated_in_both_languages(
    service: Service, console: OpenConsole
) -> None:
    report = make_report(
        title="道里区江桥坍塌",
        location={"text": "友谊路江桥", "lat": 45.7732, "lon": 126.6117},
    )
    await service.publish(report)
    incident = await incident_id(service, report["incident_ref"])
    for lang in ("en", "zh-CN"):
        opened = await console(service.tokens.officer_daoli, lang=lang)
        page = opened.page
        await page.wait_for_selector(row(incident))
        await page.wait_for_selector("#conn[data-state=live]")
        board_texts: list[str] = await page.evaluate(VISIBLE_TEXT)
        await page.click(f"{row(incident)} a.incident-link")
        await page.wait_for_selector("table.timeline")
        await page.wait_for_selector("svg.position-map circle.latest")
        # Every <details> open, so the labels inside count too.
        await page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        incident_texts: list[str] = await page.evaluate(VISIBLE_TEXT)
        assert await opened.missing_strings() == [], lang
        if lang == "en":
            untranslated = [s for s in board_texts + incident_texts if CJK.search(s)]
            assert untranslated == []
            assert "Timeline" in incident_texts
        else:
            assert "时间线" in incident_texts
            assert "待办事件" in board_texts
            # The export links work with the session cookie alone.
            links = page.locator("ul.exports a")
            kinds = {}
            for n in range(await links.count()):
                href = await links.nth(n).get_attribute("href")
                assert href
                answer = await page.request.get(f"{opened.base}{href}")
                assert answer.status == 200, href
                kinds[href.split("format=")[1].split("&")[0]] = answer.headers["content-type"]
            assert set(kinds) == {"json", "csv", "html", "pdf"}
            assert kinds["pdf"].startswith("application/pdf")
        assert "45.77320" in (await page.text_content(".coords") or "")


async def test_an_officer_of_another_district_never_sees_the_incident(
    service: Service, console: OpenConsole, officer_nangang: str
) -> None:
    daoli = make_report(title="道里区的事件")
    await service.publish(daoli)
    daoli_id = await incident_id(service, daoli["incident_ref"])
    opened = await console(officer_nangang)
    page = opened.page
    await board_ready(page)
    # Published while the board is open: the Nangang incident shows, the Daoli one never.
    await service.publish(make_report(title="道里区的第二起事件"))
    nangang = make_report(org="harbin.nangang", title="南岗区的事件")
    await service.publish(nangang)
    await page.locator("table.board", has_text="南岗区的事件").wait_for(timeout=3000)
    text = await page.text_content("#view") or ""
    assert "道里区" not in text
    assert await page.locator(row(daoli_id)).count() == 0

    await page.goto(f"{opened.base}/console/#/incident/{daoli_id}")
    await page.wait_for_selector(".act-result .error")
    assert "道里区的事件" not in (await page.text_content("#view") or "")
    answer = await page.request.get(f"{opened.base}/api/v1/incidents/{daoli_id}")
    assert answer.status == 403


async def test_an_incident_forwarded_in_from_another_district_shows_at_once(
    service: Service, console: OpenConsole
) -> None:
    """Reported to Daoli and forwarded (转办) to Nangang: the Nangang office's board (an
    office token: nobody there is paged to it, so only the incident events can tell) shows it
    without waiting for its once-a-minute refetch."""
    office = await make_token(service, "office-nangang", auth.Role.OFFICE, "harbin.nangang")
    report = make_report(title="应由南岗区处置的事件")
    await service.publish(report)
    incident = await incident_id(service, report["incident_ref"])
    opened = await console(office)
    page = opened.page
    await board_ready(page)
    await mark_no_reload(page)
    assert await page.locator(row(incident)).count() == 0
    forwarded = await service.client.post(
        f"/api/v1/incidents/{incident}/forward",
        json={"to": "harbin.nangang", "note": "事发地属南岗区"},
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert forwarded.status == 200, await forwarded.text()
    await page.locator(row(incident)).wait_for(timeout=3000)
    assert await same_page(page)


async def test_screenshots_of_the_board_and_an_incident(
    service: Service, console: OpenConsole
) -> None:
    """docs/screenshots/board.png and incident.png, the same every run (fixed clock, data)."""
    reports: list[dict[str, Any]] = [
        make_report(
            title="新阳路燃气管道泄漏",
            grade="III",
            location={"text": "道里区新阳路 218 号", "lat": 45.7761, "lon": 126.6012},
        ),
        make_report(title="兆麟街道居民楼火灾", grade="II", org="harbin.daoli.zhaolin"),
        make_report(title="中央大街积水", grade="IV", org="harbin.daoli"),
    ]
    ids = []
    for report in reports:
        await service.publish(report)
        ids.append(await incident_id(service, report["incident_ref"]))
        await service.clock.advance(timedelta(minutes=3))
    officer = service.auth(service.tokens.officer_daoli)
    ack = await service.client.post(f"/api/v1/incidents/{ids[2]}/ack", headers=officer)
    assert ack.status == 200
    note = await service.client.post(
        f"/api/v1/incidents/{ids[0]}/notes",
        json={"text": "已通知燃气公司抢修，周边 200 米已疏散"},
        headers=officer,
    )
    assert note.status == 201
    await service.clock.advance(timedelta(minutes=2))

    opened = await console(service.tokens.officer_daoli)
    page = opened.page
    # The browser's clock stands still, so every countdown shows the same figure each run.
    await page.clock.set_fixed_time(START)
    await page.evaluate("location.reload()")
    await page.wait_for_selector(row(ids[0]))
    await page.wait_for_selector("#conn[data-state=live]")
    await page.wait_for_timeout(300)
    await page.evaluate("document.getElementById('toast').replaceChildren()")
    await page.keyboard.press("j")  # the first incident selected, as an officer would
    await opened.screenshot("board")

    await page.click(f"{row(ids[0])} a.incident-link")
    await page.wait_for_selector("svg.position-map circle.latest")
    await page.wait_for_selector("table.timeline tr[data-kind=note]")
    await page.evaluate("document.activeElement.blur()")
    await page.evaluate("document.getElementById('toast').replaceChildren()")
    path = await opened.screenshot("incident")
    assert path.stat().st_size > 10_000
