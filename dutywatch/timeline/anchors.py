"""Daily anchors: the heads of every incident chain of a day, in one digest (pure).

The per-incident chain detects an edited or removed entry, but not an incident deleted
whole (every row of it): nothing would point at it any more. An anchor records, for one
day, the head (last seq of that day and that entry's hash) of every incident with entries
that day, the SHA-256 over a canonical encoding of that list, and the previous anchor's
hash, so the anchors form a chain of their own: deleting an incident, or an anchor, breaks
something :func:`verify_anchors` names.

A *day* is a calendar day in UTC. Times are stored in UTC, and a UTC day has no daylight
saving shifts and means the same thing to every replica and every reader; a duty room in
Asia/Shanghai therefore sees its anchor day end at 08:00 local time. The worker anchors a
day only after a grace period past its end (``Settings.anchor_grace``), so an entry whose
clock time falls just before midnight but whose transaction commits just after is in it.

Limits: an anchor proves what the database held when it was written. Somebody able to
rewrite every chain AND every anchor after it is caught only by comparing the latest anchor
hash with a copy kept elsewhere (``dutywatch verify`` prints it for that purpose); deleting
the newest anchor alone is repaired by the worker writing it again from what is there now.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import msgspec

from dutywatch.timeline.chain import GENESIS

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, order=True)
class Head:
    """The last entry of one incident on one day."""

    incident_id: int
    seq: int
    hash: bytes


@dataclass(frozen=True)
class Anchor:
    day: date
    heads: tuple[Head, ...]
    digest: bytes
    prev_hash: bytes
    hash: bytes


def _canonical(document: Any) -> bytes:
    return msgspec.json.encode(document, order="sorted")


def heads_bytes(day: date, heads: Iterable[Head]) -> bytes:
    """The exact bytes an anchor's digest covers: heads sorted by incident, hashes in hex."""
    listed = [[h.incident_id, h.seq, h.hash.hex()] for h in sorted(heads)]
    return _canonical({"v": 1, "day": day.isoformat(), "heads": listed})


def heads_digest(day: date, heads: Iterable[Head]) -> bytes:
    return hashlib.sha256(heads_bytes(day, heads)).digest()


def anchor_hash(day: date, digest: bytes, prev_hash: bytes) -> bytes:
    """SHA-256 over the anchor's day, digest and the previous anchor's hash."""
    document = {
        "v": 1,
        "day": day.isoformat(),
        "digest": digest.hex(),
        "prev_hash": prev_hash.hex(),
    }
    return hashlib.sha256(_canonical(document)).digest()


def make_anchor(day: date, heads: Iterable[Head], previous: Anchor | None) -> Anchor:
    """The anchor of ``day``, chained after ``previous`` (None: the first anchor)."""
    if previous is not None and day != previous.day + ONE_DAY:
        raise ValueError(
            f"the anchor after {previous.day} is of {previous.day + ONE_DAY}, not {day}"
        )
    ordered = tuple(sorted(heads))
    if len({h.incident_id for h in ordered}) != len(ordered):
        raise ValueError(f"anchor {day}: one head per incident")
    digest = heads_digest(day, ordered)
    prev_hash = previous.hash if previous is not None else GENESIS
    return Anchor(
        day=day,
        heads=ordered,
        digest=digest,
        prev_hash=prev_hash,
        hash=anchor_hash(day, digest, prev_hash),
    )


def day_of(at: datetime) -> date:
    """The UTC day of an aware time."""
    if at.tzinfo is None:
        raise ValueError("anchor days are of timezone-aware times")
    return at.astimezone(UTC).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a UTC day."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + ONE_DAY


def days_to_anchor(
    last_anchored: date | None, first_entry_day: date | None, now: datetime, grace: timedelta
) -> list[date]:
    """Every complete day not yet anchored, oldest first.

    A day is complete once ``grace`` has passed after its end. Anchoring starts at the
    day of the oldest entry and then covers every day, those without entries too.
    """
    start = last_anchored + ONE_DAY if last_anchored is not None else first_entry_day
    if start is None:
        return []
    last_complete = day_of(now - grace) - ONE_DAY
    return [start + ONE_DAY * n for n in range((last_complete - start).days + 1)]


def heads_to_json(heads: Iterable[Head]) -> list[dict[str, Any]]:
    return [{"incident_id": h.incident_id, "seq": h.seq, "hash": h.hash.hex()} for h in heads]


def heads_from_json(value: Sequence[Mapping[str, Any]]) -> tuple[Head, ...]:
    return tuple(
        Head(incident_id=int(h["incident_id"]), seq=int(h["seq"]), hash=bytes.fromhex(h["hash"]))
        for h in value
    )


