"""The console's pages in a real browser: the on-duty page (who is on duty, gaps, my shifts), the
review page (figures equal to GET /api/v1/review), and the checks every page (board, incident,
on duty, review, supervision) passes — every string translated in zh-CN and en (no Chinese left
in the English page outside service data), labels, button names, one h1, tab order, and no
horizontal scrolling on a phone or a wall display.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import Page

from tests.acceptance.conftest import START, Service, eventually, make_report
from tests.acceptance.console.conftest import Console, OpenConsole

#: The review period of the tests: the week up to the ManualClock's day, Shanghai dates.
WEEK = ("2026-11-19", "2026-11-25")

#: Resolves when #view has not changed for 400 ms (pages that tick every second still pause).
SETTLED_JS = """() => new Promise((resolve) => {
  const view = document.getElementById("view");
  let timer = setTimeout(done, 400);
  const stop = setTimeout(done, 5000);
  const observer = new MutationObserver(() => {
    clearTimeout(timer);
    timer = setTimeout(done, 400);
  });
  observer.observe(view, { childList: true, subtree: true, characterData: true });
  function done() { observer.disconnect(); clearTimeout(stop); resolve(true); }
})"""

#: Chinese text a person reads outside service data (elements with translate="no"): text
#: nodes, the attributes read aloud or shown, and the document title.
CJK_JS = r"""() => {
  const cjk = /[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]/;
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!cjk.test(node.data)) continue;
    if (parent && parent.closest('[translate="no"], script, style')) continue;
    found.push(node.data.trim().slice(0, 60));
  }
  for (const el of document.querySelectorAll("[aria-label], [title], [placeholder], [alt]")) {
    if (el.closest('[translate="no"]')) continue;
    for (const name of ["aria-label", "title", "placeholder", "alt"]) {
      const value = el.getAttribute(name);
      if (value && cjk.test(value)) found.push(`${name}=${value}`);
    }
  }
  if (cjk.test(document.title)) found.push(`title=${document.title}`);
  return found;
}"""

#: Controls without an accessible name, buttons without a name, and the visible h1s.
A11Y_JS = """() => {
  const named = (el) => {
    const by = (el.getAttribute("aria-labelledby") || "").split(/\\s+/).filter(Boolean)
      .map((id) => document.getElementById(id)?.textContent.trim() || "").join(" ");
    const labels = [...(el.labels || [])].map((l) => l.textContent.trim()).join(" ");
    return (el.getAttribute("aria-label") || by || labels || el.title || "").trim();
  };
  const describe = (el) => `${el.tagName.toLowerCase()}#${el.id || "?"}`;
  return {
    unlabelled: [...document.querySelectorAll("input, select, textarea")]
      .filter((el) => el.type !== "hidden" && !named(el)).map(describe),
    nameless: [...document.querySelectorAll("button")]
      .filter((el) => !(el.textContent.trim() || named(el))).map(describe),
    h1: [...document.querySelectorAll("h1")].filter((el) => el.checkVisibility()).length,
    positiveTabindex: [...document.querySelectorAll("[tabindex]")]
      .filter((el) => el.tabIndex > 0).map(describe),
  };
}"""

#: Where the focus is: an id, or the link's address, or the tag; and whether it follows the
#: element focused before in document order.
FOCUS_JS = """(previous) => {
  const el = document.activeElement;
  if (!el || el === document.body) return { key: null, after: true };
  const href = el.getAttribute("href");
  const key = el.id ? `#${el.id}` : href ? `a[${href}]` : el.tagName;
  const before = window.__dwLastFocus || null;
  const following = before && before.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING;
  const after = !before || !previous || before === el || Boolean(following);
  window.__dwLastFocus = el;
  return { key, after };
}"""

BORDER_JS = "(el) => getComputedStyle(el).borderTopColor"
BAD_JS = """() => {
  const probe = document.createElement("span");
  probe.style.color = "var(--bad)";
  document.body.append(probe);
  const colour = getComputedStyle(probe).color;
  probe.remove();
  return colour;
}"""

#: Text in #view whose contrast with what is behind it is below 4.5:1 (WCAG 2 relative
#: luminance; backgrounds composited from the root down; SVG text by its fill).
CONTRAST_JS = r"""() => {
  const parse = (text) => {
    let m = text.match(/^rgba?\(([^)]+)\)$/);
    if (m) {
      const [r, g, b, a = 1] = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return { r, g, b, a };
    }
    m = text.match(/^color\(srgb ([^)]+)\)$/);
    if (m) {
      const [r, g, b, a = 1] = m[1].split(/[\s/]+/).filter(Boolean).map(Number);
      return { r: r * 255, g: g * 255, b: b * 255, a };
    }
    return null;
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a),
    a: 1,
  });
  const channel = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  const luminance = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const behind = (el) => {
    const chain = [];
    for (let e = el; e; e = e.parentElement) chain.unshift(e);
    let colour = { r: 255, g: 255, b: 255, a: 1 };
    for (const e of chain) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) colour = over(c, colour);
    }
    return colour;
  };
  const low = [];
  const walker = document.createTreeWalker(document.getElementById("view"), NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.data.trim() || !el.checkVisibility()) continue;
    const style = getComputedStyle(el);
    const ink = parse(el instanceof SVGElement ? style.fill : style.color);
    if (!ink) { low.push(`unreadable colour of ${node.data.trim()}`); continue; }
    const back = behind(el);
    const [a, b] = [luminance(over(ink, back)), luminance(back)];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(`${node.data.trim().slice(0, 30)}: ${ratio.toFixed(2)}`);
  }
  return low;
}"""


async def settle(page: Page) -> None:
    await page.wait_for_selector("#view h1")
    await page.evaluate(SETTLED_JS)


async def show(opened: Console, hash_: str, ready: str = "#view h1") -> None:
    # Emptied first, so `ready` can only match the page asked for.
    await opened.page.evaluate(
        "(hash) => { document.getElementById('view').replaceChildren(); location.hash = hash; }",
        hash_,
    )
    await opened.page.wait_for_selector(ready)
    await settle(opened.page)


async def open_incident(service: Service, **report: Any) -> int:
    made = make_report(**report)
    await service.publish(made)

    async def landed() -> int | None:
        rows = await service.sql(
            "SELECT incident_id FROM reports WHERE report_id = $1", made["report_id"]
        )
        return rows[0]["incident_id"] if rows else None

    found: int = await eventually(landed, what=f"report {made['report_id']} taken in")
    return found


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """The review JSON as (dotted name, leaf): lists of {org|level: ...} keyed by it."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        for item in value:
            key = item.get("org", item.get("level"))
            rest = {k: v for k, v in item.items() if k not in ("org", "level")}
            if set(rest) == {"incidents"} and "level" in item:
                yield f"{prefix}{key}", rest["incidents"]
            else:
                yield from flatten(rest, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), value


