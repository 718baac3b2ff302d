"""Pure rules: who holds a duty role at T, and where a page goes when nobody does."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, kw_only=True)
class Shift:
    org_path: str
    role: str
    person_id: str
    starts_at: datetime
    ends_at: datetime
    #: Which of the role's simultaneous places this is (0 .. Roster.slots[role] - 1); shifts of
    #: one (org, role, slot) never overlap.
    slot: int = 0

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


def on_duty(shifts: Iterable[Shift], org_path: str, role: str, at: datetime) -> list[str]:
    """People holding ``role`` for ``org_path`` at ``at``, in a stable order, no repeats."""
    people = {
        s.person_id for s in shifts if s.org_path == org_path and s.role == role and s.covers(at)
    }
    return sorted(people)


def parent_of(org_path: str) -> str | None:
    """The organisation one level up; None at the top of the tree."""
    return org_path.rpartition(".")[0] or None


def ancestors(org_path: str) -> list[str]:
    """The organisation itself, then each parent up to the root."""
    tokens = org_path.split(".")
    return [".".join(tokens[:n]) for n in range(len(tokens), 0, -1)]


@dataclass(frozen=True, kw_only=True)
class Recipients:
    """Whom to page, and which duty rooms had nobody on the way up."""

    org_path: str | None
    people: tuple[str, ...]
    gaps: tuple[str, ...] = field(default=())


def route_page(shifts: Sequence[Shift], org_path: str, role: str, at: datetime) -> Recipients:
    """Page ``role`` of ``org_path``; if nobody holds it, climb to the parent duty room.

    A page never goes to nobody silently: every organisation skipped is returned as a gap,
    and if the whole chain is empty, ``people`` is empty and every level is a gap.
    """
    gaps: list[str] = []
    for candidate in ancestors(org_path):
        people = on_duty(shifts, candidate, role, at)
        if people:
            return Recipients(org_path=candidate, people=tuple(people), gaps=tuple(gaps))
        gaps.append(candidate)
    return Recipients(org_path=None, people=(), gaps=tuple(gaps))
