"""Pure escalation rules: (policy, incident state, clock) -> what is due.

The spine's policy has two steps: page the duty officer at once, then the leader on duty
if nobody acknowledged within the grade's timeout. The full engine (policies per
organisation, repeats, parent duty rooms) grows here behind the same functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from dutywatch.contracts import Grade

DUTY_OFFICER = "duty_officer"
LEADER_ON_DUTY = "leader_on_duty"


@dataclass(frozen=True, kw_only=True)
class Step:
    """Page ``role`` of the incident's organisation ``delay`` after the policy started."""

    role: str
    delay: timedelta


@dataclass(frozen=True, kw_only=True)
class Policy:
    version: str
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a policy needs at least one step")
        delays = [step.delay for step in self.steps]
        if any(d < timedelta(0) for d in delays) or delays != sorted(delays):
            raise ValueError("step delays must be non-negative and non-decreasing")


def spine_policy(grade: Grade, ack_timeouts: Mapping[Grade, timedelta]) -> Policy:
    timeout = ack_timeouts[grade]
    return Policy(
        version=f"spine-1:{grade}:{timeout.total_seconds():g}s",
        steps=(
            Step(role=DUTY_OFFICER, delay=timedelta(0)),
            Step(role=LEADER_ON_DUTY, delay=timeout),
        ),
    )


@dataclass(frozen=True, kw_only=True)
class Progress:
    """Where an incident stands in its policy."""

    started_at: datetime
    #: Number of steps already fired (they fire in order, so steps[:fired] are done).
    fired: int
    acknowledged: bool
    resolved: bool


def due_steps(policy: Policy, progress: Progress, now: datetime) -> list[int]:
    """Indexes of the steps to fire now, in order. None once acknowledged or resolved."""
    if progress.acknowledged or progress.resolved:
        return []
    due: list[int] = []
    for index in range(progress.fired, len(policy.steps)):
        if progress.started_at + policy.steps[index].delay > now:
            break
        due.append(index)
    return due


def next_due_at(policy: Policy, progress: Progress) -> tuple[int, datetime] | None:
    """The next step still to fire and when, or None if nothing more will fire."""
    if progress.acknowledged or progress.resolved or progress.fired >= len(policy.steps):
        return None
    step = policy.steps[progress.fired]
    return progress.fired, progress.started_at + step.delay
