"""Reading one incident's record for its exports, in one consistent snapshot."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from dutywatch import errors
from dutywatch.deadlines import engine as deadlines
from dutywatch.escalation import store as escalation_store
from dutywatch.exports.incident import IncidentRecord, OnDutyPerson, Personal
from dutywatch.incidents import store as incidents
from dutywatch.orgs.store import get_org
from dutywatch.printing import DEFAULT_ZONE
from dutywatch.rosters import reading
from dutywatch.rosters import store as rosters
from dutywatch.rosters.rules import ancestors
from dutywatch.sql import Conn, Queries
from dutywatch.timeline.store import entries_of

queries = Queries(__package__)

_PERSON = re.compile(r"person:([\w.-]+)")


async def load(conn: Conn, incident_id: int, *, now: datetime) -> IncidentRecord:
    """Everything the exports of one incident show, read in one repeatable-read snapshot so
    the stated head and the entries agree."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        incident = await incidents.get(conn, incident_id)
        if incident is None:
            raise errors.NotFound(f"incident {incident_id} does not exist")
        org = await get_org(conn, incident.org_path)
        entries = await entries_of(conn, incident_id)
        personal = {
            row["seq"]: Personal(
                salt=bytes(row["salt"]) if row["salt"] is not None else None,
                data=msgspec.json.decode(row["data"]) if row["data"] is not None else None,
            )
            for row in await queries.many(conn, "personal_data_of", incident_id)
        }
        alerts = sorted(
            (await escalation_store.alerts_of(conn, [incident_id])).get(incident_id, {}).values(),
            key=lambda a: a.id,
        )
        clocks = (await deadlines.clocks_of(conn, incident_id)).clocks
        pages = await incidents.pages_of(conn, incident_id)
        duty_org, on_duty = await _on_duty_at_open(conn, incident.org_path, incident.opened_at)
        mentioned = {p["person_id"] for p in pages} | {p.person_id for p in on_duty}
        for text in [e.actor for e in entries] + [a.acknowledged_by or "" for a in alerts]:
            mentioned.update(_PERSON.findall(text))
        names = {pid: row["name"] for pid, row in (await rosters.people(conn, mentioned)).items()}
        return IncidentRecord(
            incident=incident,
            org_name=org["name"],
            zone=ZoneInfo(org.get("tz") or DEFAULT_ZONE),
            entries=entries,
            personal=personal,
            reports=await incidents.reports_of(conn, incident_id),
            pages=pages,
            alerts=alerts,
            alerts_json=[escalation_store.alert_json(a) for a in alerts],
            clocks=clocks,
            clocks_json=[deadlines.clock_json(c) for c in clocks],
            people=names,
            duty_org=duty_org,
            on_duty=[
                OnDutyPerson(
                    role=p.role,
                    slot=p.slot,
                    person_id=p.person_id,
                    name=names.get(p.person_id),
                    starts_at=p.starts_at,
                    ends_at=p.ends_at,
                )
                for p in on_duty
            ],
            made_at=now,
        )


async def _on_duty_at_open(conn: Conn, org_path: str, at: datetime) -> tuple[str | None, list[Any]]:
    """Who held each role slot when the incident opened: in the origin room, or (as pages do)
    in the nearest room above it with anybody on duty."""
    for candidate in ancestors(org_path):
        _, found = await reading.on_duty(conn, candidate, at)
        if found:
            return candidate, [f.shift for f in found]
    return None, []


async def recorded_hash_at(
    conn: Conn, incident_id: int, seq: int
) -> tuple[bytes | None, int, bytes] | None:
    """(hash at ``seq`` or None, the chain's length, its head) as the database holds them;
    None when the incident does not exist."""
    row = await queries.one(conn, "entry_hash_at", incident_id, seq)
    if row is None:
        return None
    return (
        bytes(row["hash"]) if row["hash"] is not None else None,
        row["timeline_seq"],
        bytes(row["timeline_head"]),
    )
