"""Expanding a roster into shifts: who holds each role slot, from when to when.

Pure functions of (roster, interval); no I/O, no clock. The rules, in the order they apply to
one role slot ``(role, slot)`` at one instant ``t``:

1. **Rotation turns.** Turn ``n`` (``n >= 0``) of a rotation starts at the local wall-clock time
   ``datetime.combine(start, handoff) + n * shift_length`` in the roster's zone and ends where
   turn ``n + 1`` starts; it belongs to ``people[n % len(people)]``. The arithmetic is on the
   wall clock, so a 24-hour duty handing over at 08:30 hands over at 08:30 local time on both
   sides of a DST change (that turn is then 23 or 25 hours long), and a 12-hour rotation hands
   over at 08:30 and 20:30 every day. A rotation provides nobody before turn 0.
2. **Wall-clock times that do not exist or exist twice.** A handoff at wall-clock time ``w``
   happens at the *first instant at which the local clock reads ``w`` or later*
   (:func:`local_instant`): an ambiguous time (autumn fold) is its first occurrence, and a time
   inside a spring-forward gap is the end of the gap (02:30 on the night clocks jump from 02:00
   to 03:00 means 03:00). That map never goes backwards, so turns never overlap; a sub-day turn
   that lies wholly inside the gap is empty and skipped (its person is not moved to later: turns
   are counted on the wall clock).
3. **Day kinds.** A turn belongs to the local date on which it is scheduled to start (the date of
   its wall-clock start): a 24-hour duty from Saturday 08:30 to Sunday 08:30 is a weekend duty,
   one from Friday 08:30 a workday duty, whatever the night's hours. A layer is in force during a
   turn of its rotation only if that date matches the layer's :class:`DayKind` (see
   :mod:`dutywatch.rosters.holidays`). Turns on other days still count (the model numbers turns
   by time since ``start``): a workday layer of 24-hour turns moves on over the weekend.
4. **Layers.** Among the layers of ``(role, slot)`` in force at ``t``, the highest ``priority``
   wins; between equal priorities, the layer later in ``roster.layers`` wins.
5. **Overrides** of ``(role, slot)`` containing ``t`` beat every layer; among them the one later
   in ``roster.overrides`` (made later) wins. An override with ``replaces=X`` applies only while
   the layers put ``X`` in that slot (not counting other overrides): where the layers put anyone
   else or nobody, it is ignored there: it was made against a plan that no longer holds (the
   rotation or a layer changed since), and whoever the layers put there keeps the duty rather
   than being displaced by a cover meant for someone else. An override without ``replaces``
   always applies, and fills an empty slot too.
6. **Removed people** (``roster.removed``) are never on duty. Whoever rules 1-5 choose, if that
   person is removed the slot is *empty* for that time; nobody else is promoted silently, so the
   hole shows up in :func:`find_gaps` and someone decides who covers it.

A :class:`~dutywatch.rosters.rules.Shift` is a maximal interval during which one person holds a
slot *from one source*: one turn of one layer, or one override. Adjacent shifts of the same
person from different sources are not merged (two consecutive 24-hour duties of a one-person
rotation are two duties, each with its own handover). A source interrupted by a stronger one (an
override in the middle of a turn) gives one shift on each side. Shifts are reported whole, not
clipped to the requested interval, so a shift is the same whatever window it was asked through.

Role slots are ``0 .. roster.slots[role] - 1`` for the roles a roster requires; layers and
overrides may also fill other (role, slot) pairs, which are expanded like the rest but are not
required, so :func:`find_gaps` does not report them.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dutywatch.rosters.holidays import day_matches
from dutywatch.rosters.model import Layer, Override, Role, Roster, Rotation, Swap
from dutywatch.rosters.rules import Shift

DAY = timedelta(days=1)
_TICK = timedelta(microseconds=1)

#: Identifies where a person's presence comes from: ``("layer", layer index, turn)`` or
#: ``("override", override index)``.
_SourceKey = tuple[str, int, int] | tuple[str, int]


@dataclass(frozen=True, kw_only=True)
class Gap:
    """Nobody holds ``slot`` of ``role`` from ``starts_at`` to ``ends_at`` (exclusive)."""

    role: str
    slot: int
    starts_at: datetime
    ends_at: datetime


# ------------------------------------------------------------------------------ validation


def validate_rotation(rotation: Rotation) -> None:
    """Raise :class:`ValueError` naming the rotation if it cannot be expanded."""
    where = f"rotation {rotation.id!r}"
    length = rotation.shift_length
    if not rotation.people:
        raise ValueError(f"{where}: needs at least one person")
    if length <= timedelta(0):
        raise ValueError(f"{where}: shift length must be positive, got {length}")
    if length < DAY and DAY % length:
        raise ValueError(f"{where}: a shift shorter than a day must divide 24 hours, got {length}")
    if length >= DAY and length % DAY:
        raise ValueError(f"{where}: a shift of a day or more must be whole days, got {length}")
    if rotation.handoff.tzinfo is not None:
        raise ValueError(
            f"{where}: the handoff is a wall-clock time in the roster's zone; "
            "it must not carry a tzinfo"
        )


def validate_override(override: Override) -> None:
    where = f"override {override.id!r}"
    _require_aware(override.starts_at, f"{where} starts_at")
    _require_aware(override.ends_at, f"{where} ends_at")
    if override.ends_at <= override.starts_at:
        raise ValueError(f"{where}: must end after it starts")
    if override.slot < 0:
        raise ValueError(f"{where}: slot must not be negative")


def validate_roster(roster: Roster) -> ZoneInfo:
    """Check everything expansion relies on; return the roster's zone."""
    try:
        zone = ZoneInfo(roster.tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"roster {roster.id!r}: unknown time zone {roster.tz!r}") from exc
    for role, count in roster.slots.items():
        if count < 0:
            raise ValueError(f"roster {roster.id!r}: {role} needs a negative number of people")
    for layer in roster.layers:
        validate_rotation(layer.rotation)
        if layer.slot < 0:
            raise ValueError(f"layer {layer.id!r}: slot must not be negative")
    for override in roster.overrides:
        validate_override(override)
    return zone


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, got {value!r}")


