"""The console's session cookies when people reach the service over HTTPS through a proxy."""

from __future__ import annotations

import pytest

from dutywatch.config import Settings
from tests.acceptance.conftest import Service


@pytest.fixture
def service_settings(service_settings: Settings) -> Settings:
    # TLS ends at the proxy: the service itself is spoken to in plain HTTP, as in the test.
    return service_settings.with_(public_url="https://duty.example.gov.cn")


async def test_cookies_are_secure_when_the_public_url_is_https(service: Service) -> None:
    response = await service.client.post(
        "/console/session", json={"token": service.tokens.officer_daoli}
    )
    assert response.status == 200, await response.text()
    cookies = response.headers.getall("Set-Cookie")
    assert len(cookies) == 2
    for cookie in cookies:
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert "secure" in attributes, cookie
        assert "samesite" in attributes, cookie
    session = next(c for c in cookies if c.startswith("dw_session="))
    assert "HttpOnly" in session


async def test_a_token_in_the_body_is_needed_and_a_bad_one_is_refused(service: Service) -> None:
    malformed = await service.client.post("/console/session", data=b"token=abc")
    assert malformed.status == 400
    unknown = await service.client.post("/console/session", json={"token": "not-a-token"})
    assert unknown.status == 401
    assert "Set-Cookie" not in unknown.headers
