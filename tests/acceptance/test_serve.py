"""`dutywatch serve`: the production path, configured from the environment, JSON logs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg

from dutywatch import demo
from dutywatch.config import Settings
from dutywatch.embedded import free_port
from tests.acceptance.conftest import START, eventually, make_report


def test_serve_without_configuration_says_what_to_set() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUTYWATCH_")}
    result = subprocess.run(
        [sys.executable, "-m", "dutywatch", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "DUTYWATCH_DATABASE_URL is not set" in result.stderr


async def test_serve_logs_json_lines_with_the_report_ids(
    settings: Settings, database_url: str, tmp_path: Path, nc: object
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await demo.load(conn, START)
    finally:
        await conn.close()
    port = free_port()
    log_path = tmp_path / "serve.log"
    env = {
        **os.environ,
        "DUTYWATCH_DATABASE_URL": database_url,
        "DUTYWATCH_NATS_URL": settings.nats_url,
        "DUTYWATCH_SUBJECT_PREFIX": settings.subject_prefix,
        "DUTYWATCH_STREAM_PREFIX": settings.stream_prefix,
        "DUTYWATCH_HTTP": f"127.0.0.1:{port}",
    }
    with log_path.open("w") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dutywatch", "serve", env=env, stdout=log, stderr=log
        )
    try:
        report = make_report()

        async def published() -> bool:
            js = nc.jetstream()  # type: ignore[attr-defined]
            try:
                await js.stream_info(settings.stream("REPORTS"))
            except Exception:
                return False
            await js.publish(
                settings.subject("report", report["org"]),
                json.dumps(report).encode(),
                headers={"Nats-Msg-Id": report["report_id"]},
            )
            return True

        await eventually(published, timeout=30, what="serve to create its streams")

        async def accepted() -> dict | None:
            for line in log_path.read_text().splitlines():
                event = json.loads(line)  # every line is JSON
                if event.get("event") == "report_accepted":
                    return event
            return None

        event = await eventually(accepted, timeout=30, what="the report_accepted log line")
        assert event["report_id"] == report["report_id"]
        assert event["org"] == report["org"]
        assert isinstance(event["incident_id"], int)
        assert event["level"] == "info"
        assert "timestamp" in event
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 0, log_path.read_text()