def short(value: bytes) -> str:
    return f"{value.hex()[:12]}…"


@dataclass(frozen=True)
class AnchorProblem:
    """One thing wrong; ``day`` is the anchor it concerns (None: the anchor chain as a whole)."""

    day: date | None
    problem: str
    incident_id: int | None = None

    def __str__(self) -> str:
        return f"anchor {self.day.isoformat()}: {self.problem}" if self.day else self.problem


def verify_anchors(
    anchors: Sequence[Anchor],
    *,
    current: Mapping[date, Mapping[int, tuple[int, bytes]]],
    anchored_now: Mapping[tuple[int, int], bytes],
    incidents_present: Set[int],
    first_entry_day: date | None,
) -> list[AnchorProblem]:
    """Everything that no longer agrees with the anchors; empty means they hold.

    ``current`` is what the database holds now for each anchored day: per incident, the
    last seq dated that day and its hash. ``anchored_now`` the hash each anchored
    (incident, seq) has now, for those that still exist. ``incidents_present`` the
    incidents with any entry at all, to tell a deleted incident from a deleted day.
    """
    problems = _verify_anchor_chain(anchors)
    if anchors and first_entry_day is not None and first_entry_day < anchors[0].day:
        problems.append(
            AnchorProblem(
                None,
                f"entries dated {first_entry_day} exist before the first anchor "
                f"({anchors[0].day}): the anchors of the days before it are missing",
            )
        )
    for anchor in anchors:
        problems += _verify_day(
            anchor, current.get(anchor.day, {}), anchored_now, incidents_present
        )
    return problems


def _verify_anchor_chain(anchors: Sequence[Anchor]) -> list[AnchorProblem]:
    problems: list[AnchorProblem] = []
    previous: Anchor | None = None
    for anchor in anchors:
        if previous is None:
            if anchor.prev_hash != GENESIS:
                problems.append(
                    AnchorProblem(
                        anchor.day,
                        "it is not the first anchor (its prev_hash is "
                        f"{short(anchor.prev_hash)}): the anchors before it are missing",
                    )
                )
        else:
            if anchor.day != previous.day + ONE_DAY:
                problems.append(
                    AnchorProblem(
                        anchor.day,
                        f"the anchors from {previous.day + ONE_DAY} to "
                        f"{anchor.day - ONE_DAY} are missing (the anchor chain has a hole)",
                    )
                )
            if anchor.prev_hash != previous.hash:
                problems.append(
                    AnchorProblem(
                        anchor.day,
                        f"prev_hash does not match the anchor of {previous.day} before it",
                    )
                )
        if heads_digest(anchor.day, anchor.heads) != anchor.digest:
            problems.append(
                AnchorProblem(anchor.day, "its list of heads does not match its digest (edited)")
            )
        if anchor_hash(anchor.day, anchor.digest, anchor.prev_hash) != anchor.hash:
            problems.append(AnchorProblem(anchor.day, "content does not match its hash (edited)"))
        previous = anchor
    return problems


def _verify_day(
    anchor: Anchor,
    now_heads: Mapping[int, tuple[int, bytes]],
    anchored_now: Mapping[tuple[int, int], bytes],
    incidents_present: Set[int],
) -> list[AnchorProblem]:
    problems: list[AnchorProblem] = []

    def problem(incident_id: int, text: str) -> None:
        problems.append(AnchorProblem(anchor.day, f"incident {incident_id} {text}", incident_id))

    anchored_ids = set()
    for head in anchor.heads:
        anchored_ids.add(head.incident_id)
        where = f"anchored at entry {head.seq}, hash {short(head.hash)}"
        stored = anchored_now.get((head.incident_id, head.seq))
        if head.incident_id not in incidents_present:
            problem(head.incident_id, f"is missing ({where})")
            continue
        if stored is None:
            problem(head.incident_id, f"entry {head.seq} is missing ({where})")
        elif stored != head.hash:
            problem(
                head.incident_id,
                f"entry {head.seq} does not match the anchor ({where}, now {short(stored)})",
            )
        now_seq = now_heads.get(head.incident_id, (0, b""))[0]
        if now_seq > head.seq:
            problem(
                head.incident_id,
                f"has entry {now_seq} dated {anchor.day} that is not in that day's anchor "
                f"({where})",
            )
    for incident_id, (seq, _) in sorted(now_heads.items()):
        if incident_id not in anchored_ids:
            problem(
                incident_id, f"has entry {seq} dated {anchor.day} that is not in that day's anchor"
            )
    return problems
