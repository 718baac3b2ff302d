"""The statutory reporting deadline table: policy, not constants.

A row says how long a duty room has to report an incident upward, for a jurisdiction (an
organisation path and its subtree, or ``*`` for the default), a category (or any), a grade (or
any) and a target level:

* ``parent``: a duty room the reporting office reports to directly: its parent, and with
  skip-level reporting (越级上报) every room up to the one it skips to;
* ``upper``: a room above that, reached through the room below it (逐级上报, a relay hop);
* ``top``: the top of the organisation tree (also a parent or upper room: a target takes the
  stricter of the rows of each level it is).

Each row sets two clocks, the phone-speed report (电话快报) and the written report (书面报告),
each a time limit from an anchor: when the event occurred, when the reporting office learned
of it, or (for relay hops) when the sending room received it.

Lookup (:meth:`DeadlineTable.lookup`) takes the rows of the most specific jurisdiction that has
any row for the (category, grade, level) asked: a jurisdiction's own rows replace the defaults
entirely, so a city can set a stricter (or, where its plan says so, a looser) clock. Within one
jurisdiction several rows may match (a category row and a grade row); the stricter applies, as
an office meeting the stricter meets both. ``docs/DOMAIN.md`` lists the shipped rows and their
sources.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from dutywatch.contracts import Category, Grade
from dutywatch.errors import ConfigurationError
from dutywatch.rosters.rules import ancestors

#: Jurisdiction of the default rows.
ANYWHERE: Final = "*"
_JURISDICTION_RE: Final = re.compile(r"^(\*|[a-z0-9_-]+(\.[a-z0-9_-]+)*)$")


class ReportKind(enum.StrEnum):
    PHONE = "phone"  # 电话快报: by phone (or instant message) at once, before sign-off
    WRITTEN = "written"  # 书面报告: the written report, counted as submitted at sign-off (签发)


class Anchor(enum.StrEnum):
    """What a clock counts from."""

    OCCURRED = "occurred"  # the event's time (事发后)
    LEARNED = "learned"  # when the reporting office learned of it (接报后)
    SENDER_RECEIVED = "sender_received"  # when the room sending this hop received it (逐级)


class TargetLevel(enum.StrEnum):
    PARENT = "parent"
    UPPER = "upper"
    TOP = "top"


@dataclass(frozen=True, kw_only=True)
class Limit:
    within: timedelta
    anchor: Anchor


@dataclass(frozen=True, kw_only=True)
class DeadlineRule:
    """One row of the table."""

    id: str
    jurisdiction: str
    #: None: any category.
    category: Category | None
    #: None: any grade.
    grade: Grade | None
    level: TargetLevel
    phone: Limit
    written: Limit
    #: Where the numbers come from (shown in reviews and docs/DOMAIN.md).
    source: str

    def __post_init__(self) -> None:
        if not _JURISDICTION_RE.match(self.jurisdiction):
            raise ConfigurationError(
                f"deadline rule {self.id}: jurisdiction {self.jurisdiction!r} must be "
                f"an organisation path or {ANYWHERE!r}"
            )
        for kind, limit in ((ReportKind.PHONE, self.phone), (ReportKind.WRITTEN, self.written)):
            if limit.within < timedelta(0):
                raise ConfigurationError(f"deadline rule {self.id}: {kind} limit is negative")

    @property
    def key(self) -> tuple[str, Category | None, Grade | None, TargetLevel]:
        return (self.jurisdiction, self.category, self.grade, self.level)

    def limit(self, kind: ReportKind) -> Limit:
        return self.phone if kind is ReportKind.PHONE else self.written

    def matches(self, category: Category, grade: Grade, level: TargetLevel) -> bool:
        return (
            self.level is level
            and self.category in (None, category)
            and self.grade in (None, grade)
        )


def _jurisdictions(org_path: str) -> Iterator[str]:
    """The organisation, each ancestor, then the default: most specific first."""
    yield from ancestors(org_path)
    yield ANYWHERE


@dataclass(frozen=True)
class DeadlineTable:
    rules: tuple[DeadlineRule, ...]
    #: Answers of :meth:`lookup` so far: the table never changes, and a batch of reports asks
    #: the same few questions hundreds of times (a scan of every row each time otherwise).
    _answers: dict[tuple[str, Category, Grade, TargetLevel], tuple[DeadlineRule, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        seen: dict[object, str] = {}
        for rule in self.rules:
            if rule.key in seen:
                raise ConfigurationError(
                    f"deadline rules {seen[rule.key]} and {rule.id} have the same key "
                    f"(jurisdiction, category, grade, level) = {rule.key}; keep one"
                )
            seen[rule.key] = rule.id
        ids = [rule.id for rule in self.rules]
        if len(set(ids)) != len(ids):
            raise ConfigurationError("deadline rule ids must be unique")

    def lookup(
        self, org_path: str, category: Category, grade: Grade, level: TargetLevel
    ) -> tuple[DeadlineRule, ...]:
        """The rows governing a report from ``org_path``; empty if none applies."""
        key = (org_path, category, grade, level)
        if key not in self._answers:
            self._answers[key] = self._scan(org_path, category, grade, level)
        return self._answers[key]

    def _scan(
        self, org_path: str, category: Category, grade: Grade, level: TargetLevel
    ) -> tuple[DeadlineRule, ...]:
        for jurisdiction in _jurisdictions(org_path):
            rows = tuple(
                r
                for r in self.rules
                if r.jurisdiction == jurisdiction and r.matches(category, grade, level)
            )
            if rows:
                return rows
        return ()

    def with_rules(self, rules: Iterable[DeadlineRule]) -> DeadlineTable:
        """This table plus more rows (e.g. a jurisdiction's own)."""
        return DeadlineTable((*self.rules, *rules))


_M = timedelta(minutes=1)
_H = timedelta(hours=1)

_SC_2015 = (
    "State Council Emergency Management Office notice on strengthening emergency information "
    "reporting (2015): for especially major and major events, phone within 30 min and written "
    "within 1 h of the event; applied here to the top of the tree, as the project brief says"
)
_CITY_PLAN = "a city's emergency plan, as given in the project brief (one figure for both clocks)"
_ORDER_493 = (
    "State Council Order 493 (production-safety accidents), Art. 11: each level reports "
    "upward within 2 hours"
)
_PH_REG = (
    "Regulation on Public Health Emergencies (State Council Order 376), Art. 20: a county "
    "government reports to the next government up within 2 hours of receiving the report, "
    "and a city government to the province within 2 hours"
)


def _row(
    id: str,
    *,
    category: Category | None = None,
    grade: Grade | None,
    level: TargetLevel,
    phone: tuple[timedelta, Anchor],
    written: tuple[timedelta, Anchor],
    source: str,
) -> DeadlineRule:
    return DeadlineRule(
        id=id,
        jurisdiction=ANYWHERE,
        category=category,
        grade=grade,
        level=level,
        phone=Limit(within=phone[0], anchor=phone[1]),
        written=Limit(within=written[0], anchor=written[1]),
        source=source,
    )


DEFAULT_RULES: Final[tuple[DeadlineRule, ...]] = (
    *(
        _row(
            f"default-{grade}-{level}",
            grade=grade,
            level=level,
            phone=(30 * _M, Anchor.OCCURRED),
            written=(_H, Anchor.OCCURRED),
            source=_SC_2015
            if level is TargetLevel.TOP
            else _SC_2015 + "; a room below the top cannot have longer than the top",
        )
        for grade in (Grade.I, Grade.II)
        for level in (TargetLevel.TOP, TargetLevel.PARENT)
    ),
    _row(
        "default-III-parent",
        grade=Grade.III,
        level=TargetLevel.PARENT,
        phone=(_H, Anchor.LEARNED),
        written=(_H, Anchor.LEARNED),
        source=_CITY_PLAN,
    ),
    _row(
        "default-IV-parent",
        grade=Grade.IV,
        level=TargetLevel.PARENT,
        phone=(2 * _H, Anchor.LEARNED),
        written=(2 * _H, Anchor.LEARNED),
        source=_CITY_PLAN,
    ),
    _row(
        "default-upper",
        grade=None,
        level=TargetLevel.UPPER,
        phone=(2 * _H, Anchor.SENDER_RECEIVED),
        written=(2 * _H, Anchor.SENDER_RECEIVED),
        source="project default: Order 493's 2 hours per level, extended to every category",
    ),
    _row(
        "accident-upper",
        category=Category.ACCIDENT,
        grade=None,
        level=TargetLevel.UPPER,
        phone=(2 * _H, Anchor.SENDER_RECEIVED),
        written=(2 * _H, Anchor.SENDER_RECEIVED),
        source=_ORDER_493,
    ),
    _row(
        "public-health-parent",
        category=Category.PUBLIC_HEALTH,
        grade=None,
        level=TargetLevel.PARENT,
        phone=(2 * _H, Anchor.LEARNED),
        written=(2 * _H, Anchor.LEARNED),
        source=_PH_REG,
    ),
    _row(
        "public-health-upper",
        category=Category.PUBLIC_HEALTH,
        grade=None,
        level=TargetLevel.UPPER,
        phone=(2 * _H, Anchor.SENDER_RECEIVED),
        written=(2 * _H, Anchor.SENDER_RECEIVED),
        source=_PH_REG,
    ),
)

DEFAULT_TABLE: Final = DeadlineTable(DEFAULT_RULES)
