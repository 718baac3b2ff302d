"""Done when (issue 5, review figures): a scripted week through the real intake path gives the
figures the test computes from its own script.

The week: incidents in both districts and their townships, every grade and four categories,
acknowledgements at scripted delays (some never: their escalations climb), resolutions,
sign-offs in time and late, follow-up and final reports in time, late and never, a drill,
and pages whose delivery failed. Everything goes through the service (reports published on
NATS, acknowledgements, resolutions, sign-offs and receipts over HTTP) while the ManualClock
walks through the week from one due timer to the next.

The expected figures are computed from the script with the rules as the documentation
states them (docs/DOMAIN.md "Statutory reporting", "Review figures"), never from the database:
the database is read only to learn ids the script needs (an incident's id, a page's id) and
to wait until the service has caught up with the clock.
"""

from __future__ import annotations

import asyncio
import csv
import io
import math
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pypdf
import pytest

from dutywatch import auth
from dutywatch.config import Settings
from dutywatch.deadlines.rules import REQUIRED_AT_SIGN_OFF, FollowUpRule
from tests.acceptance.conftest import START, Inbox, Service, eventually, make_report
from tests.acceptance.test_record import run_cli

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
#: Monday 2026-11-26 00:00 in Shanghai: the reviewed week is [WEEK, WEEK + 7 days).
WEEK = datetime.fromisoformat("2026-11-25T16:00:00+00:00")
END = WEEK + timedelta(days=7)
#: The figures are read a day after the week, when every due time of the script has passed.
AS_OF = END + timedelta(days=1)
ACK_TIMEOUT = 10 * MIN  # the acceptance settings: every grade
CLIMB = 2 * ACK_TIMEOUT  # default policy: officer, leader after 10 min, parent after 10 more
FOLLOW_UP_EVERY = 12 * HOUR
FINAL_WITHIN = 12 * HOUR
#: Deadline table (project defaults): phone, written deadlines after the event (learned).
DEADLINES = {
    "I": (30 * MIN, HOUR),
    "II": (30 * MIN, HOUR),
    "III": (HOUR, HOUR),
    "IV": (2 * HOUR, 2 * HOUR),
}
TOWNSHIP_OF = {"harbin.daoli.xinyang", "harbin.daoli.zhaolin", "harbin.nangang.huayuan"}


@dataclass
class Spec:
    """One scripted incident; times are offsets from its opening."""

    org: str
    grade: str
    category: str
    at: timedelta  # opened at WEEK + at
    #: (duty room acknowledging, after)
    acks: list[tuple[str, timedelta]] = field(default_factory=list)
    resolve: timedelta | None = None
    follow_ups: list[timedelta] = field(default_factory=list)
    final: timedelta | None = None
    sign_off: timedelta | None = None
    status: str = "actual"
    #: channels of a page's failed attempts, then whether a last attempt succeeded
    failed_attempts: list[str] = field(default_factory=list)
    delivered_after: bool = False
    ref: str = field(default_factory=lambda: f"week-{uuid.uuid4().hex[:10]}")

    @property
    def opened(self) -> datetime:
        return WEEK + self.at


def ancestors_above(org: str) -> list[str]:
    parts = org.split(".")
    return [".".join(parts[:n]) for n in range(len(parts) - 1, 0, -1)]


def level(origin: str, room: str) -> int:
    return origin.count(".") - room.count(".")


