"""Supervision (督办, issue 10) end to end: an instruction with two assignments chased by
reminders before and after the due date, a late feedback, a send-back and a re-report,
verification, and a look-back (回头看) whose re-check fails and reopens the assignment; the
figures against an independent computation; every step on the verified timeline."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from dutywatch import auth
from dutywatch.config import Settings
from dutywatch.supervision.rules import ReminderRule
from dutywatch.supervision.service import verify_matters
from dutywatch.timeline.store import verify_all
from tests.acceptance.conftest import Inbox, Service
from tests.acceptance.test_commands_and_reads import run_verify
from tests.acceptance.test_record import open_incident, post, run_cli
from tests.acceptance.test_reporting_deadlines import advance_to, of_kind, timeline

BEFORE, EVERY = timedelta(hours=2), timedelta(hours=2)
DAY = timedelta(days=1)
EVIDENCE = {
    "name": "整改照片.jpg",
    "media_type": "image/jpeg",
    "size": 1024,
    "sha256": hashlib.sha256(b"fixed").hexdigest(),
}


@pytest.fixture
def service_settings(service_settings: Settings) -> Settings:
    return service_settings.with_(
        supervision_reminders=ReminderRule(before=BEFORE, every=EVERY, leader_after=2)
    )


@pytest.fixture
async def zhaolin_officer(service: Service) -> str:
    """A second unit's responsible officer (兆麟街道), with a token of their own."""
    async with service.runtime.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO people (id, name, org_path) VALUES ('sun-li', '孙丽', $1)",
            "harbin.daoli.zhaolin",
        )
        return await auth.create_token(
            conn,
            label="officer-sun-li",
            role=auth.Role.OFFICER,
            org_path="harbin.daoli.zhaolin",
            person_id="sun-li",
        )


@pytest.fixture
async def alarms(service: Service) -> AsyncIterator[Inbox]:
    inbox = await Inbox(
        service.js, service.settings.subject("notify", ">"), schema="dutywatch.alarm.v1"
    ).start()
    yield inbox
    await inbox.stop()


@pytest.fixture
async def supervision_events(service: Service) -> AsyncIterator[Inbox]:
    inbox = await Inbox(
        service.js,
        service.settings.subject("event", ">"),
        schema="dutywatch.supervision_event.v1",
    ).start()
    yield inbox
    await inbox.stop()


def supervision_pages(pages: Inbox) -> list[dict[str, Any]]:
    """Supervision pages (notification.v1) and alarms (alarm.v1), nothing else."""
    return [p for p in pages.payloads() if "supervision" in (p.get("reason"), p.get("kind"))]


async def wait_supervision_pages(pages: Inbox, count: int) -> list[dict[str, Any]]:
    for _ in range(500):
        if len(supervision_pages(pages)) >= count:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    got = supervision_pages(pages)
    assert len(got) == count, got
    return got


async def step(service: Service, assignment: int, verb: str, token: str, **body: Any) -> Any:
    status, result = await post(service, f"/api/v1/assignments/{assignment}/{verb}", body, token)
    assert status == 200, result
    return result


async def get(service: Service, path: str, token: str) -> Any:
    response = await service.client.get(path, headers=service.auth(token))
    assert response.status == 200, await response.text()
    return await response.json()


