"""The writes of one transaction, collected by the domain code and flushed at once.

Deciding and writing are separate: the rules and the escalation engine add rows here as they
go, and :func:`flush` writes each table with one pipelined ``executemany`` before commit. A
batch of 256 reports thus costs a fixed number of round trips, not a dozen per report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from dutywatch.contracts import encode
from dutywatch.incidents.rules import Incident
from dutywatch.sql import Conn, Queries

if TYPE_CHECKING:
    from dutywatch.escalation.alerts import Alert

queries = Queries(__package__, "writes.sql")


class TimerRow(NamedTuple):
    """A timer to insert; exactly one subject (see migrations/0004_escalation.sql)."""

    incident_id: int | None
    kind: str
    step: int
    due_at: datetime
    created_at: datetime
    handover_id: int | None
    alert_id: int | None
    org_path: str | None


class Ids:
    """Ids drawn from a sequence ahead of time, so rows can reference each other before insert."""

    def __init__(self, sequence: str) -> None:
        self._sequence = sequence
        self._free: list[int] = []

    async def reserve(self, conn: Conn, count: int) -> None:
        if count > len(self._free):
            rows = await conn.fetch(
                "SELECT nextval($1::regclass) AS id FROM generate_series(1, $2)",
                self._sequence,
                count - len(self._free),
            )
            # Kept in descending order so take() pops the smallest from the end.
            self._free = sorted([*self._free, *(row["id"] for row in rows)], reverse=True)

    async def take(self, conn: Conn) -> int:
        if not self._free:
            await self.reserve(conn, 64)
        return self._free.pop()


@dataclass
class Writes:
    now: datetime
    incident_ids: Ids = field(default_factory=lambda: Ids("incidents_id_seq"))
    page_ids: Ids = field(default_factory=lambda: Ids("pages_id_seq"))
    alarm_ids: Ids = field(default_factory=lambda: Ids("alarms_id_seq"))
    alert_ids: Ids = field(default_factory=lambda: Ids("alerts_id_seq"))
    clock_ids: Ids = field(default_factory=lambda: Ids("report_clocks_id_seq"))
    new_incidents: dict[int, Incident] = field(default_factory=dict)
    changed_incidents: dict[int, Incident] = field(default_factory=dict)
    reports: list[tuple[Any, ...]] = field(default_factory=list)
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    personal: list[tuple[Any, ...]] = field(default_factory=list)
    pages: list[tuple[Any, ...]] = field(default_factory=list)
    alarms: list[tuple[Any, ...]] = field(default_factory=list)
    outbox: list[tuple[str, bytes, datetime]] = field(default_factory=list)
    #: Timers to insert, by the order they were added; a cancelled one becomes None.
    _timers: list[TimerRow | None] = field(default_factory=list)
    #: Positions in ``_timers`` by subject, so a cancel costs the timers it cancels, not
    #: a pass over the whole batch (a 256-report batch cancels and re-arms hundreds).
    _timers_by: dict[tuple[str, object], list[int]] = field(default_factory=dict)
    cancelled_timers_of: set[int] = field(default_factory=set)
    cancelled_handover_timers: set[int] = field(default_factory=set)
    cancelled_alert_timers: set[int] = field(default_factory=set)
    cancelled_kind_timers: dict[str, set[int]] = field(default_factory=dict)
    fired_timers: list[int] = field(default_factory=list)
    new_alerts: dict[int, Alert] = field(default_factory=dict)
    changed_alerts: dict[int, Alert] = field(default_factory=dict)
    #: Reporting clocks to insert, and to update (by id; the latest row wins).
    new_clocks: list[tuple[Any, ...]] = field(default_factory=list)
    changed_clocks: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    #: (incident id, person id) paged in this transaction: two duty rooms whose pages land
    #: on the same person at the same moment page them once.
    paged: set[tuple[int, str]] = field(default_factory=set)

    def save(self, incident: Incident, *, new: bool = False) -> None:
        """The incident's latest state; written once at flush however often it changed."""
        if new or incident.id in self.new_incidents:
            self.new_incidents[incident.id] = incident
        else:
            self.changed_incidents[incident.id] = incident

    def save_alert(self, alert: Alert, *, new: bool = False) -> None:
        if new or alert.id in self.new_alerts:
            self.new_alerts[alert.id] = alert
        else:
            self.changed_alerts[alert.id] = alert

    def enqueue(self, subject: str, message: msgspec.Struct) -> None:
        self.outbox.append((subject, encode(message), self.now))

    @property
    def timers(self) -> list[TimerRow]:
        """The timers to insert: those added and not cancelled since, in the order added."""
        return [t for t in self._timers if t is not None]

    def _drop_timers(self, key: tuple[str, object], keep: Callable[[TimerRow], bool]) -> None:
        kept = []
        for position in self._timers_by.pop(key, []):
            timer = self._timers[position]
            if timer is not None and keep(timer):
                kept.append(position)
            else:
                self._timers[position] = None
        if kept:
            self._timers_by[key] = kept

    def cancel_timers(self, incident_id: int) -> None:
        """Cancel the incident's pending timers, stored ones and ones added in this batch."""
        self.cancelled_timers_of.add(incident_id)
        self._drop_timers(("incident", incident_id), lambda _: False)

    def cancel_alert_timers(self, alert_id: int) -> None:
        """Cancel one alert's pending escalation timers (its duty room acknowledged)."""
        self.cancelled_alert_timers.add(alert_id)
        self._drop_timers(("alert", alert_id), lambda _: False)

    def cancel_incident_timers(self, incident_id: int, kind: str) -> None:
        """Cancel the incident's pending timers of one kind (e.g. to re-arm ``deadline``)."""
        self.cancelled_kind_timers.setdefault(kind, set()).add(incident_id)
        self._drop_timers(("incident", incident_id), lambda t: t.kind != kind)

    def cancel_handover_timer(self, handover_id: int) -> None:
        self.cancelled_handover_timers.add(handover_id)
        self._drop_timers(("handover", handover_id), lambda _: False)

    def add_timer(
        self,
        *,
        kind: str,
        due_at: datetime,
        step: int = 0,
        incident_id: int | None = None,
        handover_id: int | None = None,
        alert_id: int | None = None,
        org_path: str | None = None,
    ) -> None:
        position = len(self._timers)
        self._timers.append(
            TimerRow(incident_id, kind, step, due_at, self.now, handover_id, alert_id, org_path)
        )
        for key in (("incident", incident_id), ("alert", alert_id), ("handover", handover_id)):
            if key[1] is not None:
                self._timers_by.setdefault(key, []).append(position)

    @property
    def empty(self) -> bool:
        return not (
            self.new_incidents
            or self.changed_incidents
            or self.entries
            or self.outbox
            or self.alarms
            or any(t is not None for t in self._timers)
            or self.cancelled_timers_of
            or self.cancelled_handover_timers
            or self.cancelled_alert_timers
            or self.cancelled_kind_timers
            or self.fired_timers
            or self.new_alerts
            or self.changed_alerts
            or self.new_clocks
            or self.changed_clocks
        )


