"""The published contracts in ``contracts/`` and the msgspec types never drift apart.

The JSON Schema files are hand-written for readers in other organisations; the msgspec types
in ``dutywatch.contracts`` decode and validate at the edge. These tests hold them together:

* every schema is a valid 2020-12 schema, every sample passes (or fails) both validators;
* structurally, each schema equals ``msgspec.json.schema(T)`` once ``$ref``s, ``anyOf`` and
  ``type`` lists are normalised: same properties, required sets, enums, tag, bounds, formats
  and defaults, nested objects included;
* behaviourally, messages generated from the msgspec types validate against the schema
  (hypothesis), and values at and just past every bound get the same verdict from both;
* the AsyncAPI and OpenAPI documents list the subjects and paths and point at real files.

Only files are read; no service is started.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from dutywatch import contracts, errors
from dutywatch.contracts import (
    AckCommandV1,
    AlarmV1,
    CommandReplyV1,
    EventKind,
    IncidentEventV1,
    NotificationV1,
    RejectionV1,
    ReportV1,
    RosterEventV1,
    SupervisionEventV1,
)
from dutywatch.incidents.rules import Incident, State
from dutywatch.timeline import EntryKind, Source
from dutywatch.web.app import incident_json

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"
SAMPLES_DIR = CONTRACTS_DIR / "samples"
INVALID_DIR = SAMPLES_DIR / "invalid"

#: Contract name (schema file stem before ``.v1`` and samples folder) -> msgspec type.
TYPES: dict[str, type[msgspec.Struct]] = {
    "report": ReportV1,
    "cmd-ack": AckCommandV1,
    "cmd-reply": CommandReplyV1,
    "notification": NotificationV1,
    "alarm": AlarmV1,
    "incident-event": IncidentEventV1,
    "rejection": RejectionV1,
    "roster-event": RosterEventV1,
    "supervision-event": SupervisionEventV1,
}
NAMES = sorted(TYPES)

#: The edge decoders dutywatch applies to inbound contracts, with their error codes.
DECODERS: dict[str, Callable[[bytes], object]] = {
    "report": contracts.decode_report,
    "cmd-ack": contracts.decode_ack,
}

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FORMAT = "application/schema+json;version=draft-2020-12"
NO_DEFAULT = "<no default>"


def schema_path(name: str) -> Path:
    return CONTRACTS_DIR / f"{name}.v1.schema.json"


def tag_of(struct_type: type[msgspec.Struct]) -> str:
    tag = struct_type.__struct_config__.tag
    assert isinstance(tag, str)
    return tag


# --- validators -----------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))"
)

#: jsonschema checks ``date-time`` only with an optional extra installed; check it here
#: (RFC 3339 section 5.6, what JSON Schema's ``date-time`` means) so the tests never pass
#: merely because a format went unchecked.
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_rfc3339(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    match = _RFC3339.fullmatch(instance)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    dt.datetime(year, month, day, hour, minute, min(second, 59))  # ValueError if impossible
    offset_ok = match.group(9) is None or (int(match.group(9)) < 24 and int(match.group(10)) < 60)
    return second <= 60 and offset_ok


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    return json.loads(schema_path(name).read_text(encoding="utf-8"))


@functools.cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(name), format_checker=FORMATS)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def schema_accepts(name: str, instance: Any) -> bool:
    return validator(name).is_valid(instance)


def msgspec_accepts(name: str, instance: Any) -> bool:
    try:
        msgspec.json.decode(json.dumps(instance).encode(), type=TYPES[name])
    except msgspec.ValidationError:
        return False
    return True


def _dotted(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _join(parent: str, child: str) -> str:
    return f"{parent}.{child}" if parent else child


def schema_error_fields(name: str, instance: Any) -> set[str]:
    """Every field a schema error points at, as a dotted path like msgspec's ``$.a.b[0]``."""
    fields: set[str] = set()
    pending = list(validator(name).iter_errors(instance))
    while pending:
        error = pending.pop()
        pending.extend(error.context or ())
        where = _dotted(error.absolute_path)
        fields.add(where)
        if error.validator == "required" and isinstance(error.instance, dict):
            fields.update(_join(where, k) for k in error.validator_value if k not in error.instance)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = error.schema.get("properties", {})
            fields.update(_join(where, k) for k in error.instance if k not in known)
    return fields


# --- schema files ---------------------------------------------------------------------------


