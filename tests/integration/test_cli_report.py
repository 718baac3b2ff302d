"""`dutywatch report` for a person at a keyboard: asked at a terminal, refused in a script.

The command runs as a real process: once on a pseudo-terminal (the test answers its prompts)
publishing into the test's REPORTS stream on the session's nats-server, once with stdin not a
terminal.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import sys

import pytest
from nats.aio.client import Client as NatsClient

from dutywatch import bus
from dutywatch.config import Settings


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DUTYWATCH_SUBJECT_PREFIX": settings.subject_prefix,
        "PYTHONUNBUFFERED": "1",
    }


def _read_until(fd: int, wanted: bytes, seen: bytearray, timeout: float = 20.0) -> None:
    """Read the terminal until ``wanted`` appears (blocking; run in a thread)."""
    import select
    import time

    deadline = time.monotonic() + timeout
    while wanted not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {wanted!r} on the terminal; saw {bytes(seen)!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the child closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"terminal closed before {wanted!r}; saw {bytes(seen)!r}")
            seen += chunk


async def test_report_asks_for_missing_fields_at_a_terminal(
    settings: Settings, nc: NatsClient
) -> None:
    js = nc.jetstream()
    await bus.ensure_streams(js, settings)
    controller, terminal = pty.openpty()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dutywatch",
        "report",
        "--nats-url",
        settings.nats_url,
        "--summary",
        "typed at the duty desk",
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=_env(settings),
    )
    os.close(terminal)
    seen = bytearray()
    try:
        for prompt, answer in (
            (b"Organisation path", b"harbin.daoli.xinyang\n"),
            (b"Grade", b"v\n"),  # not a grade: asked again
            (b"please enter one of I, II, III, IV", b"ii\n"),
            (b"Title", b"Flooded underpass on Xinyang Road\n"),
        ):
            await asyncio.to_thread(_read_until, controller, prompt, seen)
            os.write(controller, answer)
        await asyncio.to_thread(_read_until, controller, b"published", seen)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        os.close(controller)

    sub = await js.pull_subscribe(
        settings.subject("report", ">"), stream=settings.stream("REPORTS")
    )
    (msg,) = await sub.fetch(1, timeout=5)
    report = json.loads(msg.data)
    assert msg.subject == settings.subject("report", "harbin.daoli.xinyang")
    assert (report["org"], report["grade"], report["title"]) == (
        "harbin.daoli.xinyang",
        "II",
        "Flooded underpass on Xinyang Road",
    )
    assert report["summary"] == "typed at the duty desk"


async def test_report_without_a_terminal_names_the_missing_flags(settings: Settings) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dutywatch",
        "report",
        "--grade",
        "III",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(settings),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert out == b""
    assert "missing required flags: --org, --title" in err.decode()


@pytest.mark.parametrize("answers", [["", "", "", "", ""]])
def test_prompts_give_up_after_repeated_empty_answers(answers: list[str]) -> None:
    import argparse

    from dutywatch import cli_inbound, errors

    args = argparse.Namespace(org="harbin.daoli", grade=None, title="t")
    replies = iter(answers)
    with pytest.raises(errors.RejectedInput) as caught:
        cli_inbound.fill_missing(args, interactive=True, ask=lambda _: next(replies))
    assert caught.value.fields["field"] == "grade"
