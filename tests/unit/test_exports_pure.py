"""Pure parts of the incident exports: translations, summaries, stated heads, the JSON chain
check and the response times."""

from __future__ import annotations

import csv
import io
import json
import string
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dutywatch.contracts import Category, Grade, ReportStatus
from dutywatch.deadlines.rules import Clock
from dutywatch.deadlines.table import ReportKind
from dutywatch.exports import render
from dutywatch.exports.incident import (
    IncidentRecord,
    Personal,
    StatedHead,
    entry_summary,
    export_csv,
    export_json,
    response_times,
)
from dutywatch.exports.verify import read_export
from dutywatch.incidents.rules import Incident, State
from dutywatch.printing import LANGS, TEXT, duration_text, t
from dutywatch.timeline.chain import (
    GENESIS,
    Entry,
    EntryKind,
    Source,
    entry_hash,
    personal_digest,
)

OPENED = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Shanghai")


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_has_both_languages_with_the_same_placeholders() -> None:
    for key, texts in TEXT.items():
        assert set(texts) == set(LANGS), key
        assert all(texts[lang].strip() for lang in LANGS), key
        assert _placeholders(texts["zh"]) == _placeholders(texts["en"]), key
        # Dotted keys: a key left in a page is easy to spot (the acceptance test looks).
        assert "." in key, key


def test_every_entry_kind_known_today_has_a_label() -> None:
    missing = [kind for kind in EntryKind if f"kind.{kind}" not in TEXT]
    assert missing == []


def test_a_missing_key_says_where_to_add_it() -> None:
    with pytest.raises(KeyError, match="add it to printing.TEXT"):
        t("kind.no_such_kind", "zh")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
bodies = st.dictionaries(
    st.sampled_from(
        ["by", "note", "org", "role", "person_id", "due_at", "late_by_s", "kind", "to", "x"]
    )
    | st.text(max_size=10),
    json_values,
    max_size=6,
)
kinds = st.sampled_from([str(k) for k in EntryKind]) | st.text(min_size=1, max_size=20)


@given(kind=kinds, body=bodies, lang=st.sampled_from(LANGS))
def test_any_entry_is_summarised_without_failing(
    kind: str, body: dict[str, Any], lang: Any
) -> None:
    """A kind added later, or a body with fields missing or of another type, still shows."""
    text = entry_summary(kind, body, lang, ZONE, {"li-na": "李娜"})
    assert isinstance(text, str)
    if kind not in {str(k) for k in EntryKind}:
        # Unknown kinds show their fields by name.
        for key, value in body.items():
            if value not in (None, "", [], {}):
                assert f"{key}: " in text


def test_known_kinds_read_as_sentences_and_unknown_ones_field_by_field() -> None:
    paged = {
        "person_id": "li-na",
        "role": "duty_officer",
        "org": "harbin.daoli",
        "reason": "escalation",
    }
    assert entry_summary("paged", paged, "zh", ZONE, {"li-na": "李娜"}) == (
        "呼叫 李娜 (li-na)（harbin.daoli 值班员，升级呼叫）"
    )
    assert entry_summary("paged", paged, "en", ZONE, {}) == (
        "paged person:li-na (duty officer of harbin.daoli, escalation)"
    )
    late = {
        "target": "harbin",
        "kind": "phone",
        "due_at": "2026-11-25T02:30:00+00:00",
        "late_by_s": 90.0,
    }
    assert entry_summary("report_late", late, "en", ZONE, {}) == (
        "phone report to harbin 1 min 30 s late (due 2026-11-25 10:30:00)"
    )
    receipt = {"channel": "sms", "ok": False, "error": "timeout", "page_id": 3}
    assert entry_summary("delivery_failed", receipt, "en", ZONE, {}) == (
        "channel: sms; error: timeout; ok: no; page_id: 3"
    )
    # A known kind whose body lacks a field its sentence needs falls back to the fields.
    assert entry_summary("paged", {"page_id": 4}, "en", ZONE, {}) == "page_id: 4"


@pytest.mark.parametrize(
    ("seconds", "zh", "en"),
    [
        (5, "5 秒", "5 s"),
        (90, "1 分 30 秒", "1 min 30 s"),
        (3660, "1 小时 1 分", "1 h 1 min"),
        (90000, "1 天 1 小时", "1 d 1 h"),
        (-60, "-1 分 0 秒", "-1 min 0 s"),
    ],
)
def test_durations(seconds: int, zh: str, en: str) -> None:
    assert duration_text(seconds, "zh") == zh
    assert duration_text(timedelta(seconds=seconds), "en") == en


@given(
    incident_id=st.integers(1, 2**62),
    seq=st.integers(1, 2**30),
    head=st.binary(min_size=32, max_size=32),
    made=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)
