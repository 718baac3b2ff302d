"""Managing escalation policies: validate, save a new version, retire, simulate.

Validation runs :func:`~dutywatch.escalation.policy.check_policy` against the organisation
tree, the rosters as they are now (does a role page reach anybody, climbing past empty
rosters as the engine does?), the people table and the other policies in force (linked
alerts run them: a loop through organisations, or a chain that reaches nobody, is refused).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import structlog

from dutywatch import errors
from dutywatch.config import Settings
from dutywatch.contracts import Category, Grade
from dutywatch.escalation import codec, store
from dutywatch.escalation.engine import Rosters
from dutywatch.escalation.policy import (
    NotifyPeople,
    NotifyRole,
    PageStep,
    Policy,
    Problem,
    check_policy,
)
from dutywatch.escalation.simulate import EventKind, plan
from dutywatch.orgs.store import list_orgs
from dutywatch.rosters.rules import route_page
from dutywatch.sql import Conn
from dutywatch.writes import Writes

log = structlog.get_logger(__name__)

Authorize = Callable[[str], None]


async def _in_force(conn: Conn) -> list[Policy]:
    return [entry["policy"] for entry in await store.list_policies(conn, None)]


def _people_named(policies: Iterable[Policy]) -> set[str]:
    return {
        person
        for policy in policies
        for step in policy.steps
        if isinstance(step, NotifyPeople)
        for person in step.people
    }


async def check(
    conn: Conn, settings: Settings, policy: Policy, now: datetime
) -> tuple[Problem, ...]:
    """Refuse ``policy`` (``InvalidPolicy``, 422) if it cannot work; return its warnings."""
    orgs = {row["path"] for row in await list_orgs(conn)}
    others = [p for p in await _in_force(conn) if p.id != policy.id]
    shifts = (await Rosters.load(conn, orgs, Writes(now=now))).shifts
    known = await store.known_people(conn, _people_named([policy, *others]))

    def reachable(org: str, step: PageStep) -> bool:
        if isinstance(step, NotifyRole):
            return bool(route_page(shifts, org, str(step.role), now).people)
        return any(person in known for person in step.people)

    return check_policy(
        policy,
        orgs=orgs,
        reachable=reachable,
        policies=others,
        ack_timeouts=settings.ack_timeouts,
    )


def _result(policy: Policy, warnings: Sequence[Problem]) -> dict[str, Any]:
    return {"policy": codec.as_json(policy), "warnings": [w.as_dict() for w in warnings]}


async def validate(
    pool: asyncpg.Pool, settings: Settings, document: bytes, *, now: datetime
) -> dict[str, Any]:
    """Check a policy document without saving it (as the next version of its id)."""
    async with pool.acquire() as conn:
        draft = codec.decode_policy(document)
        version = await store.next_version(conn, draft.id, lock=False)
        policy = codec.decode_policy(document, version=version)
        return _result(policy, await check(conn, settings, policy, now))


async def save(
    pool: asyncpg.Pool,
    settings: Settings,
    document: bytes,
    *,
    by: str,
    now: datetime,
    authorize: Authorize,
) -> dict[str, Any]:
    """Save a policy document as the next version of its id, if it passes validation."""
    draft = codec.decode_policy(document)
    authorize(draft.org)
    async with pool.acquire() as conn, conn.transaction():
        version = await store.next_version(conn, draft.id)
        if version > 1:
            # A new version may move the policy, but only someone who may edit it where it is.
            current = (await store.versions_of(conn, draft.id))[-1]
            authorize(current["policy"].org)
        policy = codec.decode_policy(document, version=version)
        warnings = await check(conn, settings, policy, now)
        await store.insert_policy(conn, policy, by=by, now=now)
        log.info("policy_saved", policy=policy.ref, org=policy.org, by=by)
        return _result(policy, warnings)


async def retire(pool: asyncpg.Pool, policy_id: str, *, now: datetime, authorize: Authorize) -> int:
    async with pool.acquire() as conn, conn.transaction():
        versions = await store.versions_of(conn, policy_id)
        if not versions:
            raise errors.NotFound(f"policy {policy_id} does not exist")
        authorize(versions[-1]["policy"].org)
        retired = await store.retire(conn, policy_id, now)
        log.info("policy_retired", policy=policy_id, versions=retired)
        return retired


async def simulate(
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    org: str,
    grade: Grade,
    category: Category,
    start: datetime,
    horizon: timedelta,
    sensitive: bool = False,
) -> dict[str, Any]:
    """The timeline that would follow if nobody acknowledged: a dry run on the real rosters."""
    async with pool.acquire() as conn:
        org_rows = await list_orgs(conn)
        orgs = {row["path"] for row in org_rows}
        if org not in orgs:
            raise errors.NotFound(f"organisation {org!r} is not registered", field="org")
        result = plan(
            org=org,
            grade=grade,
            category=category,
            start=start,
            policies=await _in_force(conn),
            orgs=orgs,
            ack_timeouts=settings.ack_timeouts,
            horizon=horizon,
            sensitive=sensitive,
        )
        shifts_at: dict[datetime, Rosters] = {}
        names = await _names(conn, _people_named([]) | {p for e in result.events for p in e.people})
        paged: set[tuple[str, datetime]] = set()
        events = []
        for event in result.events:
            entry: dict[str, Any] = {
                "at": event.at.isoformat(),
                "offset_s": (event.at - start).total_seconds(),
                "org": event.org,
                "kind": str(event.kind),
                "text": event.text,
                "policy": event.policy,
            }
            people: Collection[str] = event.people
            if event.kind is EventKind.PAGE_ROLE and event.role is not None:
                if event.at not in shifts_at:
                    shifts_at[event.at] = await Rosters.load(conn, orgs, Writes(now=event.at))
                recipients = route_page(shifts_at[event.at].shifts, event.org, event.role, event.at)
                people = recipients.people
                entry["landed_in"] = recipients.org_path
                entry["gaps"] = list(recipients.gaps)
                names |= await _names(conn, set(people) - set(names))
            if event.kind in (EventKind.PAGE_ROLE, EventKind.PAGE_PEOPLE):
                entry["people"] = [
                    {
                        "id": person,
                        "name": names.get(person),
                        "merged": (person, event.at) in paged,
                    }
                    for person in people
                ]
                paged |= {(person, event.at) for person in people}
            events.append(entry)
    return {
        "org": org,
        "grade": str(grade),
        "category": str(category),
        "sensitive": sensitive,
        "start": start.isoformat(),
        "horizon_s": horizon.total_seconds(),
        "truncated": result.truncated,
        "events": events,
    }


async def _names(conn: Conn, people: set[str]) -> dict[str, str]:
    if not people:
        return {}
    rows = await conn.fetch(
        "SELECT id, name FROM people WHERE id = ANY($1::text[])", sorted(people)
    )
    return {row["id"]: row["name"] for row in rows}
