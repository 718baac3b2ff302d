"""Inbound formats through the real intake path: CAP 1.2, PagerDuty Events v2, Alertmanager.

Each test drives the service over HTTP; reports go through REPORTS and the intake consumer on
real NATS and PostgreSQL; acknowledge and resolve go through the incident commands.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from lxml import etree

from dutywatch.inbound import cap
from tests.acceptance.conftest import Inbox, Service, eventually, timeline_kinds

SAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "samples" / "cap"
XSD = Path(__file__).resolve().parents[2] / "contracts" / "cap" / "CAP-v1.2.xsd"
NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
TOWNSHIP = "harbin.daoli.xinyang"
CAP_HEADERS = {"Content-Type": "application/cap+xml"}


def oasis_schema() -> etree.XMLSchema:
    """The OASIS schema, read here on its own (not through the code under test)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(XSD), parser))


async def post_cap(service: Service, name: str, *, org: str = TOWNSHIP) -> Any:
    response = await service.client.post(
        f"/api/v1/cap?org={org}",
        data=(SAMPLES / name).read_bytes(),
        headers={**service.auth(service.tokens.office_daoli), **CAP_HEADERS},
    )
    body = await response.json(content_type=None)
    assert response.status == 202, body
    return body


async def incident_row(service: Service, ref: str) -> dict[str, Any]:
    async def found() -> Any:
        rows = await service.sql("SELECT * FROM incidents WHERE incident_ref = $1", ref)
        return dict(rows[0]) if rows else None

    row: dict[str, Any] = await eventually(found, what=f"incident {ref}")
    return row


async def reports_count(service: Service, incident_id: int, count: int) -> None:
    async def enough() -> bool:
        rows = await service.sql("SELECT reports_count FROM incidents WHERE id = $1", incident_id)
        return bool(rows[0]["reports_count"] >= count)

    await eventually(enough, what=f"{count} reports on incident {incident_id}")


