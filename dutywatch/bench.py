"""`dutywatch bench`: publish reports against a running service and measure report -> page.

Latency is measured from just before a report is published to the moment its page
arrives on ``dutywatch.notify.>``; both ends are in this process, on one clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
from nats.aio.msg import Msg


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kib = int(f.readline().split()[1])
            mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{platform.node()}: {os.cpu_count()} cores ({cpu}){mem}, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def durability(database_url: str | None, js: Any | None, prefix: str) -> list[str]:
    lines = []
    if database_url:
        import asyncpg

        conn = await asyncpg.connect(database_url)
        try:
            sync = await conn.fetchval("SHOW synchronous_commit")
            fsync = await conn.fetchval("SHOW fsync")
        finally:
            await conn.close()
        lines.append(f"PostgreSQL synchronous_commit={sync}, fsync={fsync}")
    else:
        lines.append("PostgreSQL settings: pass --database-url to print them")
    if js is None:
        return lines
    try:
        info = await js.stream_info(f"{prefix}REPORTS")
        notify = await js.stream_info(f"{prefix}NOTIFY")
        lines.append(
            f"JetStream REPORTS replicas={info.config.num_replicas}, "
            f"NOTIFY replicas={notify.config.num_replicas}, storage={info.config.storage}"
        )
    except Exception as exc:  # the figure is informative only; say why it is missing
        lines.append(f"JetStream stream info unavailable: {exc!r}")
    lines.append(
        "JetStream sync_interval: as configured on the server (nats-server default: 2 min; "
        "`dutywatch up` uses the default)"
    )
    return lines


async def run_bench(  # noqa: PLR0915 - one linear script: set up, publish, wait, print
    *,
    nats_url: str,
    database_url: str | None,
    reports: int,
    rate: float,
    org: str,
    timeout: float,
) -> int:
    subject_prefix = os.environ.get("DUTYWATCH_SUBJECT_PREFIX", "dutywatch")
    stream_prefix = os.environ.get("DUTYWATCH_STREAM_PREFIX", "")
    run_id = uuid.uuid4().hex[:8]
    sent: dict[int, float] = {}
    received: dict[int, float] = {}
    done = asyncio.Event()
    marker = f"bench {run_id} #"

    async def on_page(msg: Msg) -> None:
        now = time.perf_counter()
        try:
            title = json.loads(msg.data)["title"]
        except (ValueError, KeyError):
            return
        if title.startswith(marker):
            index = int(title[len(marker) :])
            received.setdefault(index, now)
            if len(received) >= reports:
                done.set()

    nc = await nats.connect(nats_url, max_reconnect_attempts=-1)
    js = nc.jetstream()
    await nc.subscribe(f"{subject_prefix}.notify.>", cb=on_page)
    await nc.flush()

    def body(i: int) -> tuple[str, bytes]:
        report_id = str(uuid.uuid4())
        now = datetime.now(UTC).isoformat()
        payload = {
            "schema": "dutywatch.report.v1",
            "report_id": report_id,
            "incident_ref": f"bench-{run_id}-{i}",
            "org": org,
            "stage": "first",
            "grade": "IV",
            "category": "accident",
            "title": f"{marker}{i}",
            "occurred_at": now,
            "reported_at": now,
            "status": "test",
            "reporter": {"name": "bench"},
        }
        return report_id, json.dumps(payload).encode()

    print(f"machine: {machine()}")
    for line in await durability(database_url, js, stream_prefix):
        print(line)
    print(f"publishing {reports} reports at {rate:g}/s to {subject_prefix}.report.{org} ...")
    interval = 1.0 / rate
    in_flight: set[asyncio.Task[Any]] = set()
    start = time.perf_counter()
    for i in range(reports):
        target = start + i * interval
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        report_id, data = body(i)
        sent[i] = time.perf_counter()
        task = asyncio.create_task(
            js.publish(
                f"{subject_prefix}.report.{org}",
                data,
                headers={"Nats-Msg-Id": report_id},
                timeout=30,
            )
        )
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        if i and i % max(1, reports // 10) == 0:
            print(f"  {i}/{reports} published, {len(received)} pages back", flush=True)
    publish_done = time.perf_counter()
    await asyncio.gather(*in_flight)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout=timeout)
    await nc.close()

    latencies = sorted((received[i] - sent[i]) * 1000 for i in received if i in sent)
    if not received:
        print("no pages arrived: is the service running, with a roster for the organisation?")
        return 1
    last = max(received.values())
    offered = reports / (publish_done - start)
    achieved = len(received) / (last - start)
    print(f"offered:    {offered:,.0f} reports/s")
    print(f"achieved:   {achieved:,.0f} reports/s end to end ({len(received)}/{reports} paged)")
    print(
        "latency report->page: "
        f"p50 {percentile(latencies, 50):.1f} ms, p95 {percentile(latencies, 95):.1f} ms, "
        f"p99 {percentile(latencies, 99):.1f} ms, max {latencies[-1]:.1f} ms"
    )
    return 0 if len(received) == reports else 1


TIMER_BENCH_SQL = """
WITH made AS (
    INSERT INTO incidents (
        org_path, incident_ref, state, grade, category, title, status, occurred_at, opened_at,
        last_report_at, policy_version, policy_started_at, policy_fired
    )
    SELECT $1, $2 || '-' || n, 'open', 'IV', 'accident', 'bench timer ' || n, 'test',
           now(), now(), now(), $7, d.due - $3::interval, 1
    FROM generate_series(1, $4) AS n,
         LATERAL (SELECT now() + $5::interval + (n - 1) * $6::interval AS due) AS d
    RETURNING id, policy_started_at
), alerted AS (
    -- The origin duty room's alert, its first step (the duty officer) already paged.
    INSERT INTO alerts (
        incident_id, org_path, opened_reason, policy_ref, started_at, cursor_repeat,
        cursor_step, created_at
    )
    SELECT id, $1, 'incident_opened', $7, policy_started_at, 0, 1, now() FROM made
    RETURNING id, incident_id, started_at
)
INSERT INTO timers (incident_id, kind, step, due_at, created_at, alert_id)
SELECT incident_id, 'escalation', 1, started_at + $3::interval, now(), id FROM alerted
"""


async def run_timer_bench(
    *, database_url: str, pending: int, due: int, spread: float, org: str, ack_timeout: float
) -> int:
    """Measure how late timers fire while ``pending`` others wait, against a running service.

    ``due`` timers fall due evenly over ``spread`` seconds starting 3 s from now; ``pending``
    more fall due tomorrow. The running service's scheduler fires them; lateness is the time
    from ``due_at`` to the claim (``fired_at``), both on the same host's clock.
    """
    import asyncpg

    from dutywatch.contracts import Grade
    from dutywatch.escalation.policy import default_policy

    run_id = uuid.uuid4().hex[:8]
    timeout = timedelta(seconds=ack_timeout)
    policy_ref = default_policy(org, Grade.IV, ack_timeout=timeout).ref
    conn = await asyncpg.connect(database_url)
    try:
        print(f"machine: {machine()}")
        for line in await durability(database_url, None, ""):
            if line.startswith("PostgreSQL"):
                print(line)
        print(f"creating {pending:,} timers due tomorrow ...", flush=True)
        for start in range(0, pending, 20_000):
            count = min(20_000, pending - start)
            await conn.execute(
                TIMER_BENCH_SQL,
                org,
                f"bench-{run_id}-p{start}",
                timeout,
                count,
                timedelta(days=1),
                timedelta(0),
                policy_ref,
            )
        before = await conn.fetchval(
            "SELECT count(*) FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL"
        )
        print(f"{before:,} timers pending; {due:,} more fall due over the next {spread:g} s")
        step = timedelta(seconds=spread / max(due, 1))
        await conn.execute(
            TIMER_BENCH_SQL,
            org,
            f"bench-{run_id}-d",
            timeout,
            due,
            timedelta(seconds=3),
            step,
            policy_ref,
        )
        await conn.execute("SELECT pg_notify('dutywatch_timers', '')")
        deadline = time.monotonic() + spread + 60
        fired = 0
        while time.monotonic() < deadline:
            fired = await conn.fetchval(
                """SELECT count(*) FROM timers t JOIN incidents i ON i.id = t.incident_id
                   WHERE i.incident_ref LIKE $1 AND t.fired_at IS NOT NULL""",
                f"bench-{run_id}-d-%",
            )
            if fired >= due:
                break
            await asyncio.sleep(1)
        rows = await conn.fetch(
            """SELECT extract(epoch FROM t.fired_at - t.due_at) * 1000 AS late_ms
               FROM timers t JOIN incidents i ON i.id = t.incident_id
               WHERE i.incident_ref LIKE $1 AND t.fired_at IS NOT NULL""",
            f"bench-{run_id}-d-%",
        )
    finally:
        await conn.close()
    late = sorted(float(r["late_ms"]) for r in rows)
    if not late:
        print("no timer fired: is `dutywatch serve` (or `up`) running against this database?")
        return 1
    print(f"fired:      {len(late):,}/{due:,} due timers")
    print(
        "late past due: "
        f"p50 {percentile(late, 50):.1f} ms, p95 {percentile(late, 95):.1f} ms, "
        f"p99 {percentile(late, 99):.1f} ms, max {late[-1]:.1f} ms"
    )
    return 0 if len(late) == due else 1
