"""The duty outlook (dutywatch.rosters.outlook): now, next and gaps per role slot."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from dutywatch.rosters.model import Role
from dutywatch.rosters.outlook import outlook
from tests.unit.test_roster_expansion import layer, local, override, roster, rotation

H = timedelta(hours=1)
BERLIN = "Europe/Berlin"


def test_now_next_and_the_gaps_of_each_slot() -> None:
    at = local(BERLIN, 2026, 3, 2, 10, 0)  # a Monday, inside the first turn
    planned = roster(
        # Officers from today's 08:30: ann now, then bo.
        layer(rotation("ann bo", start=date(2026, 3, 2))),
        # Standby only through an override tomorrow afternoon: not required, shown anyway.
        overrides=(
            override(
                "cy",
                local(BERLIN, 2026, 3, 3, 14, 0),
                local(BERLIN, 2026, 3, 3, 18, 0),
                role=Role.STANDBY,
            ),
        ),
        slots={Role.DUTY_OFFICER: 1, Role.LEADER_ON_DUTY: 1},
    )
    found = outlook(planned, at, horizon=24 * H, lookahead=8 * 24 * H)
    assert [(s.role, s.slot) for s in found] == [
        ("duty_officer", 0),
        ("leader_on_duty", 0),
        ("standby", 0),
    ]
    officer, leader, standby = found
    assert officer.now is not None
    assert officer.next is not None
    assert (officer.now.person_id, officer.next.person_id) == ("ann", "bo")
    assert officer.next.starts_at == officer.now.ends_at == local(BERLIN, 2026, 3, 3, 8, 30)
    assert officer.gaps == ()
    # Nobody leads: no shift now or next, one gap over the whole horizon.
    assert (leader.now, leader.next) == (None, None)
    assert [(g.starts_at, g.ends_at) for g in leader.gaps] == [(at, at + 24 * H)]
    # Nobody holds standby now; cy comes next; standby is not required, so it has no gaps.
    assert standby.now is None
    assert standby.next is not None
    assert standby.next.person_id == "cy"
    assert standby.gaps == ()


def test_a_rotation_starting_later_is_next_after_a_gap() -> None:
    at = local(BERLIN, 2026, 3, 1, 20, 0)
    planned = roster(layer(rotation("ann", start=date(2026, 3, 2))))
    [officer] = outlook(planned, at, horizon=24 * H, lookahead=48 * H)
    assert officer.now is None
    assert officer.next is not None
    assert officer.next.starts_at == local(BERLIN, 2026, 3, 2, 8, 30)
    assert [(g.starts_at, g.ends_at) for g in officer.gaps] == [(at, officer.next.starts_at)]


def test_the_look_ahead_must_cover_the_horizon() -> None:
    with pytest.raises(ValueError, match="shorter than the horizon"):
        outlook(roster(), local(BERLIN, 2026, 3, 1), horizon=48 * H, lookahead=24 * H)
