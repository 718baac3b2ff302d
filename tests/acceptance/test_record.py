"""The rest of the record a review reads: notes with attachments, corrections, instructions,
statutory clocks met, and delivery receipts — each a chained entry with actor and source."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from dutywatch.timeline.store import verify_all
from tests.acceptance.conftest import Inbox, Service, make_report
from tests.acceptance.test_reporting_deadlines import of_kind, settle, timeline

PHOTO = {
    "name": "现场照片1.jpg",
    "media_type": "image/jpeg",
    "size": 482113,
    "sha256": hashlib.sha256(b"photo").hexdigest(),
    "location": "docstore://daoli/2026/11/25/0001",
}


async def open_incident(service: Service, pages: Inbox) -> int:
    await service.publish(make_report())
    [page] = await pages.wait_for(1)
    incident_id: int = page["incident_id"]
    return incident_id


async def post(service: Service, path: str, body: Any, token: str, **headers: str) -> Any:
    response = await service.client.post(
        path, json=body, headers={**service.auth(token), **headers}
    )
    return response.status, await response.json()


async def entries(service: Service, incident_id: int) -> list[Any]:
    return await service.sql(
        "SELECT seq, kind::text, actor, source, body FROM timeline_entries"
        " WHERE incident_id = $1 ORDER BY seq",
        incident_id,
    )


async def test_notes_corrections_and_instructions_are_chained_with_actor_and_source(
    service: Service, pages: Inbox
) -> None:
    incident_id = await open_incident(service, pages)
    path = f"/api/v1/incidents/{incident_id}"
    officer, leader = service.tokens.officer_daoli, service.tokens.leader_daoli
    command_id = str(uuid.uuid4())

    status, noted = await post(
        service,
        f"{path}/notes",
        {"text": "现场已拉警戒线", "attachments": [PHOTO], "command_id": command_id},
        officer,
    )
    assert status == 201, noted
    assert noted["kind"] == "note"
    status, again = await post(
        service,
        f"{path}/notes",
        {"text": "现场已拉警戒线", "attachments": [PHOTO], "command_id": command_id},
        officer,
    )
    assert (status, again["seq"], again["replayed"]) == (200, noted["seq"], True)

    status, corrected = await post(
        service,
        f"{path}/notes",
        {"text": "警戒范围为200米，不是100米", "corrects": noted["seq"]},
        officer,
        **{"Dutywatch-Client": "cli"},
    )
    assert (status, corrected["kind"]) == (201, "correction")

    status, instructed = await post(
        service, f"{path}/instructions", {"text": "全力救治伤员，查明原因，及时续报"}, leader
    )
    assert (status, instructed["kind"]) == (201, "instruction")
    status, recorded = await post(
        service,
        f"{path}/instructions",
        {"text": "请区应急局派员到场", "leader": "王副区长（电话）"},
        officer,
    )
    assert status == 201, recorded

    rows = await entries(service, incident_id)
    by_seq = {row["seq"]: row for row in rows}
    note = by_seq[noted["seq"]]
    assert (note["kind"], note["actor"], note["source"]) == ("note", "person:li-na", "http")
    assert json.loads(note["body"]) == {"text": "现场已拉警戒线", "attachments": [PHOTO]}
    correction = by_seq[corrected["seq"]]
    assert (correction["kind"], correction["source"]) == ("correction", "cli")
    assert json.loads(correction["body"])["corrects"] == noted["seq"]
    assert [json.loads(r["body"])["leader"] for r in rows if r["kind"] == "instruction"] == [
        "person:zhang-wei",
        "王副区长（电话）",
    ]
    assert len([r for r in rows if r["kind"] == "note"]) == 1, "the replay added nothing"
    async with service.runtime.pool.acquire() as conn:
        assert (await verify_all(conn))[1] == []


async def test_bad_notes_are_refused_with_the_field_named(service: Service, pages: Inbox) -> None:
    incident_id = await open_incident(service, pages)
    path = f"/api/v1/incidents/{incident_id}/notes"
    officer = service.tokens.officer_daoli
    [last] = await service.sql("SELECT timeline_seq FROM incidents WHERE id = $1", incident_id)
    status, problem = await post(
        service, path, {"text": "更正", "corrects": last["timeline_seq"] + 1}, officer
    )
    assert (status, problem["field"]) == (422, "corrects")
    status, problem = await post(service, path, {"text": "  "}, officer)
    assert (status, problem["field"]) == (422, "text")
    bad_photo = {**PHOTO, "sha256": "not-a-digest"}
    status, problem = await post(
        service, path, {"text": "照片", "attachments": [bad_photo]}, officer
    )
    assert status == 422
    assert "sha256" in problem["field"]

    await service.publish(make_report(org="harbin.nangang.huayuan"))
    [_, other] = await pages.wait_for(2)
    status, problem = await post(
        service, f"/api/v1/incidents/{other['incident_id']}/notes", {"text": "看看"}, officer
    )
    assert status == 403, problem
    assert len(of_kind(await timeline(service, incident_id), "note")) == 0


async def test_an_acknowledgement_in_time_records_the_deadline_met(
    service: Service, pages: Inbox
) -> None:
    incident_id = await open_incident(service, pages)  # grade III: the district is owed a call
    acked = await service.client.post(
        f"/api/v1/incidents/{incident_id}/ack",
        json={"note": "已派人到场"},
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert acked.status == 200
    [ack] = of_kind(await timeline(service, incident_id), "acknowledged")
    assert ack["note"] == "已派人到场", "the body is read after the guard has checked it"
    [met] = of_kind(await timeline(service, incident_id), "deadline_met")
    [clock] = await service.sql(
        "SELECT due_at, stopped_at FROM report_clocks"
        " WHERE incident_id = $1 AND kind = 'phone' AND target_org = 'harbin.daoli'",
        incident_id,
    )
    assert (met["target"], met["kind"], met["grade"]) == ("harbin.daoli", "phone", "III")
    assert met["early_by_s"] == (clock["due_at"] - clock["stopped_at"]).total_seconds() > 0


async def test_delivery_receipts_are_recorded_once_and_name_failures(
    service: Service, pages: Inbox
) -> None:
    incident_id = await open_incident(service, pages)
    [page] = await service.sql(
        "SELECT id, person_id FROM pages WHERE incident_id = $1", incident_id
    )
    failed, delivered = str(uuid.uuid4()), str(uuid.uuid4())
    receipts = [
        {
            "receipt_id": failed,
            "page_id": page["id"],
            "channel": "sms",
            "ok": False,
            "detail": "gateway: handset unreachable",
        },
        {
            "receipt_id": delivered,
            "page_id": page["id"],
            "channel": "console",
            "ok": True,
            "attempt": 2,
        },
    ]
    admin = service.tokens.admin
    status, result = await post(service, "/api/v1/receipts", {"receipts": receipts}, admin)
    assert status == 200, result
    assert [r["recorded"] for r in result["receipts"]] == [True, True]
    status, again = await post(service, "/api/v1/receipts", {"receipts": receipts[:1]}, admin)
    assert [r["recorded"] for r in again["receipts"]] == [False]

    rows = await entries(service, incident_id)
    receipt_rows = [r for r in rows if r["kind"] in ("page_failed", "page_delivered")]
    assert [(r["kind"], json.loads(r["body"])) for r in receipt_rows] == [
        (
            "page_failed",
            {
                "page_id": page["id"],
                "person_id": page["person_id"],
                "channel": "sms",
                "attempt": 1,
                "reason": "gateway: handset unreachable",
            },
        ),
        (
            "page_delivered",
            {
                "page_id": page["id"],
                "person_id": page["person_id"],
                "channel": "console",
                "attempt": 2,
            },
        ),
    ]
    stored = await service.sql("SELECT ok FROM page_receipts WHERE page_id = $1", page["id"])
    assert sorted(r["ok"] for r in stored) == [False, True]

    unknown = {**receipts[0], "receipt_id": str(uuid.uuid4()), "page_id": 10**9}
    status, problem = await post(service, "/api/v1/receipts", {"receipts": [unknown]}, admin)
    assert status == 404
    assert str(10**9) in problem["detail"]
    status, _ = await post(
        service, "/api/v1/receipts", {"receipts": receipts}, service.tokens.officer_daoli
    )
    assert status == 403
    async with service.runtime.pool.acquire() as conn:
        assert (await verify_all(conn))[1] == []


async def test_receipts_do_not_disturb_paging(service: Service, pages: Inbox) -> None:
    """A receipt is record only: no page, no event storm, nothing re-armed."""
    incident_id = await open_incident(service, pages)
    [page] = await service.sql("SELECT id FROM pages WHERE incident_id = $1", incident_id)
    receipt = {
        "receipt_id": str(uuid.uuid4()),
        "page_id": page["id"],
        "channel": "nats",
        "ok": True,
    }
    status, _ = await post(
        service, "/api/v1/receipts", {"receipts": [receipt]}, service.tokens.admin
    )
    assert status == 200
    await settle(pages, 1)


async def run_cli(service: Service, *args: str, token: str) -> tuple[int, str, str]:
    """The dutywatch command line as a real process against the running service."""
    url = str(service.client.server.make_url("")).rstrip("/")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dutywatch",
        *args,
        "--url",
        url,
        "--token",
        token,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_command_line_describes_attachments_and_records_its_source(
    service: Service, pages: Inbox, tmp_path: Path
) -> None:
    incident_id = await open_incident(service, pages)
    photo = tmp_path / "现场.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    officer = service.tokens.officer_daoli
    code, out, err = await run_cli(
        service, "note", str(incident_id), "现场照片", "--attach", str(photo), token=officer
    )
    assert code == 0, err
    seq = int(out.split("entry ")[1].split(" ")[0])
    code, out, err = await run_cli(
        service,
        "note",
        str(incident_id),
        "照片拍摄时间应为10:05",
        "--corrects",
        str(seq),
        token=officer,
    )
    assert code == 0, err
    assert "(correction)" in out
    code, _, err = await run_cli(
        service, "note", str(incident_id), "x", "--corrects", "999", token=officer
    )
    assert code == 1
    assert "corrects" in err
    code, _, err = await run_cli(
        service,
        "note",
        str(incident_id),
        "x",
        "--attach",
        str(tmp_path / "missing.jpg"),
        token=officer,
    )
    assert code != 0
    assert "missing.jpg" in err
    code, out, err = await run_cli(
        service,
        "instruct",
        str(incident_id),
        "立即核实伤亡",
        "--leader",
        "王副区长",
        token=officer,
    )
    assert code == 0, err
    code, out, err = await run_cli(
        service, "resolve", str(incident_id), "--note", "已处置完毕", token=officer
    )
    assert code == 0, err
    assert "resolved" in out

    rows = await entries(service, incident_id)
    mine = [r for r in rows if r["kind"] in ("note", "correction", "instruction", "resolved")]
    assert [(r["kind"], r["source"]) for r in mine] == [
        ("note", "cli"),
        ("correction", "cli"),
        ("instruction", "cli"),
        ("resolved", "cli"),
    ]
    [attached] = json.loads(mine[0]["body"])["attachments"]
    assert attached == {
        "name": "现场.png",
        "media_type": "image/png",
        "size": 108,
        "sha256": hashlib.sha256(photo.read_bytes()).hexdigest(),
        "location": None,
    }


async def test_a_district_officer_acknowledging_a_township_page_makes_the_phone_report(
    service: Service, pages: Inbox
) -> None:
    """Grade IV in a township with nobody on duty: the page lands in the district, whose
    officer acknowledges it. The district has been told, so the phone report owed to it is
    made (no district alert of its own was open), and no phone 迟报 follows later."""
    await service.publish(make_report(grade="IV"))
    [page] = await pages.wait_for(1)
    assert (page["person_id"], page["org"]) == ("li-na", "harbin.daoli")
    incident_id = page["incident_id"]
    acked = await service.client.post(
        f"/api/v1/incidents/{incident_id}/ack", headers=service.auth(service.tokens.officer_daoli)
    )
    assert acked.status == 200
    [clock] = await service.sql(
        "SELECT stopped_at FROM report_clocks"
        " WHERE incident_id = $1 AND kind = 'phone' AND target_org = 'harbin.daoli'",
        incident_id,
    )
    assert clock["stopped_at"] == service.clock.now()
    [met] = of_kind(await timeline(service, incident_id), "deadline_met")
    assert met["target"] == "harbin.daoli"
    await service.clock.advance(timedelta(hours=3))
    await asyncio.sleep(0.3)
    late = of_kind(await timeline(service, incident_id), "report_late")
    assert [b for b in late if b["kind"] == "phone"] == [], "only the written report is owed"