async def test_an_instruction_is_carried_out_chased_checked_and_looked_back_at(
    service: Service, pages: Inbox, zhaolin_officer: str, supervision_events: Inbox
) -> None:
    leader, officer = service.tokens.leader_daoli, service.tokens.officer_daoli
    incident_id = await open_incident(service, pages)
    created_at = service.clock.now()
    due = created_at + DAY

    status, made = await post(
        service,
        "/api/v1/instructions",
        {
            "incident_id": incident_id,
            "text": "立即排查辖区燃气管线，三日内反馈整改情况",
            "assignments": [
                {
                    "unit": "harbin.daoli.xinyang",
                    "responsible": "li-na",
                    "supervisor": "zhang-wei",
                    "due_at": due.isoformat(),
                },
                {
                    "unit": "harbin.daoli.zhaolin",
                    "responsible": "sun-li",
                    "supervisor": "zhang-wei",
                    "due_at": due.isoformat(),
                },
            ],
        },
        leader,
    )
    assert status == 201, made
    first, second = (a["id"] for a in made["assignments"])
    assert [a["state"] for a in made["assignments"]] == ["assigned", "assigned"]

    # Both units accept and start; the township of 新阳 reports back in time.
    for assignment, token in ((first, officer), (second, zhaolin_officer)):
        assert (await step(service, assignment, "accept", token))["state"] == "accepted"
        assert (await step(service, assignment, "start", token))["state"] == "in_progress"
    reported = await step(
        service, first, "feedback", officer, text="已完成排查", attachments=[EVIDENCE]
    )
    assert (reported["state"], reported["overdue"]) == ("reported", False)

    # Before the due date: one reminder, to the responsible person of the unit still owing.
    await advance_to(service, due - BEFORE + timedelta(seconds=1))
    [early] = await wait_supervision_pages(pages, 1)
    assert (early["person_id"], early["role"], early["incident_id"]) == (
        "sun-li",
        "responsible",
        incident_id,
    )
    listed = await get(service, "/api/v1/assignments?unit=harbin.daoli.zhaolin", zhaolin_officer)
    [open_one] = listed["assignments"]
    assert (open_one["id"], open_one["overdue"], open_one["reminders"]) == (second, False, 1)

    # After it: overdue, and the unit's leader on duty is told too (the township has no
    # roster of its own, so the page climbs to the district's leader on duty).
    await advance_to(service, due + EVERY + timedelta(seconds=1))
    late_pages = (await wait_supervision_pages(pages, 3))[1:]
    assert sorted((p["person_id"], p["role"]) for p in late_pages) == [
        ("sun-li", "responsible"),
        ("zhang-wei", "leader_on_duty"),
    ]
    chase = await get(service, "/api/v1/assignments/chase", leader)
    assert {a["id"]: a["overdue"] for a in chase["assignments"]} == {first: False, second: True}

    late = await step(service, second, "feedback", zhaolin_officer, text="已排查，未发现隐患")
    assert late["state"] == "reported"
    assert (await step(service, first, "verify", leader))["state"] == "verified"
    recheck_at = service.clock.now() + 3 * DAY
    closed = await step(service, first, "close", leader, recheck_at=recheck_at.isoformat())
    assert (closed["state"], closed["recheck_at"]) == ("closed", recheck_at.isoformat())

    # A send-back restarts the clock with the supervisor's new due date; the unit re-reports.
    new_due = service.clock.now() + DAY
    sent_back = await step(
        service, second, "send-back", leader, reason="缺少整改照片", due_at=new_due.isoformat()
    )
    assert (sent_back["state"], sent_back["due_at"], sent_back["reminders"]) == (
        "sent_back",
        new_due.isoformat(),
        0,
    )
    again = await step(
        service, second, "feedback", zhaolin_officer, text="补充整改照片", attachments=[EVIDENCE]
    )
    assert again["state"] == "reported"
    assert (await step(service, second, "verify", leader))["state"] == "verified"
    second_closed_at = service.clock.now()
    assert (await step(service, second, "close", leader))["state"] == "closed"

    # Illegal steps are refused, naming what the assignment can do.
    status, problem = await post(service, f"/api/v1/assignments/{second}/accept", {}, officer)
    assert (status, problem["allowed"]) == (409, ["reopen"]), problem

    # 回头看: at the re-check date the supervisor is asked; the fix did not hold.
    await advance_to(service, recheck_at + timedelta(seconds=1))
    asked = (await wait_supervision_pages(pages, 4))[3]
    assert (asked["person_id"], asked["role"]) == ("zhang-wei", "supervisor")
    reopen_due = service.clock.now() + 2 * DAY
    status, reopened = await post(
        service,
        f"/api/v1/assignments/{first}/recheck",
        {"holds": False, "text": "复查发现管线仍有渗漏", "due_at": reopen_due.isoformat()},
        leader,
    )
    assert status == 200, reopened
    assert (reopened["state"], reopened["due_at"]) == ("in_progress", reopen_due.isoformat())
    [armed] = await service.sql(
        "SELECT due_at FROM timers WHERE assignment_id = $1 AND kind = 'supervision'"
        " AND fired_at IS NULL AND cancelled_at IS NULL",
        first,
    )
    assert armed["due_at"] == reopen_due - BEFORE

    # The figures against an independent computation from what the test did.
    now = reopen_due + timedelta(hours=1)
    await advance_to(service, now)
    await wait_supervision_pages(pages, 6)  # the reopened one's reminders before and after
    period = (created_at, created_at + 7 * DAY)
    figures = await get(
        service,
        f"/api/v1/supervision/figures?org=harbin.daoli&from={period[0].isoformat()}"
        f"&to={period[1].isoformat()}".replace("+", "%2B"),
        leader,
    )
    # 新阳: verified by its due date, reported in time; 兆麟: its first feedback was late.
    expected_days = (second_closed_at - created_at).total_seconds() / 86400
    assert figures["due"] == 2
    assert figures["on_time"] == 1
    assert figures["completion_rate"] == 0.5
    assert figures["overdue_by_unit"] == {"harbin.daoli.xinyang": 1}
    assert figures["closed"] == 1
    assert figures["average_days_to_close"] == pytest.approx(expected_days)
    assert (figures["rechecks_answered"], figures["rechecks_failed"]) == (1, 1)
    # The review of the same subtree and period carries the same 督办 figures, in its JSON
    # and in its printable report.
    query = (f"org=harbin.daoli&from={period[0].isoformat()}&to={period[1].isoformat()}").replace(
        "+", "%2B"
    )
    review = await get(service, f"/api/v1/review?{query}", leader)
    assert review["supervision"] == {
        k: v for k, v in figures.items() if k not in ("org", "from", "to")
    }
    report = await service.client.get(
        f"/api/v1/review/report?{query}&format=html&lang=zh", headers=service.auth(leader)
    )
    text = await report.text()
    assert "督办落实情况" in text
    assert "50%" in text

    # Every step is on the incident's timeline, and the chain verifies.
    entries = await timeline(service, incident_id)
    kinds = [k for k, _ in entries]
    for kind, count in {
        "assigned": 2,
        "assignment_accepted": 2,
        "assignment_started": 2,
        "feedback_reported": 3,
        "feedback_sent_back": 1,
        "feedback_verified": 2,
        "assignment_closed": 2,
        "recheck_requested": 1,
        "recheck_answered": 1,
        "assignment_reopened": 1,
    }.items():
        assert kinds.count(kind) == count, (kind, kinds)
    [instruction] = [b for b in of_kind(entries, "instruction") if "instruction_id" in b]
    assert instruction["instruction_id"] == made["id"]
    reminded = of_kind(entries, "supervision_reminded")
    assert [(r["assignment_id"], r["overdue"], r["to"]) for r in reminded[:2]] == [
        (second, False, ["sun-li"]),
        (second, True, ["sun-li", "zhang-wei"]),
    ]
    assert [b["overdue"] for b in of_kind(entries, "feedback_reported")] == [
        False,
        True,
        False,
    ]
    supervision_paged = [b for b in of_kind(entries, "paged") if b["reason"] == "supervision"]
    assert len(supervision_paged) == 6
    async with service.runtime.pool.acquire() as conn:
        assert (await verify_all(conn))[1] == []

    # Events on dutywatch.event.<unit>.supervision, one per step.
    payloads = await supervision_events.wait_for(len([k for k in kinds if k in SUPERVISION]))
    assert {p["kind"] for p in payloads} >= {"assigned", "reminded", "sent_back", "reopened"}
    assert all(
        m.subject.endswith(".supervision") and p["org"] in m.subject
        for m, p in zip(supervision_events.messages, payloads, strict=True)
    )