async def export(service: Service, incident_id: int) -> etree._Element:
    response = await service.client.get(
        f"/api/v1/incidents/{incident_id}/cap",
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert response.status == 200, await response.text()
    assert response.content_type == "application/cap+xml"
    document = etree.fromstring(await response.read(), etree.XMLParser(resolve_entities=False))
    schema = oasis_schema()
    assert schema.validate(document), schema.error_log
    return document


# --------------------------------------------------------------------------- CAP 1.2


async def test_cap_alert_update_cancel_make_one_incident_and_export_valid_cap(
    service: Service,
) -> None:
    alert = await post_cap(service, "01-alert.xml")
    assert alert["msg_type"] == "Alert"
    assert alert["duplicate"] is False
    incident = await incident_row(service, alert["incident_ref"])
    assert incident["org_path"] == TOWNSHIP
    assert incident["grade"] == "III"  # Moderate + Immediate
    assert incident["title"] == "新阳路燃气管道泄漏"

    document = await export(service, incident["id"])
    assert document.findtext("cap:msgType", namespaces=NS) == "Alert"
    assert document.findtext("cap:incidents", namespaces=NS) == alert["incident_ref"]

    update = await post_cap(service, "02-update-polygons-two-languages.xml")
    assert update["incident_ref"] == alert["incident_ref"]
    await reports_count(service, incident["id"], 2)
    # The same Update again is a duplicate: no third report.
    again = await post_cap(service, "02-update-polygons-two-languages.xml")
    assert again["report_id"] == update["report_id"]
    assert again["duplicate"] is True

    document = await export(service, incident["id"])
    assert document.findtext("cap:msgType", namespaces=NS) == "Update"
    infos = document.findall("cap:info", namespaces=NS)
    assert [i.findtext("cap:language", namespaces=NS) for i in infos] == ["zh-CN", "en-US"]
    assert len(infos[0].findall("cap:area/cap:polygon", namespaces=NS)) == 2
    assert len(infos[1].findall("cap:area/cap:polygon", namespaces=NS)) == 2
    params = {
        p.findtext("cap:valueName", namespaces=NS): p.findtext("cap:value", namespaces=NS)
        for p in infos[0].findall("cap:parameter", namespaces=NS)
    }
    assert params[cap.PARAM_GRADE] == "III"
    assert params[cap.PARAM_CATEGORY] == "accident"
    references = document.findtext("cap:references", namespaces=NS) or ""
    assert len(references.split()) == 1

    cancel = await post_cap(service, "03-cancel.xml")
    assert cancel["incident_ref"] == alert["incident_ref"]
    assert cancel["command"]["state"] == "resolved"
    resolved = await incident_row(service, alert["incident_ref"])
    assert resolved["state"] == "resolved"
    assert resolved["reports_count"] == 3
    # Cancel kept the grade and title (no downgrade from a message without info).
    assert resolved["grade"] == "III"
    notes = await service.sql(
        "SELECT body FROM timeline_entries WHERE incident_id = $1 AND kind = 'resolved'",
        incident["id"],
    )
    assert len(notes) == 1
    assert "漏点已封堵" in json.loads(notes[0]["body"])["note"]
    # The Cancel sent again replays the command: still one resolution.
    replay = await post_cap(service, "03-cancel.xml")
    assert replay["command"]["replayed"] is True

    rows = await service.sql("SELECT count(*) AS n FROM incidents WHERE org_path = $1", TOWNSHIP)
    assert rows[0]["n"] == 1
    document = await export(service, incident["id"])
    assert document.findtext("cap:note", namespaces=NS) == "resolved"
    assert "AllClear" in [
        e.text for e in document.findall("cap:info/cap:responseType", namespaces=NS)
    ]
    assert len((document.findtext("cap:references", namespaces=NS) or "").split()) == 2


async def test_invalid_cap_is_rejected_naming_the_element(
    service: Service, rejected: Inbox
) -> None:
    response = await service.client.post(
        f"/api/v1/cap?org={TOWNSHIP}",
        data=(SAMPLES / "invalid-severity.xml").read_bytes(),
        headers={**service.auth(service.tokens.office_daoli), **CAP_HEADERS},
    )
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    problem = await response.json(content_type=None)
    assert problem["field"] == "severity"
    assert "Huge" in problem["detail"]
    (record,) = await rejected.wait_for(1)
    assert record["reason"] == "invalid_cap"
    assert record["field"] == "severity"

    # An entity bomb is refused before anything is expanded, naming the DOCTYPE.
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&b;</alert>'
    )
    response = await service.client.post(
        f"/api/v1/cap?org={TOWNSHIP}",
        data=bomb,
        headers={**service.auth(service.tokens.office_daoli), **CAP_HEADERS},
    )
    problem = await response.json(content_type=None)
    assert response.status == 422, problem
    assert problem["field"] == "DOCTYPE"

    # Not XML at all; and JSON sent to the CAP endpoint.
    response = await service.client.post(
        f"/api/v1/cap?org={TOWNSHIP}",
        data=b"<alert>",
        headers={**service.auth(service.tokens.office_daoli), **CAP_HEADERS},
    )
    assert response.status == 400
    assert (await response.json(content_type=None))["type"].endswith("/malformed_xml")
    response = await service.client.post(
        f"/api/v1/cap?org={TOWNSHIP}",
        json={"alert": 1},
        headers=service.auth(service.tokens.office_daoli),
    )
    assert response.status == 415
    assert await service.sql("SELECT 1 FROM incidents") == []


async def test_cap_for_an_organisation_outside_the_token_is_refused(service: Service) -> None:
    response = await service.client.post(
        "/api/v1/cap?org=harbin.nangang",
        data=(SAMPLES / "01-alert.xml").read_bytes(),
        headers={**service.auth(service.tokens.office_daoli), **CAP_HEADERS},
    )
    assert response.status == 403
    assert (await response.json(content_type=None))["field"] == "org"


