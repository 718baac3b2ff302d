"""The duty outlook of a roster (pure): for each role slot, who is on duty now, who comes next,
and the gaps (值班空档) in the coming hours. The console's "on duty" page shows it per duty room.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dutywatch.rosters.expansion import Gap, expand, find_gaps
from dutywatch.rosters.model import Roster
from dutywatch.rosters.rules import Shift


@dataclass(frozen=True, kw_only=True)
class SlotOutlook:
    role: str
    slot: int
    #: The shift holding the slot at ``at``; None when nobody does.
    now: Shift | None
    #: The first shift starting when ``now`` ends (or after ``at`` when nobody is on duty),
    #: within the look-ahead; None when none is planned.
    next: Shift | None
    #: Where nobody holds the slot within ``[at, at + horizon)`` (required slots only).
    gaps: tuple[Gap, ...]


def outlook(
    roster: Roster, at: datetime, *, horizon: timedelta, lookahead: timedelta
) -> list[SlotOutlook]:
    """Every required slot of the roster, and any other slot a layer or override fills in
    ``[at, at + lookahead)``, by (role, slot). ``lookahead`` must be at least ``horizon``."""
    if lookahead < horizon:
        raise ValueError(f"the look-ahead ({lookahead}) is shorter than the horizon ({horizon})")
    shifts = expand(roster, at, at + lookahead)
    gaps = find_gaps(roster, at, at + horizon)
    keys = {(role.value, slot) for role, count in roster.slots.items() for slot in range(count)}
    keys |= {(s.role, s.slot) for s in shifts}
    found: list[SlotOutlook] = []
    for role, slot in sorted(keys):
        mine = sorted(
            (s for s in shifts if (s.role, s.slot) == (role, slot)), key=lambda s: s.starts_at
        )
        now = next((s for s in mine if s.covers(at)), None)
        after = now.ends_at if now is not None else at
        found.append(
            SlotOutlook(
                role=role,
                slot=slot,
                now=now,
                next=next((s for s in mine if s.starts_at >= after), None),
                gaps=tuple(g for g in gaps if (g.role, g.slot) == (role, slot)),
            )
        )
    return found