# ---------------------------------------------------------------------------- on duty


async def test_the_on_duty_page_shows_who_is_on_duty_a_gap_and_my_shifts(
    service: Service, console: OpenConsole
) -> None:
    created = await service.client.post(
        "/api/v1/rosters",
        json={"org": "harbin.daoli.zhaolin", "name": "兆麟街道值班表"},
        headers=service.auth(service.tokens.leader_daoli),
    )
    assert created.status == 201, await created.text()
    opened = await console(service.tokens.officer_daoli, hash_="#/duty")
    page = opened.page
    await page.wait_for_selector("#duty-rooms")
    await settle(page)

    daoli = page.locator('section.duty-room[data-org="harbin.daoli"]')
    assert await daoli.get_attribute("data-gap") == "false"
    officer = daoli.locator('tr[data-role="duty_officer"]')
    assert "李娜" in await officer.locator("td").nth(0).inner_text()
    assert "李娜" in await officer.locator("td").nth(1).inner_text()  # next: her again
    assert "张伟" in await daoli.locator('tr[data-role="leader_on_duty"]').inner_text()

    zhaolin = page.locator('section.duty-room[data-org="harbin.daoli.zhaolin"]')
    assert await zhaolin.get_attribute("data-gap") == "true"
    assert "duty-room-gap" in (await zhaolin.get_attribute("class") or "")
    text = await zhaolin.inner_text()
    assert "有空档" in text
    assert "无人在岗" in text
    # In colour too: the gap's border is the scheme's "bad" colour, a covered room's is not.
    assert await zhaolin.evaluate(BORDER_JS) == await page.evaluate(BAD_JS)
    assert await daoli.evaluate(BORDER_JS) != await page.evaluate(BAD_JS)
    assert "1 个值班室有空档" in await page.inner_text("#duty-summary")
    # A township without a roster is no gap: its incidents climb to the district.
    xinyang = page.locator('section.duty-room[data-org="harbin.daoli.xinyang"]')
    assert await xinyang.get_attribute("data-gap") == "false"
    assert "无值班表" in await xinyang.inner_text()

    rows = page.locator("#duty-mine-table tbody tr")
    assert await rows.count() == 15
    assert "当班中" in await rows.nth(0).inner_text()
    assert "11/26 08:30" in await rows.nth(1).inner_text()
    await opened.screenshot("duty")

    await page.select_option("#lang", "en")
    await page.wait_for_selector("#duty-rooms")
    assert "Gap" in await zhaolin.inner_text()
    assert "1 duty room(s) with a gap" in await page.inner_text("#duty-summary")


