"""Personal data rules (dutywatch.timeline.personal): digests of data still held must match,
data gone must have been purged on the record, refused copies are scrubbed, the retention
rule counts from resolution."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dutywatch.config import _parse_retention
from dutywatch.errors import ConfigurationError
from dutywatch.timeline.chain import GENESIS, Entry, EntryKind, Source, personal_digest
from dutywatch.timeline.personal import (
    DEFAULT_RETENTION,
    PERSONAL_KEYS,
    scrub_rejected,
    split_personal,
    verify_personal,
)

AT = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
names = st.text(alphabet="周明李娜王芳张伟0123456789", min_size=1, max_size=8)
contacts = st.fixed_dictionaries({"name": names}, optional={"phone": names, "post": names})
personal = st.fixed_dictionaries(
    {"reporter": contacts},
    optional={"commander": contacts, "leaders_on_scene": st.lists(contacts, max_size=3)},
)


def entry(
    seq: int,
    digest: bytes | None,
    kind: EntryKind = EntryKind.REPORT_RECEIVED,
    body: dict[str, Any] | None = None,
) -> Entry:
    return Entry(
        incident_id=7,
        seq=seq,
        kind=kind,
        at=AT,
        actor="office:harbin",
        source=Source.NATS,
        body=body or {},
        personal_digest=digest,
        prev_hash=GENESIS,
        hash=b"",
    )


def held(data: list[dict[str, Any]]) -> tuple[list[Entry], dict[int, tuple[bytes, Any]]]:
    entries, stored = [], {}
    for seq, item in enumerate(data, start=1):
        salt = secrets.token_bytes(16)
        entries.append(entry(seq, personal_digest(salt, item)))
        stored[seq] = (salt, item)
    return entries, stored


@given(st.lists(personal, min_size=1, max_size=4))
def test_data_held_as_committed_verifies(data: list[dict[str, Any]]) -> None:
    entries, stored = held(data)
    assert verify_personal(7, entries, stored) == []


@given(st.lists(personal, min_size=1, max_size=4), st.data())
def test_edited_data_is_named(data: list[dict[str, Any]], drawn: st.DataObject) -> None:
    entries, stored = held(data)
    seq = drawn.draw(st.sampled_from(sorted(stored)))
    salt, item = stored[seq]
    stored[seq] = (salt, {**item, "reporter": {"name": item["reporter"]["name"] + "改"}})
    assert [str(p) for p in verify_personal(7, entries, stored)] == [
        f"incident 7 entry {seq}: personal data does not match its digest (edited)"
    ]


@given(st.lists(personal, min_size=1, max_size=4), st.data())
def test_data_gone_is_purged_only_if_a_purge_entry_says_so(
    data: list[dict[str, Any]], drawn: st.DataObject
) -> None:
    entries, stored = held(data)
    gone = drawn.draw(st.sets(st.sampled_from(sorted(stored)), min_size=1))
    for seq in gone:
        del stored[seq]
    problems = verify_personal(7, entries, stored)
    assert sorted(p.seq for p in problems) == sorted(gone)
    assert all("no personal_data_purged entry" in p.problem for p in problems)
    purge = entry(len(entries) + 1, None, EntryKind.PERSONAL_DATA_PURGED, {"entries": sorted(gone)})
    assert verify_personal(7, [*entries, purge], stored) == []


@given(personal, st.dictionaries(st.sampled_from(["title", "summary", "org"]), names))
def test_split_personal_takes_exactly_the_personal_keys(
    people: dict[str, Any], rest: dict[str, Any]
) -> None:
    kept, taken = split_personal({**rest, **people})
    assert kept == rest
    assert taken == people
    assert set(taken) <= set(PERSONAL_KEYS)


def test_refused_copies_of_the_incidents_reports_are_scrubbed() -> None:
    report = {
        "org": "harbin.daoli",
        "incident_ref": "r-1",
        "title": "x",
        "reporter": {"name": "周明", "phone": "13800000000"},
    }
    raw = json.dumps(report, ensure_ascii=False).encode()
    scrubbed = scrub_rejected(
        raw, org="harbin.daoli", incident_ref="r-1", report_ids=[], msg_id=None
    )
    assert scrubbed is not None
    assert json.loads(scrubbed) == {"org": "harbin.daoli", "incident_ref": "r-1", "title": "x"}
    # Another incident's report, or nothing personal in it: left alone.
    assert (
        scrub_rejected(raw, org="harbin.daoli", incident_ref="r-2", report_ids=[], msg_id=None)
        is None
    )
    assert (
        scrub_rejected(scrubbed, org="harbin.daoli", incident_ref="r-1", report_ids=[], msg_id=None)
        is None
    )
    # Not JSON but carrying one of the incident's report ids: blanked whole.
    garbled = b'{"reporter": {"name": "\xe5\x91\xa8'
    assert (
        scrub_rejected(garbled, org="o", incident_ref="r", report_ids=["id-1"], msg_id="id-1")
        == b""
    )
    assert (
        scrub_rejected(garbled, org="o", incident_ref="r", report_ids=["id-1"], msg_id="id-2")
        is None
    )


def test_retention_setting() -> None:
    assert _parse_retention("off") is None
    assert _parse_retention("IV=30").days == {**DEFAULT_RETENTION.days, "IV": 30}  # type: ignore[union-attr]
    assert _parse_retention("I=3650,II=1825,III=1095,IV=365") == DEFAULT_RETENTION
    for bad in ("V=3", "IV", "IV=-1", "IV=x", "IV=99999"):
        with pytest.raises(ConfigurationError, match="DUTYWATCH_RETENTION_DAYS"):
            _parse_retention(bad)
