"""`dutywatch up` as a user runs it: a real process with embedded PostgreSQL and nats-server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from dutywatch.embedded import free_port


def _get(url: str, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class Up:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.http = free_port()
        self.nats_port = free_port()
        self.pg_port = free_port()
        self.proc: subprocess.Popen[str] | None = None
        self.log = data_dir.parent / "up.log"

    @property
    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    def start(self) -> None:
        with self.log.open("a") as log:
            self.proc = self._spawn(log)
        self._wait_ready()

    def _spawn(self, log: object) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dutywatch",
                "up",
                "--data-dir",
                str(self.data_dir),
                "--http",
                f"127.0.0.1:{self.http}",
                "--nats-port",
                str(self.nats_port),
                "--pg-port",
                str(self.pg_port),
            ],
            # A file, not a pipe: a full pipe would block the service mid-test.
            stdout=log,  # type: ignore[arg-type]
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"dutywatch up exited early:\n{self.output}")
            try:
                status, body = _get(f"{self.base}/readyz")
                if status == 200 and body["status"] == "ok":
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        self.stop(signal.SIGKILL)
        pytest.fail(f"dutywatch up not ready in 90 s:\n{self.output}")

    def children(self) -> list[psutil.Process]:
        assert self.proc is not None
        return psutil.Process(self.proc.pid).children(recursive=True)

    def stop(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            pytest.fail(f"dutywatch up did not stop on {sig.name}:\n{self.output}")
        return self.proc.returncode


def _gone(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running (a zombie awaiting its reaper counts as gone)."""
    alive = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_up_serves_the_demo_keeps_data_and_stops_cleanly(tmp_path: Path) -> None:
    up = Up(tmp_path / "dw")
    up.start()
    children = up.children()
    names = {p.name() for p in children}
    assert {"postgres", "nats-server"} <= names, names

    tokens = dict(
        line.split("=", 1) for line in (up.data_dir / "demo-tokens.txt").read_text().splitlines()
    )
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "dutywatch",
            "report",
            "--org",
            "harbin.daoli.xinyang",
            "--grade",
            "III",
            "--title",
            "道路塌陷",
        ],
        env={**os.environ, "DUTYWATCH_NATS_URL": f"nats://127.0.0.1:{up.nats_port}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert report.returncode == 0, report.stderr
    assert "published" in report.stdout

    deadline = time.monotonic() + 30
    incidents: list[dict] = []
    while time.monotonic() < deadline and not incidents:
        _, body = _get(f"{up.base}/api/v1/incidents", tokens["admin"])
        incidents = body.get("incidents", [])
        time.sleep(0.2)
    assert [i["title"] for i in incidents] == ["道路塌陷"]

    assert up.stop(signal.SIGINT) == 0, up.output
    assert "dutywatch is up" in up.output
    assert not _gone(children), f"left behind: {_gone(children)}"

    # Data survives a restart; SIGTERM stops it as cleanly.
    up.start()
    children = up.children()
    _, body = _get(f"{up.base}/api/v1/incidents", tokens["admin"])
    assert [i["title"] for i in body["incidents"]] == ["道路塌陷"]
    assert up.stop(signal.SIGTERM) == 0, up.output
    assert not _gone(children), f"left behind: {_gone(children)}"