SCRIPT = [
    # 1. township, acknowledged by its district in 4 minutes, signed off in time, final in time
    Spec(
        "harbin.daoli.xinyang",
        "III",
        "accident",
        9 * HOUR,
        acks=[("harbin.daoli", 4 * MIN)],
        resolve=5 * HOUR,
        final=10 * HOUR,
        sign_off=40 * MIN,
        failed_attempts=["sms", "email"],
    ),
    # 2. acknowledged after 30 minutes: the district's alert has climbed to the city; no final
    Spec(
        "harbin.daoli.zhaolin",
        "III",
        "natural_disaster",
        20 * HOUR,
        acks=[("harbin.daoli", 30 * MIN)],
        resolve=8 * HOUR,
    ),
    # 3. never acknowledged, never resolved, no follow-up: everything missing
    Spec(
        "harbin.nangang.huayuan",
        "III",
        "social_safety",
        30 * HOUR,
        failed_attempts=["sms"],
    ),
    # 4. district IV: its own room acknowledges; the city learns of it when the phone clock
    #    has run out (its alert opens then) and acknowledges late; final report late
    Spec(
        "harbin.daoli",
        "IV",
        "accident",
        40 * HOUR,
        acks=[("harbin.daoli", 3 * MIN), ("harbin", 150 * MIN)],
        resolve=6 * HOUR,
        final=20 * HOUR,
    ),
    # 5. district II: the city is told at once and acknowledges in time; signed off late
    Spec(
        "harbin.nangang",
        "II",
        "public_health",
        50 * HOUR,
        acks=[("harbin.nangang", 6 * MIN), ("harbin", 12 * MIN)],
        resolve=10 * HOUR,
        final=11 * HOUR,
        sign_off=90 * MIN,
        failed_attempts=["sms"],
        delivered_after=True,
    ),
    # 6. township I: every room up to the top at once; follow-ups in time, then late, then none
    Spec(
        "harbin.daoli.xinyang",
        "I",
        "accident",
        60 * HOUR,
        acks=[("harbin.daoli", 5 * MIN), ("harbin", 8 * MIN)],
        follow_ups=[6 * HOUR, 30 * HOUR],
        sign_off=20 * MIN,
    ),
    # 7. district IV never acknowledged: climbs to the city after 20 minutes
    Spec(
        "harbin.nangang",
        "IV",
        "natural_disaster",
        80 * HOUR,
        follow_ups=[5 * HOUR],
    ),
    # 8. district III: the city acknowledges within the hour
    Spec(
        "harbin.daoli",
        "III",
        "social_safety",
        100 * HOUR,
        acks=[("harbin.daoli", 2 * MIN), ("harbin", 45 * MIN)],
        resolve=4 * HOUR,
        final=5 * HOUR,
    ),
    # 9. township II: the city never acknowledges; no final report
    Spec(
        "harbin.daoli.zhaolin",
        "II",
        "natural_disaster",
        120 * HOUR,
        acks=[("harbin.daoli", 9 * MIN)],
        resolve=3 * HOUR,
    ),
    # 10. a drill: left out of the figures, failed page and all
    Spec(
        "harbin.daoli.xinyang",
        "III",
        "accident",
        130 * HOUR,
        status="exercise",
        failed_attempts=["sms"],
    ),
    # 11. township in the other district, acknowledged in 7 minutes
    Spec(
        "harbin.nangang.huayuan",
        "III",
        "accident",
        140 * HOUR,
        acks=[("harbin.nangang", 7 * MIN)],
        resolve=3 * HOUR,
        final=4 * HOUR,
    ),
]
#: Outside the week: before it, and on its end (the period is half-open).
OUTSIDE = [
    Spec("harbin.daoli", "IV", "accident", -6 * HOUR, acks=[("harbin.daoli", 1 * MIN)]),
    Spec("harbin.nangang", "III", "accident", 7 * 24 * HOUR, acks=[("harbin.nangang", MIN)]),
]


# ------------------------------------------------------------------ the expected figures


@dataclass
class Expected:
    to_ack: timedelta | None
    to_report_up: timedelta | None
    to_resolve: timedelta | None
    late: int
    missing: int
    omitted: int
    levels: set[int]
    failed: dict[str, int]


def room_acked_at(spec: Spec, room: str) -> timedelta | None:
    """When the alert of ``room`` was acknowledged: by the room itself, or (a township has no
    roster: its pages land in its district) by the township's district."""
    times = [
        t
        for who, t in spec.acks
        if who == room or (room in TOWNSHIP_OF and who == ancestors_above(room)[0])
    ]
    return min(times) if times else None


