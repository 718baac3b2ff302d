"""Review figures (issue 5): how the duty system performed for a subtree and a period.

Pure: plain rows in, figures out; ``as_of`` (when the figures are read) is an argument. The
definitions below are the ones docs/DOMAIN.md "Review figures" explains.

* **Which incidents.** Those whose receiving office (``incidents.org_path``) is the
  organisation or below it, opened in ``[start, end)`` (by ``opened_at``, when the first
  report reached dutywatch). Drills and tests (status ``exercise`` / ``test``) are left out
  unless ``include_drills``. Everything else about an incident counts whenever it happened.
* **Durations.** To acknowledge: first acknowledgement of any of its alerts - opened. To
  report up: first phone clock to a room above the receiving office stopped (that room
  confirmed it was told) - the time the office learned of it (``learned_at``, else opened).
  To resolve: resolved - opened. Each as count, p50, p90, max over the incidents that have
  one, percentiles by nearest rank: the ``ceil(p/100 · n)``-th smallest value.
* **迟报 (late)**: a statutory clock stopped after its due time, and a follow-up or final
  report that was recorded overdue and arrived afterwards. **漏报 (missing)**: a statutory
  clock past due and still not stopped at ``as_of``, and an overdue follow-up or final
  report that has not arrived by ``as_of``. **Omitted items**: the required items a signed
  report lacked (``fields_omitted``). All counted against the receiving office.
* **Escalation levels**: an alert's level is how many levels its room is above the receiving
  office (0 the office itself, 1 its parent, ...); rooms outside that chain (a forward to a
  peer) are not an escalation. Per level: the incidents with an alert there.
* **Failed pages**: pages whose receipts are all failures (``delivery.plan.status``),
  counted under the channel of their last attempt.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from dutywatch.contracts import Category, Grade
from dutywatch.delivery.plan import Delivery, status
from dutywatch.supervision import rules as supervision_rules

T = TypeVar("T")

#: Statuses that are not real events: left out of the figures unless asked for.
DRILL_STATUSES = frozenset({"exercise", "test"})
#: Follow-up stages whose lateness the follow-up timer records (``report_late``).
FOLLOW_UP_STAGES = ("follow_up", "final")


@dataclass(frozen=True, kw_only=True)
class IncidentRow:
    id: int
    org_path: str
    title: str
    grade: str
    category: str
    status: str
    opened_at: datetime
    learned_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class AlertRow:
    incident_id: int
    org_path: str
    acknowledged_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ClockRow:
    """A statutory reporting clock (``report_clocks``)."""

    incident_id: int
    target_org: str
    kind: str  # phone | written
    due_at: datetime
    stopped_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class OverdueReport:
    """A follow-up or final report the follow-up timer found overdue (``report_late``)."""

    incident_id: int
    stage: str  # follow_up | final
    number: int | None  # the follow-up's number (续报n); None for the final report


@dataclass(frozen=True, kw_only=True)
class ReportRow:
    incident_id: int
    stage: str


@dataclass(frozen=True, kw_only=True)
class OmissionRow:
    """Items a signed report lacked (``fields_omitted``)."""

    incident_id: int
    items: int


@dataclass(frozen=True, kw_only=True)
class ReceiptRow:
    incident_id: int
    page_id: int
    channel: str
    ok: bool
    at: datetime
    attempt: int = 1


@dataclass(frozen=True, kw_only=True)
class Rows:
    """What the figures are computed from; may hold more incidents than asked for."""

    incidents: Sequence[IncidentRow] = ()
    alerts: Sequence[AlertRow] = ()
    clocks: Sequence[ClockRow] = ()
    overdue: Sequence[OverdueReport] = ()
    reports: Sequence[ReportRow] = ()
    omissions: Sequence[OmissionRow] = ()
    receipts: Sequence[ReceiptRow] = ()


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


@dataclass(frozen=True, kw_only=True)
class Stats:
    """Count, nearest-rank p50 and p90, and max of durations (None when count is 0)."""

    count: int
    p50: timedelta | None
    p90: timedelta | None
    max: timedelta | None

    def as_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "p50_s": _seconds(self.p50),
            "p90_s": _seconds(self.p90),
            "max_s": _seconds(self.max),
        }


@dataclass(frozen=True, kw_only=True)
class IncidentFigures:
    incident: IncidentRow
    to_acknowledge: timedelta | None
    to_report_up: timedelta | None
    to_resolve: timedelta | None
    late: int
    missing: int
    omitted_items: int
    #: Levels above the receiving office its alerts reached (0 = the office itself).
    levels: frozenset[int]
    #: Failed pages (every receipt a failure) by the channel of their last attempt.
    failed_pages: Mapping[str, int]

    @property
    def highest_level(self) -> int | None:
        return max(self.levels) if self.levels else None

    def as_json(self) -> dict[str, Any]:
        i = self.incident
        return {
            "id": i.id,
            "org": i.org_path,
            "title": i.title,
            "grade": i.grade,
            "category": i.category,
            "status": i.status,
            "opened_at": i.opened_at.isoformat(),
            "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None,
            "to_acknowledge_s": _seconds(self.to_acknowledge),
            "to_report_up_s": _seconds(self.to_report_up),
            "to_resolve_s": _seconds(self.to_resolve),
            "late": self.late,
            "missing": self.missing,
            "omitted_items": self.omitted_items,
            "highest_level": self.highest_level,
            "failed_pages": sum(self.failed_pages.values()),
        }


@dataclass(frozen=True, kw_only=True)
class OrgFigures:
    incidents: int = 0
    late: int = 0
    missing: int = 0
    omitted_items: int = 0


@dataclass(frozen=True, kw_only=True)
class Figures:
    org: str
    start: datetime
    end: datetime
    as_of: datetime
    include_drills: bool
    incidents: Sequence[IncidentFigures]
    by_grade: Mapping[str, int]
    by_category: Mapping[str, int]
    to_acknowledge: Stats
    to_report_up: Stats
    to_resolve: Stats
    by_org: Mapping[str, OrgFigures]
    #: level → incidents with an alert at that level
    levels: Mapping[int, int]
    failed_pages: Mapping[str, int] = field(default_factory=dict)
    #: 督办: the supervision figures of the same subtree and period (assignments first due in
    #: it), joined in by the caller; None when not asked for.
    supervision: supervision_rules.Figures | None = None

    @property
    def count(self) -> int:
        return len(self.incidents)

    def as_json(self) -> dict[str, Any]:
        totals = OrgFigures(
            late=sum(o.late for o in self.by_org.values()),
            missing=sum(o.missing for o in self.by_org.values()),
            omitted_items=sum(o.omitted_items for o in self.by_org.values()),
        )
        return {
            "org": self.org,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "as_of": self.as_of.isoformat(),
            "period_basis": "opened_at",
            "include_drills": self.include_drills,
            "incidents": self.count,
            "by_grade": dict(self.by_grade),
            "by_category": dict(self.by_category),
            "time_to_acknowledge": self.to_acknowledge.as_json(),
            "time_to_report_up": self.to_report_up.as_json(),
            "time_to_resolve": self.to_resolve.as_json(),
            "late": totals.late,
            "missing": totals.missing,
            "omitted_items": totals.omitted_items,
            "by_org": [
                {
                    "org": org,
                    "incidents": o.incidents,
                    "late": o.late,
                    "missing": o.missing,
                    "omitted_items": o.omitted_items,
                }
                for org, o in sorted(self.by_org.items())
            ],
            "escalation_levels": [
                {"level": level, "incidents": n} for level, n in sorted(self.levels.items())
            ],
            "failed_pages": {
                "total": sum(self.failed_pages.values()),
                "by_channel": dict(sorted(self.failed_pages.items())),
            },
            "supervision": (
                dataclasses.asdict(self.supervision) if self.supervision is not None else None
            ),
        }


def nearest_rank(values: Sequence[timedelta], percent: float) -> timedelta | None:
    """The ``ceil(percent/100 · n)``-th smallest value (at least the first); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def stats(values: Iterable[timedelta | None]) -> Stats:
    present = [v for v in values if v is not None]
    return Stats(
        count=len(present),
        p50=nearest_rank(present, 50),
        p90=nearest_rank(present, 90),
        max=max(present) if present else None,
    )