async def test_an_office_token_sees_the_rooms_no_shifts_and_no_review(
    service: Service, console: OpenConsole
) -> None:
    """A reporting office's token: no person of its own, and not a role that reads reviews."""
    opened = await console(service.tokens.office_daoli, hash_="#/duty", lang="en")
    await opened.page.wait_for_selector("#duty-rooms")
    assert await opened.page.locator(".duty-room").count() == 3
    assert "not linked to a person" in await opened.page.inner_text("#duty-mine-empty")
    await show(opened, "#/review", "#review-forbidden")
    assert "may not read the review figures" in await opened.page.inner_text("#review-forbidden")
    assert await opened.page.locator("#review-figures").count() == 0


# ---------------------------------------------------------------------------- review


async def test_the_review_page_shows_the_figures_of_get_review(
    service: Service, console: OpenConsole
) -> None:
    first = await open_incident(service, grade="II", category="accident")
    await open_incident(service, grade="IV", category="public_health", org="harbin.daoli")
    await open_incident(service, grade="III", category="natural_disaster")
    await service.clock.advance(timedelta(minutes=4))
    acked = await service.client.post(
        f"/api/v1/incidents/{first}/ack", headers=service.auth(service.tokens.officer_daoli)
    )
    assert acked.status == 200, await acked.text()

    opened = await console(service.tokens.officer_daoli, hash_="#/review")
    page = opened.page
    # The default period is the last 7 days of the browser's clock; pin it to the service's.
    await page.clock.set_fixed_time(START)
    await show(opened, "#/duty", "#duty-rooms")
    await show(opened, "#/review", "#review-figures")
    assert await page.input_value("#review-from") == WEEK[0]
    assert await page.input_value("#review-to") == WEEK[1]
    assert await page.input_value("#review-org") == "harbin.daoli"

    answer = await service.client.get(
        f"/api/v1/review?org=harbin.daoli&from={WEEK[0]}&to={WEEK[1]}",
        headers=service.auth(service.tokens.officer_daoli),
    )
    expected = dict(flatten(await answer.json()))
    assert expected["incidents"] == 3
    assert expected["time_to_acknowledge.p50_s"] == 240
    shown: dict[str, str] = await page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('[data-figure]')]"
        ".map((el) => [el.dataset.figure, el.dataset.value]))"
    )
    # Grades and categories with no incident are shown as 0; everything the API has is shown.
    for name, value in shown.items():
        if name not in expected:  # a grade or category without incidents, shown as 0
            assert name.startswith(("by_grade.", "by_category.")), name
            assert value == "0", name
            continue
        want = expected[name]
        assert value == "" if want is None else float(value) == want, (name, value, want)
    reported = {
        name
        for name, value in expected.items()
        if name.split(".")[0]
        in (
            "by_grade",
            "by_category",
            "time_to_acknowledge",
            "time_to_report_up",
            "time_to_resolve",
            "by_org",
            "escalation_levels",
            "failed_pages",
            "supervision",
        )
        or name in ("incidents", "late", "missing", "omitted_items")
    }
    assert reported <= set(shown), reported - set(shown)
    assert "4分00秒" in await page.inner_text("#review-times-table")
    assert await page.locator("#review-figures svg.review-chart").count() == 4

    # The printable report of the same period, opened with the session cookie.
    href = await page.get_attribute("#review-report-html", "href")
    assert href is not None
    assert f"from={WEEK[0]}" in href
    report = await page.request.get(f"{opened.base}{href}")
    assert report.status == 200
    assert "text/html" in report.headers["content-type"]

    # Another period through the form: the address keeps it, the figures follow.
    await page.fill("#review-from", "2026-11-01")
    await page.fill("#review-to", "2026-11-18")
    await page.click("#review-show")
    await page.wait_for_function("location.hash === '#/review/harbin.daoli/2026-11-01/2026-11-18'")
    await page.wait_for_selector('#review-figures [data-figure="incidents"][data-value="0"]')

    await show(opened, f"#/review/harbin.daoli/{WEEK[0]}/{WEEK[1]}", "#review-figures")
    await opened.screenshot("review")


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_the_duty_and_review_pages_have_enough_contrast(
    service: Service, console: OpenConsole, scheme: str
) -> None:
    """Text at least 4.5:1 against what is behind it, in both colour schemes, gaps included."""
    created = await service.client.post(
        "/api/v1/rosters",
        json={"org": "harbin.daoli.zhaolin", "name": "兆麟街道值班表"},
        headers=service.auth(service.tokens.leader_daoli),
    )
    assert created.status == 201
    await open_incident(service, grade="I")
    await open_incident(service, grade="II", category="public_health")
    opened = await console(service.tokens.officer_daoli, hash_="#/board")
    await opened.page.emulate_media(color_scheme=scheme)
    for hash_, ready in [
        ("#/duty", ".duty-room-gap"),
        (f"#/review/harbin.daoli/{WEEK[0]}/{WEEK[1]}", "#review-figures"),
    ]:
        await show(opened, hash_, ready)
        assert await opened.page.evaluate(CONTRAST_JS) == [], (scheme, hash_)


