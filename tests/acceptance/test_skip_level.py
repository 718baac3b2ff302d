"""Skip-level reporting chosen by hand (越级上报): a leader reports straight to an ancestor room.

A grade IV report of the township owes only the district (no alert there at once). The
district's leader chooses to report directly to the city: the district's and the city's alerts
open at once (the room skipped over is informed too), the city gets clocks counted from the
time learned (nothing restarts), and the choice is on the timeline.
"""

from __future__ import annotations

from datetime import timedelta

from tests.acceptance.conftest import Inbox, Service, make_report
from tests.acceptance.test_reporting_deadlines import LEARNED, of_kind, settle, timeline


async def test_skip_level_opens_the_alert_at_the_chosen_room_with_clocks_from_time_learned(
    service: Service, pages: Inbox
) -> None:
    await service.publish(make_report(grade="IV"))
    [first] = await settle(pages, 1)
    incident_id = first["incident_id"]
    url = f"/api/v1/incidents/{incident_id}/skip-level"
    body = {"to": "harbin", "reason": "涉及跨区管网，直报市值班室"}

    refused = await service.client.post(
        url, json=body, headers=service.auth(service.tokens.officer_daoli)
    )
    assert refused.status == 403  # a leader's decision
    not_above = await service.client.post(
        url,
        json={"to": "harbin.nangang", "reason": "x"},
        headers=service.auth(service.tokens.leader_daoli),
    )
    assert not_above.status == 422

    chosen = await service.client.post(
        url, json=body, headers=service.auth(service.tokens.leader_daoli)
    )
    assert chosen.status == 200
    assert await chosen.json() == {"incident_id": incident_id, "skip_to": "harbin", "changed": True}
    opened = (await settle(pages, 3))[1:]
    assert sorted((p["person_id"], p["org"], p["reason"]) for p in opened) == [
        ("li-na", "harbin.daoli", "first_page"),
        ("wang-fang", "harbin", "first_page"),
    ]

    entries = await timeline(service, incident_id)
    [skip] = of_kind(entries, "skip_level")
    assert (skip["to"], skip["from"], skip["reason"], skip["previous"]) == (
        "harbin",
        "harbin.daoli.xinyang",
        body["reason"],
        None,
    )
    assert skip["by"]
    assert [(b["org"], b["reason"], b["skip_level"]) for b in of_kind(entries, "alert_opened")] == [
        ("harbin.daoli", "statutory", True),
        ("harbin", "statutory", True),
    ]
    # The city's clocks count from the time learned (grade IV: 2 hours), not from the choice.
    city = [b for b in of_kind(entries, "clock_started") if b["target"] == "harbin"]
    assert sorted((b["kind"], b["due_at"], b["reason"]) for b in city) == [
        ("phone", (LEARNED + timedelta(hours=2)).isoformat(), "skip_level"),
        ("written", (LEARNED + timedelta(hours=2)).isoformat(), "skip_level"),
    ]
    stored = await service.sql("SELECT skip_to FROM incidents WHERE id = $1", incident_id)
    assert stored[0]["skip_to"] == "harbin"

    again = await service.client.post(
        url, json=body, headers=service.auth(service.tokens.leader_daoli)
    )
    assert (await again.json())["changed"] is False
    await settle(pages, 3)