def expected(spec: Spec) -> Expected:
    phone_after, written_after = DEADLINES[spec.grade]
    climbs_to_top = spec.grade in ("I", "II")
    targets = ancestors_above(spec.org) if climbs_to_top else ancestors_above(spec.org)[:1]
    resolved = spec.resolve if spec.resolve is not None else timedelta.max

    # Alerts: the origin's; the statutory ones at once (III: the parent; I, II: to the top);
    # a climb to the parent when a room's alert is not acknowledged within CLIMB (while
    # open); the target room's alert when its phone clock runs out and it has none.
    alerts: dict[str, timedelta] = {spec.org: timedelta(0)}
    if spec.grade != "IV":
        alerts.update(dict.fromkeys(targets, timedelta(0)))
    phone_stops: dict[str, timedelta | None] = {}
    changed = True
    while changed:
        changed = False
        for room, opened in list(alerts.items()):
            parent = ancestors_above(room)[:1]
            acked = room_acked_at(spec, room)
            climb_at = opened + CLIMB
            unanswered = acked is None or acked > climb_at
            if (
                parent
                and unanswered
                and climb_at < resolved
                and alerts.get(parent[0], timedelta.max) > climb_at
            ):
                alerts[parent[0]] = climb_at
                changed = True
        for target in targets:
            # Only an acknowledgement of the target's own alert (existing by then) stops it.
            acked = [t for who, t in spec.acks if who == target and alerts.get(target, t) <= t]
            stop = min(acked) if acked else None
            phone_stops[target] = stop
            ran_out = (stop is None or stop > phone_after) and phone_after < resolved
            if ran_out and alerts.get(target, timedelta.max) > phone_after:
                alerts[target] = phone_after
                changed = True
    stops = {(t, "phone"): phone_stops[t] for t in targets}
    stops.update({(t, "written"): spec.sign_off for t in targets})
    due = {(t, "phone"): phone_after for t in targets} | {
        (t, "written"): written_after for t in targets
    }
    late = sum(1 for k, s in stops.items() if s is not None and s > due[k])
    missing = sum(1 for k, s in stops.items() if s is None and spec.opened + due[k] <= AS_OF)

    # Follow-ups every 12 hours after the latest report while open; the final within 12
    # hours of resolving. Each overdue report is recorded once: late if it came afterwards,
    # missing if it never did.
    last = timedelta(0)
    for number in range(1, 100):
        owed = last + FOLLOW_UP_EVERY
        if owed >= resolved or spec.opened + owed >= AS_OF:
            break
        sent = spec.follow_ups[number - 1] if number <= len(spec.follow_ups) else None
        if sent is None or sent > owed:
            late, missing = (late + 1, missing) if sent is not None else (late, missing + 1)
        if sent is None:
            break
        last = sent
    if spec.resolve is not None and spec.opened + spec.resolve + FINAL_WITHIN < AS_OF:
        owed = spec.resolve + FINAL_WITHIN
        if spec.final is None:
            missing += 1
        elif spec.final > owed:
            late += 1

    reported_up = [s for (t, kind), s in stops.items() if kind == "phone" and s is not None]
    acks = [t for _, t in spec.acks]
    omitted = sum(1 for name in REQUIRED_AT_SIGN_OFF if name not in make_report())
    failed: dict[str, int] = {}
    if spec.failed_attempts and not spec.delivered_after:
        failed[spec.failed_attempts[-1]] = 1
    return Expected(
        to_ack=min(acks) if acks else None,
        to_report_up=min(reported_up) if reported_up else None,
        to_resolve=spec.resolve,
        late=late,
        missing=missing,
        omitted=omitted if spec.sign_off is not None else 0,
        levels={level(spec.org, room) for room in alerts},
        failed=failed,
    )


def nearest_rank(values: list[float], p: int) -> float | None:
    if not values:
        return None
    return sorted(values)[max(1, math.ceil(p * len(values) / 100)) - 1]


