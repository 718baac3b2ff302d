"""CAP 1.2 (OASIS Common Alerting Protocol) in and out, as pure functions.

In: :func:`parse` reads the XML safely (no DTD, no entities, no network), validates it against
the OASIS schema in ``contracts/cap/CAP-v1.2.xsd`` and returns a :class:`CapOrigin`, naming
the failing element in an :class:`~dutywatch.errors.InvalidCap` otherwise. :func:`to_report`
translates it into a ``dutywatch.report.v1`` for the one intake path. The tables behind the
translation (severity and urgency to grade, categories) are in ``docs/DOMAIN.md``.

Out: :func:`export` writes an incident as one CAP 1.2 ``alert``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

from lxml import etree

from dutywatch import errors
from dutywatch.contracts import (
    CapArea,
    CapInfo,
    CapOrigin,
    CapValue,
    Category,
    Grade,
    ReportStatus,
    ReportV1,
    Stage,
    decode_report,
    encode,
)

NS: Final = "urn:oasis:names:tc:emergency:cap:1.2"
_Q = "{" + NS + "}"
#: The schema ships in the repository beside the other contracts.
XSD_PATH: Final = Path(__file__).resolve().parents[2] / "contracts" / "cap" / "CAP-v1.2.xsd"
#: Largest CAP message taken in, in bytes (the report it becomes has its own 256 KiB limit).
MAX_CAP_BYTES: Final = 512 * 1024
#: ``dutywatch:`` parameters carry our three scales explicitly (never inferred from severity
#: when present) and the original category.
PARAM_GRADE: Final = "dutywatch:grade"
PARAM_WARNING: Final = "dutywatch:warning_level"
PARAM_RESPONSE: Final = "dutywatch:response_level"
PARAM_CATEGORY: Final = "dutywatch:category"
PARAM_SUBTYPE: Final = "dutywatch:subtype"
#: ``geocode`` value names read as a GB/T 2260 administrative code.
ADMIN_CODE_NAMES: Final = frozenset({"GB/T 2260", "GB/T2260", "GB2260", "admin_code"})
#: Namespace of the uuid5 ids derived from CAP identities (report ids, incident refs).
ID_NAMESPACE: Final = uuid.UUID("0d6c1f52-8a4e-5b8f-9f3a-4f0c2b7e6a10")


class MsgType:
    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"


#: Grade by (severity, urgency); see docs/DOMAIN.md "CAP severity and urgency to grade".
#: Severity sets the grade; a forecast (Future) or an event already over (Past) is one grade
#: lower; Unknown severity happening now (Immediate) is III so that a person looks within the
#: hour. Several info blocks: the most severe grade wins.
GRADE_TABLE: Final[dict[str, dict[str, Grade]]] = {
    "Extreme": {"Immediate": Grade.I, "Expected": Grade.I, "Unknown": Grade.I,
                "Future": Grade.II, "Past": Grade.II},
    "Severe": {"Immediate": Grade.II, "Expected": Grade.II, "Unknown": Grade.II,
               "Future": Grade.III, "Past": Grade.III},
    "Moderate": {"Immediate": Grade.III, "Expected": Grade.III, "Unknown": Grade.III,
                 "Future": Grade.IV, "Past": Grade.IV},
    "Minor": dict.fromkeys(("Immediate", "Expected", "Unknown", "Future", "Past"), Grade.IV),
    "Unknown": {"Immediate": Grade.III, "Expected": Grade.IV, "Unknown": Grade.IV,
                "Future": Grade.IV, "Past": Grade.IV},
}  # fmt: skip

#: CAP category -> our category (the first of an info block's categories that maps decides).
CATEGORY_IN: Final[dict[str, Category]] = {
    "Geo": Category.NATURAL_DISASTER,
    "Met": Category.NATURAL_DISASTER,
    "Safety": Category.ACCIDENT,
    "Rescue": Category.ACCIDENT,
    "Fire": Category.ACCIDENT,
    "Env": Category.ACCIDENT,
    "Transport": Category.ACCIDENT,
    "Infra": Category.ACCIDENT,
    "CBRNE": Category.ACCIDENT,
    "Health": Category.PUBLIC_HEALTH,
    "Security": Category.SOCIAL_SAFETY,
    "Other": Category.ACCIDENT,
}
#: Our category (and subtype) -> CAP category, for export.
CATEGORY_OUT: Final[dict[Category, str]] = {
    Category.NATURAL_DISASTER: "Geo",
    Category.ACCIDENT: "Safety",
    Category.PUBLIC_HEALTH: "Health",
    Category.SOCIAL_SAFETY: "Security",
}
SUBTYPE_OUT: Final[dict[str, str]] = {
    "fire": "Fire",
    "road_traffic": "Transport",
    "flood": "Met",
    "earthquake": "Geo",
}
STATUS_IN: Final[dict[str, ReportStatus]] = {
    "Actual": ReportStatus.ACTUAL,
    "Exercise": ReportStatus.EXERCISE,
    "Test": ReportStatus.TEST,
    "System": ReportStatus.TEST,
}
STATUS_OUT: Final[dict[ReportStatus, str]] = {
    ReportStatus.ACTUAL: "Actual",
    ReportStatus.EXERCISE: "Exercise",
    ReportStatus.TEST: "Test",
}
SEVERITY_OUT: Final[dict[Grade, str]] = {
    Grade.I: "Extreme",
    Grade.II: "Severe",
    Grade.III: "Moderate",
    Grade.IV: "Minor",
}

_ELEMENT = re.compile(r"Element '(?:\{[^}]*\})?([A-Za-z]+)'")
_EXPECTED = re.compile(r"Expected is(?: one of)? \( ([^)]*)\)")
_NAME = re.compile(r"(?:\{[^}]*\})?([A-Za-z]+)")
_PAIR = r"-?\d+(?:\.\d+)?,-?\d+(?:\.\d+)?"
_POLYGON = re.compile(rf"^{_PAIR}(?:\s+{_PAIR}){{3,}}$")
_CIRCLE = re.compile(rf"^{_PAIR}\s+\d+(?:\.\d+)?$")


@cache
def schema_document() -> etree._ElementTree:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.parse(str(XSD_PATH), parser)


@cache
def schema() -> etree.XMLSchema:
    """The OASIS CAP 1.2 schema, read once from ``contracts/cap``."""
    return etree.XMLSchema(schema_document())


def _parser() -> etree.XMLParser:
    # No DTD, no entity expansion, no network, no huge trees: a hostile document can neither
    # read files, reach the network nor blow up memory.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def validate(data: bytes) -> etree._Element:
    """Parse and validate a CAP 1.2 document; raise a typed rejection naming the element."""
    if len(data) > MAX_CAP_BYTES:
        raise errors.PayloadTooLarge(
            f"CAP message is {len(data)} bytes; the limit is {MAX_CAP_BYTES} bytes",
            size=len(data),
        )
    try:
        tree = etree.fromstring(data, _parser()).getroottree()
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise errors.MalformedXml(f"not well-formed XML: {exc}") from None
    docinfo: Any = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise errors.InvalidCap(
            "a DOCTYPE is not accepted in CAP messages; send the alert without one",
            field="DOCTYPE",
        )
    root = tree.getroot()
    if root.tag != _Q + "alert":
        found = etree.QName(root).localname if isinstance(root.tag, str) else "?"
        raise errors.InvalidCap(
            f"the root element must be <alert> in namespace {NS}; found <{found}>"
            + (f" in {etree.QName(root).namespace!r}" if isinstance(root.tag, str) else ""),
            field="alert",
        )
    validator = schema()
    if not validator.validate(tree):
        log: Any = validator.error_log  # the stubs do not say it is a sequence
        error = log[0]
        message = error.message.replace(_Q, "cap:")
        raise errors.InvalidCap(
            f"not valid CAP 1.2 (line {error.line}): {message}", field=_failing_element(error)
        )
    return root


@cache
def _element_names() -> frozenset[str]:
    """Every element name the CAP schema declares."""
    names = schema_document().iter("{http://www.w3.org/2001/XMLSchema}element")
    return frozenset(str(e.get("name")) for e in names if e.get("name"))


def _failing_element(error: Any) -> str | None:
    """The element to fix. A missing required child is named ``parent.child``. A CAP element
    found where another was expected means the last one expected (the required one) is
    missing before it; an element CAP does not know (misspelt, foreign) is named itself.
    Else the element whose value is wrong."""
    text = str(error.message)
    found = _ELEMENT.search(text)
    listed = _EXPECTED.search(text)
    expected: list[str] = _NAME.findall(listed.group(1)) if listed else []
    if found and expected and "Missing child" in text:
        return f"{found.group(1)}.{expected[-1]}"
    if found and expected and "not expected" in text and found.group(1) in _element_names():
        return expected[-1]
    return found.group(1) if found else None


def _text(parent: etree._Element, name: str) -> str | None:
    child = parent.find(_Q + name)
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


def _texts(parent: etree._Element, name: str) -> list[str]:
    return [c.text.strip() for c in parent.findall(_Q + name) if c.text and c.text.strip()]


def _values(parent: etree._Element, name: str) -> list[CapValue]:
    return [
        CapValue(name=(_text(c, "valueName") or ""), value=(_text(c, "value") or ""))
        for c in parent.findall(_Q + name)
    ]


def _time(value: str | None) -> datetime | None:
    # The schema's pattern already requires a full date-time with a numeric offset.
    return datetime.fromisoformat(value) if value else None


def parse(data: bytes) -> CapOrigin:
    """A CAP 1.2 message as a value (every ``info`` kept), or a typed rejection."""
    root = validate(data)
    infos = []
    for block in root.findall(_Q + "info"):
        areas = []
        for area in block.findall(_Q + "area"):
            polygons = _texts(area, "polygon")
            for polygon in polygons:
                _check_polygon(polygon)
            circles = _texts(area, "circle")
            for circle in circles:
                if not _CIRCLE.match(circle):
                    raise errors.InvalidCap(
                        f"circle {circle[:80]!r} must be 'lat,lon radius' (WGS 84, km)",
                        field="circle",
                    )
            areas.append(
                CapArea(
                    area_desc=_text(area, "areaDesc") or "",
                    polygons=[" ".join(p.split()) for p in polygons],
                    circles=[" ".join(c.split()) for c in circles],
                    geocodes=_values(area, "geocode"),
                )
            )
        infos.append(
            CapInfo(
                language=_text(block, "language") or "en-US",
                categories=_texts(block, "category"),
                event=_text(block, "event") or "",
                response_types=_texts(block, "responseType"),
                urgency=_text(block, "urgency") or "Unknown",
                severity=_text(block, "severity") or "Unknown",
                certainty=_text(block, "certainty") or "Unknown",
                onset=_time(_text(block, "onset")),
                effective=_time(_text(block, "effective")),
                expires=_time(_text(block, "expires")),
                sender_name=_text(block, "senderName"),
                headline=_text(block, "headline"),
                description=_text(block, "description"),
                instruction=_text(block, "instruction"),
                parameters=_values(block, "parameter"),
                areas=areas,
            )
        )
    sent = _time(_text(root, "sent"))
    assert sent is not None  # required by the schema
    return CapOrigin(
        identifier=_text(root, "identifier") or "",
        sender=_text(root, "sender") or "",
        sent=sent,
        msg_type=_text(root, "msgType") or "",
        status=_text(root, "status") or "",
        scope=_text(root, "scope") or "",
        references=(_text(root, "references") or "").split(),
        incidents=_text(root, "incidents"),
        note=_text(root, "note"),
        info=infos,
    )


def _check_polygon(polygon: str) -> None:
    if not _POLYGON.match(" ".join(polygon.split())):
        raise errors.InvalidCap(
            "polygon must be at least four 'lat,lon' pairs separated by spaces",
            field="polygon",
        )
    points = polygon.split()
    if points[0] != points[-1]:
        raise errors.InvalidCap(
            "polygon must be closed: its first point must repeat as its last", field="polygon"
        )
    for point in points:
        lat, lon = (float(v) for v in point.split(","))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise errors.InvalidCap(
                f"polygon point {point!r} is outside lat -90..90, lon -180..180", field="polygon"
            )


# --------------------------------------------------------------------------- identities


def reference_key(sender: str, identifier: str) -> str:
    """The identity of a CAP message: its sender and its identifier (unique per sender)."""
    return f"{sender},{identifier}"


def parse_reference(reference: str) -> tuple[str, str] | None:
    """``sender,identifier,sent`` -> (sender, identifier); None if it is not that shape."""
    parts = reference.split(",")
    return (parts[0], parts[1]) if len(parts) == 3 and parts[0] and parts[1] else None


def report_id_of(org: str, message: CapOrigin) -> uuid.UUID:
    """Deterministic: the same message sent to the same office again is a duplicate."""
    return uuid.uuid5(ID_NAMESPACE, f"cap/{org}/{message.sender}/{message.identifier}")


def derived_ref(sender: str, identifier: str) -> str:
    """The incident ref of a chain whose first message is (sender, identifier)."""
    return "cap:" + uuid.uuid5(ID_NAMESPACE, f"chain/{sender}/{identifier}").hex


def incidents_ref(incidents: str) -> str:
    """The incident ref named by CAP ``incidents`` (its first entry)."""
    return "cap:" + uuid.uuid5(ID_NAMESPACE, f"incidents/{incidents.split(maxsplit=1)[0]}").hex


@dataclass(frozen=True, kw_only=True)
class Chain:
    """Which incident a message belongs to, and how that was decided."""

    incident_ref: str
    #: The identities whose stored incident ref was looked for, in order.
    lookups: tuple[tuple[str, str], ...]


def chain_of(message: CapOrigin) -> Chain:
    """Where a message's incident is found: ``incidents`` names it outright; an Alert starts
    its own; an Update or Cancel joins the incident of the messages it references (looked
    up in that order; the first reference decides when none is known yet)."""
    if message.incidents:
        return Chain(incident_ref=incidents_ref(message.incidents), lookups=())
    if message.msg_type == MsgType.ALERT:
        return Chain(incident_ref=derived_ref(message.sender, message.identifier), lookups=())
    parsed = [(x.split(",")[-1], parse_reference(x)) for x in message.references]
    refs = [r for _, r in parsed if r is not None]
    if not refs:
        raise errors.InvalidCap(
            f"a {message.msg_type} must name the message it follows in <references> "
            "(sender,identifier,sent) or the incident in <incidents>",
            field="references",
        )
    # None known yet: the earliest message referenced is taken as the chain's first.
    earliest = min((sent, r) for sent, r in parsed if r is not None)[1]
    return Chain(incident_ref=derived_ref(*earliest), lookups=tuple(refs))


# --------------------------------------------------------------------------- translation


def grade_of(message: CapOrigin) -> Grade:
    """An explicit ``dutywatch:grade`` parameter wins; else the most severe mapped grade."""
    for info in message.info:
        for param in info.parameters:
            if param.name == PARAM_GRADE:
                try:
                    return Grade(param.value.strip())
                except ValueError:
                    raise errors.InvalidCap(
                        f"parameter {PARAM_GRADE} must be I, II, III or IV; found "
                        f"{param.value[:20]!r}",
                        field="parameter",
                    ) from None
    grades = [
        GRADE_TABLE.get(i.severity, GRADE_TABLE["Unknown"]).get(i.urgency, Grade.IV)
        for i in message.info
    ]
    return min(grades, key=lambda g: g.rank) if grades else Grade.IV


def category_of(message: CapOrigin) -> tuple[Category, str | None]:
    """(category, subtype): the ``dutywatch:category`` parameter wins, else the CAP
    categories of the first info block; ``dutywatch:subtype`` is kept when given."""
    params = {p.name: p.value.strip() for i in message.info for p in i.parameters}
    subtype = params.get(PARAM_SUBTYPE) or None
    if PARAM_CATEGORY in params:
        try:
            return Category(params[PARAM_CATEGORY]), subtype
        except ValueError:
            raise errors.InvalidCap(
                f"parameter {PARAM_CATEGORY} must be one of {[str(c) for c in Category]}",
                field="parameter",
            ) from None
    for info in message.info:
        for name in info.categories:
            if name in CATEGORY_IN:
                return CATEGORY_IN[name], subtype
    return Category.ACCIDENT, subtype


def _level(message: CapOrigin, name: str) -> int | None:
    for info in message.info:
        for param in info.parameters:
            if param.name == name:
                value = param.value.strip()
                if value not in {"1", "2", "3", "4"}:
                    raise errors.InvalidCap(
                        f"parameter {name} must be 1, 2, 3 or 4; found {value[:20]!r}",
                        field="parameter",
                    )
                return int(value)
    return None


def _location(message: CapOrigin) -> dict[str, Any] | None:
    areas = [a for i in message.info[:1] for a in i.areas]
    if not areas:
        return None
    descs = [a.area_desc for i in message.info for a in i.areas[:1] if a.area_desc]
    location: dict[str, Any] = {"text": "; ".join(dict.fromkeys(descs))[:500] or "(no areaDesc)"}
    codes = [g.value for a in areas for g in a.geocodes if g.name in ADMIN_CODE_NAMES]
    if codes and re.fullmatch(r"[0-9]{6}([0-9]{3})?", codes[0]):
        location["admin_code"] = codes[0]
    centre = _centre(areas)
    if centre is not None:
        location["lat"], location["lon"] = centre
    return location


def _centre(areas: Sequence[CapArea]) -> tuple[float, float] | None:
    """The first circle's centre, else the mean of the first polygon's distinct points."""
    for area in areas:
        if area.circles:
            lat, lon = area.circles[0].split()[0].split(",")
            return round(float(lat), 6), round(float(lon), 6)
    for area in areas:
        if area.polygons:
            points = [tuple(float(v) for v in p.split(",")) for p in area.polygons[0].split()]
            points = points[:-1]
            return (
                round(sum(p[0] for p in points) / len(points), 6),
                round(sum(p[1] for p in points) / len(points), 6),
            )
    return None


def _summary(message: CapOrigin) -> str:
    parts = []
    for info in message.info:
        lines = [f"[{info.language}] {info.headline or info.event}"]
        lines += [t for t in (info.description, info.instruction) if t]
        parts.append("\n".join(lines))
    if message.note:
        parts.append(f"[note] {message.note}")
    return "\n\n".join(parts)[:20_000]


@dataclass(frozen=True, kw_only=True)
class Known:
    """The incident a message joins, when it is already known."""

    grade: Grade
    category: Category
    title: str


def to_report(message: CapOrigin, *, org: str, incident_ref: str, known: Known | None) -> ReportV1:
    """The report v1 a CAP message becomes. An Alert is a first report (a follow-up when its
    incident is already known, e.g. named by ``incidents``); Update and Cancel are follow-ups.
    A Cancel without ``info`` keeps the known incident's grade, category and title.
    """
    if message.msg_type not in (MsgType.ALERT, MsgType.UPDATE, MsgType.CANCEL):
        raise errors.InvalidCap(
            f"msgType {message.msg_type} carries no report; dutywatch takes Alert, Update and "
            "Cancel",
            field="msgType",
        )
    if message.status not in STATUS_IN:
        raise errors.InvalidCap(
            f"status {message.status} is not actionable; send Actual, Exercise, Test or System",
            field="status",
        )
    if not message.info and message.msg_type != MsgType.CANCEL:
        raise errors.InvalidCap(
            f"an {message.msg_type} needs at least one <info> block", field="info"
        )
    first = message.info[0] if message.info else None
    stage = (
        Stage.FIRST if message.msg_type == MsgType.ALERT and known is None else (Stage.FOLLOW_UP)
    )
    category, subtype = category_of(message)
    grade = grade_of(message)
    if first is not None:
        title = first.headline or first.event
    else:
        title = known.title if known else f"CAP Cancel {message.identifier}"
        if known is not None:
            grade, category = known.grade, known.category
    occurred = (first.onset or first.effective) if first else None
    payload: dict[str, Any] = {
        "schema": "dutywatch.report.v1",
        "report_id": str(report_id_of(org, message)),
        "incident_ref": incident_ref,
        "org": org,
        "stage": str(stage),
        "grade": str(grade),
        "category": str(category),
        "title": (title.strip() or message.identifier)[:200],
        "occurred_at": (occurred or message.sent).isoformat(),
        "reported_at": message.sent.isoformat(),
        "status": str(STATUS_IN[message.status]),
        "reporter": {"name": ((first.sender_name if first else None) or message.sender)[:100]},
        "summary": _summary(message),
        "cap": message,
    }
    if subtype:
        payload["subtype"] = subtype[:500]
    for key, name in (("warning_level", PARAM_WARNING), ("response_level", PARAM_RESPONSE)):
        level = _level(message, name)
        if level is not None:
            payload[key] = level
    location = _location(message)
    if location is not None:
        payload["location"] = location
    # Through the contract decoder: the report intake will see is checked here, field named.
    return decode_report(encode(payload))


# --------------------------------------------------------------------------- export


@dataclass(frozen=True, kw_only=True)
class ExportedReport:
    """What the export needs of each stored report of an incident, oldest first."""

    received_at: datetime
    report: ReportV1


def _cap_time(value: datetime) -> str:
    """CAP's date-time: seconds, a numeric offset, never ``Z`` or fractions."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def export(
    *,
    incident_id: int,
    org: str,
    incident_ref: str,
    state: str,
    grade: Grade,
    category: Category,
    title: str,
    status: ReportStatus,
    reports: Sequence[ExportedReport],
    warning_level: int | None = None,
    response_level: int | None = None,
) -> bytes:
    """The incident as one CAP 1.2 ``alert``: each stored report is one message of the chain
    (identifier ``dutywatch-<incident>-<n>``); the export is the latest, an Alert when it is the
    first report, else an Update referencing every earlier one. A resolved incident's update
    says ``AllClear``. Info blocks: every language of the latest CAP-born report, else one
    built from the incident. The grade and levels travel as ``dutywatch:`` parameters."""
    sender = f"dutywatch@{org}"
    count = max(len(reports), 1)
    latest = reports[-1].report if reports else None
    sent = reports[-1].received_at if reports else datetime.now(UTC)
    # The default namespace (no prefix), as CAP examples write it; the stubs want str keys.
    alert = etree.Element(_Q + "alert", nsmap={None: NS})  # type: ignore[dict-item]

    add = _add
    add(alert, "identifier", f"dutywatch-{incident_id}-{count}")
    add(alert, "sender", sender)
    add(alert, "sent", _cap_time(sent))
    add(alert, "status", STATUS_OUT[status])
    add(alert, "msgType", MsgType.ALERT if count == 1 and state != "resolved" else "Update")
    add(alert, "scope", "Restricted")
    add(alert, "restriction", "duty rooms of the reporting chain; not for public release")
    add(alert, "note", "resolved" if state == "resolved" else None)
    if count > 1:
        add(
            alert,
            "references",
            " ".join(
                f"{sender},dutywatch-{incident_id}-{n + 1},{_cap_time(r.received_at)}"
                for n, r in enumerate(reports[:-1])
            ),
        )
    add(alert, "incidents", incident_ref)
    params = [
        (PARAM_GRADE, str(grade)),
        (PARAM_CATEGORY, str(category)),
        *([(PARAM_SUBTYPE, latest.subtype)] if latest and latest.subtype else []),
        *([(PARAM_WARNING, str(warning_level))] if warning_level else []),
        *([(PARAM_RESPONSE, str(response_level))] if response_level else []),
    ]
    resolved = state == "resolved"
    kept = list(latest.cap.info) if latest and latest.cap else []
    for info in kept:
        _write_info(alert, info, params, resolved=resolved)
    # A report sent as JSON may carry a `cap` field CAP would refuse (an empty language, a
    # made-up certainty): then, and when there is none, one info block from the incident.
    if not kept or not schema().validate(alert):
        for block in alert.findall(_Q + "info"):
            alert.remove(block)
        fallback = _info_of(latest, grade, category, title, state)
        _write_info(alert, fallback, params, resolved=resolved)
    return bytes(etree.tostring(alert, xml_declaration=True, encoding="UTF-8", pretty_print=True))


