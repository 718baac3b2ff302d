"""Reading expanded shifts: stored rosters through the pure rules, for HTTP and the CLI."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dutywatch.orgs import store as orgs
from dutywatch.rosters import store
from dutywatch.rosters.expansion import expand
from dutywatch.rosters.outlook import SlotOutlook, outlook
from dutywatch.rosters.rules import Shift, ancestors
from dutywatch.sql import Conn

#: Overrides this far outside the asked interval are read too: a shift is reported whole, and
#: an override (at most 366 days long) can cut a turn that started or ends outside it.
OVERRIDE_MARGIN = timedelta(days=366)
INSTANT = timedelta(microseconds=1)


async def shifts_of(
    conn: Conn, roster_ids: Iterable[int], start: datetime, end: datetime
) -> tuple[list[store.RosterRecord], list[Shift]]:
    """The rosters and every shift of theirs meeting ``[start, end)``, whole, by start time."""
    window = (start - OVERRIDE_MARGIN, end + OVERRIDE_MARGIN)
    rosters = await store.load(conn, ids=roster_ids, window=window)
    shifts = [s for roster in rosters for s in expand(roster.model(), start, end)]
    return rosters, sorted(shifts, key=lambda s: (s.starts_at, s.role, s.slot, s.person_id))


@dataclass(frozen=True, kw_only=True)
class OnDuty:
    shift: Shift
    name: str | None
    phone: str | None


async def on_duty(conn: Conn, org_path: str, at: datetime) -> tuple[str | None, list[OnDuty]]:
    """Who holds each role slot of the organisation's roster at ``at``, by role and slot;
    with the roster's time zone (None when the organisation has no roster)."""
    ids = [r["id"] for r in await store.list_rosters(conn, org_path) if r["org_path"] == org_path]
    rosters, shifts = await shifts_of(conn, ids, at, at + INSTANT)
    current = sorted(
        (s for s in shifts if s.covers(at)), key=lambda s: (s.role, s.slot, s.person_id)
    )
    people = await store.people(conn, (s.person_id for s in current))
    return (rosters[0].tz if rosters else None), [
        OnDuty(
            shift=s,
            name=people[s.person_id]["name"] if s.person_id in people else None,
            phone=people[s.person_id]["phone"] if s.person_id in people else None,
        )
        for s in current
    ]


@dataclass(frozen=True, kw_only=True)
class RosterOutlook:
    roster: store.RosterRecord
    slots: list[SlotOutlook]


@dataclass(frozen=True, kw_only=True)
class OrgOutlook:
    path: str
    name: str
    parent_path: str | None
    rosters: list[RosterOutlook]

    @property
    def gap(self) -> bool:
        """A duty room (an organisation with a roster) with a slot nobody holds at some time
        of the horizon. An organisation without a roster is no gap: its pages climb."""
        return any(s.gaps for r in self.rosters for s in r.slots)


async def outlook_under(
    conn: Conn, under: str, at: datetime, *, horizon: timedelta, lookahead: timedelta
) -> tuple[list[OrgOutlook], dict[str, Any]]:
    """Every organisation of the subtree with its rosters' outlook, parents before children;
    and the people the outlook names (id → row with ``name``, ``phone``)."""
    tree = [o for o in await orgs.list_orgs(conn) if under in ancestors(o["path"])]
    window = (at - OVERRIDE_MARGIN, at + lookahead + OVERRIDE_MARGIN)
    records = await store.load(conn, orgs=[o["path"] for o in tree], window=window)
    found = [
        OrgOutlook(
            path=o["path"],
            name=o["name"],
            parent_path=o["parent_path"],
            rosters=[
                RosterOutlook(
                    roster=r,
                    slots=outlook(r.model(), at, horizon=horizon, lookahead=lookahead),
                )
                for r in records
                if r.org_path == o["path"]
            ],
        )
        for o in tree
    ]
    named = {
        shift.person_id
        for o in found
        for r in o.rosters
        for s in r.slots
        for shift in (s.now, s.next)
        if shift is not None
    }
    return found, dict(await store.people(conn, named))
