"""deploy/grafana/dutywatch.json charts exactly the metrics the code exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

from dutywatch import metrics

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "dutywatch.json"
DOCS = Path(__file__).parents[2] / "docs" / "OPERATIONS.md"


def exported() -> set[str]:
    assert metrics.HTTP_REFUSALS  # the module's metrics are registered on import
    return {family.name for family in REGISTRY.collect() if family.name.startswith("dutywatch_")}


def test_every_panel_uses_known_metrics_and_every_metric_has_a_panel() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "dutywatch"
    used: set[str] = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            for name in re.findall(r"dutywatch_[a-z_]+", target["expr"]):
                used.add(re.sub(r"_(bucket|count|sum|total)$", "", name))
    known = {re.sub(r"_total$", "", name) for name in exported()}
    assert used - known == set(), "panels chart metrics the code does not export"
    assert known - used == set(), "metrics without a panel"


def test_operations_explains_every_metric() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name in exported():  # counters' family names leave out the `_total` suffix
        assert f"`{name}`" in text or f"`{name}{{" in text or f"`{name}_total" in text, name