#: Timeline kinds each announced by one supervision event.
SUPERVISION = {
    "assigned",
    "assignment_accepted",
    "assignment_started",
    "feedback_reported",
    "feedback_verified",
    "feedback_sent_back",
    "assignment_closed",
    "supervision_reminded",
    "recheck_requested",
    "assignment_reopened",
}


async def test_a_standalone_matter_has_its_own_verified_chain_and_alarms(
    service: Service, alarms: Inbox
) -> None:
    leader, officer = service.tokens.leader_daoli, service.tokens.officer_daoli
    due = service.clock.now() + DAY
    status, made = await post(
        service,
        "/api/v1/instructions",
        {
            "text": "市政府督查室转来：冬季供暖投诉集中整改",
            "leader": "王副区长",
            "assignments": [
                {
                    "unit": "harbin.daoli",
                    "responsible": "li-na",
                    "supervisor": "zhang-wei",
                    "due_at": due.isoformat(),
                }
            ],
        },
        leader,
    )
    assert status == 201, made
    [assignment] = made["assignments"]
    assert made["incident_id"] is None
    await step(service, assignment["id"], "accept", officer)
    await advance_to(service, due - BEFORE + timedelta(seconds=1))
    await wait_supervision_pages(alarms, 1)
    await advance_to(service, due + EVERY + timedelta(seconds=1))
    # The early and the overdue reminder: no incident to page for, so alarms.
    got = await wait_supervision_pages(alarms, 3)
    assert sorted(a["person_id"] for a in got) == ["li-na", "li-na", "zhang-wei"]
    assert {a["schema"] for a in got} == {"dutywatch.alarm.v1"}

    body = await get(service, f"/api/v1/instructions/{made['id']}/timeline", leader)
    assert [e["kind"] for e in body["entries"]] == [
        "instruction",
        "assigned",
        "assignment_accepted",
        "supervision_reminded",
        "supervision_reminded",
    ]
    async with service.runtime.pool.acquire() as conn:
        assert await verify_matters(conn) == (1, [])
        # Tampering with the matter's chain is caught (triggers refuse an UPDATE, so the
        # test goes around them as an attacker with the table owner's rights would).
        for table in ("supervision_entries", "supervision_events"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(f"DELETE FROM {table}")  # noqa: S608 - a fixed table name
        await conn.execute("ALTER TABLE supervision_entries DISABLE TRIGGER USER")
        await conn.execute(
            "UPDATE supervision_entries SET body = jsonb_set(body, '{text}', '\"改\"')"
            " WHERE instruction_id = $1 AND seq = 1",
            made["id"],
        )
        checked, problems = await verify_matters(conn)
        assert checked == 1
        assert [p.seq for p in problems] == [1]


async def test_who_may_do_what(service: Service) -> None:
    leader, officer = service.tokens.leader_daoli, service.tokens.officer_daoli
    due = (service.clock.now() + DAY).isoformat()
    one = {"unit": "harbin.daoli", "responsible": "li-na", "supervisor": "zhang-wei", "due_at": due}
    status, problem = await post(
        service, "/api/v1/instructions", {"text": "x", "assignments": [one]}, officer
    )
    assert (status, problem["title"]) == (403, "forbidden")
    status, problem = await post(
        service,
        "/api/v1/instructions",
        {"text": "x", "assignments": [{**one, "responsible": "nobody"}]},
        leader,
    )
    assert (status, problem["field"]) == (422, "assignments.responsible")
    status, made = await post(
        service, "/api/v1/instructions", {"text": "x", "assignments": [one]}, leader
    )
    assert status == 201, made
    assignment = made["assignments"][0]["id"]
    await step(service, assignment, "accept", officer)
    await step(service, assignment, "start", officer)
    await step(service, assignment, "feedback", officer, text="done")
    # The responsible officer is not the supervisor: they cannot verify their own work.
    status, problem = await post(service, f"/api/v1/assignments/{assignment}/verify", {}, officer)
    assert status == 403, problem
    # A send-back without a new due date is refused, naming the field.
    status, problem = await post(
        service, f"/api/v1/assignments/{assignment}/send-back", {"reason": "不完整"}, leader
    )
    assert (status, problem["field"]) == (422, "due_at")
    status, problem = await post(service, f"/api/v1/assignments/{assignment}/start", {}, officer)
    assert status == 409
    assert problem["allowed"] == ["verify", "send_back"], problem


async def test_the_command_line_instructs_reports_lists_and_verify_covers_matters(
    service: Service, database_url: str
) -> None:
    leader, officer = service.tokens.leader_daoli, service.tokens.officer_daoli
    due = (service.clock.now() + DAY).isoformat()
    code, out, err = await run_cli(
        service,
        "supervise",
        "instruct",
        "--text",
        "核查辖区老旧小区消防通道",
        "--assign",
        f"harbin.daoli,li-na,zhang-wei,{due}",
        token=leader,
    )
    assert code == 0, err
    assert "standalone" in out
    [row] = await service.sql("SELECT id FROM supervision_assignments")
    assignment = str(row["id"])
    for command in ("accept", "start"):
        code, out, err = await run_cli(service, "supervise", command, assignment, token=officer)
        assert (code, out.split()[1]) == (0, "accepted" if command == "accept" else "in_progress")
    code, out, err = await run_cli(
        service, "supervise", "feedback", assignment, "--text", "已全部打通", token=officer
    )
    assert (code, out.split()[1]) == (0, "reported"), err
    code, out, err = await run_cli(service, "supervise", "chase", token=leader)
    assert code == 0, err
    assert f"#{assignment}  reported" in out
    code, out, err = await run_cli(service, "supervise", "verify", assignment, token=officer)
    assert code == 1
    assert "only the supervisor" in err
    [entry] = await service.sql(
        "SELECT source FROM supervision_entries WHERE kind = 'feedback_reported'"
    )
    assert entry["source"] == "cli"
    ok = await asyncio.to_thread(run_verify, database_url)
    assert ok.returncode == 0, ok.stderr
    assert "1 standalone matter chain(s) verified" in ok.stdout


async def test_a_recheck_that_holds_keeps_the_matter_closed(
    service: Service, alarms: Inbox
) -> None:
    leader, officer = service.tokens.leader_daoli, service.tokens.officer_daoli
    due = service.clock.now() + DAY
    one = {"unit": "harbin.daoli", "responsible": "li-na", "supervisor": "zhang-wei"}
    status, made = await post(
        service,
        "/api/v1/instructions",
        {"text": "整治占道经营", "assignments": [{**one, "due_at": due.isoformat()}]},
        leader,
    )
    assert status == 201, made
    assignment = made["assignments"][0]["id"]
    for verb in ("accept", "start"):
        await step(service, assignment, verb, officer)
    await step(service, assignment, "feedback", officer, text="已整治")
    await step(service, assignment, "verify", leader)
    recheck_at = service.clock.now() + 10 * DAY
    await step(service, assignment, "close", leader, recheck_at=recheck_at.isoformat())
    status, problem = await post(
        service,
        f"/api/v1/assignments/{assignment}/recheck",
        {"holds": True, "text": "x"},
        officer,
    )
    assert status == 403, problem

    await advance_to(service, recheck_at + timedelta(seconds=1))
    [asked] = await wait_supervision_pages(alarms, 1)
    assert (asked["person_id"], asked["role"], asked["kind"]) == (
        "zhang-wei",
        "supervisor",
        "supervision",
    )
    status, held = await post(
        service,
        f"/api/v1/assignments/{assignment}/recheck",
        {"holds": True, "text": "复查未见反弹", "attachments": [EVIDENCE]},
        leader,
    )
    assert status == 200, held
    assert (held["state"], held["recheck_at"]) == ("closed", None)
    status, again = await post(
        service, f"/api/v1/assignments/{assignment}/recheck", {"holds": True, "text": "x"}, leader
    )
    assert status == 409, again
    [answer] = await service.sql(
        "SELECT holds, text, answered_by FROM supervision_rechecks WHERE assignment_id = $1",
        assignment,
    )
    assert tuple(answer) == (True, "复查未见反弹", "person:zhang-wei")
    pending = await service.sql(
        "SELECT kind FROM timers WHERE assignment_id = $1 AND fired_at IS NULL"
        " AND cancelled_at IS NULL",
        assignment,
    )
    assert pending == []
    async with service.runtime.pool.acquire() as conn:
        assert await verify_matters(conn) == (1, [])
