"""The inbound decoders and the CAP mapping, pure: no service, no I/O but reading contracts/.

Property: whatever bytes arrive, the CAP, PagerDuty and Alertmanager decoders (and their
translations to report v1) raise nothing but the typed rejection; every report exports as CAP
that the OASIS schema accepts.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from dutywatch import errors
from dutywatch.contracts import Category, Grade, ReportStatus, ReportV1, decode_report, encode
from dutywatch.inbound import alertmanager, cap, pagerduty
from tests.unit.test_contracts import STRATEGIES

SAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "samples" / "cap"
XSD = Path(__file__).resolve().parents[2] / "contracts" / "cap" / "CAP-v1.2.xsd"
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
KEY = pagerduty.RoutingKey(
    id=7, label="scada", org_path="harbin.daoli", grade=Grade.III, category=Category.ACCIDENT
)
ORG = "harbin.daoli.xinyang"
SAMPLE_BYTES = [p.read_bytes() for p in sorted(SAMPLES.glob("*.xml"))]
FUZZ = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def oasis_schema() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(XSD), parser))


def cap_translate(data: bytes) -> ReportV1:
    message = cap.parse(data)
    chain = cap.chain_of(message)
    return cap.to_report(message, org=ORG, incident_ref=chain.incident_ref, known=None)


# --------------------------------------------------------------------------- CAP mapping


def test_grade_table_covers_every_severity_and_urgency_and_never_softens_with_severity() -> None:
    severities = ["Extreme", "Severe", "Moderate", "Minor"]
    urgencies = ["Immediate", "Expected", "Future", "Past", "Unknown"]
    assert set(cap.GRADE_TABLE) == {*severities, "Unknown"}
    for urgency in urgencies:
        ranks = [cap.GRADE_TABLE[s][urgency].rank for s in severities]
        assert ranks == sorted(ranks), f"a more severe CAP severity softened the grade: {urgency}"
    # Happening now beats a forecast or an event already over.
    for severity in cap.GRADE_TABLE:
        table = cap.GRADE_TABLE[severity]
        assert table["Immediate"].rank <= table["Future"].rank
        assert table["Immediate"].rank <= table["Past"].rank


def _alert(*infos: str, extra: str = "") -> bytes:
    return (
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>T-1</identifier>'
        "<sender>s@example.cn</sender><sent>2026-11-25T10:00:00+08:00</sent>"
        "<status>Actual</status><msgType>Alert</msgType><scope>Public</scope>"
        + extra
        + "".join(infos)
        + "</alert>"
    ).encode()


def _info(severity: str, urgency: str, params: str = "", category: str = "Met") -> str:
    return (
        f"<info><category>{category}</category><event>e</event><urgency>{urgency}</urgency>"
        f"<severity>{severity}</severity><certainty>Observed</certainty>{params}</info>"
    )


@pytest.mark.parametrize(
    ("infos", "grade"),
    [
        ([_info("Extreme", "Immediate")], Grade.I),
        ([_info("Severe", "Future")], Grade.III),
        ([_info("Unknown", "Immediate")], Grade.III),
        ([_info("Minor", "Immediate"), _info("Severe", "Expected")], Grade.II),  # worst wins
        # The explicit grade wins over severity (DOMAIN.md: never inferred when carried).
        (
            [
                _info(
                    "Extreme",
                    "Immediate",
                    "<parameter><valueName>dutywatch:grade</valueName><value>IV</value>"
                    "</parameter>",
                )
            ],
            Grade.IV,
        ),
    ],
)
def test_grade_of_a_cap_message(infos: list[str], grade: Grade) -> None:
    assert cap_translate(_alert(*infos)).grade is grade


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        ("Met", Category.NATURAL_DISASTER),
        ("Fire", Category.ACCIDENT),
        ("Health", Category.PUBLIC_HEALTH),
        ("Security", Category.SOCIAL_SAFETY),
    ],
)
def test_category_of_a_cap_message(category: str, expected: Category) -> None:
    report = cap_translate(_alert(_info("Moderate", "Immediate", category=category)))
    assert report.category is expected


def test_samples_translate_and_keep_every_language() -> None:
    update = cap.parse((SAMPLES / "02-update-polygons-two-languages.xml").read_bytes())
    assert [i.language for i in update.info] == ["zh-CN", "en-US"]
    report = cap.to_report(update, org=ORG, incident_ref="cap:x", known=None)
    assert report.cap == update
    assert report.stage == "follow_up"
    assert "[en-US]" in report.summary
    assert report.location is not None
    assert report.location.admin_code == "230102"
    # The resend is the same report (deterministic id), another office's copy is not.
    again = cap.to_report(update, org=ORG, incident_ref="cap:x", known=None)
    assert report.report_id == again.report_id
    assert cap.report_id_of(ORG, update) != cap.report_id_of("harbin.daoli", update)


def test_update_and_cancel_find_the_chain_of_the_earliest_message_referenced() -> None:
    alert = cap.parse((SAMPLES / "01-alert.xml").read_bytes())
    update = cap.parse((SAMPLES / "02-update-polygons-two-languages.xml").read_bytes())
    cancel = cap.parse((SAMPLES / "03-cancel.xml").read_bytes())
    root = cap.chain_of(alert).incident_ref
    assert cap.chain_of(update).incident_ref == root
    assert cap.chain_of(cancel).incident_ref == root
    assert cap.chain_of(cancel).lookups[0] == (update.sender, update.identifier)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("<severity>Huge</severity>", "info"), "severity"),
        (("<sent>2026-11-25T10:00:00</sent>", "sent"), "sent"),
        (("<circle>45.1,126.1</circle>", "area"), "circle"),
        (("<polygon>1,1 2,2 3,3 4,4</polygon>", "area"), "polygon"),
    ],
)
def test_invalid_cap_names_the_failing_element(change: tuple[str, str], field: str) -> None:
    element, where = change
    if where == "info":
        data = _alert(_info("Moderate", "Immediate")).replace(b"<severity>Moderate</severity>",
                                                             element.encode())  # fmt: skip
    elif where == "sent":
        data = _alert(_info("Moderate", "Immediate")).replace(
            b"<sent>2026-11-25T10:00:00+08:00</sent>", element.encode()
        )
    else:
        area = f"<area><areaDesc>a</areaDesc>{element}</area>"
        data = _alert(_info("Moderate", "Immediate", params=area))
    with pytest.raises(errors.InvalidCap) as caught:
        cap_translate(data)
    assert caught.value.fields["field"] == field


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (b"<event>e</event>", b"", "event"),  # a required element missing mid-sequence
        (b"<certainty>Observed</certainty>", b"", "info.certainty"),  # missing at the end
        (b"<event>e</event>", b"<evnt>e</evnt>", "evnt"),  # misspelt: named as sent
    ],
)
def test_missing_or_unknown_element_is_named(old: bytes, new: bytes, field: str) -> None:
    data = _alert(_info("Moderate", "Immediate")).replace(old, new)
    with pytest.raises(errors.InvalidCap) as caught:
        cap.parse(data)
    assert caught.value.fields["field"] == field


# --------------------------------------------------------------------------- fuzzing


@FUZZ
@given(st.binary(max_size=600))
def test_cap_decoder_raises_only_the_typed_rejection_on_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(errors.RejectedInput):
        cap_translate(data)


@st.composite
def mutated_samples(draw: st.DrawFn) -> bytes:
    """A sample CAP message with a slice replaced by arbitrary text (often still XML)."""
    data = draw(st.sampled_from(SAMPLE_BYTES)).decode()
    start = draw(st.integers(0, len(data)))
    end = draw(st.integers(start, min(len(data), start + 40)))
    insert = draw(st.text(max_size=20))
    return (data[:start] + insert + data[end:]).encode("utf-8", "surrogatepass")


@FUZZ
@given(mutated_samples())
def test_cap_decoder_raises_only_the_typed_rejection_on_mutated_samples(data: bytes) -> None:
    with contextlib.suppress(errors.RejectedInput):
        cap_translate(data)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)


@st.composite
def pagerduty_bodies(draw: st.DrawFn) -> bytes:
    event: dict[str, Any] = {
        "routing_key": draw(st.sampled_from(["k" * 32, ""]) | st.text(max_size=70)),
        "event_action": draw(st.sampled_from(["trigger", "acknowledge", "resolve", "x"])),
    }
    if draw(st.booleans()):
        event["dedup_key"] = draw(st.text(max_size=300) | _json_values)
    if draw(st.booleans()):
        event["payload"] = draw(
            st.fixed_dictionaries(
                {
                    "summary": st.text(max_size=1100),
                    "source": st.text(max_size=260),
                    "severity": st.sampled_from(["critical", "error", "warning", "info", "?"]),
                },
                optional={
                    "timestamp": st.sampled_from(["2026-11-25T10:00:00+08:00", "yesterday"]),
                    "custom_details": _json_values,
                    "class": st.text(max_size=10),
                },
            )
        )
    return json.dumps(event).encode()


@FUZZ
@given(pagerduty_bodies() | st.binary(max_size=200))
def test_pagerduty_decoder_raises_only_the_typed_rejection(data: bytes) -> None:
    try:
        event = pagerduty.decode(data)
        if event.event_action is pagerduty.Action.TRIGGER:
            pagerduty.to_report(event, data, key=KEY, incident_ref="pd:d", now=NOW, known=False)
        pagerduty.incident_ref_of(event.dedup_key or "x")
    except errors.RejectedInput:
        pass


@st.composite
def alertmanager_bodies(draw: st.DrawFn) -> bytes:
    labels = st.dictionaries(
        st.sampled_from(["alertname", "dutywatch_grade", "dutywatch_category", "x"]),
        st.text(max_size=20) | st.sampled_from(["I", "IV", "accident"]),
        max_size=3,
    )
    alert = st.fixed_dictionaries(
        {"status": st.sampled_from(["firing", "resolved", "?"])},
        optional={
            "labels": labels,
            "annotations": labels,
            "startsAt": st.sampled_from(["2026-11-25T01:50:00Z", "", "0001-01-01T00:00:00Z"]),
            "fingerprint": st.text(max_size=16),
        },
    )
    body = draw(
        st.fixed_dictionaries(
            {
                "version": st.sampled_from(["4", "3"]),
                "groupKey": st.text(max_size=40),
                "status": st.sampled_from(["firing", "resolved"]),
                "alerts": st.lists(alert, max_size=4),
            },
            optional={"commonLabels": labels, "commonAnnotations": labels, "receiver": st.text()},
        )
    )
    return json.dumps(body).encode()


@FUZZ
@given(alertmanager_bodies() | st.binary(max_size=200))
def test_alertmanager_decoder_raises_only_the_typed_rejection(data: bytes) -> None:
    try:
        hook = alertmanager.decode(data)
        ref = alertmanager.incident_ref_of(hook.groupKey)
        alertmanager.to_report(hook, org=ORG, incident_ref=ref, now=NOW, known=False)
    except errors.RejectedInput:
        pass


# --------------------------------------------------------------------------- export


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(STRATEGIES["report"], st.booleans())
def test_every_report_exports_as_valid_cap(report: ReportV1, resolved: bool) -> None:
    document = cap.export(
        incident_id=1,
        org=report.org,
        incident_ref=report.incident_ref,
        state="resolved" if resolved else "open",
        grade=report.grade,
        category=report.category,
        title=report.title,
        status=report.status,
        reports=[cap.ExportedReport(received_at=NOW, report=report)],
        warning_level=report.warning_level,
        response_level=report.response_level,
    )
    schema = oasis_schema()
    assert schema.validate(etree.fromstring(document)), schema.error_log


def test_exported_cap_reads_back_through_the_decoder() -> None:
    report = cap_translate((SAMPLES / "01-alert.xml").read_bytes())
    document = cap.export(
        incident_id=9,
        org=ORG,
        incident_ref=report.incident_ref,
        state="open",
        grade=report.grade,
        category=report.category,
        title=report.title,
        status=ReportStatus.ACTUAL,
        reports=[cap.ExportedReport(received_at=NOW, report=report)],
    )
    again = cap_translate(document)
    assert (again.grade, again.category, again.title) == (
        report.grade,
        report.category,
        report.title,
    )
    assert again.location == report.location
    assert decode_report(encode(again)) == again