def durations(values: list[timedelta | None]) -> dict[str, Any]:
    seconds = [v.total_seconds() for v in values if v is not None]
    return {
        "count": len(seconds),
        "p50_s": nearest_rank(seconds, 50),
        "p90_s": nearest_rank(seconds, 90),
        "max_s": max(seconds) if seconds else None,
    }


def expected_figures(org: str) -> dict[str, Any]:
    chosen = [s for s in SCRIPT if s.status == "actual" and (s.org + ".").startswith(org + ".")]
    figures = {id(s): expected(s) for s in chosen}
    by_org: dict[str, dict[str, Any]] = {}
    for s in chosen:
        e = figures[id(s)]
        row = by_org.setdefault(
            s.org, {"org": s.org, "incidents": 0, "late": 0, "missing": 0, "omitted_items": 0}
        )
        row["incidents"] += 1
        row["late"] += e.late
        row["missing"] += e.missing
        row["omitted_items"] += e.omitted
    levels: dict[int, int] = {}
    failed: dict[str, int] = {}
    for e in figures.values():
        for lv in e.levels:
            levels[lv] = levels.get(lv, 0) + 1
        for ch, n in e.failed.items():
            failed[ch] = failed.get(ch, 0) + n
    return {
        "incidents": len(chosen),
        "by_grade": {g: sum(1 for s in chosen if s.grade == g) for g in ("I", "II", "III", "IV")},
        "by_category": {
            c: sum(1 for s in chosen if s.category == c)
            for c in ("natural_disaster", "accident", "public_health", "social_safety")
        },
        "time_to_acknowledge": durations([e.to_ack for e in figures.values()]),
        "time_to_report_up": durations([e.to_report_up for e in figures.values()]),
        "time_to_resolve": durations([e.to_resolve for e in figures.values()]),
        "late": sum(e.late for e in figures.values()),
        "missing": sum(e.missing for e in figures.values()),
        "omitted_items": sum(e.omitted for e in figures.values()),
        "by_org": sorted(by_org.values(), key=lambda r: r["org"]),
        "escalation_levels": [{"level": k, "incidents": n} for k, n in sorted(levels.items())],
        "failed_pages": {"total": sum(failed.values()), "by_channel": dict(sorted(failed.items()))},
    }


# ---------------------------------------------------------------------- driving the service


@pytest.fixture
def service_settings(settings: Settings) -> Settings:
    return settings.with_(
        ack_timeouts=dict.fromkeys(("I", "II", "III", "IV"), ACK_TIMEOUT),
        admin_token="admin-token-for-tests-0123",
        follow_up=FollowUpRule(interval=FOLLOW_UP_EVERY, daily_at=None, final_within=FINAL_WITHIN),
        zero_report_due_by=None,
    )


@dataclass
class Tokens:
    by_room: dict[str, str]
    leaders: dict[str, str]
    reviewer: str
    office: str


async def make_tokens(service: Service) -> Tokens:
    async with service.runtime.pool.acquire() as conn:

        async def token(role: auth.Role, org: str, person: str | None = None) -> str:
            return await auth.create_token(
                conn, label=f"week-{role}-{org}", role=role, org_path=org, person_id=person
            )

        return Tokens(
            by_room={
                "harbin.daoli": service.tokens.officer_daoli,
                "harbin.nangang": await token(auth.Role.OFFICER, "harbin.nangang", "chen-jing"),
                "harbin": await token(auth.Role.OFFICER, "harbin", "wang-fang"),
            },
            leaders={
                "harbin.daoli": service.tokens.leader_daoli,
                "harbin.nangang": await token(auth.Role.LEADER, "harbin.nangang", "liu-yang"),
            },
            reviewer=await token(auth.Role.REVIEWER, "harbin"),
            office=service.tokens.office_daoli,
        )


