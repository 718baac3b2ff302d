"""The roster store on real PostgreSQL: round trips, audit rows, events in the outbox,
refusals that leave nothing behind, and the pager reading rosters."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
import msgspec
import pytest

from dutywatch import errors
from dutywatch.contracts import ChangeSource, RosterEventV1
from dutywatch.escalation.engine import Rosters
from dutywatch.orgs import store as orgs
from dutywatch.rosters import store
from dutywatch.rosters.audit import Change
from dutywatch.rosters.model import (
    DayKind,
    HolidayCalendar,
    Layer,
    Override,
    Role,
    Roster,
    Rotation,
)
from dutywatch.writes import Writes

#: Wednesday 25 November 2026, 10:00 in Shanghai.
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def change(actor: str = "person:zhang-wei", at: datetime = NOW) -> Change:
    return Change(actor=actor, source=ChangeSource.HTTP, at=at, subject_prefix="tst")


async def world(conn: asyncpg.Connection) -> None:
    setup = change("system:test")
    await orgs.create_org(conn, setup, path="harbin", name="哈尔滨市")
    await orgs.create_org(conn, setup, path="harbin.daoli", name="道里区")
    await orgs.create_org(conn, setup, path="harbin.daoli.xinyang", name="新阳路街道")
    for person in ("li-na", "sun-li", "zhang-wei", "zhou-min", "wang-fang"):
        org = "harbin" if person == "wang-fang" else "harbin.daoli"
        await orgs.create_person(
            conn, setup, person_id=person, name=person.upper(), org_path=org, phone="110"
        )


async def daoli_roster(conn: asyncpg.Connection) -> tuple[int, int, int]:
    """A Daoli roster: officers li-na/sun-li on workdays, zhou-min on rest days, 24 h from
    08:30; leader zhang-wei every day. Returns (roster, officers rotation, leader rotation)."""
    c = change()
    roster_id = await store.create_roster(conn, c, org_path="harbin.daoli", name="道里区值班表")
    officers = await store.add_rotation(
        conn,
        c,
        roster_id,
        name="officers",
        people=["li-na", "sun-li"],
        shift_length=DAY,
        handoff=time(8, 30),
        start=date(2026, 11, 23),
    )
    weekend = await store.add_rotation(
        conn,
        c,
        roster_id,
        name="weekend",
        people=["zhou-min"],
        shift_length=DAY,
        handoff=time(8, 30),
        start=date(2026, 11, 23),
    )
    leaders = await store.add_rotation(
        conn,
        c,
        roster_id,
        name="leaders",
        people=["zhang-wei"],
        shift_length=7 * DAY,
        handoff=time(8, 30),
        start=date(2026, 11, 23),
    )
    await store.add_layer(
        conn, c, roster_id, rotation_id=officers, role=Role.DUTY_OFFICER, days=DayKind.WORKDAYS
    )
    await store.add_layer(
        conn, c, roster_id, rotation_id=weekend, role=Role.DUTY_OFFICER, days=DayKind.RESTDAYS
    )
    await store.add_layer(conn, c, roster_id, rotation_id=leaders, role=Role.LEADER_ON_DUTY)
    return roster_id, officers, leaders


async def outbox_events(conn: asyncpg.Connection) -> list[tuple[str, RosterEventV1]]:
    rows = await conn.fetch("SELECT subject, payload FROM outbox ORDER BY id")
    return [(r["subject"], msgspec.json.decode(r["payload"], type=RosterEventV1)) for r in rows]


async def test_a_roster_round_trips_into_the_model(conn: asyncpg.Connection) -> None:
    await world(conn)
    roster_id, officers, leaders = await daoli_roster(conn)
    await store.put_calendar(
        conn,
        change(),
        "cn",
        name="national",
        holidays=[date(2027, 1, 1)],
        makeup_workdays=[date(2026, 12, 27)],
    )
    await store.update_roster(
        conn,
        change(),
        roster_id,
        {"calendar_id": "cn", "slots": {Role.DUTY_OFFICER: 1, Role.LEADER_ON_DUTY: 2}},
    )
    override_id = await store.add_override(
        conn,
        change(),
        roster_id,
        store.OverrideSpec(
            role=Role.DUTY_OFFICER,
            person_id="zhou-min",
            replaces="li-na",
            starts_at=NOW,
            ends_at=NOW + 6 * timedelta(hours=1),
            reason="李娜 at a training",
        ),
    )

    record = await store.get(conn, roster_id)
    assert (record.org_path, record.name, record.tz, record.calendar_id, record.version) == (
        "harbin.daoli",
        "道里区值班表",
        "Asia/Shanghai",
        "cn",
        9,
    )
    rotation = Rotation(
        id=str(officers),
        people=("li-na", "sun-li"),
        shift_length=DAY,
        handoff=time(8, 30),
        start=date(2026, 11, 23),
    )
    model = record.model()
    assert model == Roster(
        id=str(roster_id),
        org_path="harbin.daoli",
        tz="Asia/Shanghai",
        slots={Role.DUTY_OFFICER: 1, Role.LEADER_ON_DUTY: 2},
        layers=model.layers,
        overrides=(
            Override(
                id=str(override_id),
                role=Role.DUTY_OFFICER,
                person_id="zhou-min",
                starts_at=NOW,
                ends_at=NOW + 6 * timedelta(hours=1),
                replaces="li-na",
                reason="李娜 at a training",
            ),
        ),
        calendar=HolidayCalendar(
            holidays=frozenset({date(2027, 1, 1)}),
            makeup_workdays=frozenset({date(2026, 12, 27)}),
        ),
    )
    assert model.layers[0] == Layer(
        id=model.layers[0].id, role=Role.DUTY_OFFICER, rotation=rotation, days=DayKind.WORKDAYS
    )
    assert [(layer.role, layer.rotation.id, layer.days) for layer in model.layers] == [
        (Role.DUTY_OFFICER, str(officers), DayKind.WORKDAYS),
        (Role.DUTY_OFFICER, model.layers[1].rotation.id, DayKind.RESTDAYS),
        (Role.LEADER_ON_DUTY, str(leaders), DayKind.EVERY_DAY),
    ]
    # A window leaves out the overrides that cannot matter inside it.
    later = await store.get(conn, roster_id, window=(NOW + DAY, NOW + 2 * DAY))
    assert later.overrides == ()
    assert [r.model() for r in await store.load(conn, orgs=["harbin.daoli"])] == [model]


async def test_every_change_is_audited_with_an_event_in_the_outbox(
    conn: asyncpg.Connection,
) -> None:
    await world(conn)
    await conn.execute("DELETE FROM outbox")
    roster_id, officers, _ = await daoli_roster(conn)
    await store.update_rotation(
        conn, change("person:boss"), roster_id, officers, {"people": ["sun-li", "li-na"]}
    )

    audit = await store.audit_of(conn, roster_id)
    assert [(a["entity"], a["action"], a["version"]) for a in audit] == [
        ("roster", "created", 1),
        ("rotation", "created", 2),
        ("rotation", "created", 3),
        ("rotation", "created", 4),
        ("layer", "created", 5),
        ("layer", "created", 6),
        ("layer", "created", 7),
        ("rotation", "updated", 8),
    ]
    last = audit[-1]
    assert (last["actor"], last["source"], last["entity_id"]) == (
        "person:boss",
        "http",
        str(officers),
    )
    assert last["before"]["people"] == ["li-na", "sun-li"]
    assert last["after"]["people"] == ["sun-li", "li-na"]
    assert last["after"]["shift_length"] == "1d"

    events = await outbox_events(conn)
    assert {subject for subject, _ in events} == {"tst.event.harbin.daoli.roster"}
    assert [e.event_id for _, e in events] == [a["id"] for a in audit]
    assert [e.version for _, e in events] == list(range(1, 9))
    update = events[-1][1]
    assert (update.change, update.entity, update.entity_id, update.actor) == (
        "updated",
        "rotation",
        str(officers),
        "person:boss",
    )
    assert update.at == NOW
    assert (update.affects_from, update.affects_to) == (None, None)


async def test_a_refused_change_leaves_no_trace(conn: asyncpg.Connection) -> None:
    await world(conn)
    roster_id, officers, _ = await daoli_roster(conn)
    before = (await store.get(conn, roster_id)).version
    audits = await conn.fetchval("SELECT count(*) FROM roster_audit")
    pending = await conn.fetchval("SELECT count(*) FROM outbox")

    with pytest.raises(errors.RosterInvalid) as refused:
        await store.add_layer(
            conn, change(), roster_id, rotation_id=officers, role=Role.DUTY_OFFICER, slot=1
        )
    assert refused.value.fields["field"] == "slot"
    assert "asks for 1" in refused.value.message
    with pytest.raises(errors.RosterInvalid) as refused:
        await store.update_roster(conn, change(), roster_id, {"slots": {Role.DUTY_OFFICER: 1}})
    assert refused.value.fields["field"] == "slots.leader_on_duty"
    with pytest.raises(errors.UnknownReference) as unknown:
        await store.add_rotation(
            conn,
            change(),
            roster_id,
            name="ghosts",
            people=["nobody"],
            shift_length=DAY,
            handoff=time(8, 30),
            start=date(2026, 11, 23),
        )
    assert unknown.value.fields["field"] == "people"
    with pytest.raises(errors.Conflict) as duplicate:
        await store.add_rotation(
            conn,
            change(),
            roster_id,
            name="officers",
            people=["li-na"],
            shift_length=DAY,
            handoff=time(8, 30),
            start=date(2026, 11, 23),
        )
    assert duplicate.value.fields["field"] == "name"
    with pytest.raises(errors.SchemaViolation) as bad_length:
        await store.add_rotation(
            conn,
            change(),
            roster_id,
            name="odd",
            people=["li-na"],
            shift_length=timedelta(hours=7),
            handoff=time(8, 30),
            start=date(2026, 11, 23),
        )
    assert bad_length.value.fields["field"] == "shift_length"
    with pytest.raises(errors.Conflict):
        await store.delete_rotation(conn, change(), roster_id, officers)  # a layer uses it
    with pytest.raises(errors.Conflict):
        await orgs.delete_person(conn, change(), "li-na")  # in a rotation

    assert (await store.get(conn, roster_id)).version == before
    assert await conn.fetchval("SELECT count(*) FROM roster_audit") == audits
    assert await conn.fetchval("SELECT count(*) FROM outbox") == pending


async def test_overrides_of_one_slot_never_overlap(conn: asyncpg.Connection) -> None:
    await world(conn)
    roster_id, _, _ = await daoli_roster(conn)

    def cover(person: str, start: datetime, hours: int) -> store.OverrideSpec:
        return store.OverrideSpec(
            role=Role.DUTY_OFFICER,
            person_id=person,
            starts_at=start,
            ends_at=start + timedelta(hours=hours),
        )

    first = await store.add_override(conn, change(), roster_id, cover("zhou-min", NOW, 4))
    with pytest.raises(errors.Conflict) as clash:
        await store.add_override(
            conn, change(), roster_id, cover("sun-li", NOW + timedelta(hours=3), 4)
        )
    assert clash.value.fields == {"field": "starts_at", "override_id": first}
    # Touching is not overlapping; another slot or role is independent.
    await store.add_override(
        conn, change(), roster_id, cover("sun-li", NOW + timedelta(hours=4), 4)
    )
    await store.add_override(
        conn,
        change(),
        roster_id,
        store.OverrideSpec(
            role=Role.LEADER_ON_DUTY,
            person_id="wang-fang",
            starts_at=NOW,
            ends_at=NOW + DAY,
        ),
    )
    with pytest.raises(errors.SchemaViolation) as backwards:
        await store.add_override(conn, change(), roster_id, cover("li-na", NOW, 0))
    assert backwards.value.fields["field"] == "ends_at"
    await store.update_override(
        conn, change(), roster_id, first, {"ends_at": NOW + timedelta(hours=2)}
    )
    audit = (await store.audit_of(conn, roster_id))[-1]
    assert audit["before"]["ends_at"] != audit["after"]["ends_at"]


async def test_a_swap_is_two_overrides_made_and_undone_together(conn: asyncpg.Connection) -> None:
    await world(conn)
    roster_id, _, _ = await daoli_roster(conn)
    thursday = datetime(2026, 11, 26, 0, 30, tzinfo=UTC)  # 08:30 Shanghai
    first = store.OverrideSpec(
        role=Role.DUTY_OFFICER,
        person_id="sun-li",
        replaces="li-na",
        starts_at=thursday - DAY,
        ends_at=thursday,
    )
    second = store.OverrideSpec(
        role=Role.DUTY_OFFICER,
        person_id="li-na",
        replaces="sun-li",
        starts_at=thursday,
        ends_at=thursday + DAY,
    )
    with pytest.raises(errors.SchemaViolation) as not_a_trade:
        await store.add_swap(
            conn,
            change(),
            roster_id,
            first=first,
            second=store.OverrideSpec(**{**second.__dict__, "replaces": "zhou-min"}),
            approved_by="zhang-wei",
        )
    assert not_a_trade.value.fields["field"] == "second.replaces"
    with pytest.raises(errors.SchemaViolation) as two_roles:
        await store.add_swap(
            conn,
            change(),
            roster_id,
            first=first,
            second=store.OverrideSpec(**{**second.__dict__, "role": Role.LEADER_ON_DUTY}),
            approved_by="zhang-wei",
        )
    assert two_roles.value.fields["field"] == "second.role"
    await store.update_roster(conn, change(), roster_id, {"removed": ["sun-li"]})
    with pytest.raises(errors.SchemaViolation, match="no longer on roster"):
        await store.add_swap(
            conn, change(), roster_id, first=first, second=second, approved_by="zhang-wei"
        )
    await store.update_roster(conn, change(), roster_id, {"removed": []})

    swap_id = await store.add_swap(
        conn, change(), roster_id, first=first, second=second, approved_by="zhang-wei"
    )
    swap = await store.get_swap(conn, roster_id, swap_id)
    model = (await store.get(conn, roster_id)).model()
    assert {o.swap_id for o in model.overrides} == {str(swap_id)}
    assert (swap.first.person_id, swap.second.person_id, swap.approved_by) == (
        "sun-li",
        "li-na",
        "zhang-wei",
    )
    with pytest.raises(errors.Conflict) as half:
        await store.delete_override(conn, change(), roster_id, swap.first.id)
    assert half.value.fields["swap_id"] == swap_id

    await store.delete_swap(conn, change(), roster_id, swap_id)
    assert await store.list_overrides(conn, roster_id, store.FAR_PAST, store.FAR_FUTURE) == []
    events = [e for _, e in await outbox_events(conn) if e.entity == "swap"]
    assert [(e.change, e.affects_from, e.affects_to) for e in events] == [
        ("created", thursday - DAY, thursday + DAY),
        ("deleted", thursday - DAY, thursday + DAY),
    ]


async def test_deleting_a_roster_keeps_its_history(conn: asyncpg.Connection) -> None:
    await world(conn)
    roster_id, _, _ = await daoli_roster(conn)
    await store.delete_roster(conn, change(), roster_id)
    with pytest.raises(errors.NotFound):
        await store.get(conn, roster_id)
    audit = await store.audit_of(conn, roster_id)
    assert (audit[-1]["action"], audit[-1]["version"]) == ("deleted", 8)
    assert [r["name"] for r in audit[-1]["before"]["rotations"]] == [
        "officers",
        "weekend",
        "leaders",
    ]


async def test_the_audit_is_append_only(conn: asyncpg.Connection) -> None:
    await world(conn)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await conn.execute("UPDATE roster_audit SET actor = 'someone else'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute("DELETE FROM roster_audit")


async def test_a_calendar_reload_is_an_event_of_every_roster_following_it(
    conn: asyncpg.Connection,
) -> None:
    await world(conn)
    roster_id, _, _ = await daoli_roster(conn)
    created = await store.put_calendar(
        conn, change(), "cn", name="national", holidays=[], makeup_workdays=[]
    )
    await store.update_roster(conn, change(), roster_id, {"calendar_id": "cn"})
    await conn.execute("DELETE FROM outbox")
    replaced = await store.put_calendar(
        conn, change(), "cn", name="national", holidays=[date(2027, 1, 1)], makeup_workdays=[]
    )
    assert (created, replaced) == (True, False)
    [(_, event)] = await outbox_events(conn)
    assert (event.entity, event.entity_id, event.roster_id) == ("holiday_calendar", "cn", roster_id)
    with pytest.raises(errors.SchemaViolation):
        await store.put_calendar(
            conn,
            change(),
            "cn",
            name="national",
            holidays=[date(2027, 1, 1)],
            makeup_workdays=[date(2027, 1, 1)],
        )


async def test_contact_methods_are_checked_per_kind(conn: asyncpg.Connection) -> None:
    await world(conn)
    await orgs.create_contact(
        conn, change(), "li-na", kind=orgs.ContactKind.SMS, address="+8613800000000"
    )
    await orgs.create_contact(
        conn,
        change(),
        "li-na",
        kind=orgs.ContactKind.EMAIL,
        address="li.na@daoli.example",
        priority=1,
    )
    for kind, address in (
        (orgs.ContactKind.EMAIL, "not-an-address"),
        (orgs.ContactKind.SMS, "call me"),
        (orgs.ContactKind.WEBHOOK, "ftp://x"),
    ):
        with pytest.raises(errors.SchemaViolation) as refused:
            await orgs.create_contact(conn, change(), "li-na", kind=kind, address=address)
        assert refused.value.fields["field"] == "address"
    assert [(c["kind"], c["priority"]) for c in await orgs.list_contacts(conn, "li-na")] == [
        ("sms", 0),
        ("email", 1),
    ]
    entities = await conn.fetch(
        "SELECT entity, action FROM roster_audit WHERE entity = 'contact_method'"
    )
    assert len(entities) == 2


async def test_the_pager_reads_rosters_with_overrides(conn: asyncpg.Connection) -> None:
    await world(conn)
    roster_id, _, _ = await daoli_roster(conn)
    # Wednesday 10:00: li-na (turn 2 of li-na, sun-li from Monday) ... Monday li-na,
    # Tuesday sun-li, Wednesday li-na.
    rosters = await Rosters.load(conn, ["harbin.daoli.xinyang"], Writes(now=NOW))
    assert sorted((s.role, s.person_id) for s in rosters.shifts) == [
        ("duty_officer", "li-na"),
        ("leader_on_duty", "zhang-wei"),
    ]
    await store.add_override(
        conn,
        change(),
        roster_id,
        store.OverrideSpec(
            role=Role.DUTY_OFFICER,
            person_id="zhou-min",
            replaces="li-na",
            starts_at=NOW - timedelta(hours=1),
            ends_at=NOW + timedelta(hours=1),
        ),
    )
    rosters = await Rosters.load(conn, ["harbin.daoli.xinyang"], Writes(now=NOW))
    assert sorted((s.role, s.person_id) for s in rosters.shifts) == [
        ("duty_officer", "zhou-min"),
        ("leader_on_duty", "zhang-wei"),
    ]
    # Saturday: the rest-day layer.
    saturday = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
    rosters = await Rosters.load(conn, ["harbin.daoli"], Writes(now=saturday))
    assert ("duty_officer", "zhou-min") in [(s.role, s.person_id) for s in rosters.shifts]
    # Before the rotations start nobody is on duty.
    rosters = await Rosters.load(conn, ["harbin.daoli"], Writes(now=NOW - 30 * DAY))
    assert rosters.shifts == []
    # Taking a person off the roster leaves the slot empty (the page climbs).
    await store.update_roster(conn, change(), roster_id, {"removed": ["li-na"]})
    rosters = await Rosters.load(conn, ["harbin.daoli"], Writes(now=NOW + 2 * timedelta(hours=1)))
    assert [s.person_id for s in rosters.shifts] == ["zhang-wei"]


async def test_records_read_back_as_json(conn: asyncpg.Connection) -> None:
    await world(conn)
    roster_id, _, _ = await daoli_roster(conn)
    audit = await conn.fetch("SELECT after FROM roster_audit WHERE roster_id = $1", roster_id)
    assert json.loads(audit[0]["after"])["slots"] == {"duty_officer": 1, "leader_on_duty": 1}
