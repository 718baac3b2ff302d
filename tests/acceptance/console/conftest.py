"""The console in a real browser: headless Chromium (Debian's ``chromium`` package) driven by
Playwright for Python, against the acceptance ``service`` (real PostgreSQL, real NATS, the
service listening on a real port).

Chromium comes from the machine, never from a download: ``DUTYWATCH_TEST_CHROMIUM`` names the
binary, else ``/usr/bin/chromium``. When it is missing the tests fail and say how to install it
(``.ci/run`` installs it with apt on a fresh machine).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.acceptance.conftest import Service

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
#: Chromium as the machine's probe runs it: no sandbox (root in a container), no GPU, and no
#: background traffic to Google's hosts, which this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = (
        os.environ.get("DUTYWATCH_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    )
    if not Path(path).exists():
        pytest.fail(
            f"no Chromium at {path}: install Debian's package (apt-get install chromium "
            "fonts-noto-cjk) or set DUTYWATCH_TEST_CHROMIUM to a Chromium binary",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One Chromium for the whole run (each test has its own context: cookies, storage)."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Console:
    """One person's console: a browser context (its own cookies) on the service."""

    page: Page
    context: BrowserContext
    base: str
    #: Uncaught script errors of the page; the fixture fails the test on any.
    page_errors: list[str] = field(default_factory=list)

    async def open(self, token: str, *, lang: str = "zh-CN", hash_: str = "#/board") -> None:
        await self.context.add_init_script(f"localStorage.setItem('dw.lang', '{lang}')")
        await self.page.goto(f"{self.base}/console/{hash_}")
        await self.page.wait_for_selector("body[data-ready=true]")
        await self.page.fill("#token", token)
        await self.page.click("#login-form button[type=submit]")
        await self.page.wait_for_selector("#bar:not([hidden])")

    async def missing_strings(self) -> list[str]:
        """Keys a page asked for that no catalogue holds, and keys in one language only."""
        missing: list[str] = await self.page.evaluate("[...window.__dwMissing]")
        gaps: list[str] = await self.page.evaluate("window.__dwCatalogueGaps()")
        return missing + gaps

    async def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=False)
        return path


OpenConsole = Callable[..., Awaitable[Console]]


@pytest.fixture
async def console(browser: Browser, service: Service) -> AsyncIterator[OpenConsole]:
    """``await console(token, lang=..., viewport=...)``: a signed-in console page."""
    consoles: list[Console] = []
    base = str(service.client.make_url("")).rstrip("/")

    async def open_console(
        token: str,
        *,
        lang: str = "zh-CN",
        hash_: str = "#/board",
        viewport: tuple[int, int] = (1400, 900),
    ) -> Console:
        context = await browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]},
            locale=lang,
            timezone_id="Asia/Shanghai",
        )
        page = await context.new_page()
        opened = Console(page=page, context=context, base=base)
        page.on("pageerror", lambda exc: opened.page_errors.append(str(exc)))
        consoles.append(opened)
        await opened.open(token, lang=lang, hash_=hash_)
        return opened

    yield open_console
    errors = [e for opened in consoles for e in opened.page_errors]
    for opened in consoles:
        with contextlib.suppress(Exception):
            await opened.context.close()
    assert errors == [], "the console raised script errors"