async def caught_up(service: Service) -> None:
    """Wait until no timer is due at the clock's time (the scheduler has fired them)."""

    async def done() -> bool:
        [row] = await service.sql(
            "SELECT count(*) AS n FROM timers"
            " WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_at <= $1",
            service.clock.now(),
        )
        return row["n"] == 0

    await eventually(done, what="the scheduler to fire every due timer")


async def run_until(service: Service, when: datetime) -> None:
    """Walk the clock to ``when`` through every due timer on the way, each at its time."""
    while True:
        [row] = await service.sql(
            "SELECT min(due_at) AS due FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL"
        )
        due = row["due"]
        if due is None or due > when:
            break
        if due > service.clock.now():
            await service.clock.advance(due - service.clock.now())
        await caught_up(service)
    if when > service.clock.now():
        await service.clock.advance(when - service.clock.now())
    await caught_up(service)


async def publish(service: Service, spec: Spec, stage: str) -> None:
    now = service.clock.now().isoformat()
    report = make_report(
        org=spec.org,
        incident_ref=spec.ref,
        stage=stage,
        grade=spec.grade,
        category=spec.category,
        title=f"{spec.category} {spec.grade} {spec.org}",
        occurred_at=now,
        reported_at=now,
        status=spec.status,
    )
    await service.publish(report)

    async def stored() -> bool:
        rows = await service.sql(
            "SELECT 1 FROM reports WHERE report_id = $1", uuid.UUID(report["report_id"])
        )
        return bool(rows)

    await eventually(stored, what=f"report {stage} of {spec.ref}")


async def incident_id(service: Service, spec: Spec) -> int:
    [row] = await service.sql(
        "SELECT id FROM incidents WHERE org_path = $1 AND incident_ref = $2", spec.org, spec.ref
    )
    return int(row["id"])


async def post(service: Service, path: str, token: str, body: Any = None) -> Any:
    response = await service.client.post(path, json=body or {}, headers=service.auth(token))
    assert response.status in (200, 201), (path, await response.text())
    return await response.json()


async def send_receipts(service: Service, spec: Spec, pages: Inbox) -> None:
    """The channel reports on the incident's first page: the scripted failures, then maybe a
    success."""
    number = await incident_id(service, spec)

    async def first_page() -> Any:
        return next((p for p in pages.payloads() if p["incident_id"] == number), None)

    page = await eventually(first_page, what=f"a page for incident {number}")
    attempts = [(ch, False) for ch in spec.failed_attempts]
    if spec.delivered_after:
        attempts.append(("console", True))
    receipts = [
        {
            "receipt_id": str(uuid.uuid4()),
            "page_id": page["page_id"],
            "channel": channel,
            "ok": ok,
            "attempt": n,
            **({} if ok else {"detail": "gateway: handset unreachable"}),
        }
        for n, (channel, ok) in enumerate(attempts, start=1)
    ]
    await post(service, "/api/v1/receipts", service.tokens.admin, {"receipts": receipts})


def actions(spec: Spec) -> list[tuple[datetime, int, str, Any]]:
    """The script of one incident as (time, order, what, detail)."""
    out: list[tuple[datetime, int, str, Any]] = [(spec.opened, 0, "open", None)]
    if spec.failed_attempts:
        out.append((spec.opened, 1, "receipts", None))
    out += [(spec.opened + t, 2, "ack", room) for room, t in spec.acks]
    if spec.sign_off is not None:
        out.append((spec.opened + spec.sign_off, 3, "sign_off", None))
    out += [(spec.opened + t, 4, "follow_up", None) for t in spec.follow_ups]
    if spec.resolve is not None:
        out.append((spec.opened + spec.resolve, 5, "resolve", None))
    if spec.final is not None:
        out.append((spec.opened + spec.final, 6, "final", None))
    return out


