"""The console's frame: sign-in with a token, the cookies it sets, language, sign-out."""

from __future__ import annotations

from tests.acceptance.conftest import Service
from tests.acceptance.console.conftest import OpenConsole


async def test_sign_in_sets_an_http_only_session_and_sign_out_ends_it(
    service: Service, console: OpenConsole
) -> None:
    opened = await console(service.tokens.officer_daoli)
    cookies = {c["name"]: c for c in await opened.context.cookies()}
    assert cookies["dw_session"]["httpOnly"] is True
    assert cookies["dw_session"]["sameSite"] == "Strict"
    assert cookies["dw_csrf"]["httpOnly"] is False
    # Page scripts cannot read the token.
    assert "dw_session" not in await opened.page.evaluate("document.cookie")
    assert await opened.page.text_content("#who") == "li-na"

    await opened.page.click("#logout")
    await opened.page.wait_for_selector("#login:not([hidden])")
    assert "dw_session" not in {c["name"] for c in await opened.context.cookies()}
    answer = await opened.page.request.get(f"{opened.base}/console/session")
    assert answer.status == 401


async def test_a_wrong_token_is_refused_with_a_reason_on_the_page(
    service: Service, console: OpenConsole
) -> None:
    opened = await console(service.tokens.officer_daoli)
    await opened.page.click("#logout")
    await opened.page.fill("#token", "not-a-token")
    await opened.page.click("#login-form button[type=submit]")
    await opened.page.wait_for_selector("#login-error:not(:empty)")
    assert "登录失败" in (await opened.page.text_content("#login-error") or "")
    assert await opened.page.is_visible("#login")


async def test_a_cookie_without_the_csrf_header_changes_nothing(
    service: Service, console: OpenConsole
) -> None:
    """Another site can make the browser send the cookie, but not the header."""
    opened = await console(service.tokens.officer_daoli)
    answer = await opened.page.request.post(
        f"{opened.base}/api/v1/zero-reports", data={"org": "harbin.daoli"}
    )
    assert answer.status == 403
    assert "X-CSRF-Token" in (await answer.json())["detail"]


async def test_the_page_switches_language_and_every_string_is_translated(
    service: Service, console: OpenConsole
) -> None:
    opened = await console(service.tokens.officer_daoli)
    assert await opened.page.get_attribute("html", "lang") == "zh-CN"
    assert await opened.page.text_content("#logout") == "退出"
    await opened.page.select_option("#lang", "en")
    assert await opened.page.get_attribute("html", "lang") == "en"
    assert await opened.page.text_content("#logout") == "Sign out"
    assert await opened.missing_strings() == []


async def test_the_console_is_served_with_a_strict_content_security_policy(
    service: Service,
) -> None:
    answer = await service.client.get("/console/")
    assert answer.status == 200
    csp = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert '<script type="module" src="/console/static/app.js">' in await answer.text()