def test_a_stated_head_is_found_again_in_any_text(
    incident_id: int, seq: int, head: bytes, made: datetime
) -> None:
    stated = StatedHead(incident_id=incident_id, seq=seq, head=head, made_at=made)
    found = StatedHead.find(f"<p>前文 {stated.marker()}</p> after")
    assert found == StatedHead(
        incident_id=incident_id, seq=seq, head=head, made_at=made.replace(microsecond=0)
    )


def _incident(**changes: Any) -> Incident:
    values: dict[str, Any] = {
        "id": 7,
        "org_path": "harbin.daoli.xinyang",
        "incident_ref": "ref-1",
        "state": State.OPEN,
        "grade": Grade.III,
        "category": Category.ACCIDENT,
        "title": "燃气泄漏",
        "status": ReportStatus.ACTUAL,
        "sensitive": False,
        "first_report_missing": False,
        "occurred_at": OPENED,
        "opened_at": OPENED,
        "last_report_at": OPENED,
        "reports_count": 1,
        "policy_version": "default@v1",
        "acknowledged_at": None,
        "acknowledged_by": None,
        "resolved_at": None,
        "resolved_by": None,
        "policy_started_at": OPENED,
        "policy_fired": 0,
        "learned_at": OPENED,
        "skip_to": None,
        "responsible_org": None,
        "timeline_seq": 0,
        "timeline_head": GENESIS,
    }
    values.update(changes)
    return Incident(**values)


def _chain(
    bodies: list[dict[str, Any]], personal_at: int | None = None
) -> tuple[list[Entry], dict[int, Personal]]:
    entries, personal, previous = [], {}, GENESIS
    for seq, body in enumerate(bodies, start=1):
        at = OPENED + timedelta(seconds=seq, microseconds=seq)
        digest = None
        if seq == personal_at:
            salt, data = b"s" * 16, {"reporter": {"name": "周明", "phone": "13800000000"}}
            digest = personal_digest(salt, data)
            personal[seq] = Personal(salt=salt, data=data)
        fields: dict[str, Any] = {
            "incident_id": 7,
            "seq": seq,
            "kind": EntryKind.NOTE,
            "at": at,
            "actor": "person:li-na",
            "source": Source.HTTP,
            "body": body,
            "personal_digest": digest,
            "prev_hash": previous,
        }
        entry = Entry(**fields, hash=entry_hash(**fields))
        entries.append(entry)
        previous = entry.hash
    return entries, personal


def _record(entries: list[Entry], personal: dict[int, Personal]) -> IncidentRecord:
    return IncidentRecord(
        incident=_incident(),
        org_name="新阳路街道",
        zone=ZONE,
        entries=entries,
        personal=personal,
        reports=[],
        pages=[],
        alerts=[],
        alerts_json=[],
        clocks=[],
        clocks_json=[],
        people={},
        duty_org=None,
        on_duty=[],
        made_at=OPENED + timedelta(hours=1),
    )


chains = st.lists(
    st.dictionaries(st.text(max_size=6), json_values, max_size=3), min_size=1, max_size=6
)


@settings(max_examples=50)
@given(bodies=chains, data=st.data())
def test_a_json_export_verifies_and_any_edited_entry_is_named(
    bodies: list[dict[str, Any]], data: st.DataObject
) -> None:
    entries, personal = _chain(bodies, personal_at=1)
    exported = export_json(_record(entries, personal))
    found = read_export(exported)
    assert [f.level for f in found.findings] == ["ok"], found.findings
    assert found.head is not None
    assert found.head.head == entries[-1].hash

    document = json.loads(exported)
    victim = data.draw(st.integers(0, len(entries) - 1))
    document["timeline"][victim]["actor"] = "person:someone-else"
    problems = [f.text for f in read_export(json.dumps(document).encode()).findings]
    assert problems == [f"incident 7 entry {victim + 1}: content does not match its hash (edited)"]


def test_a_purged_entry_still_verifies_and_edited_personal_data_does_not() -> None:
    entries, personal = _chain([{"text": "a"}, {"text": "b"}], personal_at=2)
    purged = read_export(export_json(_record(entries, {})))
    assert [f.level for f in purged.findings] == ["ok", "info"]
    assert purged.findings[1].text.startswith("personal data purged in 1 entry (")

    document = json.loads(export_json(_record(entries, personal)))
    document["timeline"][1]["personal"]["data"]["reporter"]["phone"] = "13900000000"
    [problem] = read_export(json.dumps(document).encode()).findings
    assert problem.text == "entry 2: personal data does not match its digest (edited)"


def test_a_truncated_json_export_does_not_match_its_stated_head() -> None:
    entries, personal = _chain([{"n": 1}, {"n": 2}, {"n": 3}])
    document = json.loads(export_json(_record(entries, personal)))
    document["timeline"].pop()
    texts = [f.text for f in read_export(json.dumps(document).encode()).findings]
    assert "incident 7 entry 2: last entry is not the recorded head" in texts
    assert "the export states entry 3 as its head, but its last entry is 2" in texts


