"""Generates ``dashboards/driftwarden.json``, driftwarden's Grafana dashboard, from ``panels.yml``.

Run ``python deploy/grafana/generate.py`` after editing ``panels.yml``; with ``--check`` it only
exits 1 when the committed dashboard differs from what it generates. The output is Grafana's
classic dashboard JSON model; tests/deploy/test_grafana.py validates it against the JSON schemas
in ``schema/``, generated from Grafana's own TypeScript types.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["OUTPUT", "PANELS", "PanelSpec", "dashboard", "main", "render"]

Json = dict[str, Any]

HERE = Path(__file__).resolve().parent
PANELS = HERE / "panels.yml"
OUTPUT = HERE / "dashboards" / "driftwarden.json"
SCHEMA_VERSION = 41  # Grafana 12.1 (@grafana/schema 12.1.0), see schema/README.md
DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}
GRID_COLUMNS = 24

_LEGEND: Json = {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True}
_TOOLTIP: Json = {"mode": "multi", "sort": "desc"}
_OPTIONS: dict[str, Json] = {
    "timeseries": {"legend": _LEGEND, "tooltip": _TOOLTIP},
    "state-timeline": {
        "alignValue": "left",
        "legend": _LEGEND,
        "mergeValues": True,
        "rowHeight": 0.8,
        "showValue": "never",
        "tooltip": _TOOLTIP,
    },
    "stat": {
        "colorMode": "background",
        "graphMode": "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "percentChangeColorMode": "standard",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "showPercentChange": False,
        "textMode": "value_and_name",
        "wideLayout": True,
    },
    "table": {"cellHeight": "sm", "frameIndex": 0, "showHeader": True},
}
_CUSTOM: dict[str, Json] = {
    "timeseries": {
        "drawStyle": "line",
        "fillOpacity": 10,
        "lineWidth": 1,
        "showPoints": "auto",
        "spanNulls": False,
    },
    "state-timeline": {"fillOpacity": 80, "lineWidth": 0},
    "table": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False},
}
_BARS: Json = {"drawStyle": "bars", "fillOpacity": 80}
_TABLE_BOOKKEEPING = ("Time", "__name__", "instance", "job")


@dataclass(frozen=True, kw_only=True)
class PanelSpec:
    """One entry of ``panels.yml`` (its header comment explains the keys)."""

    type: str
    title: str
    description: str
    queries: Sequence[Mapping[str, str]]
    width: int
    height: int = 8
    unit: str = "short"
    decimals: int | None = None
    thresholds: Sequence[tuple[float | None, str]] = ((None, "green"),)
    states: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    bars: bool = False
    dashed: str | None = None
    hide_columns: Sequence[str] = ()
    custom: Json = field(default_factory=dict)
    options: Json = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in _OPTIONS:
            raise ValueError(f"panel {self.title!r}: unknown type {self.type!r}")
        if not self.queries or any(set(q) - {"expr", "legend"} for q in self.queries):
            raise ValueError(f"panel {self.title!r}: queries need expr (and optionally legend)")

    def to_json(self, panel_id: int, x: int, y: int) -> Json:
        instant = self.type == "table"
        return {
            "datasource": DATASOURCE,
            "description": self.description,
            "fieldConfig": {"defaults": self._defaults(), "overrides": self._overrides()},
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "id": panel_id,
            "options": {**_OPTIONS[self.type], **self.options},
            "targets": [
                _target(query, chr(ord("A") + i), instant=instant)
                for i, query in enumerate(self.queries)
            ],
            "title": self.title,
            "transformations": self._transformations(),
            "type": self.type,
        }

    def _defaults(self) -> Json:
        defaults: Json = {
            "color": {"mode": "thresholds" if self.type == "stat" else "palette-classic"},
            "mappings": [_value_mapping(self.states)] if self.states else [],
            "thresholds": {
                "mode": "absolute",
                "steps": [{"color": color, "value": value} for value, color in self.thresholds],
            },
            "unit": self.unit,
        }
        if self.decimals is not None:
            defaults["decimals"] = self.decimals
        if self.type in _CUSTOM:
            defaults["custom"] = {
                **_CUSTOM[self.type],
                **(_BARS if self.bars else {}),
                **self.custom,
            }
        return defaults

    def _overrides(self) -> list[Json]:
        if self.dashed is None:
            return []
        dashed = [
            {"id": "custom.lineStyle", "value": {"dash": [10, 10], "fill": "dash"}},
            {"id": "custom.fillOpacity", "value": 0},
        ]
        return [{"matcher": {"id": "byRegexp", "options": self.dashed}, "properties": dashed}]

    def _transformations(self) -> list[Json]:
        if self.type != "table":
            return []
        excluded = dict.fromkeys((*_TABLE_BOOKKEEPING, *self.hide_columns), True)
        return [{"id": "organize", "options": {"excludeByName": excluded, "renameByName": {}}}]


def _target(query: Mapping[str, str], ref: str, *, instant: bool) -> Json:
    """A Prometheus target: a range query, or an instant table for table panels."""
    return {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": query["expr"],
        "format": "table" if instant else "time_series",
        "instant": instant,
        "legendFormat": query.get("legend", "__auto"),
        "range": not instant,
        "refId": ref,
    }


def _value_mapping(states: Mapping[str, tuple[str, str]]) -> Json:
    options = {
        value: {"color": color, "index": index, "text": text}
        for index, (value, (text, color)) in enumerate(states.items())
    }
    return {"options": options, "type": "value"}


def _row(title: str, panel_id: int, y: int) -> Json:
    return {
        "collapsed": False,
        "gridPos": {"h": 1, "w": GRID_COLUMNS, "x": 0, "y": y},
        "id": panel_id,
        "panels": [],
        "title": title,
        "type": "row",
    }


def _layout(rows: Sequence[tuple[str, Sequence[PanelSpec]]]) -> Iterator[Json]:
    """Each row's title, then its panels left to right, wrapping at the grid's width."""
    panel_id, y = 0, 0
    for title, panels in rows:
        panel_id += 1
        yield _row(title, panel_id, y)
        y, x, line = y + 1, 0, 0
        for panel in panels:
            if x + panel.width > GRID_COLUMNS:
                y, x, line = y + line, 0, 0
            panel_id += 1
            yield panel.to_json(panel_id, x, y)
            x, line = x + panel.width, max(line, panel.height)
        y += line


def load_rows(path: Path = PANELS) -> list[tuple[str, list[PanelSpec]]]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        (row["title"], [PanelSpec(**panel) for panel in row["panels"]]) for row in document["rows"]
    ]


def _variables() -> list[Json]:
    model_query = "label_values(driftwarden_pending, model)"
    return [
        {
            "hide": 0,
            "includeAll": False,
            "label": "Data source",
            "multi": False,
            "name": "datasource",
            "options": [],
            "query": "prometheus",
            "refresh": 1,
            "regex": "",
            "type": "datasource",
        },
        {
            "allValue": ".*",
            "current": {"text": ["All"], "value": ["$__all"]},
            "datasource": DATASOURCE,
            "hide": 0,
            "includeAll": True,
            "label": "Model",
            "multi": True,
            "name": "model",
            "options": [],
            "query": model_query,
            "refresh": 2,
            "regex": "",
            "sort": 1,
            "type": "query",
        },
    ]


def dashboard(path: Path = PANELS) -> Json:
    builtin_annotations = {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
    return {
        "annotations": {"list": [builtin_annotations]},
        "description": "driftwarden: stream, performance, drift and retraining of the monitored "
        "models.",
        "editable": True,
        "graphTooltip": 1,
        "links": [],
        "panels": list(_layout(load_rows(path))),
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["driftwarden", "mlops"],
        "templating": {"list": _variables()},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "utc",
        "title": "driftwarden",
        "uid": "driftwarden",
        "version": 1,
    }


def render(path: Path = PANELS) -> str:
    return json.dumps(dashboard(path), indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate dashboards/driftwarden.json.")
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT} is out of date: run python {__file__}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
