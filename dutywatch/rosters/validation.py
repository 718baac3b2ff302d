"""Pure checks of a roster as a whole, and the text forms of its durations and times.

The store applies a change, loads the roster it produced and refuses the change (rolling the
transaction back) if :func:`problems` finds anything, so every stored roster satisfies these
rules whichever interface (HTTP, CSV import) changed it. Each problem names the field a client
should fix.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dutywatch.rosters.model import Override, Role, Roster

DAY = timedelta(days=1)
MIN_SHIFT = timedelta(hours=1)
MAX_SHIFT = timedelta(days=366)
MAX_SLOTS = 9
#: The roles every duty room must staff (值班员 and 带班领导).
REQUIRED_ROLES = (Role.DUTY_OFFICER, Role.LEADER_ON_DUTY)

_DURATION = re.compile(r"^\s*(\d{1,4})\s*([wdhm])\s*$", re.IGNORECASE)
_UNITS = {"w": timedelta(weeks=1), "d": DAY, "h": timedelta(hours=1), "m": timedelta(minutes=1)}
_HANDOFF = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, kw_only=True)
class Problem:
    field: str
    message: str


def shift_length_problem(length: timedelta) -> str | None:
    """Why ``length`` cannot be a rotation's shift length, or None if it can."""
    if not MIN_SHIFT <= length <= MAX_SHIFT:
        return "a shift lasts from 1 hour to 366 days"
    seconds = int(length.total_seconds())
    if length != timedelta(seconds=seconds):
        return "a shift length is a whole number of seconds"
    if seconds % 86400 and 86400 % seconds:
        return "a shift is a whole number of days, or a part of a day that divides it (12h, 8h, 6h)"
    return None


def parse_shift_length(text: str) -> timedelta:
    """``"1d"``, ``"24h"``, ``"12h"``, ``"1w"``, ``"90m"`` -> a valid shift length."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(
            f"expected a number and a unit (w, d, h or m), e.g. 1d or 12h; got {text!r}"
        )
    length = int(match.group(1)) * _UNITS[match.group(2).lower()]
    problem = shift_length_problem(length)
    if problem:
        raise ValueError(f"{text!r}: {problem}")
    return length


def format_shift_length(length: timedelta) -> str:
    """The shortest exact text form: ``1w``, ``2d``, ``12h``, ``90m``."""
    for unit in ("w", "d", "h", "m"):
        count, rest = divmod(length, _UNITS[unit])
        if not rest and count:
            return f"{count}{unit}"
    return f"{int(length.total_seconds())}s"


def parse_handoff(text: str) -> time:
    """``"08:30"`` -> 08:30 (local time of day in the roster's zone)."""
    match = _HANDOFF.match(text.strip())
    if match is None:
        raise ValueError(f"expected a local time of day HH:MM, e.g. 08:30; got {text!r}")
    return time(int(match.group(1)), int(match.group(2)))


def format_handoff(value: time) -> str:
    return value.strftime("%H:%M")


def time_zone_problem(tz: str) -> str | None:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{tz!r} is not an IANA time zone (e.g. Asia/Shanghai)"
    return None


def problems(roster: Roster) -> list[Problem]:
    """Everything wrong with ``roster`` as a whole; empty when it may be stored."""
    found: list[Problem] = []
    tz_problem = time_zone_problem(roster.tz)
    if tz_problem:
        found.append(Problem(field="tz", message=tz_problem))
    for role in REQUIRED_ROLES:
        if roster.slots.get(role, 0) < 1:
            found.append(
                Problem(field=f"slots.{role}", message=f"every duty room needs a {role} slot")
            )
    for role, count in roster.slots.items():
        if not 1 <= count <= MAX_SLOTS:
            found.append(
                Problem(
                    field=f"slots.{role}",
                    message=f"a role needs 1 to {MAX_SLOTS} people at once, not {count}",
                )
            )
    for layer in roster.layers:
        slots = roster.slots.get(layer.role, 0)
        if not 0 <= layer.slot < slots:
            found.append(
                Problem(
                    field="slot",
                    message=f"layer {layer.id} fills slot {layer.slot} of {layer.role}, but the "
                    f"roster asks for {slots} {layer.role} at once (slots 0 to {slots - 1})",
                )
            )
        rotation = layer.rotation
        if not rotation.people:
            found.append(
                Problem(field="people", message=f"rotation {rotation.id} has nobody in it")
            )
        length_problem = shift_length_problem(rotation.shift_length)
        if length_problem:
            found.append(Problem(field="shift_length", message=length_problem))
    found += _override_problems(roster)
    return found


def _override_problems(roster: Roster) -> list[Problem]:
    found: list[Problem] = []
    by_slot: dict[tuple[Role, int], list[Override]] = defaultdict(list)
    for override in roster.overrides:
        slots = roster.slots.get(override.role, 0)
        if not 0 <= override.slot < slots:
            found.append(
                Problem(
                    field="slot",
                    message=f"override {override.id} holds slot {override.slot} of "
                    f"{override.role}, but the roster asks for {slots} at once",
                )
            )
        if override.ends_at <= override.starts_at:
            found.append(
                Problem(field="ends_at", message=f"override {override.id} ends before it starts")
            )
        by_slot[(override.role, override.slot)].append(override)
    for (role, slot), overrides in sorted(by_slot.items()):
        ordered = sorted(overrides, key=lambda o: (o.starts_at, o.id))
        for before, after in itertools.pairwise(ordered):
            if after.starts_at < before.ends_at:
                found.append(
                    Problem(
                        field="starts_at",
                        message=f"overrides {before.id} and {after.id} both hold slot {slot} of "
                        f"{role} from {after.starts_at.isoformat()}; end or delete one first",
                    )
                )
    return found