# ---------------------------------------------------------------------------- every page


async def pages_of(service: Service) -> list[tuple[str, str]]:
    """Every page of the console (route, element that says it has loaded)."""
    incident = await open_incident(service)
    return [
        ("#/board", "#view h1"),
        (f"#/incident/{incident}", "#view h1"),
        ("#/duty", "#duty-rooms"),
        ("#/review", "#review-figures"),
        ("#/supervision", "#sup-unit h2"),
    ]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_every_page_is_translated(service: Service, console: OpenConsole, lang: str) -> None:
    routes = await pages_of(service)
    opened = await console(service.tokens.officer_daoli, lang=lang, hash_="#/duty")
    for hash_, ready in routes:
        await show(opened, hash_, ready)
        assert await opened.missing_strings() == [], hash_
        if lang == "en":
            assert await opened.page.evaluate(CJK_JS) == [], hash_
        else:  # the walk does see text: in Chinese it finds plenty
            assert await opened.page.get_attribute("html", "lang") == "zh-CN"
            assert await opened.page.evaluate(CJK_JS) != [], hash_


async def test_every_page_is_labelled_and_reachable_by_keyboard(
    service: Service, console: OpenConsole
) -> None:
    routes = await pages_of(service)
    opened = await console(service.tokens.officer_daoli, hash_="#/duty")
    page = opened.page
    main_actions = {
        "#/duty": ["#duty-refresh"],
        "#/review": [
            "#review-from",
            "#review-to",
            "#review-org",
            "#review-show",
            "#review-report-html",
        ],
    }
    for hash_, ready in routes:
        await show(opened, hash_, ready)
        found = await page.evaluate(A11Y_JS)
        assert found == {"unlabelled": [], "nameless": [], "h1": 1, "positiveTabindex": []}, hash_
        # Tab from the skip link at the top: the bar, then the page's actions, in reading order.
        await page.evaluate("() => { window.__dwLastFocus = null; }")
        await page.focus("a.skip")
        reached = [(await page.evaluate(FOCUS_JS, False))["key"]]
        for _ in range(60):
            await page.keyboard.press("Tab")
            focus = await page.evaluate(FOCUS_JS, True)
            if focus["key"] == reached[-1]:
                continue  # a date field's day, month and year parts
            if focus["key"] is None or focus["key"] in reached:
                break
            assert focus["after"], f"{hash_}: focus went back to {focus['key']}"
            reached.append(focus["key"])
        nav = {
            f"a[{link}]"
            for link in await page.eval_on_selector_all(
                "#bar nav a", "(links) => links.map((a) => a.getAttribute('href'))"
            )
        }
        assert nav | {"#lang", "#logout"} <= set(reached), (hash_, reached)
        wanted = main_actions.get("#/" + hash_.split("/")[1], [])
        assert [key for key in reached if key in wanted] == wanted, (hash_, reached)


@pytest.mark.parametrize("viewport", [(390, 844), (2560, 1440)], ids=["phone", "wall"])
async def test_every_page_fits_a_phone_and_a_wall_display(
    service: Service, console: OpenConsole, viewport: tuple[int, int]
) -> None:
    routes = await pages_of(service)
    opened = await console(service.tokens.officer_daoli, hash_="#/duty", viewport=viewport)
    for hash_, ready in routes:
        await show(opened, hash_, ready)
        width = await opened.page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert width[0] <= width[1], (hash_, width)
