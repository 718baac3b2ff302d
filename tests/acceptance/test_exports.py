"""Exports of one incident (issue 5): JSON, CSV, HTML and PDF, and `verify --export`.

One scripted incident goes through the real intake path with the service's ManualClock: a
grade III first report from the Xinyang township at 02:00Z (its page climbs to the Daoli
district officer, li-na; the district's alert opens at once, statutory), a follow-up at
02:05Z, the leader on duty (zhang-wei) paged by escalation at 02:10Z, li-na acknowledging at
02:12Z (the phone-speed report up to the district made), a reminder for the next follow-up at
02:50Z (follow-ups are due hourly here), the written report to the district missed at 02:58Z
(迟报), and the resolution at 03:01Z.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pypdf
import pytest

from dutywatch import auth
from dutywatch.config import Settings
from dutywatch.deadlines.rules import FollowUpRule
from dutywatch.printing import TEXT
from tests.acceptance.conftest import START, Inbox, Service, eventually, make_report
from tests.acceptance.test_reporting_deadlines import advance_to, timeline

TITLE = "新阳路燃气管道泄漏<script>alert(1)</script>"


@pytest.fixture
def service_settings(service_settings: Settings) -> Settings:
    return service_settings.with_(
        follow_up=FollowUpRule(
            interval=timedelta(hours=1),
            daily_at=None,
            reminder_lead=timedelta(minutes=15),
            final_within=timedelta(hours=2),
        )
    )


async def wait_for_kind(service: Service, incident_id: int, kind: str, count: int = 1) -> None:
    async def seen() -> bool:
        return [k for k, _ in await timeline(service, incident_id)].count(kind) >= count

    await eventually(seen, what=f"{count} {kind} entr(ies)")


async def scripted_incident(service: Service, pages: Inbox) -> int:
    first = make_report(title=TITLE)
    await service.publish(first)
    [page] = await pages.wait_for(1)
    incident_id: int = page["incident_id"]

    await advance_to(service, START + timedelta(minutes=5))
    await service.publish(
        make_report(
            title=TITLE,
            stage="follow_up",
            sequence=1,
            incident_ref=first["incident_ref"],
            summary="抢修队伍已到场，周边 200 米已疏散。",
        )
    )
    await wait_for_kind(service, incident_id, "report_received", 2)

    await advance_to(service, START + timedelta(minutes=10))
    await wait_for_kind(service, incident_id, "escalated")

    await advance_to(service, START + timedelta(minutes=12))
    acked = await service.client.post(
        f"/api/v1/incidents/{incident_id}/ack",
        json={"note": "已派人到场"},
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert acked.status == 200, await acked.text()

    await advance_to(service, START + timedelta(minutes=51))
    await wait_for_kind(service, incident_id, "reminder_sent")
    await advance_to(service, START + timedelta(minutes=59))
    await wait_for_kind(service, incident_id, "report_late")

    await advance_to(service, START + timedelta(minutes=61))
    resolved = await service.client.post(
        f"/api/v1/incidents/{incident_id}/resolve",
        json={"note": "管道已修复"},
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert resolved.status == 200, await resolved.text()
    return incident_id


async def export(
    service: Service, incident_id: int, fmt: str, lang: str = "zh", token: str | None = None
) -> tuple[bytes, Any]:
    response = await service.client.get(
        f"/api/v1/incidents/{incident_id}/export",
        params={"format": fmt, "lang": lang},
        headers=service.auth(token or service.tokens.officer_daoli),
    )
    assert response.status == 200, await response.text()
    return await response.read(), response


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dutywatch", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def verify(database_url: str, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        run_cli, "verify", "--export", str(path), "--database-url", database_url, *extra
    )


async def chain(service: Service, incident_id: int) -> list[tuple[int, str, str]]:
    rows = await service.sql(
        "SELECT seq, kind::text AS kind, encode(hash, 'hex') AS hash FROM timeline_entries "
        "WHERE incident_id = $1 ORDER BY seq",
        incident_id,
    )
    return [(r["seq"], r["kind"], r["hash"]) for r in rows]


async def test_json_export_is_complete_and_verifies_offline_and_against_the_record(
    service: Service, pages: Inbox, database_url: str, tmp_path: Path
) -> None:
    incident_id = await scripted_incident(service, pages)
    recorded = await chain(service, incident_id)
    body, response = await export(service, incident_id, "json")
    assert response.content_type == "application/json"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="incident-{incident_id}-entry-{len(recorded)}.json"'
    )
    document = json.loads(body)
    # The export states the head it was made from.
    assert document["export"] == {
        "incident_id": incident_id,
        "seq": len(recorded),
        "head": recorded[-1][2],
        "made_at": (START + timedelta(minutes=61)).isoformat(),
    }
    assert [(e["seq"], e["kind"], e["hash"]) for e in document["timeline"]] == recorded
    kinds = {kind for _, kind, _ in recorded}
    assert {"report_received", "paged", "escalated", "acknowledged", "reminder_sent"} <= kinds
    assert {"report_late", "resolved"} <= kinds
    # The reports as received, pages, alerts and clocks are there.
    assert [r["stage"] for r in document["reports"]] == ["first", "follow_up"]
    assert document["reports"][0]["payload"]["title"] == TITLE
    assert {p["person_id"] for p in document["pages"]} >= {"li-na", "zhang-wei"}
    assert [a["org"] for a in document["alerts"]] == ["harbin.daoli.xinyang", "harbin.daoli"]
    assert any(c["missed_at"] for c in document["clocks"])
    # Personal data (the reporter) is present with its salt, so its digest can be checked.
    [with_personal, *_] = [e for e in document["timeline"] if e["personal_digest"]]
    assert with_personal["personal"]["state"] == "present"
    assert with_personal["personal"]["data"]["reporter"]["name"] == "周明"
    # Response times: ack 12 min after opening; the phone report up to the district made at
    # the ack, counted (like the review figures) from when the office learned of it: the
    # report's reported_at, 2 minutes before it reached dutywatch; resolved.
    assert document["response_times"] == {
        "to_first_ack_s": 720.0,
        "to_report_up_s": 840.0,
        "report_up_owed": True,
        "to_resolve_s": 3660.0,
    }
    assert document["on_duty"]["org"] == "harbin.daoli"
    assert {p["person_id"] for p in document["on_duty"]["people"]} >= {"li-na", "zhang-wei"}

    path = tmp_path / "incident.json"
    path.write_bytes(body)
    ok = await verify(database_url, path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"recomputes to the stated head {recorded[-1][2][:16]}" in ok.stdout
    assert f"the database still has this head at entry {len(recorded)}" in ok.stdout
    offline = await asyncio.to_thread(run_cli, "verify", "--export", str(path), "--offline")
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert "database" not in offline.stdout

    # One byte changed in one entry (the acknowledging note) breaks that entry, by name.
    ack_seq = next(seq for seq, kind, _ in recorded if kind == "acknowledged")
    edited = body.replace("已派人到场".encode(), "未派人到场".encode())
    assert len(edited) == len(body)
    assert edited != body
    path.write_bytes(edited)
    broken = await verify(database_url, path, "--offline")
    assert broken.returncode == 1
    assert (
        f"PROBLEM: incident {incident_id} entry {ack_seq}: content does not match its hash"
        in broken.stdout
    )
    assert broken.stdout.count("PROBLEM") == 1, broken.stdout

    # Personal data edited in the file no longer matches its digest.
    path.write_bytes(body.replace("周明".encode(), "周鸣".encode()))
    personal = await verify(database_url, path, "--offline")
    assert personal.returncode == 1
    assert f"entry {with_personal['seq']}: personal data does not match its digest" in (
        personal.stdout
    )


async def test_csv_has_one_line_per_entry_and_states_its_head(
    service: Service, pages: Inbox, database_url: str, tmp_path: Path
) -> None:
    incident_id = await scripted_incident(service, pages)
    recorded = await chain(service, incident_id)
    body, response = await export(service, incident_id, "csv", "en")
    assert response.content_type == "text/csv"
    assert response.charset == "utf-8"
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"))))
    assert len(rows) == len(recorded)
    assert [(int(r["seq"]), r["kind"], r["hash"]) for r in rows] == recorded
    assert list(rows[0]) == [
        "incident_id",
        "seq",
        "at",
        "kind",
        "actor",
        "source",
        "summary",
        "personal_data",
        "prev_hash",
        "hash",
        "exported_at",
    ]
    ack = next(r for r in rows if r["kind"] == "acknowledged")
    assert ack["actor"] == "person:li-na"
    assert ack["source"] == "http"
    assert ack["at"] == "2026-11-25T10:12:00+08:00"  # Asia/Shanghai, the organisation's zone
    assert "已派人到场" in ack["summary"]
    assert rows[0]["personal_data"] == "present"

    # The same export from the command line, straight from the database.
    path = tmp_path / "incident.csv"
    made = await asyncio.to_thread(
        run_cli,
        "export",
        str(incident_id),
        "--format",
        "csv",
        "--lang",
        "en",
        "-o",
        str(path),
        "--database-url",
        database_url,
    )
    assert made.returncode == 0, made.stderr
    cli_rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert [r["hash"] for r in cli_rows] == [h for _, _, h in recorded]
    ok = await verify(database_url, path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "the record was not changed since" in ok.stdout


async def test_printable_reports_escape_the_title_and_translate_every_label(
    service: Service, pages: Inbox
) -> None:
    incident_id = await scripted_incident(service, pages)
    recorded = await chain(service, incident_id)
    for lang, heading, late in [
        ("zh", "突发事件处置记录", "迟报"),
        ("en", "Incident record", "report late"),
    ]:
        body, response = await export(service, incident_id, "html", lang)
        assert response.content_type == "text/html"
        assert response.headers["Content-Disposition"].endswith(
            f'-entry-{len(recorded)}-{lang}.html"'
        )
        html = body.decode("utf-8")
        assert "新阳路燃气管道泄漏&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script" not in html
        assert heading in html
        # No label left as its key, in either language.
        assert not [key for key in TEXT if key in html]
        assert f'lang="{"zh-CN" if lang == "zh" else "en"}"' in html
        assert "@page" in html
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
        # Late items are highlighted rows; the stated head is there.
        assert re.search(rf'<tr class="late"><td>[^<]+</td><td class="kind">#\d+ {late}', html)
        assert (
            f'<meta name="dutywatch-export" content="dutywatch-export incident={incident_id} '
            f"seq={len(recorded)} head={recorded[-1][2]} " in html
        )
        # Who was on duty: the district roster when the township's incident opened.
        assert "li-na" in html
        assert "zhang-wei" in html


async def test_pdf_first_page_shows_the_title_and_the_timeline(
    service: Service, pages: Inbox, database_url: str, tmp_path: Path
) -> None:
    incident_id = await scripted_incident(service, pages)
    recorded = await chain(service, incident_id)
    for lang, received in [("zh", "收到报告"), ("en", "report received")]:
        body, response = await export(service, incident_id, "pdf", lang)
        assert response.content_type == "application/pdf"
        reader = pypdf.PdfReader(io.BytesIO(body))
        # Table cells wrap long words onto new lines; read the text as one run of words.
        first_page = " ".join(reader.pages[0].extract_text().split())
        assert TITLE in first_page
        assert received in first_page
        assert "首报" in first_page if lang == "zh" else "first report" in first_page
        text = "\n".join(page.extract_text() for page in reader.pages)
        assert f"head={recorded[-1][2]}" in text
        assert "已派人到场" in text
        assert "迟报" in text if lang == "zh" else "late" in text
        path = tmp_path / f"incident-{lang}.pdf"
        path.write_bytes(body)
        ok = await verify(database_url, path)
        assert ok.returncode == 0, ok.stdout + ok.stderr


async def test_verify_tells_a_record_that_moved_on_from_one_that_was_altered(
    service: Service, pages: Inbox, database_url: str, tmp_path: Path
) -> None:
    incident_id = await scripted_incident(service, pages)
    recorded = await chain(service, incident_id)
    files = {}
    for fmt in ("csv", "html", "json"):
        body, _ = await export(service, incident_id, fmt)
        files[fmt] = tmp_path / f"old.{fmt}"
        files[fmt].write_bytes(body)

    # A new entry after the exports: a late final report is not late yet, so add one by a
    # second incident report (a supplementary one), through the real intake path.
    first_ref = (
        await service.sql("SELECT incident_ref FROM incidents WHERE id = $1", incident_id)
    )[0]
    await service.publish(
        make_report(
            title=TITLE,
            stage="supplementary",
            incident_ref=first_ref["incident_ref"],
        )
    )
    await wait_for_kind(service, incident_id, "report_received", 3)
    now_entries = len(await chain(service, incident_id))
    assert now_entries > len(recorded)

    for fmt, path in files.items():
        moved = await verify(database_url, path)
        assert moved.returncode == 0, f"{fmt}: {moved.stdout}{moved.stderr}"
        assert "NOTE: the record has moved on since this export was made" in moved.stdout
        assert "not tampering" in moved.stdout
        assert f"now has {now_entries} entries" in moved.stdout

    # The stated head changed in the file: not in the chain at that seq - tampering.
    html = files["html"].read_text(encoding="utf-8")
    forged = html.replace(f"head={recorded[-1][2]}", f"head={recorded[-2][2]}")
    files["html"].write_text(forged, encoding="utf-8")
    altered = await verify(database_url, files["html"])
    assert altered.returncode == 1
    assert "TAMPERING: the stated head is not in the chain" in altered.stdout
    assert f"entry {len(recorded)} of incident {incident_id}" in altered.stdout


async def test_export_is_for_reviewers_leaders_and_officers_covering_the_incident(
    service: Service, pages: Inbox
) -> None:
    await service.publish(make_report())
    [page] = await pages.wait_for(1)
    incident_id = page["incident_id"]
    async with service.runtime.pool.acquire() as conn:
        reviewer = await auth.create_token(
            conn, label="review", role=auth.Role.REVIEWER, org_path="harbin"
        )
        elsewhere = await auth.create_token(
            conn, label="other", role=auth.Role.OFFICER, org_path="harbin.nangang"
        )
    url = f"/api/v1/incidents/{incident_id}/export"
    for token, status in [
        (reviewer, 200),
        (service.tokens.leader_daoli, 200),
        (service.tokens.admin, 200),
        (service.tokens.office_daoli, 403),
        (elsewhere, 403),
    ]:
        response = await service.client.get(url, headers=service.auth(token))
        assert response.status == status, (token, await response.text())
    bad = await service.client.get(url, params={"format": "docx"}, headers=service.auth(reviewer))
    assert bad.status == 400
    assert (await bad.json())["field"] == "format"
    missing = await service.client.get(
        "/api/v1/incidents/999999/export", headers=service.auth(reviewer)
    )
    assert missing.status == 404


async def test_exports_show_purged_personal_data_and_still_verify(
    service: Service, pages: Inbox, database_url: str, tmp_path: Path
) -> None:
    await service.publish(make_report(title=TITLE))
    [page] = await pages.wait_for(1)
    incident_id = page["incident_id"]
    # What a purge leaves (Emergency Response Law Art. 85): the personal rows are gone, the
    # chain with its digests is untouched. (The purge itself is another command's work.)
    await service.sql("DELETE FROM personal_data WHERE incident_id = $1", incident_id)

    body, _ = await export(service, incident_id, "json")
    document = json.loads(body)
    [entry] = [e for e in document["timeline"] if e["personal_digest"]]
    assert entry["personal"] == {"state": "purged"}
    assert "周明" not in body.decode("utf-8").split('"timeline"')[1].split('"reports"')[0]
    path = tmp_path / "purged.json"
    path.write_bytes(body)
    ok = await verify(database_url, path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "NOTE: personal data purged in 1 entry (the chain still holds" in ok.stdout

    html = (await export(service, incident_id, "html", "en"))[0].decode("utf-8")
    assert "[personal data purged]" in html
    rows = list(
        csv.DictReader(io.StringIO((await export(service, incident_id, "csv"))[0].decode()))
    )
    assert rows[0]["personal_data"] == "purged"