# ------------------------------------------------------------------------------ wall clock


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def local_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the clocks of ``zone`` read ``wall`` or later.

    An ambiguous time is its first occurrence; a time inside a spring-forward gap is the end of
    the gap. Unlike the RFC 5545 reading of a gap time (the offset before the gap, 02:30 →
    03:30), this map never decreases, so handoffs keep their order on the night of the change.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall(first, zone) == wall:
        return first
    # Inside a gap: the clock reads less than `wall` at one reading and more at the other; the
    # jump between them is where it first reads `wall` or later.
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    before, after = min(first, second), max(first, second)
    while after - before > _TICK:
        middle = before + (after - before) // 2
        if _wall(middle, zone) >= wall:
            after = middle
        else:
            before = middle
    return after


class _RotationClock:
    """Turn boundaries of one rotation in one zone, as instants."""

    def __init__(self, rotation: Rotation, zone: ZoneInfo) -> None:
        self.rotation = rotation
        self.zone = zone
        self.origin = datetime.combine(rotation.start, rotation.handoff)

    def wall(self, n: int) -> datetime:
        return self.origin + n * self.rotation.shift_length

    def starts_at(self, n: int) -> datetime:
        return local_instant(self.wall(n), self.zone)

    def index_at(self, at: datetime) -> int:
        """The turn containing ``at`` (negative: before the rotation starts)."""
        n = (_wall(at, self.zone) - self.origin) // self.rotation.shift_length
        # The wall-clock estimate is off by one around a fold; the instants decide.
        while self.starts_at(n) > at:
            n -= 1
        while self.starts_at(n + 1) <= at:
            n += 1
        return n

    def person(self, n: int) -> str:
        people = self.rotation.people
        return people[n % len(people)]


# ------------------------------------------------------------------------------ one slot


@dataclass(frozen=True, kw_only=True)
class _Piece:
    starts_at: datetime
    ends_at: datetime
    person: str | None  # None: nobody holds the slot
    source: _SourceKey | None


@dataclass(frozen=True, kw_only=True)
class _Turn:
    starts_at: datetime
    ends_at: datetime
    person: str
    source: _SourceKey