def in_subtree(org_path: str, root: str) -> bool:
    return org_path == root or org_path.startswith(root + ".")


def level_above(origin: str, room: str) -> int | None:
    """How many levels ``room`` is above ``origin`` (0: the same room); None off the chain."""
    if not in_subtree(origin, room):
        return None
    return origin.count(".") - room.count(".")


def selected(
    incidents: Iterable[IncidentRow],
    *,
    org: str,
    start: datetime,
    end: datetime,
    include_drills: bool = False,
) -> list[IncidentRow]:
    """The incidents the figures are about, by id."""
    return sorted(
        (
            i
            for i in incidents
            if in_subtree(i.org_path, org)
            and start <= i.opened_at < end
            and (include_drills or i.status not in DRILL_STATUSES)
        ),
        key=lambda i: i.id,
    )


def _group(rows: Iterable[T], key: str) -> dict[int, list[T]]:
    grouped: dict[int, list[T]] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, key)].append(row)
    return grouped


def failed_pages(receipts: Iterable[ReceiptRow]) -> dict[str, int]:
    """Pages no attempt delivered, by the channel of their last attempt."""
    by_page = _group(receipts, "page_id")
    failed: Counter[str] = Counter()
    for attempts in by_page.values():
        if status(r.ok for r in attempts) is Delivery.FAILED:
            last = max(attempts, key=lambda r: (r.at, r.attempt))
            failed[last.channel] += 1
    return dict(failed)