def test_one_schema_file_per_contract_and_no_stray_files() -> None:
    assert {tag_of(t) for t in TYPES.values()} == set(contracts.CONTRACTS)
    on_disk = {p.name for p in CONTRACTS_DIR.glob("*.schema.json")}
    assert on_disk == {schema_path(name).name for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_valid_2020_12(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == DRAFT_2020_12
    assert schema["$id"] == f"https://dutywatch.example/contracts/{schema_path(name).name}"
    assert schema["title"]
    assert schema["description"]
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("name", NAMES)
def test_every_property_and_object_is_described(name: str) -> None:
    schema = load_schema(name)
    objects = [("", schema)] + [
        (f"$defs.{k}", v) for k, v in schema.get("$defs", {}).items() if v.get("type") == "object"
    ]
    undescribed = [
        _join(where, prop)
        for where, obj in objects
        for prop, sub in obj["properties"].items()
        if not sub.get("description")
    ]
    undescribed += [where for where, obj in objects if not obj.get("description")]
    assert undescribed == []


# --- samples --------------------------------------------------------------------------------


def _valid_samples() -> list[Any]:
    return [
        pytest.param(name, path, id=f"{name}/{path.stem}")
        for name in NAMES
        for path in sorted((SAMPLES_DIR / name).glob("*.json"))
    ]


def _invalid_samples() -> list[Any]:
    params = []
    for path in sorted(INVALID_DIR.glob("*.json")):
        if path.name.endswith(".expect.json"):
            continue
        expect = read_json(path.with_name(path.stem + ".expect.json"))
        params.append(pytest.param(path, expect, id=path.stem))
    return params


def test_sample_layout() -> None:
    folders = {p.name for p in SAMPLES_DIR.iterdir() if p.is_dir()}
    # cap/ holds CAP 1.2 XML messages (an inbound format, not a dutywatch contract).
    assert folders == {*NAMES, "invalid", "cap"}
    for name in NAMES:
        assert len(list((SAMPLES_DIR / name).glob("*.json"))) >= 2, name
    for path in INVALID_DIR.glob("*.json"):
        contract = path.name.split(".", 1)[0]
        assert contract in TYPES, f"{path.name}: name it <contract>.<what-is-wrong>.json"
        base = path.name.removesuffix(".expect.json").removesuffix(".json")
        assert (INVALID_DIR / f"{base}.json").exists(), path.name
        assert (INVALID_DIR / f"{base}.expect.json").exists(), path.name


@pytest.mark.parametrize(("name", "path"), _valid_samples())
def test_valid_sample_passes_schema_and_msgspec(name: str, path: Path) -> None:
    raw = path.read_bytes()
    instance = json.loads(raw)
    assert sorted(map(str, validator(name).iter_errors(instance))) == []
    decoded = msgspec.json.decode(raw, type=TYPES[name])
    # What dutywatch itself publishes of it is valid too.
    assert schema_accepts(name, json.loads(msgspec.json.encode(decoded)))
    if name in DECODERS:
        assert DECODERS[name](raw) == decoded


@pytest.mark.parametrize(("path", "expect"), _invalid_samples())
def test_invalid_sample_fails_schema_and_msgspec(path: Path, expect: dict[str, Any]) -> None:
    name = expect["contract"]
    raw = path.read_bytes()
    instance = json.loads(raw)
    assert expect["field"] in schema_error_fields(name, instance)
    if name not in DECODERS:
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(raw, type=TYPES[name])
    else:
        # The service's decoders, not bare msgspec: they also insist on the `schema` tag,
        # which msgspec treats as optional when a tagged struct is decoded on its own.
        with pytest.raises(errors.RejectedInput) as caught:
            DECODERS[name](raw)
        assert caught.value.code == expect["code"]
        assert caught.value.fields.get("field") == expect["field"]


# --- structural drift: the schema file against msgspec.json.schema(T) -----------------------

_BOUNDS = (
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
)
_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number"}


def _pointer(root: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/"), f"only local $refs are expected, got {ref!r}"
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _deref(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Inline ``$ref`` targets; keywords next to a ``$ref`` win over the target's."""
    while "$ref" in node:
        rest = {k: v for k, v in node.items() if k != "$ref"}
        node = {**_pointer(root, node["$ref"]), **rest}
    return node


def _alternatives(node: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    """Split ``anyOf``/``oneOf`` and ``type: [a, b]`` into single-type alternatives."""
    node = _deref(node, root)
    branches = node.get("anyOf", []) + node.get("oneOf", [])
    if branches:
        return [alt for branch in branches for alt in _alternatives(branch, root)]
    if isinstance(node.get("type"), list):
        return [{**node, "type": t} for t in node["type"]]
    return [node]


def shape(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Normalise a schema to ``{dotted path: facts}``, ignoring titles and descriptions.

    Two schemas accept the same documents when their shapes are equal, whether they spell a
    nullable string ``anyOf: [{type: string}, {type: null}]`` or ``type: [string, "null"]``,
    an enum inline or behind a ``$ref``, a tag as ``const`` or a one-value ``enum``.
    """
    out: dict[str, dict[str, Any]] = {}

    def walk(node: dict[str, Any], path: str) -> None:
        alternatives = _alternatives(node, schema)
        concrete = [a for a in alternatives if a.get("type") != "null"]
        assert len(concrete) == 1, f"{path}: unexpected union {concrete}"
        alt = concrete[0]
        values = alt.get("enum", [alt["const"]] if "const" in alt else None)
        facts: dict[str, Any] = {
            "type": alt.get("type") or _JSON_TYPES[type(values[0])],
            "nullable": len(alternatives) > 1,
            "enum": sorted(values) if values is not None else None,
            "bounds": {k: alt[k] for k in _BOUNDS if k in alt},
            "default": _deref(node, schema).get("default", NO_DEFAULT),
        }
        if facts["type"] == "object":
            facts["properties"] = sorted(alt.get("properties", {}))
            facts["required"] = sorted(alt.get("required", []))
            facts["additionalProperties"] = alt.get("additionalProperties", True)
            for prop, sub in alt.get("properties", {}).items():
                walk(sub, _join(path, prop))
        if facts["type"] == "array":
            walk(alt["items"], f"{path}[]")
        out[path] = facts

    walk(schema, "")
    return out


def _shapes(name: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    return shape(load_schema(name)), shape(msgspec.json.schema(TYPES[name]))


def _project(shp: dict[str, dict[str, Any]], *keys: str) -> dict[str, Any]:
    return {path: {k: facts[k] for k in keys if k in facts} for path, facts in shp.items()}


@pytest.mark.parametrize("name", NAMES)
def test_drift_same_property_names(name: str) -> None:
    published, code = _shapes(name)
    assert sorted(published) == sorted(code)
    assert _project(published, "properties") == _project(code, "properties")


@pytest.mark.parametrize("name", NAMES)
def test_drift_same_required_sets(name: str) -> None:
    published, code = _shapes(name)
    keys = ("required", "additionalProperties")
    assert _project(published, *keys) == _project(code, *keys)


@pytest.mark.parametrize("name", NAMES)
def test_drift_same_enums(name: str) -> None:
    published, code = _shapes(name)
    assert _project(published, "enum") == _project(code, "enum")


@pytest.mark.parametrize("name", NAMES)
def test_drift_same_tag_const(name: str) -> None:
    tag = tag_of(TYPES[name])
    assert load_schema(name)["properties"]["schema"]["const"] == tag
    assert "schema" in load_schema(name)["required"]
    assert _shapes(name)[1]["schema"]["enum"] == [tag]
    assert contracts.CONTRACTS[tag] is TYPES[name]


@pytest.mark.parametrize("name", NAMES)
def test_drift_same_types_bounds_formats_and_defaults(name: str) -> None:
    published, code = _shapes(name)
    keys = ("type", "nullable", "bounds", "default")
    assert _project(published, *keys) == _project(code, *keys)


def test_shape_sees_a_difference() -> None:
    """Guard the normaliser itself: a one-character change of a bound must show."""
    schema = copy.deepcopy(load_schema("report"))
    schema["$defs"]["Location"]["properties"]["lat"]["maximum"] = 91
    assert shape(schema) != shape(msgspec.json.schema(ReportV1))
    schema = copy.deepcopy(load_schema("report"))
    schema["$defs"]["Grade"]["enum"].append("V")
    assert shape(schema) != shape(msgspec.json.schema(ReportV1))


# --- behavioural drift: bounds probed on both validators ------------------------------------

#: A base message per contract with every nested object present, so each bound can be probed.
PROBE_BASES = {
    "report": "report/first-report-township-fire.json",
    # The CAP origin of a translated report: probed on a report that has one.
    "report.cap": "report/cap-update-flood-two-languages.json",
    "cmd-ack": "cmd-ack/ack-with-note.json",
    "cmd-reply": "cmd-reply/ok-acknowledged.json",
    "notification": "notification/first-page-duty-officer.json",
    "alarm": "alarm/roster-gap.json",
    "incident-event": "incident-event/opened.json",
    "rejection": "rejection/schema-violation-lat.json",
    "roster-event": "roster-event/override-created.json",
    "supervision-event": "supervision-event/reminded-overdue.json",
}
_MISSING = object()


def _with(instance: Any, path: str, value: Any) -> Any:
    """A copy of ``instance`` with ``path`` (``a.b``, ``a[]`` = first item) set or removed."""
    result = copy.deepcopy(instance)
    *parents, last = path.split(".")
    node = result
    for part in parents:
        node = node[part[:-2]][0] if part.endswith("[]") else node[part]
    key: str | int = last
    if last.endswith("[]"):
        node, key = node[last[:-2]], 0
    if value is _MISSING:
        del node[key]
    else:
        node[key] = value
    return result


def _probe_values(facts: dict[str, Any]) -> Iterator[tuple[Any, bool]]:
    """Values at and just past each bound, with whether the contract accepts them."""
    bounds = facts["bounds"]
    yield None, facts["nullable"]
    if facts["enum"] is not None:
        yield from ((value, True) for value in facts["enum"])
        yield "not-" + facts["enum"][0], False
    elif facts["type"] == "string" and "format" not in bounds:
        char = "a" if "pattern" in bounds else "中"  # "a" fits every pattern that has lengths
        low, high = bounds.get("minLength", 0), bounds.get("maxLength")
        if "pattern" not in bounds or high is not None:
            yield char * max(low, 1), True
        if low > 0:
            yield char * (low - 1), False
        if high is not None:
            yield char * high, True
            yield char * (high + 1), False
    elif facts["type"] == "string" and bounds["format"] == "date-time":
        yield "2025-03-14T09:20:00+08:00", True
        yield "2025-03-14T09:20:00", False
    elif facts["type"] in ("integer", "number"):
        step = 1 if facts["type"] == "integer" else 0.001
        if "minimum" in bounds:
            yield bounds["minimum"], True
            yield bounds["minimum"] - step, False
        if "maximum" in bounds:
            yield bounds["maximum"], True
            yield bounds["maximum"] + step, False
        if facts["type"] == "integer":
            yield 1.5, False


@pytest.mark.parametrize("name", NAMES)
def test_bounds_get_the_same_verdict_from_schema_and_msgspec(name: str) -> None:
    published = shape(load_schema(name))
    verdicts = []
    for path, facts in published.items():
        if not path:
            continue
        top = path.split(".", 1)[0].removesuffix("[]")
        base = read_json(SAMPLES_DIR / PROBE_BASES.get(f"{name}.{top}", PROBE_BASES[name]))
        probes = list(_probe_values(facts))
        parent_facts = published[path.rsplit(".", 1)[0] if "." in path else ""]
        leaf = path.rsplit(".", 1)[-1]
        # Dropping the tag is the report.missing-schema known gap, tested there.
        if leaf in parent_facts.get("required", []) and path != "schema":
            probes.append((_MISSING, False))
        for value, accepted in probes:
            instance = _with(base, path, value)
            verdicts.append(
                (path, value if value is not _MISSING else "<absent>", accepted)
                + (schema_accepts(name, instance), msgspec_accepts(name, instance))
            )
    wrong = [v for v in verdicts if not v[2] == v[3] == v[4]]
    assert wrong == [], "(path, value, contract says, jsonschema says, msgspec says)"
    assert len(verdicts) > 10


# --- behavioural drift: generated messages --------------------------------------------------

_OFFSETS = [
    dt.UTC,
    dt.timezone(dt.timedelta(hours=8)),
    dt.timezone(-dt.timedelta(hours=9, minutes=30)),
]


def _text(low: int, high: int | None, pattern: str | None) -> st.SearchStrategy[str]:
    if pattern is not None:
        return st.from_regex(pattern, fullmatch=True).filter(
            lambda s: low <= len(s) <= (high if high is not None else len(s))
        )
    options = [st.text(min_size=low, max_size=low + 30 if high is None else min(high, low + 30))]
    if high is not None:
        # Exactly at the bound, in characters outside ASCII and outside the BMP.
        options.append(st.sampled_from(["a", "中", "😀"]).map(lambda c: c * high))
    return st.one_of(options)


def strategy_for(t: mi.Type) -> st.SearchStrategy[Any]:
    """Values msgspec considers valid for ``t``, built from the type's own constraints."""
    if isinstance(t, mi.Metadata):
        return strategy_for(t.type)
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.IntType):
        assert (t.gt, t.lt, t.multiple_of) == (None, None, None), f"extend strategy_for: {t}"
        return st.integers(
            min_value=-(2**63) if t.ge is None else t.ge,
            max_value=2**63 - 1 if t.le is None else t.le,
        )
    if isinstance(t, mi.FloatType):
        assert (t.gt, t.lt, t.multiple_of) == (None, None, None), f"extend strategy_for: {t}"
        return st.floats(min_value=t.ge, max_value=t.le, allow_nan=False, allow_infinity=False)
    if isinstance(t, mi.StrType):
        return _text(t.min_length or 0, t.max_length, t.pattern)
    if isinstance(t, mi.UUIDType):
        return st.uuids()
    if isinstance(t, mi.DateTimeType):
        return st.datetimes(timezones=st.sampled_from(_OFFSETS))
    if isinstance(t, mi.EnumType):
        return st.sampled_from(list(t.cls))
    if isinstance(t, mi.UnionType):
        return st.one_of([strategy_for(member) for member in t.types])
    if isinstance(t, mi.ListType):
        return st.lists(strategy_for(t.item_type), max_size=3)
    if isinstance(t, mi.StructType):
        fields = {f.name: strategy_for(f.type) for f in t.fields}
        return st.builds(t.cls, **fields)
    raise NotImplementedError(f"no strategy for {t!r}; extend strategy_for")


STRATEGIES = {name: strategy_for(mi.type_info(t)) for name, t in TYPES.items()}


@pytest.mark.parametrize("name", NAMES)
@settings(
    max_examples=75,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_messages_built_from_the_types_validate_against_the_schema(
    name: str, data: st.DataObject
) -> None:
    message = data.draw(STRATEGIES[name], label=name)
    encoded = msgspec.json.encode(message)
    assert sorted(map(str, validator(name).iter_errors(json.loads(encoded)))) == []
    assert msgspec.json.decode(encoded, type=TYPES[name]) == message


def test_report_strategy_reaches_nested_objects() -> None:
    """The generated reports are not trivially small: nested objects appear."""
    seen: set[str] = set()

    @settings(max_examples=40, deadline=None, database=None)
    @given(STRATEGIES["report"])
    def collect(report: ReportV1) -> None:
        seen.update(k for k in ("location", "casualties", "commander") if getattr(report, k))

    collect()
    assert seen == {"location", "casualties", "commander"}


# --- AsyncAPI -------------------------------------------------------------------------------

EXPECTED_CHANNELS = {
    "dutywatch.report.{orgPath}": "REPORTS",
    "dutywatch.cap.{orgPath}": "CAP",
    "dutywatch.cmd.ack": None,
    "dutywatch.notify.{personId}": "NOTIFY",
    "dutywatch.event.{orgPath}.{kind}": "EVENTS",
    "dutywatch.event.{orgPath}.roster": "EVENTS",
    "dutywatch.rejected": "REJECTED",
}


@functools.cache
def load_yaml(name: str) -> dict[str, Any]:
    return yaml.safe_load((CONTRACTS_DIR / name).read_text(encoding="utf-8"))


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _check_refs(document_name: str) -> set[str]:
    """Resolve every ``$ref`` of a YAML document; return the files it points at."""
    document = load_yaml(document_name)
    files = set()
    for ref in _refs(document):
        target, _, fragment = ref.partition("#")
        root: Any = document
        if target:
            file = (CONTRACTS_DIR / target).resolve()
            assert file.is_file(), f"{document_name}: $ref {ref!r} names no file"
            assert file.parent == CONTRACTS_DIR, ref
            files.add(file.name)
            root = json.loads(file.read_text(encoding="utf-8"))
        if fragment:
            _pointer(root, "#" + fragment)  # KeyError if it points nowhere
    return files


def _channels() -> dict[str, dict[str, Any]]:
    return load_yaml("asyncapi.yaml")["channels"]


def test_asyncapi_parses_and_lists_every_channel() -> None:
    document = load_yaml("asyncapi.yaml")
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"]
    addresses = {c["address"]: c for c in _channels().values() if c.get("address")}
    assert set(EXPECTED_CHANNELS) <= set(addresses)
    for address, stream in EXPECTED_CHANNELS.items():
        channel = addresses[address]
        assert channel.get("x-jetstream", {}).get("stream") == stream, address
        assert set(re.findall(r"\{(\w+)\}", address)) == set(channel.get("parameters", {}))


def test_asyncapi_refs_resolve_and_cover_every_schema() -> None:
    assert _check_refs("asyncapi.yaml") == {schema_path(name).name for name in NAMES}


def test_asyncapi_messages_carry_the_contract_schemas() -> None:
    messages = load_yaml("asyncapi.yaml")["components"]["messages"]
    tags = {}
    for message in messages.values():
        payload = message["payload"]
        assert payload["schemaFormat"] == SCHEMA_FORMAT
        file = payload["schema"]["$ref"].removeprefix("./")
        tag = json.loads((CONTRACTS_DIR / file).read_text(encoding="utf-8"))
        tags[message["name"]] = tag["properties"]["schema"]["const"]
    assert tags == {tag: tag for tag in contracts.CONTRACTS}


def test_asyncapi_operations_are_from_the_service_point_of_view() -> None:
    document = load_yaml("asyncapi.yaml")
    actions: dict[str, set[str]] = {}
    for operation in document["operations"].values():
        channel_key = operation["channel"]["$ref"].removeprefix("#/channels/")
        channel = document["channels"][channel_key]
        for ref in operation.get("messages", []):
            assert ref["$ref"].startswith(f"#/channels/{channel_key}/messages/"), ref
        actions.setdefault(channel["address"], set()).add(operation["action"])
        if "reply" in operation:
            reply_key = operation["reply"]["channel"]["$ref"].removeprefix("#/channels/")
            reply_message = document["channels"][reply_key]["messages"]
            assert [m["$ref"] for m in reply_message.values()] == [
                "#/components/messages/CommandReply"
            ]
    assert actions == {
        "dutywatch.report.{orgPath}": {"receive"},
        "dutywatch.cap.{orgPath}": {"receive"},
        "dutywatch.cmd.ack": {"receive"},
        # Published by the outbox relay, consumed by the channel worker.
        "dutywatch.notify.{personId}": {"send", "receive"},
        "dutywatch.event.{orgPath}.{kind}": {"send"},
        "dutywatch.event.{orgPath}.roster": {"send"},
        "dutywatch.event.{orgPath}.supervision": {"send"},
        "dutywatch.rejected": {"send"},
    }


def test_asyncapi_event_kinds_match_the_code() -> None:
    kinds = load_yaml("asyncapi.yaml")["components"]["parameters"]["eventKind"]["enum"]
    assert kinds == [kind.value for kind in EventKind]


REPO_DIR = CONTRACTS_DIR.parent
#: ``settings.subject("notify", person_id)`` and ``(self.subject_prefix, "event", ...)``: the
#: literal tokens after the prefix of a subject the code builds.
_SUBJECT_CALL = re.compile(r"""(?:\.subject\(|subject_prefix,)\s*((?:["'][a-z_>]+["']\s*,?\s*)+)""")


def _code_subjects() -> set[tuple[str, ...]]:
    found = set()
    for path in [*(REPO_DIR / "dutywatch").rglob("*.py"), *(REPO_DIR / "handlers").rglob("*.py")]:
        for match in _SUBJECT_CALL.finditer(path.read_text(encoding="utf-8")):
            found.add(tuple(re.findall(r"""["']([a-z_>]+)["']""", match.group(1))))
    return found


def _covers(address: str, tokens: tuple[str, ...]) -> bool:
    """Does the channel ``address`` (after its prefix) start with the literal ``tokens``?"""
    parts = address.split(".")[1:]
    for i, token in enumerate(tokens):
        if token == ">":
            return i < len(parts)
        if i >= len(parts) or not (parts[i] == token or parts[i].startswith("{")):
            return False
    return True


def test_asyncapi_lists_every_subject_the_code_publishes_or_consumes() -> None:
    from dutywatch.bus import stream_specs
    from dutywatch.config import Settings

    addresses = [c["address"] for c in _channels().values() if c.get("address")]
    used = _code_subjects()
    assert {("report",), ("notify",), ("event",), ("rejected",), ("cmd", "ack")} <= used
    for tokens in used:
        assert any(_covers(a, tokens) for a in addresses), f"{tokens} is in no asyncapi channel"
    for address in addresses:
        assert any(_covers(address, t) for t in used), f"nothing in the code uses {address}"
    settings = Settings(database_url="postgresql://unused", nats_url="nats://unused")
    documented: dict[str, set[str]] = {}
    for channel in _channels().values():
        stream = channel.get("x-jetstream", {}).get("stream")
        if stream:
            documented.setdefault(stream, set()).update(channel["x-jetstream"]["subjects"])
    assert {spec.name: set(spec.subjects) for spec in stream_specs(settings)} == documented


# --- OpenAPI --------------------------------------------------------------------------------

#: The duty directory and rosters (dutywatch/web/rosters.py).
ROSTER_OPERATIONS = {
    ("/api/v1/orgs", "post"),
    ("/api/v1/orgs/{path}", "get"),
    ("/api/v1/orgs/{path}", "patch"),
    ("/api/v1/orgs/{path}", "delete"),
    ("/api/v1/people", "get"),
    ("/api/v1/people", "post"),
    ("/api/v1/people/{person}", "get"),
    ("/api/v1/people/{person}", "patch"),
    ("/api/v1/people/{person}", "delete"),
    ("/api/v1/people/{person}/contacts", "get"),
    ("/api/v1/people/{person}/contacts", "post"),
    ("/api/v1/people/{person}/contacts/{id}", "patch"),
    ("/api/v1/people/{person}/contacts/{id}", "delete"),
    ("/api/v1/people/{person}/shifts.ics", "get"),
    ("/api/v1/people/{person}/shifts", "get"),
    ("/api/v1/holiday-calendars", "get"),
    ("/api/v1/holiday-calendars/{calendar}", "get"),
    ("/api/v1/holiday-calendars/{calendar}", "put"),
    ("/api/v1/rosters", "get"),
    ("/api/v1/rosters", "post"),
    ("/api/v1/rosters/{roster}", "get"),
    ("/api/v1/rosters/{roster}", "patch"),
    ("/api/v1/rosters/{roster}", "delete"),
    ("/api/v1/rosters/{roster}.ics", "get"),
    ("/api/v1/rosters/{roster}/shifts", "get"),
    ("/api/v1/rosters/{roster}/audit", "get"),
    *(
        (f"/api/v1/rosters/{{roster}}/{part}", "post")
        for part in ("rotations", "layers", "overrides", "swaps")
    ),
    *(
        (f"/api/v1/rosters/{{roster}}/{part}/{{id}}", method)
        for part in ("rotations", "layers", "overrides")
        for method in ("get", "patch", "delete")
    ),
    ("/api/v1/rosters/{roster}/overrides", "get"),
    ("/api/v1/rosters/{roster}/swaps", "get"),
    ("/api/v1/rosters/{roster}/swaps/{id}", "get"),
    ("/api/v1/rosters/{roster}/swaps/{id}", "delete"),
}
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _operations() -> dict[tuple[str, str], dict[str, Any]]:
    paths = load_yaml("openapi.yaml")["paths"]
    return {
        (path, method): operation
        for path, item in paths.items()
        for method, operation in item.items()
        if method in _METHODS
    }


def _component(name: str) -> dict[str, Any]:
    return load_yaml("openapi.yaml")["components"]["schemas"][name]


def _served(app: Any) -> set[tuple[str, str]]:
    """(path template, method) of every route ``app`` serves, HEAD aside."""
    served = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource else {}
        if "prefix" in info:
            continue  # the console's static files (/console/static/…), not an API
        path = info.get("path") or info.get("formatter", "")
        served.add((re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path), route.method.lower()))
    return served


def test_openapi_parses_and_lists_the_paths() -> None:
    document = load_yaml("openapi.yaml")
    assert document["openapi"].startswith("3.1.")


def test_openapi_documents_every_route_the_app_serves() -> None:
    from dutywatch.clock import ManualClock
    from dutywatch.config import Settings
    from dutywatch.web.app import create_app

    settings = Settings(database_url="postgresql://unused", nats_url="nats://unused")
    app = create_app(settings, ManualClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
    served = _served(app)
    documented = set(_operations())
    for route in app.router.routes():
        pattern = (route.resource.get_info() if route.resource else {}).get("pattern")
        # An unbounded number overflows PostgreSQL's bigint: a 500 instead of a 404.
        assert pattern is None or r"\d+" not in pattern.pattern, pattern.pattern
    assert served - documented == set(), "served but not in contracts/openapi.yaml"
    assert documented - served == set(), "documented but not served"
    assert _check_refs("openapi.yaml") == {"report.v1.schema.json"}


def test_openapi_bearer_auth_on_the_api_and_none_on_probes() -> None:
    document = load_yaml("openapi.yaml")
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for (path, _), operation in _operations().items():
        effective = operation.get("security", document.get("security"))
        if "requestBody" in operation:  # the guard refuses malformed bodies before any handler
            assert "400" in operation["responses"], path
        if path.startswith("/api/v1/"):
            assert effective == [{"bearerAuth": []}], path
            assert "401" in operation["responses"], path
            assert "429" in operation["responses"], path
        elif path == "/console/session" and "requestBody" not in operation:
            assert effective in ([], [{"bearerAuth": []}, {"consoleCookie": []}]), path
        else:
            assert effective == [], path


def test_openapi_report_submission() -> None:
    operation = _operations()[("/api/v1/reports", "post")]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "./report.v1.schema.json"}
    accepted = _component("ReportAccepted")
    assert set(accepted["required"]) == {"report_id", "subject", "stream_seq"}
    for status in ("400", "413", "422"):
        response = operation["responses"][status]["$ref"].rsplit("/", 1)[1]
        content = load_yaml("openapi.yaml")["components"]["responses"][response]["content"]
        assert content["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
    assert set(_component("Problem")["properties"]) == {
        "type",
        "title",
        "status",
        "detail",
        "field",
        "problems",
    }


def _an_incident() -> Incident:
    at = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)
    return Incident(
        id=1,
        org_path="harbin.daoli",
        incident_ref="r",
        state=State.OPEN,
        grade=contracts.Grade.III,
        category=contracts.Category.ACCIDENT,
        title="t",
        status=contracts.ReportStatus.ACTUAL,
        sensitive=False,
        first_report_missing=False,
        occurred_at=at,
        opened_at=at,
        last_report_at=at,
        reports_count=1,
        policy_version="v",
    )


def test_openapi_incident_and_timeline_match_the_code() -> None:
    incident = _component("Incident")
    assert set(incident["properties"]) == set(incident_json(_an_incident()))
    assert _component("IncidentState")["enum"] == [s.value for s in State]
    entry = _component("TimelineEntry")["properties"]
    assert set(entry) == {"seq", "kind", "at", "actor", "source", "body", "prev_hash", "hash"}
    assert entry["kind"]["enum"] == [k.value for k in EntryKind]
    assert entry["source"]["enum"] == [s.value for s in Source]
    timeline = _operations()[("/api/v1/incidents/{id}/timeline", "get")]
    (fmt,) = (p for p in timeline["parameters"] if p["name"] == "format")
    assert fmt["schema"]["enum"] == ["json", "csv"]
    assert set(timeline["responses"]["200"]["content"]) == {"application/json", "text/csv"}


def test_openapi_export_matches_the_code() -> None:
    from dutywatch import exports
    from dutywatch.printing import LANGS

    operation = _operations()[("/api/v1/incidents/{id}/export", "get")]
    parameters = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert parameters["format"]["enum"] == list(exports.FORMATS)
    assert parameters["lang"]["enum"] == list(LANGS)
    assert set(operation["responses"]["200"]["content"]) == set(exports.CONTENT_TYPES.values())


def test_openapi_lists_exactly_the_roster_routes_the_app_serves() -> None:
    from aiohttp import web

    from dutywatch.web import rosters

    app = web.Application()
    rosters.setup(app)
    assert _served(app) == ROSTER_OPERATIONS | {
        ("/api/v1/oncall", "get"),
        ("/api/v1/oncall/overview", "get"),
    }


@pytest.mark.parametrize(
    ("name", "struct"),
    [
        ("Attachment", "dutywatch.incidents.notes:Attachment"),
        ("Receipt", "dutywatch.delivery.receipts:Receipt"),
    ],
)
def test_openapi_request_parts_match_their_msgspec_types(name: str, struct: str) -> None:
    import importlib

    module, _, attr = struct.partition(":")
    info = mi.type_info(getattr(importlib.import_module(module), attr))
    assert isinstance(info, mi.StructType)
    schema = _component(name)
    assert set(schema["properties"]) == {f.name for f in info.fields}
    assert set(schema["required"]) == {f.name for f in info.fields if f.required}
    assert schema["additionalProperties"] is False


def test_openapi_query_parameters() -> None:
    def names(key: tuple[str, str]) -> set[str]:
        return {p["name"] for p in _operations()[key].get("parameters", [])}

    assert names(("/api/v1/incidents", "get")) == {"org", "state", "limit"}
    assert names(("/api/v1/oncall", "get")) == {"org", "at"}


def test_the_package_carries_the_contracts_it_serves() -> None:
    """``dutywatch/_contracts`` is ``contracts/`` (a link here; copied into a wheel by the
    package data patterns), so ``/api/openapi.json`` is the published document."""
    import tomllib

    from dutywatch.contract_files import contract_file, openapi_document

    link = REPO_DIR / "dutywatch" / "_contracts"
    assert link.is_symlink()
    assert link.resolve() == CONTRACTS_DIR
    assert openapi_document() == load_yaml("openapi.yaml")
    patterns = tomllib.loads((REPO_DIR / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]["package-data"]["dutywatch"]
    shipped = {
        path.relative_to(CONTRACTS_DIR)
        for pattern in patterns
        if pattern.startswith("_contracts/")
        for path in CONTRACTS_DIR.glob(pattern.removeprefix("_contracts/"))
    }
    published = {
        path.relative_to(CONTRACTS_DIR)
        for path in CONTRACTS_DIR.rglob("*")
        if path.is_file() and path.suffix in {".json", ".yaml"}
    }
    assert shipped == published
    assert (
        contract_file("report.v1.schema.json").read_bytes()
        == (CONTRACTS_DIR / "report.v1.schema.json").read_bytes()
    )