class _SlotPlan:
    """Everything that can put someone into one (role, slot) during ``[start, end)``."""

    def __init__(
        self,
        roster: Roster,
        zone: ZoneInfo,
        role: Role,
        slot: int,
        start: datetime,
        end: datetime,
    ) -> None:
        self.roster = roster
        self.start = start
        self.end = end
        ranked = sorted(
            (
                (layer.priority, index, layer)
                for index, layer in enumerate(roster.layers)
                if layer.role == role and layer.slot == slot
            ),
            key=lambda ranked_layer: ranked_layer[:2],
            reverse=True,
        )
        #: Turns in force of each layer, strongest layer first; each list sorted by start.
        self.layer_turns = [
            self._turns(index, layer, _RotationClock(layer.rotation, zone))
            for _, index, layer in ranked
        ]
        self.layer_starts = [[turn.starts_at for turn in turns] for turns in self.layer_turns]
        #: Overrides meeting the interval, latest made first.
        self.overrides = [
            (index, override)
            for index, override in reversed(list(enumerate(roster.overrides)))
            if override.role == role
            and override.slot == slot
            and override.starts_at < end
            and override.ends_at > start
        ]

    def _turns(self, index: int, layer: Layer, clock: _RotationClock) -> list[_Turn]:
        turns: list[_Turn] = []
        n = max(clock.index_at(self.start), 0)
        starts_at = clock.starts_at(n)
        while starts_at < self.end:
            ends_at = clock.starts_at(n + 1)
            if starts_at < ends_at and day_matches(
                layer.days, clock.wall(n).date(), self.roster.calendar
            ):
                turns.append(
                    _Turn(
                        starts_at=starts_at,
                        ends_at=ends_at,
                        person=clock.person(n),
                        source=("layer", index, n),
                    )
                )
            n, starts_at = n + 1, ends_at
        return turns

    def boundaries(self) -> list[datetime]:
        points = {self.start, self.end}
        for turns in self.layer_turns:
            for turn in turns:
                points.update((turn.starts_at, turn.ends_at))
        for _, override in self.overrides:
            points.update((override.starts_at, override.ends_at))
        return sorted(p for p in points if self.start <= p <= self.end)

    def decide(self, at: datetime) -> tuple[str | None, _SourceKey | None]:
        """Who holds the slot at ``at`` (rules 4-6 of the module docstring), and why."""
        planned: str | None = None
        source: _SourceKey | None = None
        for turns, starts in zip(self.layer_turns, self.layer_starts, strict=True):
            position = bisect_right(starts, at) - 1
            if position >= 0 and at < turns[position].ends_at:
                planned, source = turns[position].person, turns[position].source
                break
        chosen = planned
        for index, override in self.overrides:
            applies = override.replaces is None or override.replaces == planned
            if applies and override.starts_at <= at < override.ends_at:
                chosen, source = override.person_id, ("override", index)
                break
        if chosen is None or chosen in self.roster.removed:
            return None, None
        return chosen, source

    def pieces(self) -> list[_Piece]:
        """Consecutive pieces covering ``[start, end)``, each one person from one source."""
        pieces: list[_Piece] = []
        points = self.boundaries()
        for starts_at, ends_at in pairwise(points):
            person, source = self.decide(starts_at)
            last = pieces[-1] if pieces else None
            if last is not None and (last.person, last.source) == (person, source):
                pieces[-1] = dataclasses.replace(last, ends_at=ends_at)
            else:
                pieces.append(
                    _Piece(starts_at=starts_at, ends_at=ends_at, person=person, source=source)
                )
        return pieces


def _source_bounds(
    roster: Roster, zone: ZoneInfo, role: Role, slot: int, at: datetime
) -> tuple[datetime, datetime]:
    """The union of every turn and override of (role, slot) containing ``at`` (or just ``at``).

    A shift containing ``at`` lies within its source, so expanding over this union finds the
    shift's true ends instead of cutting it at the window.
    """
    lowest = highest = at
    for layer in roster.layers:
        if layer.role == role and layer.slot == slot:
            clock = _RotationClock(layer.rotation, zone)
            n = clock.index_at(at)
            if n >= 0:
                lowest = min(lowest, clock.starts_at(n))
                highest = max(highest, clock.starts_at(n + 1))
    for override in roster.overrides:
        if (
            override.role == role
            and override.slot == slot
            and override.starts_at <= at < override.ends_at
        ):
            lowest = min(lowest, override.starts_at)
            highest = max(highest, override.ends_at)
    return lowest, highest


