"""Tamper evidence beyond the chain (daily anchors) and the destruction of personal data
(Emergency Response Law Art. 85), through the real intake path with a ManualClock.

- Incidents over a few days are anchored by the worker once each UTC day is complete (after
  the grace); deleting one incident's rows behind the service's back (as a superuser, with
  triggers off) makes ``dutywatch verify`` fail naming the incident and the anchor day.
- A purge removes every personal field from the database (checked by searching every
  text, JSON and bytea column of every table) while ``verify`` still passes.
- The retention worker purges resolved incidents past the rule, unless held.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from dutywatch.config import Settings
from dutywatch.timeline.anchoring import anchor_complete_days
from dutywatch.timeline.personal import RetentionRule
from tests.acceptance.conftest import START, Inbox, Service, eventually, make_report
from tests.acceptance.test_reporting_deadlines import advance_to, of_kind, timeline

GRACE = timedelta(minutes=15)
DAY_1 = START.date()  # 2026-11-25 (UTC)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dutywatch", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def verify(database_url: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, "verify", "--database-url", database_url)


async def report_stored(service: Service, report: dict[str, Any]) -> int:
    """Publish through the real intake path; the incident id once the report is stored."""
    await service.publish(report)

    async def stored() -> int | None:
        rows = await service.sql(
            "SELECT incident_id FROM reports WHERE report_id = $1::uuid", report["report_id"]
        )
        return rows[0]["incident_id"] if rows else None

    incident_id: int = await eventually(stored, what=f"report {report['report_id']} stored")
    return incident_id


async def anchored_days(service: Service) -> list[date]:
    return [r["day"] for r in await service.sql("SELECT day FROM timeline_anchors ORDER BY day")]


async def delete_incident_behind_the_services_back(service: Service, incident_id: int) -> None:
    """Every row of the incident in every table, as a superuser with triggers off."""
    async with service.runtime.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        tables = await conn.fetch(
            """SELECT table_name FROM information_schema.columns
               WHERE table_schema = 'public' AND column_name = 'incident_id'"""
        )
        for row in tables:
            await conn.execute(
                f'DELETE FROM "{row["table_name"]}" WHERE incident_id = $1', incident_id
            )
        await conn.execute("DELETE FROM incidents WHERE id = $1", incident_id)
    assert not await service.sql(
        "SELECT 1 FROM timeline_entries WHERE incident_id = $1", incident_id
    )


async def test_deleting_a_whole_incident_fails_verify_on_its_anchor(
    service: Service, pages: Inbox, database_url: str
) -> None:
    first = await report_stored(service, make_report())
    second = await report_stored(service, make_report(title="道里区仓库火灾", grade="IV"))
    # Just before midnight UTC: an entry stamped on day 1 ...
    await advance_to(
        service, datetime.combine(DAY_1, datetime.max.time(), UTC) - timedelta(seconds=30)
    )
    late = await report_stored(
        service,
        make_report(
            title="新阳路燃气管道泄漏（续报）",
            stage="follow_up",
            incident_ref=(
                await service.sql("SELECT incident_ref FROM incidents WHERE id = $1", first)
            )[0]["incident_ref"],
        ),
    )
    assert late == first
    # ... is in day 1's anchor: nothing is anchored inside the grace after midnight.
    await advance_to(
        service, datetime.combine(DAY_1 + timedelta(days=1), datetime.min.time(), UTC) + GRACE / 2
    )
    await asyncio.sleep(0.3)
    assert await anchored_days(service) == []
    await advance_to(
        service, datetime.combine(DAY_1 + timedelta(days=1), datetime.min.time(), UTC) + GRACE
    )
    await eventually(lambda: anchored_days(service), what="day 1 anchored")
    assert await anchored_days(service) == [DAY_1]
    [day_1] = await service.sql("SELECT heads FROM timeline_anchors")
    heads = {h["incident_id"]: h["seq"] for h in json.loads(day_1["heads"])}
    last_of_first = await service.sql(
        "SELECT max(seq) AS seq FROM timeline_entries WHERE incident_id = $1 AND at < $2",
        first,
        datetime.combine(DAY_1 + timedelta(days=1), datetime.min.time(), UTC),
    )
    assert heads[first] == last_of_first[0]["seq"]
    assert set(heads) == {first, second}

    # Day 2: another incident; day 3: none. Both anchored (day 3 with an empty list).
    third = await report_stored(service, make_report(title="地铁站积水"))
    await advance_to(service, service.clock.now() + timedelta(days=2))

    async def three_days() -> bool:
        return len(await anchored_days(service)) == 3

    await eventually(three_days, what="three days anchored")
    assert third not in heads

    # Two replicas anchoring at once write each day once.
    await asyncio.gather(
        *(anchor_complete_days(service.runtime.pool, service.clock.now(), GRACE) for _ in range(3))
    )
    assert len(await anchored_days(service)) == 3

    ok = await verify(database_url)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "3 daily anchor(s) hold" in ok.stdout

    await delete_incident_behind_the_services_back(service, second)
    broken = await verify(database_url)
    assert broken.returncode == 1
    assert (
        f"ALTERED: anchor {DAY_1}: incident {second} is missing (anchored at entry {heads[second]}"
        in broken.stdout
    ), broken.stdout
    assert f"incident {first} " not in broken.stdout  # nothing else is blamed


async def test_deleting_an_anchor_fails_verify(
    service: Service, pages: Inbox, database_url: str
) -> None:
    await report_stored(service, make_report())
    await advance_to(service, START + timedelta(days=3))

    async def anchored() -> bool:
        return len(await anchored_days(service)) == 3

    await eventually(anchored, what="three days anchored")
    async with service.runtime.pool.acquire() as conn:
        with pytest.raises(Exception, match="append-only"):
            await conn.execute("DELETE FROM timeline_anchors")
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(
                "DELETE FROM timeline_anchors WHERE day = $1", DAY_1 + timedelta(days=1)
            )
    broken = await verify(database_url)
    assert broken.returncode == 1
    day_2, day_3 = DAY_1 + timedelta(days=1), DAY_1 + timedelta(days=2)
    assert (
        f"ALTERED: anchor {day_3}: the anchors from {day_2} to {day_2} are missing" in broken.stdout
    ), broken.stdout


NAMES = ("赵丽华", "钱卫国", "孙建民", "李秀英")
PHONES = ("13912345678", "13700001111", "13600002222", "13511112222")


def personal_report(**overrides: Any) -> dict[str, Any]:
    people = {
        "reporter": {"name": NAMES[0], "phone": PHONES[0]},
        "commander": {"name": NAMES[1], "post": "消防救援大队长", "phone": PHONES[1]},
        "leaders_on_scene": [{"name": NAMES[2], "post": "区长", "phone": PHONES[2]}],
    }
    return make_report(**{**people, **overrides})


async def places_holding(service: Service, value: str) -> list[str]:
    """Every table.column (text-like, JSON or bytea) of the database that contains ``value``."""
    columns = await service.sql(
        """SELECT table_name, column_name, data_type FROM information_schema.columns
           WHERE table_schema = 'public'
             AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb',
                               'bytea', 'ARRAY', 'USER-DEFINED')"""
    )
    assert len(columns) > 50  # the whole schema, not a handful
    found = []
    for c in columns:
        column = f'"{c["column_name"]}"'
        if c["data_type"] == "bytea":
            condition = f"position(convert_to($1, 'UTF8') IN {column}) > 0"
        else:
            condition = f"{column}::text LIKE '%' || $1 || '%'"
        rows = await service.sql(
            f'SELECT count(*) AS n FROM "{c["table_name"]}" WHERE {condition}', value
        )
        if rows[0]["n"]:
            found.append(f"{c['table_name']}.{c['column_name']}")
    return sorted(found)


async def test_purge_removes_every_personal_field_and_verify_still_passes(
    service: Service, pages: Inbox, rejected: Inbox, database_url: str
) -> None:
    report = personal_report()
    incident_id = await report_stored(service, report)
    follow_up = personal_report(
        incident_ref=report["incident_ref"],
        stage="follow_up",
        reporter={"name": NAMES[3], "phone": PHONES[3]},
    )
    assert await report_stored(service, follow_up) == incident_id
    # A refused follow-up (grade V does not exist) still carries the reporter.
    refused = personal_report(incident_ref=report["incident_ref"], stage="follow_up", grade="V")
    await service.publish(refused)
    await rejected.wait_for(1)
    # Another incident, whose reporter must survive: the search below can find a name.
    other = await report_stored(
        service, make_report(reporter={"name": "何明远", "phone": "13300003333"})
    )
    for value in (*NAMES, *PHONES):
        assert await places_holding(service, value), value
    assert await places_holding(service, "何明远") == ["personal_data.data", "reports.payload"]

    url = f"/api/v1/incidents/{incident_id}/purge"
    body = {"reason": "应急处置结束，依法销毁个人信息"}
    forbidden = await service.client.post(
        url, json=body, headers=service.auth(service.tokens.leader_daoli)
    )
    assert forbidden.status == 403
    missing_reason = await service.client.post(
        url, json={}, headers=service.auth(service.tokens.admin)
    )
    assert missing_reason.status == 422
    done = await service.client.post(url, json=body, headers=service.auth(service.tokens.admin))
    assert done.status == 200, await done.text()
    result = await done.json()
    assert result["changed"] is True
    assert result["purged"]["personal_data_rows"] == 2
    assert result["purged"]["reports_stripped"] == 2
    assert result["purged"]["rejections_scrubbed"] == 1
    assert result["purged"]["outbox_messages_scrubbed"] == 1

    for value in (*NAMES, *PHONES):
        assert await places_holding(service, value) == [], value
    assert await places_holding(service, "何明远") == ["personal_data.data", "reports.payload"]
    # The copy for dutywatch.rejected carries the raw bytes in base64: scrubbed too.
    for row in await service.sql(
        "SELECT payload FROM outbox WHERE subject = $1", service.settings.subject("rejected")
    ):
        raw = base64.b64decode(json.loads(bytes(row["payload"]))["raw_base64"])
        assert all(v.encode() not in raw for v in (*NAMES, *PHONES))
        assert json.loads(raw)["incident_ref"] == report["incident_ref"]  # the rest is kept

    entries = await timeline(service, incident_id)
    [purged] = of_kind(entries, "personal_data_purged")
    received = [n for n, (k, _) in enumerate(entries, start=1) if k == "report_received"]
    assert purged["entries"] == received
    assert purged["reason"] == body["reason"]
    assert purged["by"].startswith("admin:")
    assert purged["rule"] == "manual"
    detail = await (
        await service.client.get(
            f"/api/v1/incidents/{incident_id}", headers=service.auth(service.tokens.admin)
        )
    ).json()
    assert all("reporter" not in r["payload"] for r in detail["reports"])
    assert all(r["payload"]["title"] for r in detail["reports"])

    ok = await verify(database_url)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    again = await asyncio.to_thread(
        run_cli,
        "purge",
        "--incident",
        str(incident_id),
        "--reason",
        "再次",
        "--database-url",
        database_url,
    )
    assert again.returncode == 0, again.stderr
    assert f"the personal data of incident {incident_id} was already purged at" in again.stdout
    assert len(of_kind(await timeline(service, incident_id), "personal_data_purged")) == 1

    # Personal data deleted without a purge entry, or edited, is named by verify.
    async with service.runtime.pool.acquire() as conn:
        await conn.execute(
            """UPDATE personal_data SET data = jsonb_set(data, '{reporter,name}', '"何明"')
               WHERE incident_id = $1""",
            other,
        )
    edited = await verify(database_url)
    assert edited.returncode == 1
    assert f"incident {other} entry 1: personal data does not match its digest" in edited.stdout
    async with service.runtime.pool.acquire() as conn:
        await conn.execute("DELETE FROM personal_data WHERE incident_id = $1", other)
    deleted = await verify(database_url)
    assert f"incident {other} entry 1: personal data is missing and no personal_data_purged" in (
        deleted.stdout
    )


@pytest.fixture
def service_settings(service_settings: Settings) -> Settings:
    return service_settings.with_(
        retention=RetentionRule({"I": 4, "II": 3, "III": 2, "IV": 1}),
        retention_check_interval=timedelta(minutes=30),
    )


async def test_retention_rule_purges_unless_held(service: Service, pages: Inbox) -> None:
    kept = await report_stored(service, personal_report())
    purged = await report_stored(service, make_report(grade="III"))
    officer = service.auth(service.tokens.officer_daoli)
    for incident_id in (kept, purged):
        resolved = await service.client.post(
            f"/api/v1/incidents/{incident_id}/resolve", json={}, headers=officer
        )
        assert resolved.status == 200

    hold_url = f"/api/v1/incidents/{kept}/retention-hold"
    reason = {"reason": "事故调查组要求保留报告人信息"}
    refused = await service.client.post(hold_url, json=reason, headers=officer)
    assert refused.status == 403  # a leader's decision
    held = await service.client.post(
        hold_url, json=reason, headers=service.auth(service.tokens.leader_daoli)
    )
    assert (await held.json())["changed"] is True
    twice = await service.client.post(
        hold_url, json=reason, headers=service.auth(service.tokens.leader_daoli)
    )
    assert "already held" in (await twice.json())["message"]
    by_hand = await service.client.post(
        f"/api/v1/incidents/{kept}/purge",
        json={"reason": "x"},
        headers=service.auth(service.tokens.admin),
    )
    assert by_hand.status == 409  # release the hold first

    async def personal_rows(incident_id: int) -> int:
        rows = await service.sql(
            "SELECT count(*) AS n FROM personal_data WHERE incident_id = $1", incident_id
        )
        return int(rows[0]["n"])

    # One day short of grade III's two: nothing purged.
    await advance_to(service, START + timedelta(days=1, hours=1))
    await asyncio.sleep(0.3)
    assert await personal_rows(purged) == 1
    await advance_to(service, START + timedelta(days=2, hours=1))

    async def gone() -> bool:
        return await personal_rows(purged) == 0

    await eventually(gone, what="the retention worker's purge")
    [entry] = of_kind(await timeline(service, purged), "personal_data_purged")
    assert entry["rule"] == "retention"
    assert "grade III kept 2 days" in entry["reason"]
    await asyncio.sleep(0.3)
    assert await personal_rows(kept) == 1  # held

    released = await asyncio.to_thread(
        run_cli,
        "retention",
        "release",
        "--incident",
        str(kept),
        "--reason",
        "调查结束",
        "--by",
        "zhang",
        "--database-url",
        service.settings.database_url,
    )
    assert released.returncode == 0, released.stderr
    assert "retention hold released" in released.stdout
    await advance_to(service, service.clock.now() + timedelta(hours=1))

    async def kept_gone() -> bool:
        return await personal_rows(kept) == 0

    await eventually(kept_gone, what="the purge after the hold was released")
    kinds = [k for k, _ in await timeline(service, kept)]
    ours = {"retention_held", "retention_released", "personal_data_purged"}
    assert [k for k in kinds if k in ours] == [
        "retention_held",
        "retention_released",
        "personal_data_purged",
    ]
    [release] = of_kind(await timeline(service, kept), "retention_released")
    assert release == {"by": "cli:zhang", "reason": "调查结束"}
