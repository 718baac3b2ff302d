"""Which contact method a page tries next, from the receipts it has so far (pure).

The state of a page's delivery is not kept anywhere but in its receipts (``page_receipts``,
one per try) and its dead letters: after a crash, or when JetStream redelivers the
notification, planning again from them gives the same answer, so nothing is lost and no try
is made twice under the same receipt id.

Methods are tried in priority order. Attempt numbers count per channel across the page (the
receipts' ``attempt``): a person's first webhook uses attempts 1..N, a second webhook N+1..2N,
so ``(page, channel, attempt)`` names one try and is the receipt's identity.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from dutywatch.orgs.kinds import ContactKind

#: Namespace of receipt ids the channel worker makes (uuid5 of page, channel and attempt).
RECEIPT_NAMESPACE = uuid.UUID("5b0c2f57-5d0e-4c41-9a4e-0c1d2b6f7a10")
#: Backoff never waits longer than this between two tries of one method.
MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True, kw_only=True)
class Method:
    """A contact method of the paged person."""

    id: int
    kind: ContactKind
    address: str
    priority: int = 0


@dataclass(frozen=True, kw_only=True)
class Tried:
    """One receipt of the page: a try of ``channel`` numbered ``attempt``."""

    channel: ContactKind
    attempt: int
    ok: bool
    detail: str | None = None


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """The try to make now."""

    method: Method
    number: int
    #: Tries of this method that failed so far: more than none, wait the backoff first.
    failed: int

    @property
    def retry(self) -> bool:
        return self.failed > 0


@dataclass(frozen=True, kw_only=True)
class GaveUp:
    """A method that failed every try: its dead letter."""

    method: Method
    first_attempt: int
    last_attempt: int
    reason: str | None


@dataclass(frozen=True, kw_only=True)
class Plan:
    delivered: bool
    next: Attempt | None
    #: Methods that used up their tries and have no dead letter yet.
    gave_up: list[GaveUp] = field(default_factory=list)
    #: Methods the worker delivers over (the console aside).
    methods: int = 0

    @property
    def undeliverable(self) -> bool:
        """The person has methods the worker delivers over, every one gave up, none delivered."""
        return not self.delivered and self.next is None and self.methods > 0


def tries(kind: ContactKind, attempts: int) -> int:
    """How many times one method is tried: publishing on NATS cannot usefully be retried."""
    return 1 if kind is ContactKind.NATS else attempts


def delivered_by_worker(kind: ContactKind) -> bool:
    """The console is live (issue 8): it posts its own receipt when a person sees the page,
    so the worker neither tries it nor waits for it, and goes on to the next method."""
    return kind is not ContactKind.CONSOLE


def plan(
    methods: Sequence[Method],
    receipts: Iterable[Tried],
    *,
    attempts: int,
    dead: Mapping[int, int] | None = None,
) -> Plan:
    """The next try of a page; ``dead`` maps a dead-lettered method's id to its last attempt."""
    dead = dead or {}
    seen = list(receipts)
    if any(r.ok for r in seen):
        return Plan(delivered=True, next=None, methods=len(methods))
    failed: dict[ContactKind, list[Tried]] = {}
    for r in seen:
        failed.setdefault(r.channel, []).append(r)
    used: dict[ContactKind, int] = {}
    gave_up: list[GaveUp] = []
    mine_to_deliver = sorted(
        (m for m in methods if delivered_by_worker(m.kind)), key=lambda m: (m.priority, m.id)
    )
    for method in mine_to_deliver:
        cursor = used.get(method.kind, 0)
        if method.id in dead:
            used[method.kind] = max(cursor, dead[method.id])
            continue
        mine = sorted(
            (r for r in failed.get(method.kind, []) if r.attempt > cursor), key=lambda r: r.attempt
        )
        limit = tries(method.kind, attempts)
        if len(mine) >= limit:
            last = mine[limit - 1]
            gave_up.append(
                GaveUp(
                    method=method,
                    first_attempt=cursor + 1,
                    last_attempt=last.attempt,
                    reason=last.detail,
                )
            )
            used[method.kind] = last.attempt
            continue
        number = mine[-1].attempt + 1 if mine else cursor + 1
        return Plan(
            delivered=False,
            next=Attempt(method=method, number=number, failed=len(mine)),
            gave_up=gave_up,
            methods=len(mine_to_deliver),
        )
    return Plan(delivered=False, next=None, gave_up=gave_up, methods=len(mine_to_deliver))


def backoff(failed_tries: int, base: timedelta) -> timedelta:
    """The wait after ``failed_tries`` failures: base, 2x, 4x ... at most an hour."""
    exponent = max(failed_tries - 1, 0)
    if exponent >= 40:
        return MAX_BACKOFF
    wait: timedelta = base * (2**exponent)
    return min(wait, MAX_BACKOFF)


def receipt_id(page_id: int, channel: ContactKind, attempt: int) -> uuid.UUID:
    """The receipt of one try: the same try redelivered gets the same id, recorded once."""
    return uuid.uuid5(RECEIPT_NAMESPACE, f"{page_id}/{channel}/{attempt}")


class Delivery(enum.StrEnum):
    PENDING = "pending"  # no receipt yet
    DELIVERED = "delivered"  # some attempt succeeded
    FAILED = "failed"  # every attempt so far failed


def status(oks: Iterable[bool]) -> Delivery:
    """A page's delivery status from its receipts' outcomes, in any order."""
    seen = list(oks)
    if not seen:
        return Delivery.PENDING
    return Delivery.DELIVERED if any(seen) else Delivery.FAILED
