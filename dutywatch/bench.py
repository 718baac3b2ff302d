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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.aio.client import Client
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


@dataclass
class Run:
    """One offered load: what was published, what came back paged, and how fast."""

    reports: int
    offered: float
    achieved: float
    #: report -> page latency of each paged report, in ms, sorted.
    latencies: list[float]
    #: The incident each paged report opened, in report order.
    incidents: list[int] = field(default_factory=list)

    @property
    def paged(self) -> int:
        return len(self.latencies)

    def line(self) -> str:
        return (
            f"p50 {percentile(self.latencies, 50):.1f} ms, "
            f"p95 {percentile(self.latencies, 95):.1f} ms, "
            f"p99 {percentile(self.latencies, 99):.1f} ms, "
            f"max {self.latencies[-1] if self.latencies else float('nan'):.1f} ms"
        )


@dataclass(frozen=True)
class Target:
    """Where the service under test listens."""

    nc: Client
    subject_prefix: str = "dutywatch"
    stream_prefix: str = ""
    org: str = "harbin.daoli"


def _report(run_id: str, marker: str, org: str, i: int) -> tuple[str, bytes]:
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


async def offer_reports(
    target: Target, *, reports: int, rate: float, timeout: float, progress: bool = True
) -> Run:
    """Publish ``reports`` first reports at ``rate``/s; time each until its page is out.

    Each bench report has its own ``incident_ref``, so each opens an incident and pages the
    duty officer once; the page is recognised by the report's title.
    """
    run_id = uuid.uuid4().hex[:8]
    marker = f"bench {run_id} #"
    sent: dict[int, float] = {}
    received: dict[int, tuple[float, int]] = {}
    done = asyncio.Event()

    async def on_page(msg: Msg) -> None:
        now = time.perf_counter()
        try:
            page = json.loads(msg.data)
            title, incident_id = page["title"], int(page["incident_id"])
        except (ValueError, KeyError, TypeError):
            return
        if title.startswith(marker):
            received.setdefault(int(title[len(marker) :]), (now, incident_id))
            if len(received) >= reports:
                done.set()

    nc, js = target.nc, target.nc.jetstream()
    sub = await nc.subscribe(f"{target.subject_prefix}.notify.>", cb=on_page)
    await nc.flush()
    subject = f"{target.subject_prefix}.report.{target.org}"
    interval = 1.0 / rate
    in_flight: set[asyncio.Task[Any]] = set()
    start = time.perf_counter()
    try:
        for i in range(reports):
            delay = start + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            report_id, data = _report(run_id, marker, target.org, i)
            sent[i] = time.perf_counter()
            task = asyncio.create_task(
                js.publish(subject, data, headers={"Nats-Msg-Id": report_id}, timeout=30)
            )
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            if progress and i and i % max(1, reports // 10) == 0:
                print(f"  {i}/{reports} published, {len(received)} pages back", flush=True)
        publish_done = time.perf_counter()
        await asyncio.gather(*in_flight)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=timeout)
    finally:
        await sub.unsubscribe()
    last = max((at for at, _ in received.values()), default=start)
    return Run(
        reports=reports,
        offered=reports / max(publish_done - start, 1e-9),
        achieved=len(received) / max(last - start, 1e-9),
        latencies=sorted((at - sent[i]) * 1000 for i, (at, _) in received.items()),
        incidents=[received[i][1] for i in sorted(received)],
    )


