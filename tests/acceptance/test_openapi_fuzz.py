"""Schemathesis against the running service and contracts/openapi.yaml (issue 7, fuzzing):
for every documented operation, generated requests (valid and invalid) get no 5xx and every
answer matches the document (status documented, body valid against its schema)."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import pytest

from dutywatch.config import Settings
from tests.acceptance.conftest import Service

OPENAPI = Path(__file__).parents[2] / "contracts" / "openapi.yaml"


@pytest.fixture
def service_settings(service_settings: Settings) -> Settings:
    """The fuzzer makes thousands of requests with one token: no rate limit here."""
    return service_settings.with_(rate_limit=1e6, rate_burst=1_000_000)


async def test_no_5xx_and_every_answer_matches_the_document(
    service: Service, tmp_path: Path
) -> None:
    executable = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert executable, "schemathesis is a test dependency: pip install -e '.[test]'"
    url = str(service.client.server.make_url("")).rstrip("/")
    process = await asyncio.create_subprocess_exec(
        executable,
        "run",
        str(OPENAPI),
        "--url",
        url,
        "--header",
        f"Authorization: Bearer {service.tokens.admin}",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance",
        "--phases",
        "examples,fuzzing",
        "--max-examples",
        "8",
        "--seed",
        "20261125",
        "--generation-deterministic",
        "--request-timeout",
        "20",
        "--workers",
        "1",
        # An administrator's stream of every incident event never ends: nothing to check
        # in a response that does not finish (tests/acceptance/test_board_api.py covers it).
        "--exclude-path",
        "/api/v1/incidents/live",
        "--report-dir",
        str(tmp_path),
        cwd=tmp_path,  # its cache goes there, not into the checkout
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    text = out.decode(errors="replace")
    (tmp_path / "schemathesis.txt").write_text(text, encoding="utf-8")
    assert process.returncode == 0, text[-20000:]