async def test_export_of_a_json_report_incident_is_valid_cap(service: Service) -> None:
    from tests.acceptance.conftest import make_report

    report = make_report(
        location={"text": "新阳路", "admin_code": "230102003", "lat": 45.77, "lon": 126.59},
        warning_level=2,
    )
    await service.publish(report)
    incident = await incident_row(service, report["incident_ref"])
    document = await export(service, incident["id"])
    info = document.find("cap:info", namespaces=NS)
    assert info is not None
    assert info.findtext("cap:severity", namespaces=NS) == "Moderate"  # grade III
    assert info.findtext("cap:area/cap:circle", namespaces=NS) == "45.77,126.59 0"
    params = {
        p.findtext("cap:valueName", namespaces=NS): p.findtext("cap:value", namespaces=NS)
        for p in info.findall("cap:parameter", namespaces=NS)
    }
    assert params == {
        cap.PARAM_GRADE: "III",
        cap.PARAM_CATEGORY: "accident",
        cap.PARAM_WARNING: "2",
    }


# --------------------------------------------------------------------------- PagerDuty


async def routing_key(service: Service, *, org: str = TOWNSHIP, grade: str = "IV") -> str:
    response = await service.client.post(
        "/api/v1/routing-keys",
        json={"label": "prometheus-gas", "org": org, "grade": grade, "category": "accident"},
        headers=service.auth(service.tokens.admin),
    )
    body = await response.json()
    assert response.status == 201, body
    assert len(body["routing_key"]) == 32
    return str(body["routing_key"])


async def enqueue(service: Service, event: dict[str, Any], status: int = 202) -> Any:
    response = await service.client.post("/v2/enqueue", json=event)
    body = await response.json(content_type=None)
    assert response.status == status, body
    return body


async def test_pagerduty_trigger_acknowledge_resolve_make_one_incident(service: Service) -> None:
    key = await routing_key(service, grade="III")
    trigger = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": "gas-pressure:xinyang-station",
        "payload": {
            "summary": "Gas pressure low at Xinyang regulator station",
            "source": "scada.xinyang",
            "severity": "critical",
            "custom_details": {"pressure_kpa": 12.5},
        },
    }
    body = await enqueue(service, trigger)
    assert body == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "gas-pressure:xinyang-station",
    }
    incident = await incident_row(service, "pd:gas-pressure:xinyang-station")
    assert (incident["org_path"], incident["grade"], incident["state"]) == (
        TOWNSHIP,
        "III",
        "open",
    )
    await enqueue(service, trigger)  # the same trigger again: a duplicate

    ack = {"routing_key": key, "event_action": "acknowledge", "dedup_key": trigger["dedup_key"]}
    await enqueue(service, ack)
    row = await incident_row(service, "pd:gas-pressure:xinyang-station")
    assert row["state"] == "acknowledged"
    assert row["acknowledged_by"] == "pagerduty:prometheus-gas"

    await enqueue(service, {**ack, "event_action": "resolve"})
    row = await incident_row(service, "pd:gas-pressure:xinyang-station")
    assert row["state"] == "resolved"
    assert row["reports_count"] == 1
    kinds = await timeline_kinds(service, incident["id"])
    assert kinds.count("acknowledged") == 1
    assert kinds.count("resolved") == 1
    assert (await service.sql("SELECT count(*) AS n FROM incidents"))[0]["n"] == 1

    # The same trigger sent again stays a duplicate; a new trigger of the dedup_key after
    # resolution opens a new incident, as PagerDuty does, and pages again.
    await enqueue(service, trigger)
    assert (await service.sql("SELECT count(*) AS n FROM incidents"))[0]["n"] == 1
    again = {**trigger, "payload": {**trigger["payload"], "summary": "Gas pressure low again"}}
    await enqueue(service, again)
    second = await incident_row(service, "pd2:gas-pressure:xinyang-station")
    assert second["state"] == "open"
    assert second["id"] != incident["id"]
    await enqueue(service, {**ack, "event_action": "resolve"})
    assert (await incident_row(service, "pd2:gas-pressure:xinyang-station"))["state"] == "resolved"


