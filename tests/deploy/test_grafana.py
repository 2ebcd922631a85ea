"""The Grafana dashboard and provisioning: generated, schema-valid, true to the metrics contract.

The schemas in deploy/grafana/schema/ are generated from Grafana's own TypeScript types (see the
README there); validation runs offline with ``jsonschema``. Whether every panel's query returns
data from a real Prometheus is tests/deploy/test_observability.py's job.
"""

from __future__ import annotations

import copy
import json
import re
import runpy
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "driftwarden.json"
SCHEMAS = GRAFANA / "schema"
PANEL_SCHEMAS = {
    "timeseries": "panel-timeseries",
    "stat": "panel-stat",
    "table": "panel-table",
    "state-timeline": "panel-state-timeline",
}
# driftwarden_correct_total: shown through driftwarden_performance (accuracy) instead.
# driftwarden_versions_evicted_total: a safeguard against a flood of versions, not a signal to
# watch; a version that stops having state shows as its performance series ending.
NOT_ON_THE_DASHBOARD = {
    "driftwarden_correct_total",
    "driftwarden_versions_evicted_total",
    "driftwarden_misrouted_records_total",  # an alert (InputsMisrouted), not a trend
    "driftwarden_undeclared_features_dropped_total",  # a config signal, logged at the source
    "driftwarden_retrain_requests_rejected_total",  # hostile or broken producers: logged per record
}
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}")
GRAFANA_VARIABLES = {"__rate_interval", "__interval", "__range"}
LABELS_ADDED_BY_PROMETHEUS = {"job", "instance"}


@cache
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


@cache
def validator(name: str) -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def targets() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in panels():
        for target in panel["targets"]:
            yield panel, target


def schema_errors(name: str, instance: object) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator(name).iter_errors(instance)
    ]


def panel_config(panel: dict[str, Any]) -> dict[str, Any]:
    """What a panel plugin's schema describes: ``options`` and the custom field config."""
    config: dict[str, Any] = {"options": panel["options"]}
    custom = panel["fieldConfig"]["defaults"].get("custom")
    if custom is not None:
        config["custom"] = custom
    return config


def test_the_committed_dashboard_is_what_generate_py_makes() -> None:
    generator = runpy.run_path(str(GRAFANA / "generate.py"), run_name="grafana_generate")
    assert generator["render"]() == DASHBOARD.read_text(encoding="utf-8"), (
        "deploy/grafana/dashboards/driftwarden.json is stale: run python deploy/grafana/generate.py"
    )


def test_dashboard_validates_against_grafanas_schema() -> None:
    assert schema_errors("dashboard", dashboard()) == []


@pytest.mark.parametrize("panel", panels(), ids=lambda p: p["title"])
def test_panel_options_and_queries_validate_against_grafanas_schemas(
    panel: dict[str, Any],
) -> None:
    assert panel["type"] in PANEL_SCHEMAS, f"no vendored schema for panel type {panel['type']}"
    assert schema_errors(PANEL_SCHEMAS[panel["type"]], panel_config(panel)) == []
    assert panel["targets"], "a panel without queries"
    for target in panel["targets"]:
        assert schema_errors("prometheus-query", target) == []


