"""Daily anchors (dutywatch.timeline.anchors): any deleted incident, edited head, deleted
anchor or unanchored entry is named; an untouched history verifies.

A history is generated as incidents with entries spread over consecutive UTC days, anchored
with the module's own ``make_anchor``; ``database_view`` derives from it what the
verifying queries read from PostgreSQL, so each property changes the history the way
someone deleting or editing rows behind the service's back would.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dutywatch.timeline.anchors import (
    ONE_DAY,
    Anchor,
    Head,
    day_bounds,
    day_of,
    days_to_anchor,
    heads_from_json,
    heads_to_json,
    make_anchor,
    verify_anchors,
)
from dutywatch.timeline.chain import GENESIS

FIRST_DAY = date(2026, 11, 20)
#: (incident id) -> [(seq, day, hash)], seqs 1.. in order, days not decreasing.
History = dict[int, list[tuple[int, date, bytes]]]


def _hash(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


@st.composite
def histories(draw: st.DrawFn) -> tuple[History, int]:
    """A history over ``days`` days (some with no entries at all) and its day count."""
    days = draw(st.integers(min_value=1, max_value=6))
    ids = draw(st.lists(st.integers(1, 500), min_size=1, max_size=6, unique=True))
    history: History = {}
    for incident_id in ids:
        offsets = sorted(draw(st.lists(st.integers(0, days - 1), min_size=1, max_size=5)))
        history[incident_id] = [
            (seq, FIRST_DAY + ONE_DAY * offset, _hash(incident_id, seq))
            for seq, offset in enumerate(offsets, start=1)
        ]
    return history, days


def anchor_all(history: History, days: int) -> list[Anchor]:
    anchors: list[Anchor] = []
    previous = None
    for n in range(days):
        day = FIRST_DAY + ONE_DAY * n
        heads = [
            Head(incident_id, *max((seq, h) for seq, d, h in entries if d == day))
            for incident_id, entries in history.items()
            if any(d == day for _, d, _ in entries)
        ]
        previous = make_anchor(day, heads, previous)
        anchors.append(previous)
    return anchors


def database_view(history: History, anchors: list[Anchor]) -> dict[str, Any]:
    current: dict[date, dict[int, tuple[int, bytes]]] = {}
    hashes: dict[tuple[int, int], bytes] = {}
    for incident_id, entries in history.items():
        for seq, day, entry_hash in entries:
            hashes[(incident_id, seq)] = entry_hash
            if seq > current.get(day, {}).get(incident_id, (0, b""))[0]:
                current.setdefault(day, {})[incident_id] = (seq, entry_hash)
    anchored = {(h.incident_id, h.seq) for a in anchors for h in a.heads}
    days = [d for entries in history.values() for _, d, _ in entries]
    return {
        "current": current,
        "anchored_now": {k: v for k, v in hashes.items() if k in anchored},
        "incidents_present": {i for i, entries in history.items() if entries},
        "first_entry_day": min(days) if days else None,
    }


def check(history: History, anchors: list[Anchor]) -> list[str]:
    return [str(p) for p in verify_anchors(anchors, **database_view(history, anchors))]


@given(histories())
def test_an_untouched_history_verifies(drawn: tuple[History, int]) -> None:
    history, days = drawn
    anchors = anchor_all(history, days)
    assert len(anchors) == days  # days without entries are anchored too: no holes
    assert check(history, anchors) == []


@given(histories(), st.data())
def test_a_deleted_incident_is_named_in_every_anchor_that_holds_it(
    drawn: tuple[History, int], data: st.DataObject
) -> None:
    history, days = drawn
    anchors = anchor_all(history, days)
    victim = data.draw(st.sampled_from(sorted(history)))
    del history[victim]
    problems = check(history, anchors)
    for anchor in anchors:
        for head in anchor.heads:
            if head.incident_id == victim:
                assert (
                    f"anchor {anchor.day}: incident {victim} is missing "
                    f"(anchored at entry {head.seq}, hash {head.hash.hex()[:12]}…)"
                ) in problems
    assert problems


@given(histories(), st.data())
def test_an_edited_or_deleted_head_is_named(
    drawn: tuple[History, int], data: st.DataObject
) -> None:
    history, days = drawn
    anchors = anchor_all(history, days)
    anchor = data.draw(st.sampled_from([a for a in anchors if a.heads] or anchors))
    assume(anchor.heads)
    head = data.draw(st.sampled_from(anchor.heads))
    entries = history[head.incident_id]
    index = next(i for i, e in enumerate(entries) if e[0] == head.seq)
    if data.draw(st.booleans(), label="delete the tail from the head on"):
        del entries[index:]
        assume(entries)  # all of it: the deleted-incident property
        expected = f"incident {head.incident_id} entry {head.seq} is missing"
    else:
        entries[index] = (head.seq, entries[index][1], _hash("edited"))
        expected = f"incident {head.incident_id} entry {head.seq} does not match the anchor"
    problems = check(history, anchors)
    assert any(p.startswith(f"anchor {anchor.day}: {expected}") for p in problems), problems


@given(histories(), st.data())
def test_an_entry_added_to_an_anchored_day_is_named(
    drawn: tuple[History, int], data: st.DataObject
) -> None:
    history, days = drawn
    anchors = anchor_all(history, days)
    incident_id = data.draw(st.sampled_from(sorted(history)))
    last_seq, last_day, _ = history[incident_id][-1]
    history[incident_id].append((last_seq + 1, last_day, _hash("late")))
    assert (
        f"anchor {last_day}: incident {incident_id} has entry {last_seq + 1} dated {last_day} "
        "that is not in that day's anchor"
    ) in [p.split(" (anchored")[0] for p in check(history, anchors)]


@given(histories(), st.data())
def test_a_deleted_anchor_is_found_unless_it_is_the_newest(
    drawn: tuple[History, int], data: st.DataObject
) -> None:
    history, days = drawn
    assume(days >= 2)
    anchors = anchor_all(history, days)
    index = data.draw(st.integers(0, days - 2))
    gone = anchors.pop(index)
    problems = check(history, anchors)
    assert problems
    if index > 0:
        assert (
            f"anchor {gone.day + ONE_DAY}: the anchors from {gone.day} to {gone.day} "
            "are missing (the anchor chain has a hole)" in problems
        )
    else:
        assert any("it is not the first anchor" in p for p in problems)


@given(histories(), st.data())
def test_an_edited_anchor_is_found(drawn: tuple[History, int], data: st.DataObject) -> None:
    history, days = drawn
    anchors = anchor_all(history, days)
    index = data.draw(st.integers(0, days - 1))
    anchor = anchors[index]
    dropped = anchor.heads[1:] if anchor.heads else (Head(999_999, 1, _hash("x")),)
    anchors[index] = replace(anchor, heads=dropped)
    assert f"anchor {anchor.day}: its list of heads does not match its digest (edited)" in check(
        history, anchors
    )


@settings(max_examples=200)
@given(
    st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
    ),
    st.integers(0, 3 * 3600),
    st.integers(0, 5),
)
def test_a_day_is_anchored_only_once_complete_after_the_grace(
    now: datetime, grace_s: int, back: int
) -> None:
    grace = timedelta(seconds=grace_s)
    first = day_of(now) - ONE_DAY * back
    days = days_to_anchor(None, first, now, grace)
    for day in days:
        assert now >= day_bounds(day)[1] + grace
    following = days[-1] + ONE_DAY if days else first
    assert now < day_bounds(following)[1] + grace
    assert days == [first + ONE_DAY * n for n in range(len(days))]
    if days:
        assert days_to_anchor(days[-1], first, now, grace) == []


def test_day_is_utc() -> None:
    shanghai_morning = datetime.fromisoformat("2026-11-21T07:59:00+08:00")
    assert day_of(shanghai_morning) == date(2026, 11, 20)
    assert day_bounds(date(2026, 11, 20)) == (
        datetime(2026, 11, 20, tzinfo=UTC),
        datetime(2026, 11, 21, tzinfo=UTC),
    )


def test_anchors_chain_and_round_trip() -> None:
    first = make_anchor(FIRST_DAY, [Head(2, 3, b"\x01"), Head(1, 1, b"\x02")], None)
    assert first.prev_hash == GENESIS
    assert [h.incident_id for h in first.heads] == [1, 2]
    assert heads_from_json(heads_to_json(first.heads)) == first.heads
    second = make_anchor(FIRST_DAY + ONE_DAY, [], first)
    assert second.prev_hash == first.hash
    with pytest.raises(ValueError, match="the anchor after"):
        make_anchor(FIRST_DAY + 3 * ONE_DAY, [], second)
    with pytest.raises(ValueError, match="one head per incident"):
        make_anchor(FIRST_DAY, [Head(1, 1, b""), Head(1, 2, b"")], None)
