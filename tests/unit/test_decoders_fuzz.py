"""Every decoder of outside input, fed anything: it returns a value or raises the typed
rejection (a :class:`~dutywatch.errors.RejectedInput`), never anything else — a crash in a
decoder would fail a whole intake batch or answer 500."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dutywatch import contracts, errors
from dutywatch.web import app as web_app
from dutywatch.web import record, rosters

SAMPLES = Path(__file__).parents[2] / "contracts" / "samples"
VALID = [p.read_bytes() for p in sorted((SAMPLES / "report").glob("*.json"))]
VALID += [p.read_bytes() for p in sorted((SAMPLES / "cmd-ack").glob("*.json"))]

BODY_TYPES: list[type[Any]] = [
    record.NoteBody,
    record.InstructionBody,
    record.ReceiptsBody,
    web_app.SkipLevelBody,
    web_app.ForwardBody,
    *(
        value
        for value in vars(rosters).values()
        if isinstance(value, type)
        and issubclass(value, msgspec.Struct)
        and value.__name__.endswith(("In", "Patch"))
    ),
]
DECODERS: dict[str, Callable[[bytes], object]] = {
    "report": contracts.decode_report,
    "ack": contracts.decode_ack,
    **{t.__name__: (lambda data, t=t: contracts.decode_as(t, data)) for t in BODY_TYPES},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _mutate(data: bytes, position: int, insert: bytes, drop: int) -> bytes:
    position %= len(data) + 1
    return data[:position] + insert + data[position + drop :]


payloads = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(
        _mutate,
        st.sampled_from(VALID),
        st.integers(0, 4000),
        st.sampled_from([b"\xff", b"\xc3", b"[" * 40, b"\\u0000", b'"', b"{", b"", b"\x00"]),
        st.integers(0, 3),
    ),
    st.builds(
        lambda doc, key, value: json.dumps({**json.loads(doc), key: value}).encode(),
        st.sampled_from(VALID),
        st.sampled_from(["title", "grade", "org", "location", "casualties", "reporter", "x"]),
        json_values,
    ),
)


def test_every_http_body_type_is_covered() -> None:
    assert len(BODY_TYPES) >= 20, [t.__name__ for t in BODY_TYPES]


@pytest.mark.parametrize("name", sorted(DECODERS))
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=payloads)
def test_a_decoder_returns_a_value_or_the_typed_rejection(name: str, data: bytes) -> None:
    refusal: errors.RejectedInput | None = None
    try:
        DECODERS[name](data)
    except errors.RejectedInput as exc:
        refusal = exc
    if refusal is not None:
        assert refusal.message
        assert 400 <= refusal.http_status < 500