def test_csv_lists_one_line_per_entry_and_every_format_states_the_head() -> None:
    entries, personal = _chain([{"text": "一"}, {"text": "二\n三"}, {"text": 'say "x"'}])
    record = _record(entries, personal)
    text = export_csv(record, "zh")
    assert len(text.splitlines()) == 1 + len(entries)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["summary"] for r in rows] == ["一", "二 三", 'say "x"']
    for fmt in ("csv", "html", "pdf", "json"):
        found = read_export(render(record, fmt, "en").body)  # type: ignore[arg-type]
        assert found.format == fmt
        assert found.head is not None
        assert (found.head.incident_id, found.head.seq, found.head.head) == (7, 3, entries[-1].hash)
        assert not [f for f in found.findings if f.level == "problem"], found.findings


def test_response_times_count_from_opening_and_report_up_is_a_parent_phone_clock() -> None:
    entries, _ = _chain([{"x": 1}])
    ack = Entry(
        **{
            **entries[0].__dict__,
            "kind": EntryKind.ACKNOWLEDGED,
            "at": OPENED + timedelta(minutes=7),
        }
    )

    def clock(target: str, kind: ReportKind, stopped: timedelta | None) -> Clock:
        return Clock(
            target=target,
            kind=kind,
            grade=Grade.III,
            opened_at=OPENED,
            due_at=OPENED + timedelta(hours=1),
            rules=(),
            stopped_at=OPENED + stopped if stopped is not None else None,
        )

    incident = _incident(resolved_at=OPENED + timedelta(hours=2))
    times = response_times(
        incident,
        [entries[0], ack],
        [
            clock("harbin.daoli", ReportKind.WRITTEN, timedelta(minutes=3)),  # not phone
            clock("harbin", ReportKind.PHONE, timedelta(minutes=20)),
            clock("harbin.daoli", ReportKind.PHONE, timedelta(minutes=9)),
            clock("harbin.nangang", ReportKind.PHONE, timedelta(minutes=1)),  # not above
        ],
    )
    assert times.to_ack == timedelta(minutes=7)
    assert times.to_report_up == timedelta(minutes=9)
    assert times.report_up_owed
    assert times.to_resolve == timedelta(hours=2)
    nothing = response_times(_incident(), entries, [])
    assert (nothing.to_ack, nothing.to_report_up, nothing.report_up_owed) == (None, None, False)


def test_a_configured_truetype_font_is_embedded_and_a_bad_one_is_refused(
    tmp_path: Any,
) -> None:
    from pathlib import Path

    import pypdf
    import reportlab

    from dutywatch import errors
    from dutywatch.exports.incident import export_pdf

    entries, personal = _chain([{"text": "Gas leak"}])
    record = _record(entries, personal)
    default = pypdf.PdfReader(io.BytesIO(export_pdf(record, "zh")))
    fonts = {f["/BaseFont"] for f in default.pages[0]["/Resources"]["/Font"].values()}
    assert "/STSong-Light" in fonts  # (reportlab also names Helvetica, its initial font)

    # Any TrueType font file works the same way; reportlab ships Vera (a CJK font is what a
    # deployment would name).
    vera = str(Path(reportlab.__file__).parent / "fonts" / "Vera.ttf")
    embedded = pypdf.PdfReader(io.BytesIO(export_pdf(record, "en", font_path=vera)))
    [font] = [
        f.get_object()
        for f in embedded.pages[0]["/Resources"]["/Font"].values()
        if f.get_object()["/BaseFont"] != "/Helvetica"
    ]
    assert "/FontFile2" in font["/FontDescriptor"]  # the font file is inside
    assert "Gas leak" in embedded.pages[0].extract_text()

    not_a_font = tmp_path / "font.ttf"
    not_a_font.write_bytes(b"not a font")
    with pytest.raises(errors.ConfigurationError, match="DUTYWATCH_PDF_FONT"):
        export_pdf(record, "zh", font_path=str(not_a_font))


def test_verify_export_without_a_database(tmp_path: Any, capsys: Any) -> None:
    """The JSON export checks alone; the others need the database and say so."""
    import socket

    from dutywatch import cli

    entries, personal = _chain([{"text": "a"}, {"text": "b"}])
    record = _record(entries, personal)
    (tmp_path / "x.json").write_bytes(export_json(record))
    (tmp_path / "x.csv").write_text(export_csv(record, "en"), encoding="utf-8")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"postgresql://nobody@127.0.0.1:{probe.getsockname()[1]}/none"

    assert cli.main(["verify", "--export", str(tmp_path / "x.json"), "--offline"]) == 0
    out = capsys.readouterr().out
    assert "OK: the file's chain of 2 entries recomputes to the stated head" in out

    named = ["--database-url", closed]
    assert cli.main(["verify", "--export", str(tmp_path / "x.csv"), *named]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the database to check the stated head" in err
    assert cli.main(["verify", "--export", str(tmp_path / "x.csv"), "--offline"]) == 2
    assert "can only be checked against the database" in capsys.readouterr().err