def test_the_schemas_reject_what_grafana_would_not_understand() -> None:
    """The validation is not vacuous: unknown keys and wrong values fail."""
    broken = copy.deepcopy(dashboard())
    broken["panels"][1]["gridPos"]["width"] = 3
    broken["templating"]["list"][0]["type"] = "dropdown"
    del broken["schemaVersion"]
    assert len(schema_errors("dashboard", broken)) == 3
    timeseries = next(p for p in panels() if p["type"] == "timeseries")
    config = copy.deepcopy(panel_config(timeseries))
    config["options"]["legend"]["placement"] = "top"
    config["custom"]["drawStyle"] = "area"
    assert len(schema_errors("panel-timeseries", config)) == 2
    target = copy.deepcopy(timeseries["targets"][0])
    target["query"] = target.pop("expr")
    assert schema_errors("prometheus-query", target)


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    everything = dashboard()["panels"]
    ids = [p["id"] for p in everything]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in everything:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_queries_use_the_datasource_and_model_variables() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    model = variables["model"]
    assert model["type"] == "query" and model["multi"] and model["includeAll"]
    assert model["query"] == "label_values(driftwarden_pending, model)"
    assert model["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    for panel, target in targets():
        assert panel["datasource"] == target["datasource"] == model["datasource"], panel["title"]
        used = {a or b for a, b in VARIABLE.findall(target["expr"])}
        assert used <= set(variables) | GRAFANA_VARIABLES, (panel["title"], used)


def documented_metrics() -> dict[str, set[str]]:
    """Metric name -> labels, from the metrics reference (docs/reference/metrics.md)."""
    page = (ROOT / "docs" / "reference" / "metrics.md").read_text(encoding="utf-8")
    metrics: dict[str, set[str]] = {}
    for line in page.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 4 or not cells[1].startswith("`driftwarden_"):
            continue
        name, kind = cells[1].strip("`"), cells[2]
        labels = set(re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", cells[3])))
        names = [name]
        if kind == "histogram":
            names = [f"{name}_bucket", f"{name}_sum", f"{name}_count"]
            metrics.setdefault(f"{name}_bucket", set()).add("le")
        for each in names:
            metrics.setdefault(each, set()).update(labels)
    assert len(metrics) > 20, "metrics reference tables not found"
    return metrics


def test_queries_use_only_documented_metrics_and_labels() -> None:
    metrics = documented_metrics()
    shown: set[str] = set()
    for panel, target in targets():
        expr = target["expr"]
        names = set(re.findall(r"\bdriftwarden_\w+", expr))
        assert names <= set(metrics), (panel["title"], names - set(metrics))
        shown |= names
        allowed = set().union(*(metrics[n] for n in names)) | LABELS_ADDED_BY_PROMETHEUS | {"le"}
        if not names:  # up / ALERTS
            continue
        selectors = re.findall(r"\{([^}]*)\}", VARIABLE.sub("x", expr))
        matched = {m for s in selectors for m in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", s)}
        grouped = {
            label.strip()
            for group in re.findall(r"\b(?:by|on|ignoring|without)\s*\(([^)]*)\)", expr)
            for label in group.split(",")
        }
        if any("model" in metrics[n] for n in names):
            for selector in re.findall(r"driftwarden_\w+(\{[^}]*\})?", expr):
                assert 'model=~"$model"' in selector, (panel["title"], "not filtered by $model")
        legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target["legendFormat"]))
        for kind, labels in (("matched", matched), ("grouped", grouped), ("legend", legend)):
            assert labels <= allowed, (panel["title"], kind, labels - allowed)
    documented = {re.sub(r"_(bucket|sum|count)$", "", n) for n in metrics}
    on_dashboard = {re.sub(r"_(bucket|sum|count)$", "", n) for n in shown}
    assert documented - NOT_ON_THE_DASHBOARD == on_dashboard


def test_job_names_are_those_of_prometheus_yml() -> None:
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in prometheus["scrape_configs"]}
    for panel, target in targets():
        used = set(re.findall(r'job=~?"([^"]+)"', target["expr"]))
        for value in used:
            assert set(value.split("|")) <= jobs, (panel["title"], value)


def test_provisioning_loads_the_dashboard_from_prometheus() -> None:
    provisioning = GRAFANA / "provisioning"
    [source] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert source["isDefault"] is True
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    # $__rate_interval is built on the data source's scrape interval.
    assert source["jsonData"]["timeInterval"] == prometheus["global"]["scrape_interval"]
    [provider] = yaml.safe_load((provisioning / "dashboards" / "driftwarden.yml").read_text())[
        "providers"
    ]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert DASHBOARD.parent.name == "dashboards" and dashboard()["uid"] == "driftwarden"
