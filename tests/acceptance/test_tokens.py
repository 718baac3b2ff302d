"""API tokens end to end: `dutywatch token create|list|revoke` as real processes, hashes under
the server's key, tokens stored before the key still working, and per-token rate limits."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from dutywatch.config import Settings
from tests.acceptance.conftest import Service

KEY = "k" * 16 + "server-key-for-tests-0123456789"
RATE, BURST = 2.0, 4


@pytest.fixture
def service_settings(service_settings: Settings) -> Settings:
    """This module's service hashes tokens under a key and allows few requests per token."""
    return service_settings.with_(token_key=KEY.encode(), rate_limit=RATE, rate_burst=BURST)


async def dutywatch(service: Service, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "DUTYWATCH_DATABASE_URL": service.settings.database_url,
        "DUTYWATCH_TOKEN_KEY": KEY,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dutywatch",
        "token",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_token_is_created_shown_once_listed_and_revoked(service: Service) -> None:
    code, out, err = await dutywatch(
        service, "create", "--role", "reviewer", "--org", "harbin.daoli", "--label", "审计-王"
    )
    assert code == 0, err
    token = out.strip()
    assert token.startswith("dw_")
    [row] = await service.sql(
        "SELECT id, token_hash, keyed, expires_at FROM api_tokens WHERE label = '审计-王'"
    )
    assert row["keyed"] is True
    assert token.encode() not in bytes(row["token_hash"])
    assert row["expires_at"] is not None, "a year by default"

    response = await service.client.get(
        "/api/v1/incidents?org=harbin.daoli", headers=service.auth(token)
    )
    assert response.status == 200, await response.text()

    code, out, _ = await dutywatch(service, "list", "--org", "harbin.daoli")
    assert code == 0
    assert "审计-王" in out
    assert token not in out

    code, out, _ = await dutywatch(service, "revoke", str(row["id"]))
    assert (code, out.strip()) == (0, f"token {row['id']} revoked")
    code, out, _ = await dutywatch(service, "revoke", str(row["id"]))
    assert "already revoked" in out
    response = await service.client.get("/api/v1/incidents", headers=service.auth(token))
    assert response.status == 401
    assert "revoked" in (await response.json())["detail"]


async def test_the_token_commands_refuse_bad_input_clearly(service: Service) -> None:
    code, _, err = await dutywatch(service, "create", "--role", "leader", "--org", "nowhere")
    assert code != 0
    assert "nowhere" in err
    code, _, err = await dutywatch(service, "revoke", "999999")
    assert code != 0
    assert "token list" in err


async def test_tokens_stored_before_the_key_still_work(service: Service) -> None:
    [row] = await service.sql("SELECT keyed FROM api_tokens WHERE label = 'demo-officer-li-na'")
    assert row["keyed"] is False
    response = await service.client.get(
        "/api/v1/incidents", headers=service.auth(service.tokens.officer_daoli)
    )
    assert response.status == 200


async def test_a_token_over_its_rate_gets_429_with_retry_after(service: Service) -> None:
    headers = service.auth(service.tokens.officer_daoli)
    statuses = []
    for _ in range(BURST + 2):
        response = await service.client.get("/api/v1/incidents", headers=headers)
        statuses.append(response.status)
    assert statuses[:BURST] == [200] * BURST
    assert statuses[-1] == 429
    assert int(response.headers["Retry-After"]) >= 1
    # Another token is not held back by this one.
    other = await service.client.get(
        "/api/v1/incidents", headers=service.auth(service.tokens.leader_daoli)
    )
    assert other.status == 200


async def test_an_address_that_keeps_failing_authentication_is_slowed(service: Service) -> None:
    statuses = []
    for attempt in range(25):
        response = await service.client.get(
            "/api/v1/incidents", headers=service.auth(f"dw_guess{attempt:040d}")
        )
        statuses.append(response.status)
    assert set(statuses[:20]) == {401}
    assert statuses[-1] == 429
    assert "Retry-After" in response.headers
    # A valid token from the same address is not held back by the guesses.
    ok = await service.client.get(
        "/api/v1/incidents", headers=service.auth(service.tokens.leader_daoli)
    )
    assert ok.status == 200