def _process_tree(root: int) -> list[tuple[int, str, float]]:
    """(pid, name, CPU seconds) of ``root`` and every descendant, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                raw = f.read()
        except OSError:
            continue  # gone meanwhile
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2 :].split()
        # Fields after the name: state, ppid, ... utime (12th), stime (13th).
        stats[int(entry)] = (int(rest[1]), name, (int(rest[11]) + int(rest[12])) / ticks)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            tree.append((pid, stats[pid][1], stats[pid][2]))
            todo += [child for child, (ppid, _, _) in stats.items() if ppid == pid]
    return tree


class CpuMeter:
    """CPU seconds used by a process and its children (``dutywatch up``: PostgreSQL and
    nats-server too) between two readings. Other work sharing the machine inflates latency
    and deflates throughput, but hardly this: it is the cost per report, wherever it runs."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self._start: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        if self.pid is None:
            return {}
        totals: dict[str, float] = {}
        for pid, name, seconds in _process_tree(self.pid):
            key = "service" if pid == self.pid else name
            totals[key] = totals.get(key, 0.0) + seconds
        return totals

    def start(self) -> None:
        self._start = self._read()

    def lines(self, reports: int) -> list[str]:
        if self.pid is None or not reports:
            return []
        used = self._read()
        return [
            f"cpu {name}: {(secs - self._start.get(name, 0.0)) / reports * 1000:.2f} ms/report"
            for name, secs in sorted(used.items(), key=lambda kv: kv[0] != "service")
        ]


