"""Supervision (督办) in the console: a unit works its open assignments, the supervisor works the
chase list; each step is one click (feedback and send-back take their text)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.acceptance.conftest import Service
from tests.acceptance.console.conftest import OpenConsole

INSTRUCTION = "立即排查辖区燃气管线，三日内反馈整改情况"


async def give_instruction(service: Service) -> int:
    """The district leader (张伟) assigns the district duty room (李娜) and supervises it."""
    due = service.clock.now() + timedelta(days=3)
    response = await service.client.post(
        "/api/v1/instructions",
        json={
            "org": "harbin.daoli",
            "text": INSTRUCTION,
            "assignments": [
                {
                    "unit": "harbin.daoli",
                    "responsible": "li-na",
                    "supervisor": "zhang-wei",
                    "due_at": due.isoformat(),
                }
            ],
        },
        headers=service.auth(service.tokens.leader_daoli),
    )
    made: dict[str, Any] = await response.json()
    assert response.status == 201, made
    assignment_id: int = made["assignments"][0]["id"]
    return assignment_id


async def assignment_state(service: Service, assignment_id: int) -> str:
    rows = await service.sql(
        "SELECT state FROM supervision_assignments WHERE id = $1", assignment_id
    )
    return str(rows[0]["state"])


async def test_the_unit_reports_back_and_the_supervisor_verifies_from_the_console(
    service: Service, console: OpenConsole
) -> None:
    assignment_id = await give_instruction(service)
    row = f"#sup-unit tr[data-assignment='{assignment_id}']"

    officer = await console(service.tokens.officer_daoli, hash_="#/supervision")
    await officer.page.wait_for_selector(row)
    assert INSTRUCTION in (await officer.page.text_content(row) or "")
    assert await officer.page.text_content(f"{row} td[data-state]") == "已交办"
    # Steps the unit does not take (verify, close) are not offered to it.
    assert await officer.page.locator(f"{row} button[data-step=verify]").count() == 0

    await officer.page.click(f"{row} button[data-step=accept]")
    await officer.page.wait_for_selector(f"{row} td[data-state=accepted]")
    await officer.page.click(f"{row} button[data-step=start]")
    await officer.page.wait_for_selector(f"{row} td[data-state=in_progress]")
    await officer.page.click(f"{row} button[data-step=report]")
    await officer.page.fill(f"#sup-{assignment_id}-report", "已排查管线12处，整改2处")
    await officer.page.click(f"{row} form button[type=submit]")
    await officer.page.wait_for_selector(f"{row} td[data-state=reported]")
    assert await assignment_state(service, assignment_id) == "reported"

    leader = await console(service.tokens.leader_daoli, hash_="#/supervision", lang="en")
    chased = f"#sup-chase tr[data-assignment='{assignment_id}']"
    await leader.page.wait_for_selector(chased)
    assert await leader.page.text_content(f"{chased} td[data-state]") == "Reported back"
    await leader.page.click(f"{chased} button[data-step=verify]")
    await leader.page.wait_for_selector(f"{chased} td[data-state=verified]")
    assert await assignment_state(service, assignment_id) == "verified"
    assert await leader.missing_strings() == []
    feedback = await service.sql(
        "SELECT count(*) AS n FROM supervision_entries WHERE body::text LIKE '%整改2处%'"
    )
    assert feedback[0]["n"] == 1


async def test_a_send_back_asks_for_the_reason_and_restarts_the_clock(
    service: Service, console: OpenConsole
) -> None:
    assignment_id = await give_instruction(service)
    for verb, body in (("accept", {}), ("start", {}), ("feedback", {"text": "已完成"})):
        response = await service.client.post(
            f"/api/v1/assignments/{assignment_id}/{verb}",
            json=body,
            headers=service.auth(service.tokens.officer_daoli),
        )
        assert response.status == 200, await response.text()

    leader = await console(service.tokens.leader_daoli, hash_="#/supervision")
    chased = f"#sup-chase tr[data-assignment='{assignment_id}']"
    await leader.page.click(f"{chased} button[data-step=send_back]")
    await leader.page.fill(f"#sup-{assignment_id}-send_back", "照片不清楚，请补充")
    await leader.page.click(f"{chased} form button[type=submit]")
    await leader.page.wait_for_selector(f"{chased} td[data-state=sent_back]")
    assert await assignment_state(service, assignment_id) == "sent_back"
    await leader.screenshot("supervision")