async def test_pagerduty_refuses_unknown_and_revoked_keys_and_bad_events(
    service: Service,
) -> None:
    event = {
        "routing_key": "0" * 32,
        "event_action": "trigger",
        "payload": {"summary": "x", "source": "y", "severity": "info"},
    }
    assert (await enqueue(service, event, 401))["type"].endswith("/unauthenticated")
    key = await routing_key(service)
    bad = await enqueue(service, {**event, "routing_key": key, "payload": {"summary": "x"}}, 422)
    assert bad["field"] == "payload.source"
    listed = await service.client.get(
        "/api/v1/routing-keys", headers=service.auth(service.tokens.admin)
    )
    (stored,) = (await listed.json())["routing_keys"]
    assert "routing_key" not in stored
    response = await service.client.delete(
        f"/api/v1/routing-keys/{stored['id']}", headers=service.auth(service.tokens.admin)
    )
    assert (await response.json())["revoked_at"] is not None
    await enqueue(service, {**event, "routing_key": key}, 401)
    # Only an administrator manages keys.
    response = await service.client.get(
        "/api/v1/routing-keys", headers=service.auth(service.tokens.office_daoli)
    )
    assert response.status == 403


# --------------------------------------------------------------------------- Alertmanager


def webhook(status: str, alerts: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}/{dutywatch_org="harbin.daoli.xinyang"}:{alertname="GasPressureLow"}',
        "status": status,
        "receiver": "dutywatch",
        "truncatedAlerts": 0,
        "groupLabels": {"alertname": "GasPressureLow"},
        "commonLabels": {
            "alertname": "GasPressureLow",
            "dutywatch_org": TOWNSHIP,
            "dutywatch_grade": "IV",
        },
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [
            {
                "status": alert_status,
                "labels": {"alertname": "GasPressureLow", "station": station},
                "annotations": {"summary": f"pressure low at {station}"},
                "startsAt": "2026-11-25T01:50:00Z",
                "endsAt": "2026-11-25T02:05:00Z" if alert_status == "resolved" else "",
                "generatorURL": "http://prometheus.example/graph",
                "fingerprint": f"fp-{station}",
            }
            for station, alert_status in alerts
        ],
    }


async def test_alertmanager_group_stays_open_until_every_alert_resolves(
    service: Service,
) -> None:
    async def post(body: dict[str, Any]) -> Any:
        response = await service.client.post(
            "/api/v1/alertmanager",
            json=body,
            headers=service.auth(service.tokens.office_daoli),
        )
        result = await response.json(content_type=None)
        assert response.status == 202, result
        return result

    first = await post(webhook("firing", [("north", "firing"), ("south", "firing")]))
    assert first["group_resolved"] is False
    incident = await incident_row(service, first["incident_ref"])
    assert incident["state"] == "open"
    assert incident["org_path"] == TOWNSHIP
    # Alertmanager repeats the notification: a duplicate, not a second report.
    assert (await post(webhook("firing", [("north", "firing"), ("south", "firing")])))[
        "duplicate"
    ] is True

    partly = await post(webhook("firing", [("north", "resolved"), ("south", "firing")]))
    assert partly["incident_ref"] == first["incident_ref"]
    assert partly["group_resolved"] is False
    await reports_count(service, incident["id"], 2)
    await service.clock.advance(timedelta(minutes=5))
    row = await incident_row(service, first["incident_ref"])
    assert row["state"] == "open"

    done = await post(webhook("resolved", [("north", "resolved"), ("south", "resolved")]))
    assert done["group_resolved"] is True
    assert done["command"]["state"] == "resolved"
    row = await incident_row(service, first["incident_ref"])
    assert row["state"] == "resolved"
    assert row["reports_count"] == 3

    # The group fires again later: a new incident, not a note on the resolved one.
    await service.clock.advance(timedelta(days=2))
    body = webhook("firing", [("north", "firing")])
    body["alerts"][0]["startsAt"] = "2026-11-27T02:00:00Z"
    refire = await post(body)
    assert refire["incident_ref"] == "am2:" + first["incident_ref"].removeprefix("am:")
    assert (await incident_row(service, refire["incident_ref"]))["state"] == "open"


