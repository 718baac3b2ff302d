"""Rosters over HTTP: CRUD by a leader of the subtree, refusals, expanded shifts, iCalendar,
and "who is on duty" (and who gets paged) answered from rosters, overrides included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
import pytest

from tests.acceptance.conftest import START, Inbox, Service, eventually, make_report

DAY = timedelta(days=1)
#: Wednesday 25 November 2026, 08:30 in Shanghai: the demo's handover that morning.
HANDOVER = datetime(2026, 11, 25, 0, 30, tzinfo=UTC)


async def call(
    service: Service,
    method: str,
    path: str,
    token: str | None,
    *,
    json: Any = None,
    status: int = 200,
    data: bytes | None = None,
) -> Any:
    headers = service.auth(token) if token else {}
    if data is not None:
        headers["Content-Type"] = "application/json"
    response = await service.client.request(method, path, json=json, data=data, headers=headers)
    text = await response.text()
    assert response.status == status, f"{method} {path}: {response.status} {text}"
    if response.content_type in ("application/json", "application/problem+json"):
        return await response.json()
    return text


async def daoli_roster(service: Service) -> dict[str, Any]:
    listed = await call(service, "GET", "/api/v1/rosters?org=harbin.daoli", service.tokens.admin)
    [roster] = [r for r in listed["rosters"] if r["org"] == "harbin.daoli"]
    document: dict[str, Any] = await call(
        service, "GET", f"/api/v1/rosters/{roster['id']}", service.tokens.officer_daoli
    )
    return document


async def add_sun_li(service: Service) -> None:
    await call(
        service,
        "POST",
        "/api/v1/people",
        service.tokens.leader_daoli,
        json={"id": "sun-li", "name": "孙丽", "org": "harbin.daoli", "phone": "13900000001"},
        status=201,
    )


async def test_demo_rosters_are_readable_by_anyone_authenticated(service: Service) -> None:
    roster = await daoli_roster(service)
    assert (roster["org"], roster["tz"], roster["calendar"]) == (
        "harbin.daoli",
        "Asia/Shanghai",
        "cn",
    )
    assert roster["slots"] == {"duty_officer": 1, "leader_on_duty": 1}
    assert sorted(
        (r["name"], tuple(r["people"]), r["shift_length"], r["handoff"])
        for r in roster["rotations"]
    ) == [
        ("duty_officer-restdays", ("li-na",), "1d", "08:30"),
        ("duty_officer-workdays", ("li-na",), "1d", "08:30"),
        ("leader_on_duty-restdays", ("zhang-wei",), "1d", "08:30"),
        ("leader_on_duty-workdays", ("zhang-wei",), "1d", "08:30"),
    ]
    assert sorted(layer["days"] for layer in roster["layers"]) == [
        "restdays",
        "restdays",
        "workdays",
        "workdays",
    ]
    assert await call(service, "GET", "/api/v1/rosters/999", service.tokens.admin, status=404)


async def test_a_leader_manages_the_roster_of_their_subtree(
    service: Service, roster_events: Inbox
) -> None:
    leader = service.tokens.leader_daoli
    await add_sun_li(service)
    contact = await call(
        service,
        "POST",
        "/api/v1/people/sun-li/contacts",
        leader,
        json={"kind": "sms", "address": "+8613900000001"},
        status=201,
    )
    await call(
        service,
        "PATCH",
        f"/api/v1/people/sun-li/contacts/{contact['id']}",
        leader,
        json={"priority": 2},
    )
    contacts = await call(service, "GET", "/api/v1/people/sun-li/contacts", leader)
    assert [(c["kind"], c["priority"]) for c in contacts["contacts"]] == [("sms", 2)]

    roster = await daoli_roster(service)
    base = f"/api/v1/rosters/{roster['id']}"
    rotation = await call(
        service,
        "POST",
        f"{base}/rotations",
        leader,
        json={
            "name": "holiday-officers",
            "people": ["sun-li", "li-na"],
            "shift_length": "24h",
            "handoff": "08:30",
            "start": "2026-12-31",
        },
        status=201,
    )
    assert rotation["shift_length"] == "1d"
    rotation = await call(
        service, "PATCH", f"{base}/rotations/{rotation['id']}", leader, json={"people": ["sun-li"]}
    )
    assert rotation["people"] == ["sun-li"]
    layer = await call(
        service,
        "POST",
        f"{base}/layers",
        leader,
        json={
            "rotation_id": rotation["id"],
            "role": "duty_officer",
            "days": "holidays",
            "priority": 10,
        },
        status=201,
    )
    assert await call(service, "GET", f"{base}/layers/{layer['id']}", leader) == layer
    # New Year's Day is a holiday in the demo calendar: the holiday layer wins.
    shifts = await call(service, "GET", f"{base}/shifts?from=2027-01-01&to=2027-01-01", leader)
    officers = [s for s in shifts["shifts"] if s["role"] == "duty_officer"]
    assert [(s["person_id"], s["name"], s["starts_at"]) for s in officers] == [
        ("li-na", "李娜", "2026-12-31T08:30:00+08:00"),
        ("sun-li", "孙丽", "2027-01-01T08:30:00+08:00"),
    ]
    layer = await call(
        service, "PATCH", f"{base}/layers/{layer['id']}", leader, json={"priority": 5}
    )
    assert layer["priority"] == 5
    renamed = await call(service, "PATCH", base, leader, json={"name": "道里区应急值班表"})
    assert (renamed["name"], renamed["version"]) == ("道里区应急值班表", roster["version"] + 5)

    await call(service, "DELETE", f"{base}/layers/{layer['id']}", leader, status=204)
    await call(service, "DELETE", f"{base}/rotations/{rotation['id']}", leader, status=204)
    await call(
        service, "DELETE", f"/api/v1/people/sun-li/contacts/{contact['id']}", leader, status=204
    )

    audit = await call(service, "GET", f"{base}/audit", service.tokens.officer_daoli)
    mine = [e for e in audit["entries"] if e["actor"] == "person:zhang-wei"]
    assert [(e["entity"], e["action"]) for e in mine] == [
        ("rotation", "created"),
        ("rotation", "updated"),
        ("layer", "created"),
        ("layer", "updated"),
        ("roster", "updated"),
        ("layer", "deleted"),
        ("rotation", "deleted"),
    ]

    def leaders_events() -> list[dict[str, Any]]:
        return [e for e in roster_events.payloads() if e["actor"] == "person:zhang-wei"]

    # Other actors' roster events (the test's own set-up) arrive too: wait for the leader's.
    async def all_of_them() -> bool:
        return len(leaders_events()) >= len(mine)

    await eventually(all_of_them, what="the leader's roster events")
    events = leaders_events()
    assert [(e["entity"], e["change"]) for e in events] == [
        (e["entity"], e["action"]) for e in mine
    ]
    assert roster_events.messages[-1].subject == service.settings.subject(
        "event", "harbin", "daoli", "roster"
    )


async def test_overrides_and_swaps_over_http(service: Service) -> None:
    leader = service.tokens.leader_daoli
    await add_sun_li(service)
    roster = await daoli_roster(service)
    base = f"/api/v1/rosters/{roster['id']}"
    cover = {
        "role": "duty_officer",
        "person_id": "sun-li",
        "replaces": "li-na",
        "starts_at": "2026-11-26T08:30:00+08:00",
        "ends_at": "2026-11-27T08:30:00+08:00",
        "reason": "李娜 培训",
    }
    override = await call(service, "POST", f"{base}/overrides", leader, json=cover, status=201)
    clash = await call(
        service,
        "POST",
        f"{base}/overrides",
        leader,
        json={
            **cover,
            "starts_at": "2026-11-26T20:00:00+08:00",
            "ends_at": "2026-11-28T08:30:00+08:00",
        },
        status=409,
    )
    assert (clash["field"], clash["type"].rsplit("/", 1)[1]) == ("starts_at", "conflict")
    override = await call(
        service, "PATCH", f"{base}/overrides/{override['id']}", leader, json={"reason": "培训"}
    )
    listed = await call(service, "GET", f"{base}/overrides?from=2026-11-26&to=2026-11-30", leader)
    assert [o["id"] for o in listed["overrides"]] == [override["id"]]
    await call(service, "DELETE", f"{base}/overrides/{override['id']}", leader, status=204)

    swap = await call(
        service,
        "POST",
        f"{base}/swaps",
        leader,
        json={
            "first": cover,
            "second": {
                **cover,
                "person_id": "li-na",
                "replaces": "sun-li",
                "starts_at": "2026-11-27T08:30:00+08:00",
                "ends_at": "2026-11-28T08:30:00+08:00",
            },
            "approved_by": "zhang-wei",
            "reason": "调班",
        },
        status=201,
    )
    assert (swap["first"]["swap_id"], swap["approved_by"]) == (swap["id"], "zhang-wei")
    half = await call(
        service, "DELETE", f"{base}/overrides/{swap['first']['id']}", leader, status=409
    )
    assert "swap" in half["detail"]
    assert [s["id"] for s in (await call(service, "GET", f"{base}/swaps", leader))["swaps"]] == [
        swap["id"]
    ]
    shifts = await call(service, "GET", f"{base}/shifts?from=2026-11-26&to=2026-11-26", leader)
    assert [s["person_id"] for s in shifts["shifts"] if s["role"] == "duty_officer"] == [
        "li-na",
        "sun-li",
    ]
    await call(service, "DELETE", f"{base}/swaps/{swap['id']}", leader, status=204)
    await call(service, "GET", f"{base}/swaps/{swap['id']}", leader, status=404)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (
            {
                "name": "x",
                "people": ["li-na"],
                "shift_length": "7h",
                "handoff": "08:30",
                "start": "2026-12-01",
            },
            422,
            "shift_length",
        ),
        (
            {
                "name": "x",
                "people": ["li-na"],
                "shift_length": "1d",
                "handoff": "8:30",
                "start": "2026-12-01",
            },
            422,
            "handoff",
        ),
        (
            {
                "name": "x",
                "people": ["nobody"],
                "shift_length": "1d",
                "handoff": "08:30",
                "start": "2026-12-01",
            },
            422,
            "people",
        ),
        (
            {
                "name": "x",
                "people": [],
                "shift_length": "1d",
                "handoff": "08:30",
                "start": "2026-12-01",
            },
            422,
            "people",
        ),
        (
            {
                "name": "bad name!",
                "people": ["li-na"],
                "shift_length": "1d",
                "handoff": "08:30",
                "start": "2026-12-01",
            },
            422,
            "name",
        ),
        (
            {
                "name": "x",
                "people": ["li-na"],
                "shift_length": "1d",
                "handoff": "08:30",
                "start": "2026-12-01",
                "colour": "red",
            },
            422,
            "colour",
        ),
        (
            {"name": "x", "people": ["li-na"], "shift_length": "1d", "handoff": "08:30"},
            422,
            "start",
        ),
        (
            {
                "name": "duty_officer-workdays",
                "people": ["li-na"],
                "shift_length": "1d",
                "handoff": "08:30",
                "start": "2026-12-01",
            },
            409,
            "name",
        ),
    ],
)
async def test_bad_rotations_are_refused_naming_the_field(
    service: Service, body: dict[str, Any], status: int, field: str
) -> None:
    roster = await daoli_roster(service)
    problem = await call(
        service,
        "POST",
        f"/api/v1/rosters/{roster['id']}/rotations",
        service.tokens.leader_daoli,
        json=body,
        status=status,
    )
    assert problem["field"] == field, problem


async def test_refusals(service: Service) -> None:
    roster = await daoli_roster(service)
    base = f"/api/v1/rosters/{roster['id']}"
    rotation = {
        "name": "x",
        "people": ["li-na"],
        "shift_length": "1d",
        "handoff": "08:30",
        "start": "2026-12-01",
    }
    await call(service, "POST", f"{base}/rotations", None, json=rotation, status=401)
    for token in (service.tokens.officer_daoli, service.tokens.office_daoli):
        refused = await call(service, "POST", f"{base}/rotations", token, json=rotation, status=403)
        assert refused["type"].endswith("/forbidden")
    nangang = await call(service, "GET", "/api/v1/rosters?org=harbin.nangang", service.tokens.admin)
    other = f"/api/v1/rosters/{nangang['rosters'][0]['id']}"
    leader = service.tokens.leader_daoli
    await call(service, "PATCH", other, leader, json={"name": "mine now"}, status=403)
    await call(service, "DELETE", other, leader, status=403)
    await call(
        service,
        "POST",
        "/api/v1/orgs",
        leader,
        status=403,
        json={"path": "shanghai", "name": "上海市"},
    )
    await call(
        service, "PUT", "/api/v1/holiday-calendars/cn", leader, status=403, json={"name": "x"}
    )
    await call(
        service,
        "POST",
        "/api/v1/people",
        leader,
        status=403,
        json={"id": "spy", "name": "间谍", "org": "harbin.nangang"},
    )
    # Bad input, named.
    malformed = await call(service, "POST", f"{base}/layers", leader, data=b"{", status=400)
    assert malformed["type"].endswith("/malformed_json")
    too_many = await call(
        service,
        "POST",
        f"{base}/layers",
        leader,
        json={"rotation_id": roster["rotations"][0]["id"], "role": "duty_officer", "slot": 1},
        status=422,
    )
    assert (too_many["field"], too_many["type"].rsplit("/", 1)[1]) == ("slot", "roster_invalid")
    wrong_role = await call(
        service,
        "POST",
        f"{base}/layers",
        leader,
        json={"rotation_id": roster["rotations"][0]["id"], "role": "cook"},
        status=422,
    )
    assert wrong_role["field"] == "role"
    foreign = await call(
        service,
        "POST",
        f"{base}/layers",
        leader,
        json={"rotation_id": 999999, "role": "standby"},
        status=422,
    )
    assert foreign["field"] == "rotation_id"
    backwards = await call(
        service,
        "POST",
        f"{base}/overrides",
        leader,
        json={
            "role": "duty_officer",
            "person_id": "li-na",
            "starts_at": "2026-11-26T08:30:00+08:00",
            "ends_at": "2026-11-26T08:30:00+08:00",
        },
        status=422,
    )
    assert backwards["field"] == "ends_at"
    naive = await call(
        service,
        "POST",
        f"{base}/overrides",
        leader,
        json={
            "role": "duty_officer",
            "person_id": "li-na",
            "starts_at": "2026-11-26T08:30:00",
            "ends_at": "2026-11-27T08:30:00+08:00",
        },
        status=422,
    )
    assert naive["field"] == "starts_at"
    zone = await call(service, "PATCH", base, leader, json={"tz": "Mars/Olympus"}, status=422)
    assert zone["field"] == "tz"
    unstaffed = await call(
        service, "PATCH", base, leader, json={"slots": {"duty_officer": 1}}, status=422
    )
    assert unstaffed["field"] == "slots.leader_on_duty"
    in_use = await call(service, "DELETE", "/api/v1/people/li-na", leader, status=409)
    assert "referenced" in in_use["detail"]


async def test_organisations_and_people_crud(service: Service) -> None:
    leader = service.tokens.leader_daoli
    created = await call(
        service,
        "POST",
        "/api/v1/orgs",
        leader,
        json={"path": "harbin.daoli.anjing", "name": "安静街道"},
        status=201,
    )
    assert created["parent_path"] == "harbin.daoli"
    await call(
        service,
        "POST",
        "/api/v1/orgs",
        leader,
        json={"path": "harbin.daoli.x.y", "name": "orphan"},
        status=422,
    )
    patched = await call(
        service,
        "PATCH",
        "/api/v1/orgs/harbin.daoli.anjing",
        leader,
        json={"admin_code": "230102001"},
    )
    assert patched["admin_code"] == "230102001"
    await add_sun_li(service)
    moved = await call(
        service, "PATCH", "/api/v1/people/sun-li", leader, json={"org": "harbin.daoli.anjing"}
    )
    assert moved["org"] == "harbin.daoli.anjing"
    people = await call(service, "GET", "/api/v1/people?org=harbin.daoli", leader)
    assert "sun-li" in [p["id"] for p in people["people"]]
    await call(service, "DELETE", "/api/v1/orgs/harbin.daoli.anjing", leader, status=409)
    await call(service, "DELETE", "/api/v1/people/sun-li", leader, status=204)
    await call(service, "DELETE", "/api/v1/orgs/harbin.daoli.anjing", leader, status=204)
    await call(service, "GET", "/api/v1/orgs/harbin.daoli.anjing", leader, status=404)
    top = await call(
        service,
        "POST",
        "/api/v1/orgs",
        service.tokens.admin,
        json={"path": "qiqihar", "name": "齐齐哈尔市", "tz": "Asia/Harbin"},
        status=201,
    )
    assert top["tz"] == "Asia/Harbin"
    roster = await call(
        service,
        "POST",
        "/api/v1/rosters",
        service.tokens.admin,
        json={"org": "qiqihar", "slots": {"duty_officer": 1, "leader_on_duty": 2}},
        status=201,
    )
    assert (roster["tz"], roster["version"], roster["slots"]["leader_on_duty"]) == (
        "Asia/Harbin",
        1,
        2,
    )
    again = await call(
        service,
        "POST",
        "/api/v1/rosters",
        service.tokens.admin,
        json={"org": "qiqihar"},
        status=409,
    )
    assert again["field"] == "org"
    await call(
        service, "DELETE", f"/api/v1/rosters/{roster['id']}", service.tokens.admin, status=204
    )
    calendar = await call(
        service,
        "PUT",
        "/api/v1/holiday-calendars/cn",
        service.tokens.admin,
        json={"name": "全国", "holidays": ["2027-02-06"], "makeup_workdays": ["2027-02-14"]},
    )
    assert calendar["makeup_workdays"] == ["2027-02-14"]


async def test_shifts_range_is_checked(service: Service) -> None:
    roster = await daoli_roster(service)
    base = f"/api/v1/rosters/{roster['id']}/shifts"
    token = service.tokens.office_daoli
    week = await call(service, "GET", base, token)
    assert len([s for s in week["shifts"] if s["role"] == "duty_officer"]) == 8  # today + 7
    assert week["from"] == "2026-11-25T10:00:00+08:00"
    too_long = await call(
        service, "GET", f"{base}?from=2026-12-01&to=2027-03-05", token, status=400
    )
    assert too_long["field"] == "to"
    await call(service, "GET", f"{base}?from=2026-12-01&to=2027-03-02", token)
    backwards = await call(
        service, "GET", f"{base}?from=2026-12-02&to=2026-11-30", token, status=400
    )
    assert backwards["field"] == "to"
    garbage = await call(service, "GET", f"{base}?from=soon", token, status=400)
    assert garbage["field"] == "from"


async def test_ics_exports_parse_with_icalendar(service: Service) -> None:
    roster = await daoli_roster(service)
    response = await service.client.get(
        f"/api/v1/rosters/{roster['id']}.ics?from=2026-11-25&to=2026-11-30",
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert response.status == 200
    assert response.content_type == "text/calendar"
    calendar = icalendar.Calendar.from_ical(await response.read())
    events = list(calendar.walk("VEVENT"))
    # 24-hour duties meeting the six days from the 25th: 6 per role (the 24th-25th one too).
    assert len(events) == 2 * 7
    first = min(events, key=lambda e: e["DTSTART"].dt)
    assert first["DTSTART"].dt == datetime(2026, 11, 24, 0, 30, tzinfo=UTC)
    assert "李娜" in str(first["SUMMARY"]) or "张伟" in str(first["SUMMARY"])
    assert len({str(e["UID"]) for e in events}) == len(events)

    response = await service.client.get(
        "/api/v1/people/li-na/shifts.ics?from=2026-11-25&to=2026-11-30",
        headers=service.auth(service.tokens.officer_daoli),
    )
    assert response.status == 200
    mine = icalendar.Calendar.from_ical(await response.read()).walk("VEVENT")
    assert len(mine) == 7
    assert all("李娜" in str(e["SUMMARY"]) for e in mine)
    await call(service, "GET", "/api/v1/people/nobody/shifts.ics", service.tokens.admin, status=404)


async def test_oncall_and_pages_follow_an_override(service: Service, pages: Inbox) -> None:
    leader = service.tokens.leader_daoli
    await add_sun_li(service)
    roster = await daoli_roster(service)
    oncall = await call(service, "GET", "/api/v1/oncall?org=harbin.daoli", leader)
    assert [
        (d["role"], d["slot"], d["person_id"], d["starts_at"], d["ends_at"])
        for d in oncall["on_duty"]
    ] == [
        ("duty_officer", 0, "li-na", "2026-11-25T08:30:00+08:00", "2026-11-26T08:30:00+08:00"),
        (
            "leader_on_duty",
            0,
            "zhang-wei",
            "2026-11-25T08:30:00+08:00",
            "2026-11-26T08:30:00+08:00",
        ),
    ]
    await call(
        service,
        "POST",
        f"/api/v1/rosters/{roster['id']}/overrides",
        leader,
        json={
            "role": "duty_officer",
            "person_id": "sun-li",
            "replaces": "li-na",
            "starts_at": (START - timedelta(hours=1)).isoformat(),
            "ends_at": (START + timedelta(hours=4)).isoformat(),
            "reason": "李娜 去现场",
        },
        status=201,
    )
    oncall = await call(service, "GET", "/api/v1/oncall?org=harbin.daoli", leader)
    assert [(d["role"], d["person_id"], d["name"], d["phone"]) for d in oncall["on_duty"]] == [
        ("duty_officer", "sun-li", "孙丽", "13900000001"),
        ("leader_on_duty", "zhang-wei", "张伟", None),
    ]
    assert oncall["on_duty"][0]["starts_at"] == "2026-11-25T09:00:00+08:00"
    # Past the override, li-na again.
    later = (START + timedelta(hours=5)).isoformat().replace("+", "%2B")
    oncall = await call(service, "GET", f"/api/v1/oncall?org=harbin.daoli&at={later}", leader)
    assert oncall["on_duty"][0]["person_id"] == "li-na"
    # A township without a roster of its own answers empty; its pages climb.
    township = await call(service, "GET", "/api/v1/oncall?org=harbin.daoli.xinyang", leader)
    assert township["on_duty"] == []

    await service.publish(make_report())
    [page] = await pages.wait_for(1)
    assert (page["person_id"], page["org"]) == ("sun-li", "harbin.daoli")


async def test_the_duty_outlook_shows_now_next_and_a_gap_in_the_subtree(service: Service) -> None:
    officer = service.tokens.officer_daoli
    outlook = await call(service, "GET", "/api/v1/oncall/overview", officer)
    assert (outlook["org"], outlook["at"], outlook["until"]) == (
        "harbin.daoli",
        START.isoformat(),
        (START + DAY).isoformat(),
    )
    assert [(o["path"], o["gap"], len(o["rosters"])) for o in outlook["orgs"]] == [
        ("harbin.daoli", False, 1),
        ("harbin.daoli.xinyang", False, 0),
        ("harbin.daoli.zhaolin", False, 0),
    ]
    [roster] = outlook["orgs"][0]["rosters"]
    officer_slot = roster["slots"][0]
    assert (officer_slot["role"], officer_slot["now"]["name"], officer_slot["now"]["ends_at"]) == (
        "duty_officer",
        "李娜",
        "2026-11-26T08:30:00+08:00",
    )
    assert officer_slot["next"]["starts_at"] == "2026-11-26T08:30:00+08:00"
    assert officer_slot["gaps"] == []

    # A township's new roster with nobody on it: a gap over the whole horizon.
    await call(
        service,
        "POST",
        "/api/v1/rosters",
        service.tokens.leader_daoli,
        json={"org": "harbin.daoli.zhaolin", "name": "兆麟街道值班表"},
        status=201,
    )
    outlook = await call(service, "GET", "/api/v1/oncall/overview?hours=6", officer)
    zhaolin = outlook["orgs"][2]
    assert zhaolin["gap"] is True
    slots = zhaolin["rosters"][0]["slots"]
    assert [(s["role"], s["now"], s["next"], s["gaps"]) for s in slots] == [
        (
            role,
            None,
            None,
            [{"starts_at": "2026-11-25T10:00:00+08:00", "ends_at": "2026-11-25T16:00:00+08:00"}],
        )
        for role in ("duty_officer", "leader_on_duty")
    ]
    # Only within the caller's organisation; hours bounded.
    await call(service, "GET", "/api/v1/oncall/overview?org=harbin", officer, status=403)
    await call(service, "GET", "/api/v1/oncall/overview?hours=0", officer, status=400)
    await call(service, "GET", "/api/v1/oncall/overview?org=harbin.nowhere", officer, status=403)


async def test_a_persons_shifts_of_the_next_two_weeks_as_json(service: Service) -> None:
    mine = await call(service, "GET", "/api/v1/people/li-na/shifts", service.tokens.officer_daoli)
    assert (mine["person_id"], mine["name"], mine["org"], mine["tz"]) == (
        "li-na",
        "李娜",
        "harbin.daoli",
        "Asia/Shanghai",
    )
    assert mine["from"] == "2026-11-25T10:00:00+08:00"
    assert mine["to"] == "2026-12-09T10:00:00+08:00"
    # The shift in progress, then one a day: 15 shifts meet the fortnight.
    assert [s["starts_at"][:16] for s in mine["shifts"]][:2] == [
        "2026-11-25T08:30",
        "2026-11-26T08:30",
    ]
    assert len(mine["shifts"]) == 15
    assert {(s["role"], s["person_id"], s["org"]) for s in mine["shifts"]} == {
        ("duty_officer", "li-na", "harbin.daoli")
    }
    window = "from=2026-11-27&to=2026-11-27"
    one_day = await call(service, "GET", f"/api/v1/people/li-na/shifts?{window}", None, status=401)
    assert one_day["status"] == 401
    one_day = await call(
        service, "GET", f"/api/v1/people/li-na/shifts?{window}", service.tokens.admin
    )
    assert [s["starts_at"] for s in one_day["shifts"]] == [
        "2026-11-26T08:30:00+08:00",
        "2026-11-27T08:30:00+08:00",
    ]
    await call(service, "GET", "/api/v1/people/nobody/shifts", service.tokens.admin, status=404)
