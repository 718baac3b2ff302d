"""Acknowledging over NATS, the relay's crash safety, `dutywatch verify`, and the read API."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid

from dutywatch.outbox import relay
from dutywatch.outbox.store import queries as outbox_queries
from tests.acceptance.conftest import Inbox, Service, eventually, make_report


async def open_incident(service: Service, pages: Inbox, **overrides: object) -> int:
    await service.publish(make_report(**overrides))
    page = (await pages.wait_for(len(pages.messages) + 1))[-1]
    incident_id: int = page["incident_id"]
    return incident_id


async def ack_over_nats(service: Service, incident_id: int, token: str, command_id: str) -> dict:
    nc = service.runtime.nc
    reply = await nc.request(
        service.settings.subject("cmd", "ack"),
        json.dumps(
            {
                "schema": "dutywatch.cmd.ack.v1",
                "command_id": command_id,
                "incident_id": incident_id,
                "token": token,
            }
        ).encode(),
        timeout=5,
    )
    result: dict = json.loads(reply.data)
    return result


async def test_ack_over_nats_is_authenticated_and_replay_safe(
    service: Service, pages: Inbox
) -> None:
    incident_id = await open_incident(service, pages)
    command_id = str(uuid.uuid4())

    refused = await ack_over_nats(service, incident_id, "dw_" + "x" * 40, str(uuid.uuid4()))
    assert (refused["ok"], refused["error"]) == (False, "unauthenticated")

    first = await ack_over_nats(service, incident_id, service.tokens.officer_daoli, command_id)
    assert first == {
        "schema": "dutywatch.cmd.reply.v1",
        "command_id": command_id,
        "ok": True,
        "incident_id": incident_id,
        "state": "acknowledged",
        "error": None,
        "message": None,
    }
    replay = await ack_over_nats(service, incident_id, service.tokens.officer_daoli, command_id)
    assert replay["ok"] is True
    entries = await service.sql(
        "SELECT actor, source FROM timeline_entries WHERE kind = 'acknowledged'"
    )
    assert [(e["actor"], e["source"]) for e in entries] == [("person:li-na", "nats")]


async def test_officer_cannot_ack_another_districts_incident(
    service: Service, pages: Inbox
) -> None:
    incident_id = await open_incident(service, pages, org="harbin.nangang.huayuan")
    response = await service.client.post(
        f"/api/v1/incidents/{incident_id}/ack",
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert response.status == 403
    assert "harbin.nangang.huayuan" in (await response.json())["detail"]
    [incident] = await service.sql("SELECT state::text FROM incidents")
    assert incident["state"] == "open"
    over_nats = await ack_over_nats(
        service, incident_id, service.tokens.officer_daoli, str(uuid.uuid4())
    )
    assert (over_nats["ok"], over_nats["error"]) == (False, "forbidden")


async def test_relay_killed_between_publish_and_commit_republishes_once(
    service_settings, clock, tokens, nc, database_url
) -> None:
    """Intake commits; the relay publishes and dies before marking; a new relay runs."""
    from aiohttp.test_utils import TestClient, TestServer

    from dutywatch.web.app import RUNTIME, create_app

    app = create_app(service_settings.with_(run_relay=False), clock)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        runtime = app[RUNTIME]
        js = nc.jetstream()
        inbox = await Inbox(js, service_settings.subject("notify", ">")).start()
        report = make_report()
        await js.publish(
            service_settings.subject("report", report["org"]),
            json.dumps(report).encode(),
            headers={"Nats-Msg-Id": report["report_id"]},
        )

        async def committed() -> bool:
            # The page's outbox row, not just any: the demo's roster events are pending too.
            async with runtime.pool.acquire() as conn:
                return bool(
                    await conn.fetchval(
                        "SELECT count(*) FROM outbox"
                        " WHERE published_at IS NULL AND subject LIKE $1",
                        service_settings.subject("notify", "%"),
                    )
                )

        await eventually(committed, what="intake to commit the outbox rows")
        # The dying relay: publishes every pending row, then its transaction never commits.
        async with runtime.pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            rows = await outbox_queries.many(conn, "claim_pending", 100)
            await relay.publish_rows(runtime.js, rows)
            await tx.rollback()
        await inbox.wait_for(1)
        # The restarted relay publishes the same rows again, with the same message ids.
        async with runtime.pool.acquire() as conn:
            assert await outbox_queries.val(conn, "pending_count") == len(rows)
        assert await relay.relay_once(runtime.pool, runtime.js, clock.now()) == len(rows)
        async with runtime.pool.acquire() as conn:
            assert await outbox_queries.val(conn, "pending_count") == 0
        await asyncio.sleep(0.3)
        page_ids = [p["page_id"] for p in inbox.payloads()]
        assert len(page_ids) == 1, page_ids
        await inbox.stop()
    finally:
        await client.close()


def run_verify(database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dutywatch", "verify", "--database-url", database_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_verify_names_an_entry_edited_behind_the_services_back(
    service: Service, pages: Inbox, database_url: str
) -> None:
    incident_id = await open_incident(service, pages)
    ok = await asyncio.to_thread(run_verify, database_url)
    assert ok.returncode == 0, ok.stderr
    assert "1 incident timeline(s) verified" in ok.stdout

    async with service.runtime.pool.acquire() as conn:
        refused = None
        try:
            await conn.execute("UPDATE timeline_entries SET actor = 'x' WHERE seq = 1")
        except Exception as exc:
            refused = exc
        assert refused is not None
        assert "append-only" in str(refused)
        # A superuser can still get past the trigger; verify must notice.
        async with conn.transaction():
            await conn.execute("ALTER TABLE timeline_entries DISABLE TRIGGER timeline_append_only")
            await conn.execute(
                """UPDATE timeline_entries
                   SET body = jsonb_set(body, '{title}', '"一般事故"')
                   WHERE incident_id = $1 AND seq = 1""",
                incident_id,
            )
            await conn.execute("ALTER TABLE timeline_entries ENABLE TRIGGER timeline_append_only")

    broken = await asyncio.to_thread(run_verify, database_url)
    assert broken.returncode == 1
    assert f"incident {incident_id} entry 1: content does not match its hash" in broken.stdout


async def test_read_api(service: Service, pages: Inbox) -> None:
    incident_id = await open_incident(service, pages)
    auth = service.auth(service.tokens.officer_daoli)

    listed = await (await service.client.get("/api/v1/incidents", headers=auth)).json()
    assert [i["id"] for i in listed["incidents"]] == [incident_id]
    assert listed["incidents"][0]["state"] == "open"

    detail = await (
        await service.client.get(f"/api/v1/incidents/{incident_id}", headers=auth)
    ).json()
    assert detail["reports"][0]["payload"]["title"] == "新阳路燃气管道泄漏"
    assert [p["person_id"] for p in detail["pages"]] == ["li-na"]
    assert detail["next_escalation"]["step"] == 1

    csv_response = await service.client.get(
        f"/api/v1/incidents/{incident_id}/timeline?format=csv", headers=auth
    )
    assert csv_response.content_type == "text/csv"
    lines = (await csv_response.text()).strip().splitlines()
    assert lines[0] == "seq,at,kind,actor,source,body,prev_hash,hash"
    # report_received, incident_opened, roster_gap, paged, clock_started (phone, written to
    # the district), alert_opened (grade III: the district's alert at once; its officer is the
    # one already paged, so no second page)
    assert len(lines) == 1 + 7

    orgs = await (await service.client.get("/api/v1/orgs", headers=auth)).json()
    assert "harbin.daoli.xinyang" in [o["path"] for o in orgs["orgs"]]

    oncall = await (
        await service.client.get("/api/v1/oncall?org=harbin.daoli", headers=auth)
    ).json()
    assert [(d["role"], d["person_id"]) for d in oncall["on_duty"]] == [
        ("duty_officer", "li-na"),
        ("leader_on_duty", "zhang-wei"),
    ]
    before_roster = await service.client.get(
        "/api/v1/oncall?org=harbin.daoli&at=2020-01-01T00:00:00%2B08:00", headers=auth
    )
    assert (await before_roster.json())["on_duty"] == []
    bad_time = await service.client.get(
        "/api/v1/oncall?org=harbin.daoli&at=yesterday", headers=auth
    )
    assert bad_time.status == 400

    other = service.auth(service.tokens.officer_daoli)
    nangang = await service.client.get("/api/v1/incidents?org=harbin.nangang", headers=other)
    assert nangang.status == 403

    assert (await service.client.get("/healthz")).status == 200
    ready = await service.client.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {
        "status": "ok",
        "checks": {"workers": "ok", "postgres": "ok", "nats": "ok", "streams": "ok"},
    }


async def test_a_message_no_stream_takes_does_not_hold_up_the_others(
    service: Service, pages: Inbox
) -> None:
    """A poison outbox row (no stream for its subject) stays pending; pages behind it go out."""
    async with service.runtime.pool.acquire() as conn:
        await outbox_queries.exec(conn, "enqueue", "nowhere.at.all", b"{}", service.clock.now())
    incident_id = await open_incident(service, pages)
    assert incident_id
    [row] = await service.sql("SELECT published_at FROM outbox WHERE subject = 'nowhere.at.all'")
    assert row["published_at"] is None