async def play_week(service: Service, pages: Inbox, tokens: Tokens) -> None:
    steps = sorted(
        (
            (when, order, n, what, detail)
            for n, spec in enumerate(SCRIPT + OUTSIDE)
            for when, order, what, detail in actions(spec)
        ),
        key=lambda s: (s[0], s[1], s[2]),
    )
    for when, _order, n, what, detail in steps:
        spec = (SCRIPT + OUTSIDE)[n]
        await run_until(service, when)
        if what == "open":
            await publish(service, spec, "first")
        elif what == "receipts":
            await send_receipts(service, spec, pages)
        elif what == "ack":
            await post(
                service,
                f"/api/v1/incidents/{await incident_id(service, spec)}/ack",
                tokens.by_room[detail],
            )
        elif what == "sign_off":
            leader = tokens.leaders[
                ancestors_above(spec.org)[0] if spec.org in TOWNSHIP_OF else spec.org
            ]
            await post(
                service, f"/api/v1/incidents/{await incident_id(service, spec)}/signoff", leader
            )
        elif what in ("follow_up", "final"):
            await publish(service, spec, what)
        elif what == "resolve":
            room = ancestors_above(spec.org)[0] if spec.org in TOWNSHIP_OF else spec.org
            await post(
                service,
                f"/api/v1/incidents/{await incident_id(service, spec)}/resolve",
                tokens.by_room[room],
            )
        await caught_up(service)
    await run_until(service, AS_OF)


async def review(service: Service, token: str, path: str = "/api/v1/review", **params: str) -> Any:
    response = await service.client.get(path, params=params, headers=service.auth(token))
    return response.status, response


@pytest.mark.timeout(600)
async def test_a_scripted_week_gives_the_figures_computed_from_the_script(
    service: Service, pages: Inbox, tmp_path: Any
) -> None:
    assert WEEK + OUTSIDE[0].at > START, "the demo rosters start the day before START"
    tokens = await make_tokens(service)
    await play_week(service, pages, tokens)
    assert service.clock.now() == AS_OF
    week = {"from": "2026-11-26", "to": "2026-12-02"}  # dates: whole local days

    for org in ("harbin", "harbin.daoli", "harbin.nangang"):
        status, response = await review(service, tokens.reviewer, org=org, **week)
        assert status == 200, await response.text()
        got = await response.json()
        assert (got["from"], got["to"], got["as_of"]) == (
            WEEK.isoformat(),
            END.isoformat(),
            AS_OF.isoformat(),
        )
        want = expected_figures(org)
        assert {k: got[k] for k in want} == want, org

    # The drill counts when asked for.
    status, response = await review(
        service, tokens.reviewer, org="harbin", include_drills="true", **week
    )
    assert (await response.json())["incidents"] == expected_figures("harbin")["incidents"] + 1

    # The list of incidents: one CSV line per incident, with its own figures.
    status, response = await review(
        service, tokens.reviewer, "/api/v1/review/incidents", org="harbin", format="csv", **week
    )
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    actual = [s for s in SCRIPT if s.status == "actual"]
    assert len(rows) == len(actual)
    by_title_and_time = {(r["title"], r["opened_at"]): r for r in rows}
    for spec in actual:
        row = by_title_and_time[
            (f"{spec.category} {spec.grade} {spec.org}", spec.opened.isoformat())
        ]
        e = expected(spec)
        assert (int(row["late"]), int(row["missing"])) == (e.late, e.missing), spec.ref
        assert int(row["highest_level"]) == max(e.levels)
        assert int(row["failed_pages"]) == sum(e.failed.values())
        want_ack = "" if e.to_ack is None else str(e.to_ack.total_seconds())
        assert row["to_acknowledge_s"] == want_ack

    # The command line prints the same figures as a table.
    code, out, err = await run_cli(
        service,
        "review",
        "harbin",
        "--from",
        week["from"],
        "--to",
        week["to"],
        token=tokens.reviewer,
    )
    assert code == 0, err
    want = expected_figures("harbin")
    assert f"Incidents: {want['incidents']}" in out
    assert f"迟报 late {want['late']}, 漏报 missing {want['missing']}" in out
    ack = want["time_to_acknowledge"]
    ack_line = next(line for line in out.splitlines() if "to first acknowledgement" in line)
    assert ack_line.split()[-4:] == [
        str(ack["count"]),
        *(f"{ack[k] / 60:.1f}" for k in ("p50_s", "p90_s", "max_s")),
    ]
    for org_row in want["by_org"]:
        line = next(x for x in out.splitlines() if x.split()[:1] == [org_row["org"]])
        assert line.split()[1:] == [
            str(org_row[k]) for k in ("incidents", "late", "missing", "omitted_items")
        ]

    # The printable report: the PDF's text holds the title and the figures; the HTML has both
    # charts and nothing external.
    pdf_file = tmp_path / "review.pdf"
    code, out, err = await run_cli(
        service,
        "review",
        "harbin",
        "--from",
        week["from"],
        "--to",
        week["to"],
        "--format",
        "pdf",
        "-o",
        str(pdf_file),
        token=tokens.reviewer,
    )
    assert code == 0, err
    text = await asyncio.to_thread(_pdf_text, pdf_file)
    assert "值班工作复盘统计" in text
    assert "harbin" in text
    assert f"事件总数: {want['incidents']}" in text
    assert "迟报" in text
    assert "漏报" in text
    status, response = await review(
        service,
        tokens.reviewer,
        "/api/v1/review/report",
        org="harbin",
        format="html",
        lang="en",
        **week,
    )
    assert status == 200
    page = await response.text()
    assert page.count('src="data:image/svg+xml;base64,') == 2
    assert 'id="chart-ack"' in page
    assert 'id="chart-day"' in page
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page
    assert f"Incidents: {want['incidents']}" in page


