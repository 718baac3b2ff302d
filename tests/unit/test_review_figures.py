"""Review figures (pure): definitions by example, invariants by property."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dutywatch.review import figures as f
from dutywatch.review.figures import (
    AlertRow,
    ClockRow,
    IncidentRow,
    OmissionRow,
    OverdueReport,
    ReceiptRow,
    ReportRow,
    Rows,
)

T0 = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
ORGS = [
    "harbin",
    "harbin.daoli",
    "harbin.nangang",
    "harbin.daoli.xinyang",
    "harbin.daoli.zhaolin",
    "harbin.nangang.huayuan",
]
MIN = timedelta(minutes=1)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def test_nearest_rank_percentiles() -> None:
    values = [minutes(n) for n in (15, 20, 35, 40, 50)]
    assert f.nearest_rank(values, 50) == minutes(35)  # ceil(2.5) = 3rd
    assert f.nearest_rank(values, 90) == minutes(50)  # ceil(4.5) = 5th
    assert f.nearest_rank(values[:1], 90) == minutes(15)
    assert f.nearest_rank([], 50) is None
    ten = [minutes(n) for n in range(1, 11)]
    assert (f.nearest_rank(ten, 50), f.nearest_rank(ten, 90)) == (minutes(5), minutes(9))


def test_one_incident_by_the_definitions() -> None:
    incident = IncidentRow(
        id=1,
        org_path="harbin.daoli.xinyang",
        title="t",
        grade="III",
        category="accident",
        status="actual",
        opened_at=T0,
        learned_at=T0 - minutes(5),
        resolved_at=T0 + minutes(300),
    )
    rows = Rows(
        incidents=[incident],
        alerts=[
            AlertRow(incident_id=1, org_path="harbin.daoli.xinyang", acknowledged_at=T0 + 9 * MIN),
            AlertRow(incident_id=1, org_path="harbin.daoli", acknowledged_at=T0 + 4 * MIN),
            AlertRow(incident_id=1, org_path="harbin"),
            AlertRow(incident_id=1, org_path="harbin.nangang"),  # a forward: not a level
        ],
        clocks=[
            # reported up when the district acknowledged: 4 + 5 minutes after it was learned
            ClockRow(
                incident_id=1,
                target_org="harbin.daoli",
                kind="phone",
                due_at=T0 + 60 * MIN,
                stopped_at=T0 + 4 * MIN,
            ),
            ClockRow(  # late (迟报)
                incident_id=1,
                target_org="harbin.daoli",
                kind="written",
                due_at=T0 + 60 * MIN,
                stopped_at=T0 + 61 * MIN,
            ),
            ClockRow(  # missing (漏报) at as_of
                incident_id=1, target_org="harbin", kind="written", due_at=T0 + 120 * MIN
            ),
            ClockRow(  # not due yet at as_of: neither
                incident_id=1, target_org="harbin", kind="phone", due_at=T0 + WEEK
            ),
            # a peer's clock stopping is not reporting up
            ClockRow(
                incident_id=1,
                target_org="harbin.nangang",
                kind="phone",
                due_at=T0 + 60 * MIN,
                stopped_at=T0 + 1 * MIN,
            ),
        ],
        overdue=[
            OverdueReport(incident_id=1, stage="follow_up", number=1),  # arrived: late
            OverdueReport(incident_id=1, stage="follow_up", number=2),  # never came: missing
            OverdueReport(incident_id=1, stage="final", number=None),  # never came: missing
        ],
        reports=[
            ReportRow(incident_id=1, stage="first"),
            ReportRow(incident_id=1, stage="follow_up"),
        ],
        omissions=[OmissionRow(incident_id=1, items=2)],
        receipts=[
            ReceiptRow(incident_id=1, page_id=7, channel="sms", ok=False, at=T0, attempt=1),
            ReceiptRow(incident_id=1, page_id=7, channel="email", ok=False, at=T0 + MIN, attempt=2),
            ReceiptRow(incident_id=1, page_id=8, channel="sms", ok=False, at=T0),
            ReceiptRow(incident_id=1, page_id=8, channel="console", ok=True, at=T0 + MIN),
        ],
    )
    got = f.compute(rows, org="harbin", start=T0, end=T0 + WEEK, as_of=T0 + 3 * 60 * MIN)
    [one] = got.incidents
    assert one.to_acknowledge == 4 * MIN
    assert one.to_report_up == 9 * MIN
    assert one.to_resolve == 300 * MIN
    assert (one.late, one.missing, one.omitted_items) == (2, 3, 2)
    assert one.levels == {0, 1, 2}
    assert dict(one.failed_pages) == {"email": 1}
    body = got.as_json()
    assert body["by_grade"] == {"I": 0, "II": 0, "III": 1, "IV": 0}
    assert body["by_org"] == [
        {"org": "harbin.daoli.xinyang", "incidents": 1, "late": 2, "missing": 3, "omitted_items": 2}
    ]
    assert body["escalation_levels"] == [
        {"level": 0, "incidents": 1},
        {"level": 1, "incidents": 1},
        {"level": 2, "incidents": 1},
    ]
    assert body["failed_pages"] == {"total": 1, "by_channel": {"email": 1}}
    assert body["time_to_acknowledge"] == {
        "count": 1,
        "p50_s": 240.0,
        "p90_s": 240.0,
        "max_s": 240.0,
    }


def test_drills_are_left_out_unless_asked_and_the_period_is_half_open() -> None:
    def incident(i: int, status: str, opened: datetime) -> IncidentRow:
        return IncidentRow(
            id=i,
            org_path="harbin.daoli",
            title="t",
            grade="IV",
            category="accident",
            status=status,
            opened_at=opened,
        )

    rows = Rows(
        incidents=[
            incident(1, "actual", T0),
            incident(2, "exercise", T0 + MIN),
            incident(3, "test", T0 + MIN),
            incident(4, "actual", T0 + WEEK),  # the end is not in the period
            incident(5, "actual", T0 - MIN),
        ]
    )
    window = {"org": "harbin", "start": T0, "end": T0 + WEEK, "as_of": T0 + WEEK}
    assert [i.incident.id for i in f.compute(rows, **window).incidents] == [1]  # type: ignore[arg-type]
    drills = f.compute(rows, include_drills=True, **window)  # type: ignore[arg-type]
    assert [i.incident.id for i in drills.incidents] == [1, 2, 3]
    # A sibling whose path merely starts with the same letters is not in the subtree.
    assert f.compute(rows, **{**window, "org": "harbin.dao"}).count == 0  # type: ignore[arg-type]


def test_an_empty_period_gives_zeros_and_nones() -> None:
    got = f.compute(Rows(), org="harbin", start=T0, end=T0 + WEEK, as_of=T0)
    body = got.as_json()
    assert body["incidents"] == 0
    assert set(body["by_grade"].values()) == {0}
    assert body["time_to_resolve"] == {"count": 0, "p50_s": None, "p90_s": None, "max_s": None}
    assert (body["late"], body["missing"], body["by_org"], body["escalation_levels"]) == (
        0,
        0,
        [],
        [],
    )
    assert body["failed_pages"] == {"total": 0, "by_channel": {}}


# ---------------------------------------------------------------------------- properties

offsets = st.integers(min_value=0, max_value=10 * 24 * 60)


@st.composite
def worlds(draw: st.DrawFn) -> Rows:
    count = draw(st.integers(min_value=0, max_value=12))
    incidents, alerts, clocks, overdue, reports, omissions, receipts = [], [], [], [], [], [], []
    page = 0
    for i in range(1, count + 1):
        org = draw(st.sampled_from(ORGS))
        opened = T0 - timedelta(days=1) + minutes(draw(offsets))
        resolved = draw(st.none() | offsets)
        incidents.append(
            IncidentRow(
                id=i,
                org_path=org,
                title=f"t{i}",
                grade=draw(st.sampled_from(["I", "II", "III", "IV"])),
                category=draw(st.sampled_from(["accident", "natural_disaster", "other"])),
                status=draw(st.sampled_from(["actual", "actual", "exercise", "test"])),
                opened_at=opened,
                learned_at=opened - minutes(draw(st.integers(0, 30))),
                resolved_at=None if resolved is None else opened + minutes(resolved),
            )
        )
        for room in draw(st.lists(st.sampled_from(ORGS), unique=True, max_size=3)):
            ack = draw(st.none() | offsets)
            alerts.append(
                AlertRow(
                    incident_id=i,
                    org_path=room,
                    acknowledged_at=None if ack is None else opened + minutes(ack),
                )
            )
        for room in draw(st.lists(st.sampled_from(ORGS), max_size=3)):
            stop = draw(st.none() | offsets)
            clocks.append(
                ClockRow(
                    incident_id=i,
                    target_org=room,
                    kind=draw(st.sampled_from(["phone", "written"])),
                    due_at=opened + minutes(draw(offsets)),
                    stopped_at=None if stop is None else opened + minutes(stop),
                )
            )
        for number in range(1, draw(st.integers(0, 2)) + 1):
            overdue.append(OverdueReport(incident_id=i, stage="follow_up", number=number))
        for _ in range(draw(st.integers(0, 2))):
            reports.append(ReportRow(incident_id=i, stage="follow_up"))
        if draw(st.booleans()):
            omissions.append(OmissionRow(incident_id=i, items=draw(st.integers(1, 4))))
        for _ in range(draw(st.integers(0, 2))):
            page += 1
            for attempt in range(1, draw(st.integers(1, 3)) + 1):
                receipts.append(
                    ReceiptRow(
                        incident_id=i,
                        page_id=page,
                        channel=draw(st.sampled_from(["sms", "email", "console"])),
                        ok=draw(st.booleans()),
                        at=opened + minutes(attempt),
                        attempt=attempt,
                    )
                )
    return Rows(
        incidents=incidents,
        alerts=alerts,
        clocks=clocks,
        overdue=overdue,
        reports=reports,
        omissions=omissions,
        receipts=receipts,
    )


def week(rows: Rows, org: str = "harbin", drills: bool = False) -> f.Figures:
    return f.compute(rows, org=org, start=T0, end=T0 + WEEK, as_of=T0 + WEEK, include_drills=drills)


@settings(max_examples=150, deadline=None)
@given(worlds(), st.booleans())
def test_counts_add_up_and_percentiles_are_ordered(rows: Rows, drills: bool) -> None:
    got = week(rows, drills=drills)
    body = got.as_json()
    assert sum(body["by_grade"].values()) == body["incidents"] == got.count
    assert sum(body["by_category"].values()) == got.count
    assert sum(o["incidents"] for o in body["by_org"]) == got.count
    assert body["late"] == sum(i.late for i in got.incidents)
    assert body["missing"] == sum(i.missing for i in got.incidents)
    assert body["failed_pages"]["total"] == sum(body["failed_pages"]["by_channel"].values())
    for level in body["escalation_levels"]:
        assert 0 < level["incidents"] <= got.count
    for stat in (got.to_acknowledge, got.to_report_up, got.to_resolve):
        assert 0 <= stat.count <= got.count
        if stat.count:
            assert stat.p50 is not None
            assert stat.p90 is not None
            assert stat.max is not None
            assert stat.p50 <= stat.p90 <= stat.max
        else:
            assert (stat.p50, stat.p90, stat.max) == (None, None, None)
    assert all(i.incident.status == "actual" or drills for i in got.incidents)


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_a_subtree_is_the_merge_of_its_children(rows: Rows) -> None:
    """The city's figures are its own incidents' plus each district's, merged."""
    whole = week(rows, "harbin")
    parts = [week(rows, "harbin.daoli"), week(rows, "harbin.nangang")]
    own = [i for i in whole.incidents if i.incident.org_path == "harbin"]
    assert sorted(i.incident.id for i in whole.incidents) == sorted(
        [i.incident.id for i in own] + [i.incident.id for p in parts for i in p.incidents]
    )
    for key in ("by_grade", "by_category"):
        merged = {k: sum(getattr(p, key).get(k, 0) for p in parts) for k in getattr(whole, key)}
        for i in own:
            merged[getattr(i.incident, key.removeprefix("by_"))] += 1
        assert merged == dict(getattr(whole, key))
    assert whole.by_org == {
        **{org: o for p in parts for org, o in p.by_org.items()},
        **({"harbin": whole.by_org["harbin"]} if own else {}),
    }
    maxima = [p.to_resolve.max for p in parts if p.to_resolve.max is not None]
    maxima += [i.to_resolve for i in own if i.to_resolve is not None]
    assert whole.to_resolve.max == (max(maxima) if maxima else None)
    failed = {ch: sum(p.failed_pages.get(ch, 0) for p in parts) for ch in whole.failed_pages}
    for i in own:
        for ch, n in i.failed_pages.items():
            failed[ch] += n
    assert failed == dict(whole.failed_pages)


@settings(max_examples=100, deadline=None)
@given(worlds(), st.integers(min_value=1, max_value=6))
def test_splitting_the_period_splits_the_counts(rows: Rows, day: int) -> None:
    cut = T0 + timedelta(days=day)
    first = f.compute(rows, org="harbin", start=T0, end=cut, as_of=T0 + WEEK)
    second = f.compute(rows, org="harbin", start=cut, end=T0 + WEEK, as_of=T0 + WEEK)
    whole = week(rows)
    assert first.count + second.count == whole.count
    assert all(first.by_grade[g] + second.by_grade[g] == n for g, n in whole.by_grade.items())
    assert first.as_json()["missing"] + second.as_json()["missing"] == whole.as_json()["missing"]
