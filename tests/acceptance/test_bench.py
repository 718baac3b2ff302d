"""`dutywatch bench`'s modes against the whole service: each measures what it says it does.

No figure is asserted (timing belongs to the bench's output, not to a test); what is asserted
is that each mode's work really happened: reports paged, acknowledgements committed with the
escalation stopped, incidents seeded.
"""

from __future__ import annotations

import os

import pytest
from nats.aio.client import Client as NatsClient

from dutywatch import bench
from tests.acceptance.conftest import Service


@pytest.fixture
def target(service: Service, nc: NatsClient) -> bench.Target:
    return bench.Target(
        nc=nc,
        subject_prefix=service.settings.subject_prefix,
        stream_prefix=service.settings.stream_prefix,
        org="harbin.daoli",
    )


async def test_a_load_is_paged_report_by_report_with_the_cost_per_report(
    service: Service, target: bench.Target, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await bench.run_bench(
        target,
        database_url=service.settings.database_url,
        reports=20,
        rate=100,
        timeout=20,
        service_pid=os.getpid(),
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "(20/20 paged)" in out
    assert "cpu service:" in out
    assert "synchronous_commit=" in out
    rows = await service.sql("SELECT count(*) AS n FROM incidents WHERE title LIKE 'bench %'")
    assert rows[0]["n"] == 20


async def test_sustained_mode_steps_up_until_the_service_falls_behind_or_the_top_rate(
    service: Service, target: bench.Target, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await bench.run_sustained(
        target, database_url=None, start_rate=10, max_rate=20, seconds=1, timeout=20
    )
    out = capsys.readouterr().out
    assert code == 0
    steps = out.count("paged) |")
    assert steps in (1, 2)  # 10/s, then 20/s unless it fell behind at 10/s (a busy machine)
    assert "sustained end to end:" in out
    rows = await service.sql("SELECT count(*) AS n FROM incidents WHERE title LIKE 'bench %'")
    assert rows[0]["n"] == (10 if steps == 1 else 10 + 20)  # one second at each rate


async def test_acknowledging_stops_every_escalation_and_each_event_is_seen(
    service: Service, target: bench.Target, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await bench.run_ack_bench(
        target,
        database_url=service.settings.database_url,
        incidents=5,
        rate=20,
        token=service.tokens.officer_daoli,
        timeout=20,
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "acknowledged event out (5/5)" in out
    assert "escalation timers still pending on these incidents: 0" in out
    rows = await service.sql(
        "SELECT count(*) AS n FROM incidents "
        "WHERE title LIKE 'bench %' AND acknowledged_at IS NOT NULL"
    )
    assert rows[0]["n"] == 5


async def test_memory_mode_seeds_open_incidents_and_reads_the_service_memory(
    service: Service, target: bench.Target, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await bench.run_memory_bench(
        target,
        database_url=service.settings.database_url,
        open_incidents=300,
        service_pid=os.getpid(),
        ack_timeout=600,
        timeout=20,
        through_intake=10,
        settle=0.5,
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "service RSS after:" in out
    rows = await service.sql("SELECT count(*) AS n FROM incidents WHERE state = 'open'")
    assert rows[0]["n"] >= 310