def rss(pid: int) -> tuple[int, int]:
    """(resident, peak resident) bytes of a process, from /proc."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (the 2 cores may be shared)"


async def _header(target: Target, database_url: str | None) -> None:
    print(f"machine: {machine()}")
    print(load_average())
    for line in await durability(database_url, target.nc.jetstream(), target.stream_prefix):
        print(line)


async def run_bench(
    target: Target,
    *,
    database_url: str | None,
    reports: int,
    rate: float,
    timeout: float,
    service_pid: int | None = None,
) -> int:
    """Offer one load and print report -> page throughput and latency."""
    await _header(target, database_url)
    print(
        f"publishing {reports} reports at {rate:g}/s to {target.subject_prefix}.report.{target.org}"
    )
    cpu = CpuMeter(service_pid)
    cpu.start()
    run = await offer_reports(target, reports=reports, rate=rate, timeout=timeout)
    if not run.paged:
        print("no pages arrived: is the service running, with a roster for the organisation?")
        return 1
    print(f"offered:    {run.offered:,.0f} reports/s")
    print(f"achieved:   {run.achieved:,.0f} reports/s end to end ({run.paged}/{reports} paged)")
    print(f"latency report->page: {run.line()}")
    for line in cpu.lines(reports):
        print(line)
    print(load_average())
    return 0 if run.paged == reports else 1


async def run_sustained(
    target: Target,
    *,
    database_url: str | None,
    start_rate: float,
    max_rate: float,
    seconds: float,
    timeout: float,
    service_pid: int | None = None,
) -> int:
    """Offer doubling rates for ``seconds`` each until the service falls behind.

    The achieved rate of the first step it cannot keep up with (end to end, pages out, the
    backlog drained) is its sustained capacity; below it, achieved follows offered.
    """
    await _header(target, database_url)
    print(f"| offered | achieved end to end | p50 | p99 | {'cpu ms/report | ' * bool(service_pid)}")
    rate, best, saturated = start_rate, 0.0, False
    while rate <= max_rate:
        reports = max(1, round(rate * seconds))
        cpu = CpuMeter(service_pid)
        cpu.start()
        run = await offer_reports(
            target, reports=reports, rate=rate, timeout=timeout, progress=False
        )
        costs = ", ".join(line.removeprefix("cpu ") for line in cpu.lines(reports))
        print(
            f"| {run.offered:,.0f}/s ({reports:,}) | {run.achieved:,.0f}/s ({run.paged:,} paged) "
            f"| {percentile(run.latencies, 50):,.1f} ms | {percentile(run.latencies, 99):,.1f} ms "
            f"| {costs + ' |' if costs else ''}",
            flush=True,
        )
        if run.paged < reports:
            print(f"only {run.paged} of {reports} paged within {timeout:g} s: stopping")
            saturated = True
            break
        best = max(best, run.achieved)
        if run.achieved < 0.9 * run.offered:
            saturated = True
            break
        rate *= 2
    verdict = "saturated" if saturated else f"kept up with every step up to {max_rate:g}/s"
    print(f"sustained end to end: {best:,.0f} reports/s ({verdict})")
    print(load_average())
    return 0


async def run_ack_bench(
    target: Target,
    *,
    database_url: str | None,
    incidents: int,
    rate: float,
    token: str,
    timeout: float,
) -> int:
    """Acknowledge freshly opened incidents over ``dutywatch.cmd.ack``; time each.

    Two figures per acknowledgement: until the reply, which the service sends after the
    transaction that cancelled the origin alert's escalation timers committed (escalation
    stopped), and until the ``acknowledged`` event is out on the EVENTS stream (visible).
    """
    await _header(target, database_url)
    print(f"opening {incidents} incidents through the intake ...", flush=True)
    opened = await offer_reports(
        target, reports=incidents, rate=min(rate, 200.0), timeout=timeout, progress=False
    )
    if opened.paged < incidents:
        print(f"only {opened.paged} of {incidents} incidents paged: is the service running?")
        return 1
    nc = target.nc
    seen: dict[int, float] = {}
    all_seen = asyncio.Event()

    async def on_event(msg: Msg) -> None:
        now = time.perf_counter()
        with contextlib.suppress(ValueError, KeyError, TypeError):
            event = json.loads(msg.data)
            if event["kind"] == "acknowledged":
                seen.setdefault(int(event["incident_id"]), now)
                if len(seen) >= len(opened.incidents):
                    all_seen.set()

    # Every incident event matches; this bench opens first, so its incidents' events only.
    sub = await nc.subscribe(f"{target.subject_prefix}.event.>", cb=on_event)
    await nc.flush()
    asked: dict[int, float] = {}
    replied: dict[int, float] = {}
    failures: list[str] = []
    interval = 1.0 / rate
    start = time.perf_counter()
    for n, incident_id in enumerate(opened.incidents):
        delay = start + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        command = {
            "schema": "dutywatch.cmd.ack.v1",
            "command_id": str(uuid.uuid4()),
            "incident_id": incident_id,
            "token": token,
        }
        asked[incident_id] = time.perf_counter()
        reply = await nc.request(
            f"{target.subject_prefix}.cmd.ack", json.dumps(command).encode(), timeout=10
        )
        replied[incident_id] = time.perf_counter()
        answer = json.loads(reply.data)
        if not answer.get("ok"):
            failures.append(
                f"incident {incident_id}: {answer.get('error')} {answer.get('message')}"
            )
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_seen.wait(), timeout=timeout)
    await sub.unsubscribe()
    if failures:
        print(f"{len(failures)} acknowledgement(s) refused, e.g. {failures[0]}")
        return 1
    stopped = sorted((replied[i] - asked[i]) * 1000 for i in asked)
    visible = sorted((seen[i] - asked[i]) * 1000 for i in asked if i in seen)
    print(f"acknowledged {len(asked)} incidents at {rate:g}/s over NATS request/reply")
    print(f"ack -> escalation stopped (committed, replied): {_quantiles(stopped)}")
    print(f"ack -> acknowledged event out ({len(visible)}/{len(asked)}): {_quantiles(visible)}")
    pending = await _pending_escalations(database_url, opened.incidents)
    if pending is not None:
        print(f"escalation timers still pending on these incidents: {pending}")
    print(load_average())
    return 0 if len(visible) == len(asked) and not pending else 1


def _quantiles(values: list[float]) -> str:
    if not values:
        return "none"
    return (
        f"p50 {percentile(values, 50):.1f} ms, p99 {percentile(values, 99):.1f} ms, "
        f"max {values[-1]:.1f} ms"
    )


async def _pending_escalations(database_url: str | None, incidents: list[int]) -> int | None:
    if not database_url:
        return None
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval(
            """SELECT count(*) FROM timers WHERE incident_id = ANY($1::bigint[])
               AND kind = 'escalation' AND fired_at IS NULL AND cancelled_at IS NULL""",
            incidents,
        )
    finally:
        await conn.close()
    return count


async def run_memory_bench(
    target: Target,
    *,
    database_url: str,
    open_incidents: int,
    service_pid: int,
    ack_timeout: float,
    timeout: float,
    through_intake: int = 1000,
    settle: float = 5.0,
) -> int:
    """The service process's memory with ``open_incidents`` open incidents in its database.

    They are seeded in bulk (each with its origin alert and a pending escalation timer,
    as the timer bench makes them), then ``through_intake`` reports go through the real
    intake, and the process's resident size is read from /proc before and after.
    """
    await _header(target, database_url)
    before, _ = rss(service_pid)
    print(f"service RSS before: {before / 2**20:,.1f} MiB", flush=True)
    await seed_open_incidents(database_url, open_incidents, org=target.org, ack_timeout=ack_timeout)
    run = await offer_reports(
        target, reports=through_intake, rate=200.0, timeout=timeout, progress=False
    )
    await asyncio.sleep(settle)  # a metrics pass and a scheduler pass over the full tables
    after, peak = rss(service_pid)
    count = await _open_count(database_url)
    print(f"open incidents in the database: {count:,} ({run.paged}/{through_intake} paged)")
    print(
        f"service RSS after: {after / 2**20:,.1f} MiB (peak {peak / 2**20:,.1f} MiB); "
        f"grew {(after - before) / 2**20:,.1f} MiB"
    )
    print(load_average())
    return 0 if run.paged == through_intake else 1


async def _open_count(database_url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM incidents WHERE state = 'open'")
    finally:
        await conn.close()
    return count


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


def _policy_ref(org: str, ack_timeout: timedelta) -> str:
    from dutywatch.contracts import Grade
    from dutywatch.escalation.policy import default_policy

    return default_policy(org, Grade.IV, ack_timeout=ack_timeout).ref


async def seed_open_incidents(
    database_url: str, count: int, *, org: str, ack_timeout: float
) -> None:
    """``count`` open grade IV test incidents, each with its origin alert (first step paged)
    and an escalation timer due tomorrow; in bulk, 20,000 to a statement."""
    import asyncpg

    run_id = uuid.uuid4().hex[:8]
    timeout = timedelta(seconds=ack_timeout)
    policy_ref = _policy_ref(org, timeout)
    conn = await asyncpg.connect(database_url)
    try:
        for start in range(0, count, 20_000):
            await conn.execute(
                TIMER_BENCH_SQL,
                org,
                f"bench-{run_id}-p{start}",
                timeout,
                min(20_000, count - start),
                timedelta(days=1),
                timedelta(0),
                policy_ref,
            )
    finally:
        await conn.close()


async def run_timer_bench(
    *, database_url: str, pending: int, due: int, spread: float, org: str, ack_timeout: float
) -> int:
    """Measure how late timers fire while ``pending`` others wait, against a running service.

    ``due`` timers fall due evenly over ``spread`` seconds starting 3 s from now; ``pending``
    more fall due tomorrow. The running service's scheduler fires them; lateness is the time
    from ``due_at`` to the claim (``fired_at``), both on the same host's clock.
    """
    import asyncpg

    run_id = uuid.uuid4().hex[:8]
    timeout = timedelta(seconds=ack_timeout)
    policy_ref = _policy_ref(org, timeout)
    print(f"machine: {machine()}")
    print(load_average())
    for line in await durability(database_url, None, ""):
        if line.startswith("PostgreSQL"):
            print(line)
    print(f"creating {pending:,} timers due tomorrow ...", flush=True)
    await seed_open_incidents(database_url, pending, org=org, ack_timeout=ack_timeout)
    conn = await asyncpg.connect(database_url)
    try:
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