#: Characters XML 1.0 cannot hold (JSON reports can): control characters, lone surrogates.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _add(parent: etree._Element, name: str, text: str | None) -> None:
    if text is not None:
        etree.SubElement(parent, _Q + name).text = _NOT_XML.sub("\ufffd", text)


def _info_of(
    latest: ReportV1 | None, grade: Grade, category: Category, title: str, state: str
) -> CapInfo:
    subtype = latest.subtype if latest else None
    areas = []
    if latest and latest.location:
        loc = latest.location
        areas.append(
            CapArea(
                area_desc=loc.text,
                circles=[f"{loc.lat},{loc.lon} 0"]
                if loc.lat is not None and loc.lon is not None
                else [],
                geocodes=[CapValue(name="GB/T 2260", value=loc.admin_code)]
                if loc.admin_code
                else [],
            )
        )
    return CapInfo(
        language="zh-CN",
        categories=[SUBTYPE_OUT.get(subtype or "", CATEGORY_OUT[category])],
        event=title,
        urgency="Past" if state == "resolved" else "Immediate",
        severity=SEVERITY_OUT[grade],
        certainty="Observed",
        headline=title,
        description=(latest.summary or None) if latest else None,
        instruction=(latest.measures or None) if latest else None,
        areas=areas,
    )


