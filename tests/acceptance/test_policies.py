"""Escalation policies over HTTP and the CLI: save versions, refuse unsound ones, simulate."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import timedelta
from typing import Any

from tests.acceptance.conftest import Inbox, Service, make_report

DAOLI_NIGHT: dict[str, Any] = {
    "id": "daoli-iv",
    "org": "harbin.daoli",
    "grades": ["IV"],
    "steps": [
        {"kind": "notify_role", "role": "duty_officer"},
        {"kind": "notify_people", "people": ["zhang-wei"], "delay": "PT2M"},
        {"kind": "notify_duty_room", "org": "harbin.nangang", "delay": "PT3M"},
    ],
}


async def post(service: Service, path: str, body: Any, token: str) -> tuple[int, Any]:
    response = await service.client.post(path, json=body, headers=service.auth(token))
    return response.status, await response.json()


async def test_a_saved_policy_drives_the_escalation_and_the_timeline_names_its_version(
    service: Service, pages: Inbox
) -> None:
    leader = service.tokens.leader_daoli
    status, first = await post(service, "/api/v1/policies", DAOLI_NIGHT, leader)
    assert status == 201, first
    assert first["policy"]["ref"] == "daoli-iv@v1"
    changed = {**DAOLI_NIGHT, "categories": ["accident", "natural_disaster"]}
    status, second = await post(service, "/api/v1/policies", changed, leader)
    assert (status, second["policy"]["ref"]) == (201, "daoli-iv@v2")

    await service.publish(make_report(org="harbin.daoli", grade="IV"))
    [first_page] = await pages.wait_for(1)
    assert (first_page["person_id"], first_page["policy_version"]) == ("li-na", "daoli-iv@v2")
    await service.clock.advance(timedelta(minutes=2))
    named = (await pages.wait_for(2))[1]
    assert (named["person_id"], named["role"], named["step"]) == ("zhang-wei", "named", 1)
    await service.clock.advance(timedelta(minutes=3))
    peer = (await pages.wait_for(3))[2]
    # The peer district's alert runs its own (default) policy.
    assert (peer["person_id"], peer["org"], peer["policy_version"]) == (
        "chen-jing",
        "harbin.nangang",
        "default-IV-600s@v1",
    )
    rows = await service.sql(
        "SELECT body FROM timeline_entries WHERE incident_id = $1 AND kind = 'alert_opened'",
        first_page["incident_id"],
    )
    [opened] = [json.loads(r["body"]) for r in rows]
    assert (opened["org"], opened["step"]) == (
        "harbin.nangang",
        "notify duty room harbin.nangang",
    )

    listed = await (
        await service.client.get("/api/v1/policies", headers=service.auth(leader))
    ).json()
    assert [p["ref"] for p in listed["policies"]] == ["daoli-iv@v2"]
    shown = await (
        await service.client.get("/api/v1/policies/daoli-iv", headers=service.auth(leader))
    ).json()
    assert [v["version"] for v in shown["versions"]] == [1, 2]

    retired = await service.client.delete("/api/v1/policies/daoli-iv", headers=service.auth(leader))
    assert (await retired.json())["retired_versions"] == 2
    await service.publish(make_report(org="harbin.daoli", grade="IV"))
    fourth = (await pages.wait_for(4))[3]
    assert fourth["policy_version"] == "default-IV-600s@v1"


async def test_unsound_policies_are_refused_with_every_problem_named(service: Service) -> None:
    admin = service.tokens.admin
    nobody = {
        "id": "silent",
        "org": "harbin.daoli",
        "steps": [{"kind": "notify_people", "people": ["no-such-person"]}],
    }
    status, problem = await post(service, "/api/v1/policies", nobody, admin)
    assert status == 422
    assert problem["type"].endswith("/invalid_policy")
    assert "nobody_reachable" in {p["code"] for p in problem["problems"]}

    to_daoli = {
        "id": "nangang-to-daoli",
        "org": "harbin.nangang",
        "steps": [{"kind": "notify_duty_room", "org": "harbin.daoli"}],
    }
    status, saved = await post(service, "/api/v1/policies", to_daoli, admin)
    assert status == 201, saved
    back = {
        "id": "daoli-to-nangang",
        "org": "harbin.daoli",
        "steps": [{"kind": "notify_duty_room", "org": "harbin.nangang"}],
    }
    status, problem = await post(service, "/api/v1/policies/validate", back, admin)
    assert status == 422
    [loop] = [p for p in problem["problems"] if p["code"] == "org_loop"]
    assert "harbin.daoli → harbin.nangang → harbin.daoli" in loop["message"]
    status, problem = await post(
        service,
        "/api/v1/policies",
        {"id": "x", "org": "harbin.daoli", "steps": [{"kind": "notify_parent", "levels": 2}]},
        admin,
    )
    assert (status, problem["problems"][0]["code"]) == (422, "no_duty_room")
    status, problem = await post(
        service, "/api/v1/policies", {"id": "x", "org": "harbin.daoli", "steps": "no"}, admin
    )
    assert (status, problem["type"].rsplit("/", 1)[1]) == (422, "schema_violation")

    status, _ = await post(service, "/api/v1/policies", DAOLI_NIGHT, service.tokens.officer_daoli)
    assert status == 403
    saved_ids = await service.sql("SELECT id FROM escalation_policies")
    assert [r["id"] for r in saved_ids] == ["nangang-to-daoli"]


async def test_simulate_prints_the_timeline_nobody_acknowledging_would_get(
    service: Service, pages: Inbox
) -> None:
    response = await service.client.get(
        "/api/v1/policies/simulate?org=harbin.daoli&grade=II&hours=1.5",
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    pages_at = [
        (e["offset_s"], e["org"], [p["id"] for p in e["people"]])
        for e in body["events"]
        if "people" in e
    ]
    assert pages_at[:4] == [
        (0.0, "harbin.daoli", ["li-na"]),
        (0.0, "harbin", ["wang-fang"]),
        (600.0, "harbin.daoli", ["zhang-wei"]),
        (600.0, "harbin", ["zhao-lei"]),
    ]
    late = [e for e in body["events"] if e["kind"] == "report_late"]
    assert [(e["org"], e["offset_s"]) for e in late] == [
        ("harbin", 1800.000001),
        ("harbin", 3600.000001),
    ]
    # A dry run: nothing paged, nothing stored.
    await asyncio.sleep(0.2)
    assert pages.messages == []
    assert await service.sql("SELECT 1 FROM alerts") == []

    url = str(service.client.make_url("")).rstrip("/")
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "dutywatch",
            "policy",
            "simulate",
            "--org",
            "harbin.daoli.xinyang",
            "--grade",
            "IV",
            "--hours",
            "1",
            "--url",
            url,
            "--token",
            service.tokens.officer_daoli,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("If nobody acknowledges a grade IV accident incident of harbin")
    assert "+00:00:00  harbin.daoli.xinyang" in lines[1]
    assert "李娜 (li-na) in harbin.daoli" in lines[1]
    assert any("+00:20:00" in line and "alert opens in harbin.daoli" in line for line in lines)
    assert any("张伟 (zhang-wei)" in line for line in lines)
