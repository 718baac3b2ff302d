"""The console names every closed value the service sends it (timeline kinds, sources,
categories, stages, alert reasons) in both languages: a value added to an enum without a
label would show its code on the board. The browser tests check what is on screen; this
checks the values no test scenario happens to produce."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

import pytest

from dutywatch.contracts import Category, Stage
from dutywatch.escalation.alerts import OpenedReason
from dutywatch.timeline import Source
from dutywatch.timeline.chain import EntryKind

STATIC = Path(__file__).parents[2] / "dutywatch" / "console" / "static"


def keys_in(module: str) -> set[str]:
    return set(re.findall(r'^\s*"([\w.]+)": "', (STATIC / module).read_text(), re.MULTILINE))


def test_every_timeline_kind_has_a_label_in_both_languages() -> None:
    text = (STATIC / "actions.js").read_text()
    table = text[text.index("const KINDS = {") : text.index("};", text.index("const KINDS = {"))]
    labelled = re.findall(r'^  (\w+): \["([^"]+)", "([^"]+)"\]', table, re.MULTILINE)
    assert {kind for kind, _zh, _en in labelled} == {str(k) for k in EntryKind}
    assert all(zh and en and zh != en for _kind, zh, en in labelled)


@pytest.mark.parametrize(
    ("module", "prefix", "values"),
    [
        ("actions.js", "inc.source", Source),
        ("actions.js", "inc.stage", Stage),
        ("board.js", "board.category", Category),
        ("incident.js", "incident.opened_reason", OpenedReason),
    ],
)
def test_every_value_has_a_label(module: str, prefix: str, values: type[StrEnum]) -> None:
    keys = keys_in(module)
    # Each key appears once per language: the zh-CN catalogue, then the English one.
    text = (STATIC / module).read_text()
    for value in values:
        key = f"{prefix}.{value}"
        assert key in keys, key
        assert text.count(f'"{key}":') == 2, f"{key} in one language only"