def _incident_row(i: Incident) -> tuple[Any, ...]:
    return (
        i.id,
        i.org_path,
        i.incident_ref,
        str(i.state),
        str(i.grade),
        str(i.category),
        i.title,
        str(i.status),
        i.sensitive,
        i.first_report_missing,
        i.occurred_at,
        i.opened_at,
        i.last_report_at,
        i.reports_count,
        i.policy_version,
        i.policy_started_at,
        i.policy_fired,
        i.acknowledged_at,
        i.acknowledged_by,
        i.resolved_at,
        i.resolved_by,
        i.timeline_seq,
        i.timeline_head,
        i.learned_at,
        i.skip_to,
        i.responsible_org,
    )


#: Positions in :func:`_incident_row` of the columns an update writes (id first, as $1).
_UPDATED = (0, 3, 4, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 24, 25)


def _update_row(i: Incident) -> tuple[Any, ...]:
    row = _incident_row(i)
    return tuple(row[n] for n in _UPDATED)


async def _many(conn: Conn, name: str, rows: Iterable[tuple[Any, ...]]) -> None:
    await queries.exec_many(conn, name, list(rows))


def _alert_row(a: Alert) -> tuple[Any, ...]:
    e = a.escalation
    return (
        a.id,
        a.incident_id,
        a.org_path,
        a.parent_alert_id,
        str(a.opened_reason),
        e.policy,
        e.started_at,
        e.repeat,
        e.step,
        a.acknowledged_at,
        a.acknowledged_by,
        a.created_at,
    )


def _alert_update_row(a: Alert) -> tuple[Any, ...]:
    e = a.escalation
    return (a.id, e.policy, e.started_at, e.repeat, e.step, a.acknowledged_at, a.acknowledged_by)


async def flush(conn: Conn, writes: Writes) -> None:
    """Write everything collected, inside the caller's transaction."""
    if writes.fired_timers:
        # First, so that cancelling an alert's or incident's timers below leaves the timer
        # being fired marked fired, not cancelled.
        await queries.exec(conn, "mark_timers_fired", writes.fired_timers, writes.now)
    if writes.cancelled_alert_timers:
        await queries.exec(
            conn, "cancel_alert_timers", sorted(writes.cancelled_alert_timers), writes.now
        )
    for kind, incident_ids in sorted(writes.cancelled_kind_timers.items()):
        await queries.exec(
            conn, "cancel_incident_timers_of_kind", sorted(incident_ids), kind, writes.now
        )
    if writes.cancelled_timers_of:
        # Before the inserts: a cancel applies to timers stored before this transaction.
        await queries.exec(conn, "cancel_timers_of", sorted(writes.cancelled_timers_of), writes.now)
    if writes.cancelled_handover_timers:
        await queries.exec(
            conn,
            "cancel_handover_timers",
            sorted(writes.cancelled_handover_timers),
            writes.now,
        )
    await _many(conn, "insert_incident", map(_incident_row, writes.new_incidents.values()))
    await _many(conn, "update_incident", map(_update_row, writes.changed_incidents.values()))
    await _many(conn, "insert_alert", map(_alert_row, writes.new_alerts.values()))
    await _many(conn, "update_alert", map(_alert_update_row, writes.changed_alerts.values()))
    await _many(conn, "insert_clock", writes.new_clocks)
    await _many(conn, "update_clock", writes.changed_clocks.values())
    # The tables a report writes several rows to: one statement each for the whole batch.
    await queries.exec_columns(conn, "insert_reports", writes.reports)
    await queries.exec_columns(conn, "insert_entries", writes.entries)
    await _many(conn, "insert_personal", writes.personal)
    await queries.exec_columns(conn, "insert_pages", writes.pages)
    await _many(conn, "insert_alarm", writes.alarms)
    await queries.exec_columns(conn, "insert_timers", writes.timers)
    await queries.exec_columns(conn, "enqueue_all", writes.outbox)