def _write_info(
    alert: etree._Element, info: CapInfo, params: list[tuple[str, str]], *, resolved: bool
) -> None:
    block = etree.SubElement(alert, _Q + "info")
    add = _add
    add(block, "language", info.language)
    for name in info.categories or ["Other"]:
        add(block, "category", name)
    add(block, "event", info.event)
    responses = [r for r in info.response_types if r != "AllClear"]
    for response in [*responses, *(["AllClear"] if resolved else [])]:
        add(block, "responseType", response)
    add(block, "urgency", info.urgency)
    add(block, "severity", info.severity)
    add(block, "certainty", info.certainty)
    for name, value in (("effective", info.effective), ("onset", info.onset),
                        ("expires", info.expires)):  # fmt: skip
        add(block, name, _cap_time(value) if value else None)
    add(block, "senderName", info.sender_name)
    add(block, "headline", info.headline)
    add(block, "description", info.description)
    add(block, "instruction", info.instruction)
    ours = {name for name, _ in params}
    for param in [*((p.name, p.value) for p in info.parameters if p.name not in ours), *params]:
        element = etree.SubElement(block, _Q + "parameter")
        add(element, "valueName", param[0])
        add(element, "value", param[1])
    for area in info.areas:
        element = etree.SubElement(block, _Q + "area")
        add(element, "areaDesc", area.area_desc)
        for polygon in area.polygons:
            add(element, "polygon", polygon)
        for circle in area.circles:
            add(element, "circle", circle)
        for code in area.geocodes:
            geocode = etree.SubElement(element, _Q + "geocode")
            add(geocode, "valueName", code.name)
            add(geocode, "value", code.value)
