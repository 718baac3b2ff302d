"""The board's order: the most severe first, the newest first within a grade."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from dutywatch.contracts import Grade
from dutywatch.incidents.board import ordered
from dutywatch.incidents.rules import Incident
from tests.unit.test_incident_rules import open_incident

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def incident(template: Incident, id_: int, grade: Grade, minutes: int) -> Incident:
    return replace(template, id=id_, grade=grade, opened_at=T0 + timedelta(minutes=minutes))


@given(
    st.lists(
        st.tuples(st.sampled_from(list(Grade)), st.integers(min_value=0, max_value=30)),
        max_size=30,
    )
)
def test_grade_first_then_newest(rows: list[tuple[Grade, int]]) -> None:
    template = _template()
    found = ordered(incident(template, n + 1, g, m) for n, (g, m) in enumerate(rows))
    keys = [(i.grade.rank, -i.opened_at.timestamp(), -i.id) for i in found]
    assert keys == sorted(keys)
    assert len(found) == len(rows)


def test_a_severe_older_incident_comes_before_a_newer_minor_one() -> None:
    template = _template()
    minor_new = incident(template, 1, Grade.IV, 10)
    severe_old = incident(template, 2, Grade.II, 0)
    minor_old = incident(template, 3, Grade.IV, 5)
    assert [i.id for i in ordered([minor_new, severe_old, minor_old])] == [2, 1, 3]


def _template() -> Incident:
    return open_incident()