async def test_alertmanager_org_label_outside_the_token_is_refused(service: Service) -> None:
    body = webhook("firing", [("north", "firing")])
    body["commonLabels"]["dutywatch_org"] = "harbin.nangang"
    response = await service.client.post(
        "/api/v1/alertmanager", json=body, headers=service.auth(service.tokens.office_daoli)
    )
    assert response.status == 403
    problem = await response.json(content_type=None)
    assert problem["field"] == "commonLabels.dutywatch_org"
    # An officer's token is not an office's.
    response = await service.client.post(
        "/api/v1/alertmanager",
        json=webhook("firing", [("north", "firing")]),
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert response.status == 403


async def test_cap_over_nats_takes_the_same_path_and_rejects_naming_the_element(
    service: Service, rejected: Inbox
) -> None:
    subject = service.settings.subject("cap", TOWNSHIP)
    # Published back to back: the Cancel may reach the consumer before intake has taken the
    # Alert in; it waits (nak with a delay) and then resolves the one incident.
    for name in ("01-alert.xml", "02-update-polygons-two-languages.xml", "03-cancel.xml"):
        ack = await service.js.publish(subject, (SAMPLES / name).read_bytes())
        assert ack.stream == service.settings.stream("CAP")
    # A resend of the Alert is a duplicate of its report.
    await service.js.publish(subject, (SAMPLES / "01-alert.xml").read_bytes())

    async def resolved() -> Any:
        return await service.sql(
            "SELECT * FROM incidents WHERE org_path = $1 AND state = 'resolved'", TOWNSHIP
        )

    (incident,) = await eventually(resolved, what="the CAP incident resolved over NATS")
    assert incident["reports_count"] == 3
    sources = {r["source"] for r in await service.sql("SELECT source FROM reports")}
    assert sources == {"nats"}
    resolutions = await service.sql(
        "SELECT actor FROM timeline_entries WHERE incident_id = $1 AND kind = 'resolved'",
        incident["id"],
    )
    assert [r["actor"] for r in resolutions] == [f"office:{TOWNSHIP}"]

    await service.js.publish(subject, (SAMPLES / "invalid-severity.xml").read_bytes())
    (record,) = await rejected.wait_for(1)
    assert record["source"] == "nats"
    assert record["subject"] == subject
    assert record["reason"] == "invalid_cap"
    assert record["field"] == "severity"
    assert (await service.sql("SELECT count(*) AS n FROM incidents"))[0]["n"] == 1


async def test_routing_key_commands_create_list_revoke(service: Service) -> None:
    url = str(service.client.make_url("")).rstrip("/")

    async def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "dutywatch",
                "routing-key",
                *argv,
                "--url",
                url,
                "--token",
                service.tokens.admin,
            ],  # fmt: skip
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    created = await cli("create", "--label", "grafana", "--org", TOWNSHIP, "--grade", "II")
    assert created.returncode == 0, created.stderr
    key = created.stdout.rsplit(": ", 1)[1].strip()
    assert len(key) == 32
    # The printed key works at /v2/enqueue.
    await enqueue(
        service,
        {
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": "cli-key",
            "payload": {"summary": "from grafana", "source": "grafana", "severity": "error"},
        },
    )
    assert (await incident_row(service, "pd:cli-key"))["grade"] == "II"

    listed = await cli("list")
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    assert line.split("\t")[:4] == ["1", "grafana", TOWNSHIP, "grade II"]
    assert key not in listed.stdout
    revoked = await cli("revoke", "1")
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in revoked.stdout
    refused = await cli("revoke", "99")
    assert refused.returncode == 1
    assert "does not exist" in refused.stderr
