"""Statutory reporting deadlines (dutywatch.deadlines): targets, clocks, lateness, zero reports.

Table tests pin the shipped defaults (docs/DOMAIN.md lists them with sources); properties check
what must hold for any incident: an upgrade never gives more time, a downgrade never relaxes a
running clock, lateness is exact, a lower room never has longer than the room above it, and the
zero-report check flags exactly the missing rooms, in the configured time zone.

The organisation tree of these tests::

    c ── c.d ── c.d.s ── c.d.s.t
     └── c.e
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dutywatch.contracts import (
    Casualties,
    Category,
    Contact,
    Grade,
    Location,
    ReportV1,
    Stage,
)
from dutywatch.deadlines.rules import (
    Clock,
    DailyReport,
    DeadlineNotConfigured,
    FollowUpRule,
    IncidentFacts,
    ReportingRules,
    ZeroReportRule,
    ZeroReportStatus,
    ancestors_above,
    check_clocks,
    deadlines_for,
    is_escalation,
    lateness,
    missing_zero_reports,
    next_daily,
    next_report_due,
    omitted_fields,
    open_clocks,
    opens_parent_alert_at_once,
    regrade,
    required_targets,
    stop_clock,
    submitted_at,
    subordinate_rooms,
    supplementary_until,
    zero_report_due_at,
    zero_report_status,
)
from dutywatch.deadlines.table import (
    ANYWHERE,
    DEFAULT_TABLE,
    Anchor,
    DeadlineRule,
    DeadlineTable,
    Limit,
    ReportKind,
    TargetLevel,
)
from dutywatch.errors import ConfigurationError

T0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
MIN = timedelta(minutes=1)
H = timedelta(hours=1)
SHANGHAI = ZoneInfo("Asia/Shanghai")
ORGS = ("c", "c.d", "c.e", "c.d.s", "c.d.s.t")
PHONE, WRITTEN = ReportKind.PHONE, ReportKind.WRITTEN


def facts(
    org: str = "c.d.s.t",
    grade: Grade = Grade.IV,
    category: Category = Category.ACCIDENT,
    *,
    sensitive: bool = False,
    occurred: timedelta = -10 * MIN,
    **extra: Any,
) -> IncidentFacts:
    return IncidentFacts(
        org_path=org,
        grade=grade,
        category=category,
        sensitive=sensitive,
        occurred_at=T0 + occurred,
        learned_at=T0,
        **extra,
    )


def table_of(
    facts_: IncidentFacts, table: DeadlineTable = DEFAULT_TABLE
) -> list[tuple[str, str, timedelta]]:
    return [(d.target, str(d.kind), d.due_at - T0) for d in deadlines_for(facts_, table)]


# ---------------------------------------------------------------------- shipped defaults


def test_grade_iv_reports_to_the_parent_within_two_hours() -> None:
    assert table_of(facts(grade=Grade.IV)) == [
        ("c.d.s", "phone", 2 * H),
        ("c.d.s", "written", 2 * H),
    ]
    assert not opens_parent_alert_at_once(facts(grade=Grade.IV))


def test_grade_iii_reports_to_the_parent_within_an_hour_at_once() -> None:
    assert table_of(facts(grade=Grade.III)) == [("c.d.s", "phone", H), ("c.d.s", "written", H)]
    assert opens_parent_alert_at_once(facts(grade=Grade.III))


@pytest.mark.parametrize("grade", [Grade.I, Grade.II])
def test_grades_i_ii_climb_to_the_top_30_min_phone_1_h_written_from_the_event(
    grade: Grade,
) -> None:
    # Anchored on the event (10 minutes before it was learned).
    expected = [
        (org, kind, due)
        for org in ("c.d.s", "c.d", "c")
        for kind, due in (("phone", 20 * MIN), ("written", 50 * MIN))
    ]
    assert table_of(facts(grade=grade)) == expected
    assert opens_parent_alert_at_once(facts(grade=grade))


def test_a_sensitive_grade_iv_climbs_two_hours_per_level() -> None:
    sensitive = facts(grade=Grade.IV, sensitive=True)
    assert opens_parent_alert_at_once(sensitive)
    assert table_of(sensitive) == [
        ("c.d.s", "phone", 2 * H),
        ("c.d.s", "written", 2 * H),
        ("c.d", "phone", 4 * H),
        ("c.d", "written", 4 * H),
        ("c", "phone", 6 * H),
        ("c", "written", 6 * H),
    ]


def test_a_relay_hop_counts_from_when_the_sender_received_it() -> None:
    received = facts(grade=Grade.IV, sensitive=True, received_at={"c.d.s": T0 + 30 * MIN})
    dues = {(d.target, d.kind): d.due_at - T0 for d in deadlines_for(received)}
    assert dues["c.d", PHONE] == 30 * MIN + 2 * H
    assert dues["c", PHONE] == 30 * MIN + 4 * H  # c.d's receipt is not known yet


def test_public_health_parent_takes_the_stricter_of_the_grade_and_category_rows() -> None:
    assert table_of(facts(grade=Grade.III, category=Category.PUBLIC_HEALTH))[0] == (
        "c.d.s",
        "phone",
        H,
    )
    iv = deadlines_for(facts(grade=Grade.IV, category=Category.PUBLIC_HEALTH))[0]
    assert iv.due_at == T0 + 2 * H
    assert iv.rules == ("default-IV-parent", "public-health-parent")


def test_reporting_from_just_below_the_top() -> None:
    # The parent is the top: the stricter of its parent and top rows.
    assert table_of(facts(org="c.d", grade=Grade.II)) == [
        ("c", "phone", 20 * MIN),
        ("c", "written", 50 * MIN),
    ]
    assert table_of(facts(org="c", grade=Grade.I)) == []


def test_every_default_row_names_its_source() -> None:
    for rule in DEFAULT_TABLE.rules:
        assert rule.source
        assert rule.jurisdiction == ANYWHERE


# ---------------------------------------------------------------------------- targets


@pytest.mark.parametrize(
    ("org", "grade", "sensitive", "skip_to", "expected"),
    [
        ("c.d.s.t", Grade.IV, False, None, [("c.d.s", "c.d.s.t", {"parent"})]),
        ("c.d.s.t", Grade.III, False, None, [("c.d.s", "c.d.s.t", {"parent"})]),
        (
            "c.d.s.t",
            Grade.II,
            False,
            None,
            [
                ("c.d.s", "c.d.s.t", {"parent"}),
                ("c.d", "c.d.s", {"upper"}),
                ("c", "c.d", {"upper", "top"}),
            ],
        ),
        (
            "c.d.s.t",
            Grade.IV,
            True,
            None,
            [
                ("c.d.s", "c.d.s.t", {"parent"}),
                ("c.d", "c.d.s", {"upper"}),
                ("c", "c.d", {"upper", "top"}),
            ],
        ),
        # Skip-level: straight to c.d, the room skipped over informed at the same time.
        (
            "c.d.s.t",
            Grade.IV,
            False,
            "c.d",
            [("c.d.s", "c.d.s.t", {"parent"}), ("c.d", "c.d.s.t", {"parent"})],
        ),
        (
            "c.d.s.t",
            Grade.I,
            False,
            "c.d",
            [
                ("c.d.s", "c.d.s.t", {"parent"}),
                ("c.d", "c.d.s.t", {"parent"}),
                ("c", "c.d", {"upper", "top"}),
            ],
        ),
        ("c.d", Grade.IV, False, None, [("c", "c.d", {"parent", "top"})]),
        ("c", Grade.I, True, None, []),
    ],
)
def test_required_targets(
    org: str,
    grade: Grade,
    sensitive: bool,
    skip_to: str | None,
    expected: list[tuple[str, str, set[str]]],
) -> None:
    targets = required_targets(facts(org, grade, sensitive=sensitive, skip_to=skip_to))
    assert [(t.org, t.sender, set(t.levels)) for t in targets] == expected


def test_reporting_rules_are_configurable() -> None:
    quiet = ReportingRules(climb_grades=frozenset({Grade.I}), sensitive_climbs=False)
    assert [t.org for t in required_targets(facts(grade=Grade.II), quiet)] == ["c.d.s"]
    assert [t.org for t in required_targets(facts(sensitive=True), quiet)] == ["c.d.s"]
    assert not opens_parent_alert_at_once(facts(sensitive=True), quiet)


def test_skip_level_target_must_be_above() -> None:
    with pytest.raises(ValueError, match="not above"):
        facts(skip_to="c.e")
    with pytest.raises(ValueError, match="timezone-aware"):
        IncidentFacts(
            org_path="c.d",
            grade=Grade.IV,
            category=Category.ACCIDENT,
            sensitive=False,
            occurred_at=datetime(2025, 1, 1),  # noqa: DTZ001
            learned_at=T0,
        )


# ------------------------------------------------------------------------ table lookup


def _rule(id: str, jurisdiction: str, within: timedelta, **kw: Any) -> DeadlineRule:
    fields: dict[str, Any] = {
        "category": None,
        "grade": Grade.IV,
        "level": TargetLevel.PARENT,
        "phone": Limit(within=within, anchor=Anchor.LEARNED),
        "written": Limit(within=2 * within, anchor=Anchor.LEARNED),
        "source": "test",
    }
    fields.update(kw)
    return DeadlineRule(id=id, jurisdiction=jurisdiction, **fields)


def test_a_jurisdiction_row_replaces_the_default() -> None:
    table = DEFAULT_TABLE.with_rules(
        [_rule("city", "c", 90 * MIN), _rule("district", "c.d", 40 * MIN)]
    )
    assert table_of(facts("c.d.s.t"), table) == [
        ("c.d.s", "phone", 40 * MIN),
        ("c.d.s", "written", 80 * MIN),
    ]
    # A room of the city outside the district gets the city's row (90 min, not the 2 h default).
    assert table_of(facts("c.e"), table) == [("c", "phone", 90 * MIN), ("c", "written", 3 * H)]
    # A looser jurisdiction row is honoured too: jurisdictions may differ either way.
    loose = DEFAULT_TABLE.with_rules([_rule("slow", "c", 3 * H)])
    assert table_of(facts("c.e"), loose)[0] == ("c", "phone", 3 * H)


def test_a_direct_report_anchored_on_the_sender_counts_from_when_the_office_learned() -> None:
    # For a direct report the sender is the reporting office itself: its time learned.
    table = DeadlineTable(
        (
            _rule(
                "hop",
                ANYWHERE,
                H,
                phone=Limit(within=H, anchor=Anchor.SENDER_RECEIVED),
                written=Limit(within=H, anchor=Anchor.OCCURRED),
            ),
        )
    )
    assert table_of(facts(grade=Grade.IV), table) == [
        ("c.d.s", "phone", H),
        ("c.d.s", "written", 50 * MIN),
    ]


def test_nothing_applies_is_a_clear_error() -> None:
    table = DeadlineTable((_rule("only-iv", ANYWHERE, H),))
    assert deadlines_for(facts(grade=Grade.IV), table)
    with pytest.raises(DeadlineNotConfigured, match=r"grade III accident report from c\.d\.s\.t"):
        deadlines_for(facts(grade=Grade.III), table)
    assert issubclass(DeadlineNotConfigured, ConfigurationError)


def test_table_refuses_duplicate_keys_and_bad_rows() -> None:
    with pytest.raises(ConfigurationError, match="same key"):
        DeadlineTable((_rule("a", "c", H), _rule("b", "c", 2 * H)))
    with pytest.raises(ConfigurationError, match="jurisdiction"):
        _rule("a", "C D", H)
    with pytest.raises(ConfigurationError, match="negative"):
        _rule("a", "c", -H)


# ------------------------------------------------------------------------ properties

org_paths = st.sampled_from(ORGS)
grades = st.sampled_from(Grade)
categories = st.sampled_from(Category)
offsets = st.integers(min_value=0, max_value=6 * 3600).map(lambda s: timedelta(seconds=s))


@st.composite
def incident_facts(draw: st.DrawFn) -> IncidentFacts:
    org = draw(org_paths)
    above = ancestors_above(org)
    skip = draw(st.none() | st.sampled_from(above)) if above else None
    received = {room: T0 + draw(offsets) for room in above if draw(st.booleans())}
    return IncidentFacts(
        org_path=org,
        grade=draw(grades),
        category=draw(categories),
        sensitive=draw(st.booleans()),
        occurred_at=T0 - draw(offsets),  # never after it was learned
        learned_at=T0,
        skip_to=skip,
        received_at=received,
    )


@st.composite
def running_clocks(draw: st.DrawFn, facts_: IncidentFacts) -> tuple[Clock, ...]:
    clocks = open_clocks(facts_, at=T0)
    for clock in clocks:
        if draw(st.booleans()):
            clocks, _ = stop_clock(
                clocks, target=clock.target, kind=clock.kind, at=T0 + draw(offsets)
            )
    return clocks


def _running(clocks: tuple[Clock, ...]) -> dict[tuple[str, ReportKind], Clock]:
    return {c.key: c for c in clocks if c.running}


@settings(deadline=None)
@given(
    data=st.data(),
    before=incident_facts(),
    after_grade=grades,
    after_sensitive=st.booleans(),
    later=offsets,
)
def test_an_upgrade_never_makes_a_deadline_later(
    data: st.DataObject,
    before: IncidentFacts,
    after_grade: Grade,
    after_sensitive: bool,
    later: timedelta,
) -> None:
    clocks = data.draw(running_clocks(before))
    after = replace(before, grade=after_grade, sensitive=before.sensitive or after_sensitive)
    at = T0 + later
    regraded = regrade(clocks, before, after, at=at)
    now_running = _running(regraded)
    for key, clock in _running(clocks).items():
        assert key in now_running, "a running clock disappeared"
        assert now_running[key].due_at <= clock.due_at, "a regrade gave more time"
    # Stopped clocks stay as they were: history is never rewritten.
    assert [c for c in regraded if not c.running][: len(clocks)] == [
        c for c in clocks if not c.running
    ]
    if is_escalation(before, after):
        # Every target the new grade requires has a running clock no later than its own.
        for deadline in deadlines_for(
            replace(after, occurred_at=at, learned_at=at, received_at={})
        ):
            assert now_running[deadline.target, deadline.kind].due_at <= deadline.due_at


@given(data=st.data(), before=incident_facts(), after_grade=grades, later=offsets)
def test_a_downgrade_never_relaxes_a_running_clock(
    data: st.DataObject, before: IncidentFacts, after_grade: Grade, later: timedelta
) -> None:
    clocks = data.draw(running_clocks(before))
    if after_grade.rank < before.grade.rank:
        after_grade = before.grade
    after = replace(before, grade=after_grade)
    assert regrade(clocks, before, after, at=T0 + later) == clocks


def test_upgrade_iv_to_ii_mid_way() -> None:
    before = facts(grade=Grade.IV)
    clocks = open_clocks(before, at=T0)
    # The phone report went to the parent in time; the written one is still being signed.
    clocks, late = stop_clock(clocks, target="c.d.s", kind=PHONE, at=T0 + 30 * MIN)
    assert late is None
    upgraded = regrade(clocks, before, replace(before, grade=Grade.II), at=T0 + 50 * MIN)
    summary = [(c.target, str(c.kind), c.due_at - T0, c.running, c.grade) for c in upgraded]
    assert summary == [
        ("c.d.s", "phone", 2 * H, False, Grade.IV),  # sent at T0+30 min: kept as history
        ("c.d.s", "written", 110 * MIN, True, Grade.II),  # was T0+2 h; now 1 h from the upgrade
        ("c.d.s", "phone", 80 * MIN, True, Grade.II),  # the upgraded phone report is owed too
        ("c.d", "phone", 80 * MIN, True, Grade.II),  # grade II climbs to the top
        ("c.d", "written", 110 * MIN, True, Grade.II),
        ("c", "phone", 80 * MIN, True, Grade.II),
        ("c", "written", 110 * MIN, True, Grade.II),
    ]
    assert upgraded[0].stopped_at == T0 + 30 * MIN
    assert [c for c in upgraded if not c.running] == [clocks[0]]


@given(f=incident_facts())
def test_a_lower_room_never_has_longer_than_the_room_above(f: IncidentFacts) -> None:
    deadlines = deadlines_for(f)
    due = {(d.target, d.kind): d.due_at for d in deadlines}
    targets = [t.org for t in required_targets(f)]
    for kind in ReportKind:
        for lower, upper in zip(targets, targets[1:], strict=False):
            assert due[lower, kind] <= due[upper, kind]
    assert all(d.rules for d in deadlines)


@given(f=incident_facts(), severer=grades)
def test_a_more_severe_grade_is_never_given_more_time(f: IncidentFacts, severer: Grade) -> None:
    if severer.rank > f.grade.rank:
        return
    mild = {(d.target, d.kind): d.due_at for d in deadlines_for(f)}
    severe = {(d.target, d.kind): d.due_at for d in deadlines_for(replace(f, grade=severer))}
    assert mild.keys() <= severe.keys()
    for key, due in mild.items():
        assert severe[key] <= due


# ------------------------------------------------------------------------- lateness


moments = st.integers(min_value=-(10**10), max_value=10**10).map(lambda us: T0 + US * us)


@given(due=moments, submitted=moments)
def test_lateness_is_exactly_submitted_minus_due_when_positive(
    due: datetime, submitted: datetime
) -> None:
    late_by = lateness(due, submitted)
    if submitted <= due:
        assert late_by is None
    else:
        assert late_by == submitted - due


@given(f=incident_facts(), after=st.integers(min_value=0, max_value=10**10))
def test_stop_clock_records_late_exactly(f: IncidentFacts, after: int) -> None:
    clocks = open_clocks(f, at=T0)
    for clock in clocks:
        at = T0 + US * after
        stopped, late = stop_clock(clocks, target=clock.target, kind=clock.kind, at=at)
        if at <= clock.due_at:
            assert late is None
        else:
            assert late is not None
            assert late.late_by == at - clock.due_at
            assert (late.due_at, late.submitted_at) == (clock.due_at, at)
        # Stopping twice changes nothing and records nothing.
        again, second = stop_clock(stopped, target=clock.target, kind=clock.kind, at=at + H)
        assert (again, second) == (stopped, None)


def test_written_clock_stops_only_at_sign_off() -> None:
    sent = T0 + 30 * MIN
    assert submitted_at(WRITTEN, sent_at=sent, signed_off_at=None) is None
    assert submitted_at(WRITTEN, sent_at=sent, signed_off_at=T0 + 20 * MIN) == sent
    assert submitted_at(WRITTEN, sent_at=sent, signed_off_at=T0 + 3 * H) == T0 + 3 * H
    assert submitted_at(PHONE, sent_at=sent, signed_off_at=None) == sent
    # A written report signed after its deadline is late by exactly the overrun.
    clocks = open_clocks(facts(grade=Grade.III), at=T0)
    signed = submitted_at(WRITTEN, sent_at=T0 + 50 * MIN, signed_off_at=T0 + 75 * MIN)
    assert signed is not None
    _, late = stop_clock(clocks, target="c.d.s", kind=WRITTEN, at=signed)
    assert late is not None
    assert late.late_by == 15 * MIN


@given(f=incident_facts(), steps=st.lists(st.integers(0, 4 * 3600 * 10**6), max_size=12))
def test_check_clocks_reports_each_miss_once_and_next_check_is_exact(
    f: IncidentFacts, steps: list[int]
) -> None:
    clocks = open_clocks(f, at=T0)
    now = T0
    reported: list[tuple[str, ReportKind]] = []
    for step in [0, *sorted(steps)]:
        now = T0 + US * step
        result = check_clocks(clocks, now)
        for late in result.missed:
            assert late.late_by == now - late.due_at > timedelta(0)
            reported.append((late.target, late.kind))
        clocks = result.clocks
        if result.next_check_at is not None:
            assert check_clocks(clocks, result.next_check_at - US).missed == ()
            assert check_clocks(clocks, result.next_check_at).missed
    assert len(reported) == len(set(reported)), "a miss was reported twice"
    assert set(reported) == {c.key for c in open_clocks(f, at=T0) if c.due_at < now}


# ------------------------------------------------------------------- follow-up reports


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 7, day, hour, minute, tzinfo=SHANGHAI)


DAILY = FollowUpRule(daily_at=time(8, 0), early_window=2 * H, reminder_lead=30 * MIN)


@pytest.mark.parametrize(
    ("first", "follow_ups", "expected_due", "number"),
    [
        # First report in the afternoon: the first follow-up is due next morning at 08:00.
        (shanghai(1, 16), [], shanghai(2, 8), 1),
        # A report within the early window (2 h) before 08:00 counts for it: the next day.
        (shanghai(1, 6, 30), [], shanghai(2, 8), 1),
        (shanghai(1, 5, 59), [], shanghai(1, 8), 1),
        # Sent a little early or a little late, the next is due the following morning.
        (shanghai(1, 16), [shanghai(2, 7, 50)], shanghai(3, 8), 2),
        (shanghai(1, 16), [shanghai(2, 8, 1)], shanghai(3, 8), 2),
        # Very late: the first morning after it.
        (shanghai(1, 16), [shanghai(3, 7, 30)], shanghai(4, 8), 2),
        (shanghai(1, 16), [shanghai(2, 8), shanghai(3, 8)], shanghai(4, 8), 3),
        # An extra follow-up in the afternoon does not excuse the next morning's report.
        (shanghai(1, 16), [shanghai(2, 8), shanghai(2, 15)], shanghai(3, 8), 3),
        # Order of the history does not matter.
        (shanghai(1, 16), [shanghai(3, 8), shanghai(2, 8)], shanghai(4, 8), 3),
    ],
)
def test_daily_follow_ups(
    first: datetime, follow_ups: list[datetime], expected_due: datetime, number: int
) -> None:
    due = next_report_due(DAILY, first_report_at=first, follow_ups=follow_ups)
    assert due is not None
    assert (due.stage, due.number, due.due_at) == (Stage.FOLLOW_UP, number, expected_due)
    assert due.remind_at == expected_due - 30 * MIN


def test_interval_follow_ups_final_and_reminders() -> None:
    rule = FollowUpRule(interval=4 * H, daily_at=None, reminder_lead=30 * MIN, final_within=6 * H)
    due = next_report_due(rule, first_report_at=T0, follow_ups=[T0 + 3 * H])
    assert due is not None
    assert (due.number, due.due_at, due.remind_at) == (2, T0 + 7 * H, T0 + 6 * H + 30 * MIN)
    final = next_report_due(rule, first_report_at=T0, resolved_at=T0 + 9 * H)
    assert final is not None
    assert (final.stage, final.number, final.due_at) == (Stage.FINAL, None, T0 + 15 * H)
    assert final.remind_at == T0 + 14 * H + 30 * MIN
    assert next_report_due(rule, first_report_at=T0, resolved_at=T0, final_at=T0 + H) is None
    # A reminder never falls before the report that set the due time.
    short = replace(rule, interval=10 * MIN)
    soon = next_report_due(short, first_report_at=T0)
    assert soon is not None
    assert soon.remind_at == T0


@given(
    first=st.integers(0, 10**6).map(lambda s: T0 + timedelta(seconds=s)),
    gaps=st.lists(st.integers(1, 3 * 86400), max_size=8),
)
def test_daily_follow_up_is_after_the_last_report_at_local_eight(
    first: datetime, gaps: list[int]
) -> None:
    reports = []
    at = first
    for gap in gaps:
        at += timedelta(seconds=gap)
        reports.append(at)
    due = next_report_due(DAILY, first_report_at=first, follow_ups=reports)
    assert due is not None
    last = reports[-1] if reports else first
    assert due.due_at - last > DAILY.early_window
    assert due.due_at - last <= DAILY.early_window + timedelta(days=1)
    assert due.due_at.astimezone(SHANGHAI).time() == time(8, 0)
    assert last <= due.remind_at <= due.due_at


def test_next_daily_is_strictly_after() -> None:
    assert next_daily(shanghai(1, 8), time(8, 0), "Asia/Shanghai") == shanghai(2, 8)
    assert next_daily(shanghai(1, 8) - US, time(8, 0), "Asia/Shanghai") == shanghai(1, 8)


def test_follow_up_rule_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="exactly one"):
        FollowUpRule(interval=H, daily_at=time(8))
    with pytest.raises(ConfigurationError, match="exactly one"):
        FollowUpRule(interval=None, daily_at=None)
    with pytest.raises(ConfigurationError, match="positive"):
        FollowUpRule(interval=timedelta(0), daily_at=None)
    with pytest.raises(ConfigurationError, match="local time"):
        FollowUpRule(daily_at=time(8, tzinfo=UTC))
    with pytest.raises(Exception, match="Nowhere"):
        FollowUpRule(tz="Nowhere/Land")


def test_supplementary_window() -> None:
    assert supplementary_until(T0, None) == T0 + timedelta(days=30)
    assert supplementary_until(T0, "mine_flooding") == T0 + timedelta(days=30)
    assert supplementary_until(T0, "road_traffic") == T0 + timedelta(days=7)
    assert supplementary_until(T0, "fire") == T0 + timedelta(days=7)


# --------------------------------------------------------------------------- omitted


def report(**extra: Any) -> ReportV1:
    return ReportV1(
        report_id=uuid4(),
        incident_ref="HRB-1",
        org="c.d",
        stage=Stage.FIRST,
        grade=Grade.III,
        category=Category.ACCIDENT,
        title="仓库火灾",
        occurred_at=T0,
        reported_at=T0,
        reporter=Contact(name="王值班"),
        **extra,
    )


def test_omitted_fields_at_sign_off() -> None:
    bare = report()
    assert omitted_fields(bare) == (
        "learned_at",
        "location",
        "summary",
        "casualties",
        "losses",
        "impact",
        "measures",
        "commander",
        "reporting_unit",
    )
    full = report(
        learned_at=T0,
        location=Location(text="道里区"),
        summary="起火",
        casualties=Casualties(),  # zeros reported are not omitted
        losses="待核",
        impact="可控",
        measures="扑救",
        commander=Contact(name="李指挥"),
        reporting_unit="道里区政府",
    )
    assert omitted_fields(full) == ()
    assert omitted_fields(bare, ["summary", "leaders_on_scene"]) == ("summary", "leaders_on_scene")
    with pytest.raises(ConfigurationError, match="not a field"):
        omitted_fields(bare, ["nonsense"])


# ----------------------------------------------------------------------- zero reports


RULE_9AM = ZeroReportRule(due_by=time(9, 0), tz="Asia/Shanghai")
DAY = date(2025, 7, 2)


def test_zero_report_due_time_is_local() -> None:
    assert zero_report_due_at(RULE_9AM, DAY) == datetime(2025, 7, 2, 1, 0, tzinfo=UTC)


def test_zero_report_status_table() -> None:
    rooms = ["c.d", "c.e", "c.f", "c.g"]
    reports = [
        # 07:30 local on the 2nd is still the 1st in UTC: it counts for the 2nd.
        DailyReport(org="c.d", day=DAY, received_at=datetime(2025, 7, 1, 23, 30, tzinfo=UTC)),
        # At exactly 09:00 local: on time.
        DailyReport(org="c.e", day=DAY, received_at=datetime(2025, 7, 2, 1, 0, tzinfo=UTC)),
        # One microsecond later: late.
        DailyReport(org="c.f", day=DAY, received_at=datetime(2025, 7, 2, 1, 0, tzinfo=UTC) + US),
        # c.g reported for the day before only.
        DailyReport(org="c.g", day=date(2025, 7, 1), received_at=datetime(2025, 7, 1, tzinfo=UTC)),
    ]
    at_nine = datetime(2025, 7, 2, 1, 0, tzinfo=UTC)
    assert zero_report_status(rooms, reports, day=DAY, now=at_nine, rule=RULE_9AM) == {
        "c.d": ZeroReportStatus.ON_TIME,
        "c.e": ZeroReportStatus.ON_TIME,
        "c.f": ZeroReportStatus.NOT_DUE,  # not arrived yet at 09:00:00
        "c.g": ZeroReportStatus.NOT_DUE,
    }
    later = at_nine + H
    assert zero_report_status(rooms, reports, day=DAY, now=later, rule=RULE_9AM) == {
        "c.d": ZeroReportStatus.ON_TIME,
        "c.e": ZeroReportStatus.ON_TIME,
        "c.f": ZeroReportStatus.LATE,
        "c.g": ZeroReportStatus.MISSING,
    }
    assert missing_zero_reports(rooms, reports, day=DAY, now=later, rule=RULE_9AM) == ("c.g",)
    # Just past the due time, c.f's (late) report is in: only c.g is missing.
    assert missing_zero_reports(rooms, reports, day=DAY, now=at_nine + US, rule=RULE_9AM) == (
        "c.g",
    )
    assert missing_zero_reports(rooms, reports[:2], day=DAY, now=at_nine + US, rule=RULE_9AM) == (
        "c.f",
        "c.g",
    )


def test_zero_report_in_a_zone_with_daylight_saving() -> None:
    # 09:00 in Berlin is 07:00 UTC in summer and 08:00 UTC in winter.
    berlin = ZeroReportRule(due_by=time(9, 0), tz="Europe/Berlin")
    assert zero_report_due_at(berlin, date(2025, 7, 2)) == datetime(2025, 7, 2, 7, tzinfo=UTC)
    assert zero_report_due_at(berlin, date(2025, 1, 2)) == datetime(2025, 1, 2, 8, tzinfo=UTC)


rooms_strategy = st.lists(st.sampled_from(["c.a", "c.b", "c.c", "c.d", "c.e"]), unique=True)


@st.composite
def daily_reports(draw: st.DrawFn) -> DailyReport:
    return DailyReport(
        org=draw(st.sampled_from(["c.a", "c.b", "c.c", "c.d", "c.e", "x.y"])),
        day=draw(st.sampled_from([DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)])),
        received_at=datetime(2025, 7, 1, 12, tzinfo=UTC)
        + timedelta(minutes=draw(st.integers(0, 36 * 60))),
    )


@given(
    rooms=rooms_strategy,
    reports=st.lists(daily_reports(), max_size=12),
    now_min=st.integers(0, 36 * 60),
    due=st.times(),
)
def test_zero_report_flags_exactly_the_missing_rooms(
    rooms: list[str], reports: list[DailyReport], now_min: int, due: time
) -> None:
    rule = ZeroReportRule(due_by=due, tz="Asia/Shanghai")
    now = datetime(2025, 7, 1, 12, tzinfo=UTC) + timedelta(minutes=now_min)
    deadline = datetime(DAY.year, DAY.month, DAY.day, tzinfo=SHANGHAI).replace(
        hour=due.hour, minute=due.minute, second=due.second, microsecond=due.microsecond
    )
    arrived = {r.org for r in reports if r.day == DAY and r.received_at <= now}
    expected = tuple(sorted(r for r in rooms if r not in arrived)) if now > deadline else ()
    assert missing_zero_reports(rooms, reports, day=DAY, now=now, rule=rule) == expected


def test_subordinate_rooms() -> None:
    assert subordinate_rooms(ORGS, "c") == ("c.d", "c.e")
    assert subordinate_rooms(ORGS, "c.d") == ("c.d.s",)
    assert subordinate_rooms(ORGS, "c.d.s.t") == ()


def test_clocks_are_absolute_durations_in_any_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    learned = datetime(2025, 3, 30, 1, 30, tzinfo=berlin)  # DST starts at 02:00 local
    f = IncidentFacts(
        org_path="c.d",
        grade=Grade.IV,
        category=Category.ACCIDENT,
        sensitive=False,
        occurred_at=learned,
        learned_at=learned,
    )
    assert [d.due_at - learned for d in deadlines_for(f)] == [2 * H, 2 * H]
    assert supplementary_until(learned, "fire") - learned == timedelta(days=7)
