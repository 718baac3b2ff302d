"""Policies as JSON documents: what the HTTP API, the CLI and the database store (pure).

A document reads like the plan it encodes::

    {"id": "daoli-night", "org": "harbin.daoli", "grades": ["III", "IV"],
     "categories": ["accident"],
     "steps": [{"kind": "notify_role", "role": "duty_officer"},
               {"kind": "notify_role", "role": "leader_on_duty", "delay": "PT10M"},
               {"kind": "notify_parent", "delay": "PT10M"},
               {"kind": "repeat", "times": 2, "delay": "PT30M"}]}

Delays are ISO 8601 durations (``PT10M``, ``PT1H30M``, ``P1D``); each counts from the
previous step. ``grades`` and ``categories`` default to all of them. The version is not part
of the document: the store gives each saved document the next version of its id.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, TypeAlias

import msgspec
from msgspec import Meta

from dutywatch import errors
from dutywatch.contracts import Category, Grade
from dutywatch.escalation.policy import (
    MAX_STEPS,
    NotifyDutyRoom,
    NotifyParent,
    NotifyPeople,
    NotifyRole,
    Policy,
    Repeat,
    Step,
    Wait,
)
from dutywatch.rosters.model import Role


class _Step(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind"
):
    delay: timedelta = timedelta(0)


class NotifyRoleDoc(_Step, frozen=True, tag="notify_role"):
    role: Role


class NotifyPeopleDoc(_Step, frozen=True, tag="notify_people"):
    people: list[Annotated[str, Meta(min_length=1, max_length=64)]]


class NotifyParentDoc(_Step, frozen=True, tag="notify_parent"):
    levels: int = 1


class NotifyDutyRoomDoc(_Step, frozen=True, tag="notify_duty_room"):
    org: Annotated[str, Meta(min_length=1, max_length=255)]


class WaitDoc(_Step, frozen=True, tag="wait"):
    pass


class RepeatDoc(_Step, frozen=True, tag="repeat"):
    times: int


StepDoc: TypeAlias = (
    NotifyRoleDoc | NotifyPeopleDoc | NotifyParentDoc | NotifyDutyRoomDoc | WaitDoc | RepeatDoc
)


class PolicyDoc(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: Annotated[str, Meta(min_length=1, max_length=48)]
    org: Annotated[str, Meta(min_length=1, max_length=255)]
    steps: Annotated[list[StepDoc], Meta(max_length=MAX_STEPS)]
    grades: list[Grade] = msgspec.field(default_factory=lambda: list(Grade))
    categories: list[Category] = msgspec.field(default_factory=lambda: list(Category))


_decoder = msgspec.json.Decoder(PolicyDoc)
_steps_decoder = msgspec.json.Decoder(list[StepDoc])


def _step(doc: StepDoc) -> Step:
    match doc:
        case NotifyRoleDoc(role=role, delay=delay):
            return NotifyRole(role=role, delay=delay)
        case NotifyPeopleDoc(people=people, delay=delay):
            return NotifyPeople(people=tuple(people), delay=delay)
        case NotifyParentDoc(levels=levels, delay=delay):
            return NotifyParent(levels=levels, delay=delay)
        case NotifyDutyRoomDoc(org=org, delay=delay):
            return NotifyDutyRoom(org=org, delay=delay)
        case WaitDoc(delay=delay):
            return Wait(delay=delay)
        case RepeatDoc(times=times, delay=delay):
            return Repeat(times=times, delay=delay)
    raise AssertionError(f"unknown step document {doc!r}")  # pragma: no cover


def _doc(step: Step) -> StepDoc:
    match step:
        case NotifyRole(role=role, delay=delay):
            return NotifyRoleDoc(role=role, delay=delay)
        case NotifyPeople(people=people, delay=delay):
            return NotifyPeopleDoc(people=list(people), delay=delay)
        case NotifyParent(levels=levels, delay=delay):
            return NotifyParentDoc(levels=levels, delay=delay)
        case NotifyDutyRoom(org=org, delay=delay):
            return NotifyDutyRoomDoc(org=org, delay=delay)
        case Wait(delay=delay):
            return WaitDoc(delay=delay)
        case Repeat(times=times, delay=delay):
            return RepeatDoc(times=times, delay=delay)
    raise AssertionError(f"unknown step {step!r}")  # pragma: no cover


def build(doc: PolicyDoc, version: int) -> Policy:
    """The policy a document describes; raises ``InvalidPolicy`` for a bad shape."""
    return Policy(
        id=doc.id,
        version=version,
        org=doc.org,
        grades=frozenset(doc.grades),
        categories=frozenset(doc.categories),
        steps=tuple(_step(s) for s in doc.steps),
    )


def decode_policy(data: bytes, *, version: int = 1) -> Policy:
    """A policy from its JSON document; refusals name the field (``SchemaViolation``)."""
    try:
        doc = _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise errors.SchemaViolation(f"not a policy document: {exc}") from None
    except msgspec.DecodeError as exc:
        raise errors.MalformedJson(f"not valid JSON: {exc}") from None
    return build(doc, version)


def steps_to_json(steps: tuple[Step, ...]) -> str:
    return msgspec.json.encode([_doc(s) for s in steps]).decode()


def steps_from_json(text: str) -> tuple[Step, ...]:
    return tuple(_step(s) for s in _steps_decoder.decode(text))


def as_json(policy: Policy) -> dict[str, Any]:
    """The policy as a JSON-ready document, with its version and ref."""
    return {
        "id": policy.id,
        "version": policy.version,
        "ref": policy.ref,
        "org": policy.org,
        "grades": sorted(policy.grades, key=lambda g: g.rank),
        "categories": sorted(policy.categories),
        "steps": msgspec.to_builtins([_doc(s) for s in policy.steps]),
    }