async def test_review_parameters_and_permissions(service: Service) -> None:
    tokens = await make_tokens(service)
    week = {"from": "2026-11-26", "to": "2026-12-02"}  # dates: whole local days

    async def problem(token: str, **params: str) -> tuple[int, Any]:
        status, response = await review(service, token, **params)
        return status, await response.json()

    for params, name in (
        ({"from": week["from"], "to": week["to"]}, "org"),
        ({"org": "harbin", "to": week["to"]}, "from"),
        ({"org": "harbin", "from": "26/11/2026", "to": week["to"]}, "from"),
        ({"org": "harbin", "from": week["to"], "to": week["from"]}, "to"),
        ({"org": "harbin", "from": "2026-01-01", "to": "2027-06-01"}, "to"),
        ({"org": "harbin", "include_drills": "yes", **week}, "include_drills"),
        ({"org": "harbin.nowhere", **week}, "org"),
    ):
        status, body = await problem(tokens.reviewer, **params)
        assert status in (400, 422), (params, body)
        assert body["field"] == name, (params, body)
    status, response = await review(
        service, tokens.reviewer, "/api/v1/review/report", org="harbin", format="docx", **week
    )
    assert (status, (await response.json())["field"]) == (400, "format")

    # Officers read the figures of what they cover only; offices not at all.
    assert (await problem(tokens.by_room["harbin.daoli"], org="harbin.daoli", **week))[0] == 200
    assert (await problem(tokens.by_room["harbin.daoli"], org="harbin", **week))[0] == 403
    assert (await problem(tokens.office, org="harbin.daoli", **week))[0] == 403
    status, body = await problem(tokens.reviewer, org="harbin", **week)
    assert (status, body["incidents"], body["time_to_resolve"]["p50_s"]) == (200, 0, None)

    # The command line says which parameter is wrong, and exits 1.
    code, _out, err = await run_cli(
        service,
        "review",
        "harbin",
        "--from",
        "26/11/2026",
        "--to",
        week["to"],
        token=tokens.reviewer,
    )
    assert code == 1
    assert "`from` must be" in err


def test_the_cli_explains_itself() -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "dutywatch", "review", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "nearest-rank" in result.stdout
    assert "--include-drills" in result.stdout


def _pdf_text(path: Any) -> str:
    """Every page's text, as a reader would copy it (pypdf reads the CID font's text)."""
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)