def _slots(roster: Roster, *, required_only: bool) -> list[tuple[Role, int]]:
    pairs = {(Role(role), slot) for role, count in roster.slots.items() for slot in range(count)}
    if not required_only:
        pairs.update((Role(layer.role), layer.slot) for layer in roster.layers)
        pairs.update((Role(override.role), override.slot) for override in roster.overrides)
    return sorted(pairs, key=lambda pair: (pair[0].value, pair[1]))


def _window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    _require_aware(start, "start")
    _require_aware(end, "end")
    if end < start:
        raise ValueError(f"the interval ends ({end}) before it starts ({start})")
    return start.astimezone(UTC), end.astimezone(UTC)


# ------------------------------------------------------------------------------ public rules


def expand(roster: Roster, start: datetime, end: datetime) -> list[Shift]:
    """Every shift of every role slot that meets ``[start, end)``, whole, in UTC.

    Sorted by (role, slot, starts_at); shifts of one (role, slot) never overlap.
    """
    zone = validate_roster(roster)
    start, end = _window(start, end)
    shifts: list[Shift] = []
    if start == end:
        return shifts
    for role, slot in _slots(roster, required_only=False):
        lowest, _ = _source_bounds(roster, zone, role, slot, start)
        _, highest = _source_bounds(roster, zone, role, slot, end)
        plan = _SlotPlan(roster, zone, role, slot, lowest, max(highest, end))
        shifts.extend(
            Shift(
                org_path=roster.org_path,
                role=role.value,
                person_id=piece.person,
                starts_at=piece.starts_at,
                ends_at=piece.ends_at,
                slot=slot,
            )
            for piece in plan.pieces()
            if piece.person is not None and piece.starts_at < end and piece.ends_at > start
        )
    return shifts


def on_duty_at(roster: Roster, role: Role | str, at: datetime) -> list[str]:
    """People holding any slot of ``role`` at ``at``, sorted, no repeats."""
    zone = validate_roster(roster)
    at, after = _window(at, at + _TICK)
    wanted = Role(role)
    people = {
        person
        for slot_role, slot in _slots(roster, required_only=False)
        if slot_role == wanted
        for person in [_SlotPlan(roster, zone, slot_role, slot, at, after).decide(at)[0]]
        if person is not None
    }
    return sorted(people)


def find_gaps(roster: Roster, start: datetime, end: datetime) -> list[Gap]:
    """Every maximal interval within ``[start, end)`` where a required slot has nobody.

    Required slots are ``0 .. roster.slots[role] - 1``. Gaps are clipped to the interval; with
    the shifts of :func:`expand` clipped the same way they partition ``[start, end)`` exactly,
    for each required slot. Sorted by (role, slot, starts_at).
    """
    zone = validate_roster(roster)
    start, end = _window(start, end)
    gaps: list[Gap] = []
    if start == end:
        return gaps
    for role, slot in _slots(roster, required_only=True):
        plan = _SlotPlan(roster, zone, role, slot, start, end)
        gaps.extend(
            Gap(role=role.value, slot=slot, starts_at=piece.starts_at, ends_at=piece.ends_at)
            for piece in plan.pieces()
            if piece.person is None
        )
    return gaps


def apply_swap(roster: Roster, swap: Swap) -> Roster:
    """The roster with both overrides of ``swap`` added together, or neither (ValueError).

    A swap trades one role between two different people; both must still be on the roster,
    and neither override may already be recorded.
    """
    where = f"swap {swap.id!r}"
    first, second = swap.first, swap.second
    validate_override(first)
    validate_override(second)
    if first.person_id == second.person_id:
        raise ValueError(f"{where}: both overrides name {first.person_id!r}; a swap needs two")
    if first.role != second.role:
        raise ValueError(f"{where}: trades {first.role} for {second.role}; roles must match")
    if first.id == second.id:
        raise ValueError(f"{where}: both overrides have the id {first.id!r}")
    for person in (first.person_id, second.person_id):
        if person in roster.removed:
            raise ValueError(f"{where}: {person!r} is no longer on roster {roster.id!r}")
    known = {override.id for override in roster.overrides}
    for override in (first, second):
        if override.id in known:
            raise ValueError(f"{where}: override {override.id!r} is already recorded")
    return dataclasses.replace(roster, overrides=(*roster.overrides, first, second))