def incident_figures(
    incident: IncidentRow,
    *,
    alerts: Sequence[AlertRow],
    clocks: Sequence[ClockRow],
    overdue: Sequence[OverdueReport],
    reports: Sequence[ReportRow],
    omissions: Sequence[OmissionRow],
    receipts: Sequence[ReceiptRow],
    as_of: datetime,
) -> IncidentFigures:
    acks = [a.acknowledged_at for a in alerts if a.acknowledged_at is not None]
    learned = incident.learned_at or incident.opened_at
    reported_up = [
        c.stopped_at
        for c in clocks
        if c.kind == "phone"
        and c.stopped_at is not None
        and (level_above(incident.org_path, c.target_org) or 0) >= 1
    ]
    late = sum(1 for c in clocks if c.stopped_at is not None and c.stopped_at > c.due_at)
    missing = sum(1 for c in clocks if c.stopped_at is None and c.due_at <= as_of)
    stages = Counter(r.stage for r in reports)
    for owed in overdue:
        arrived = stages[owed.stage] >= (owed.number or 1)
        late, missing = (late + 1, missing) if arrived else (late, missing + 1)
    levels = {level_above(incident.org_path, a.org_path) for a in alerts}
    return IncidentFigures(
        incident=incident,
        to_acknowledge=min(acks) - incident.opened_at if acks else None,
        to_report_up=min(reported_up) - learned if reported_up else None,
        to_resolve=incident.resolved_at - incident.opened_at if incident.resolved_at else None,
        late=late,
        missing=missing,
        omitted_items=sum(o.items for o in omissions),
        levels=frozenset(level for level in levels if level is not None),
        failed_pages=failed_pages(receipts),
    )


def compute(
    rows: Rows,
    *,
    org: str,
    start: datetime,
    end: datetime,
    as_of: datetime,
    include_drills: bool = False,
) -> Figures:
    """The review figures of ``org``'s subtree for incidents opened in ``[start, end)``."""
    chosen = selected(rows.incidents, org=org, start=start, end=end, include_drills=include_drills)
    alerts, clocks = _group(rows.alerts, "incident_id"), _group(rows.clocks, "incident_id")
    overdue, reports = _group(rows.overdue, "incident_id"), _group(rows.reports, "incident_id")
    omissions = _group(rows.omissions, "incident_id")
    receipts = _group(rows.receipts, "incident_id")
    per_incident = [
        incident_figures(
            i,
            alerts=alerts[i.id],
            clocks=clocks[i.id],
            overdue=overdue[i.id],
            reports=reports[i.id],
            omissions=omissions[i.id],
            receipts=receipts[i.id],
            as_of=as_of,
        )
        for i in chosen
    ]
    by_org: dict[str, OrgFigures] = {}
    for f in per_incident:
        o = by_org.get(f.incident.org_path, OrgFigures())
        by_org[f.incident.org_path] = OrgFigures(
            incidents=o.incidents + 1,
            late=o.late + f.late,
            missing=o.missing + f.missing,
            omitted_items=o.omitted_items + f.omitted_items,
        )
    grades = Counter(i.grade for i in chosen)
    categories = Counter(i.category for i in chosen)
    failed: Counter[str] = Counter()
    for f in per_incident:
        failed.update(f.failed_pages)
    return Figures(
        org=org,
        start=start,
        end=end,
        as_of=as_of,
        include_drills=include_drills,
        incidents=per_incident,
        # Every grade and category is listed, so a zero is shown rather than left out.
        by_grade={str(g): grades[str(g)] for g in Grade}
        | {g: n for g, n in grades.items() if g not in set(Grade)},
        by_category={str(c): categories[str(c)] for c in Category}
        | {c: n for c, n in categories.items() if c not in set(Category)},
        to_acknowledge=stats(f.to_acknowledge for f in per_incident),
        to_report_up=stats(f.to_report_up for f in per_incident),
        to_resolve=stats(f.to_resolve for f in per_incident),
        by_org=by_org,
        levels=dict(sorted(Counter(lv for f in per_incident for lv in f.levels).items())),
        failed_pages=dict(failed),
    )
