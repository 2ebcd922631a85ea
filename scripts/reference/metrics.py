"""docs/reference/metrics.md from the metric catalogues of the monitor, the worker and both.

Each catalogue is a tuple of :class:`~driftwarden.core.metric_spec.MetricSpec` named ``METRICS``;
the page lists every metric with its exported name (counters with ``_total``), type, labels and
help.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from typing import Protocol

from scripts.reference.markdown import code, generated_notice, one_line, table

__all__ = ["CATALOGUES", "MetricLike", "exported_name", "load_catalogues", "render_metrics"]

# Section title -> module holding the catalogue ``METRICS``.
CATALOGUES: dict[str, str] = {
    "Monitor": "driftwarden.monitor.metrics",
    "Retrain worker": "driftwarden.retrain.metrics",
    "Both services": "driftwarden.core.metrics",
}

_INTRO = """\
Metric names and labels are a contract: the Prometheus rules, the Grafana dashboard and your own
queries rely on them. What the series mean in operation (when they appear, which are checkpointed,
the HTTP endpoints) is described in [Observability](../observability.md#metrics).
"""


class MetricLike(Protocol):
    """What the page reads of a ``MetricSpec``."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def help(self) -> str: ...
    @property
    def labels(self) -> tuple[str, ...]: ...


def exported_name(metric: MetricLike) -> str:
    """The name Prometheus scrapes: a counter's gets ``_total``."""
    return f"{metric.name}_total" if metric.kind == "counter" else metric.name


def load_catalogues(
    modules: dict[str, str] = CATALOGUES,
) -> dict[str, Sequence[MetricLike]] | None:
    """Every catalogue by section title (from ``modules``: title -> module), or ``None`` while
    any of them does not exist yet."""
    found: dict[str, Sequence[MetricLike]] = {}
    for title, module_name in modules.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return None
        metrics = getattr(module, "METRICS", None)
        if metrics is None:
            return None
        found[title] = metrics
    return found


def _rows(metrics: Iterable[MetricLike]) -> list[list[str]]:
    return [
        [
            code(exported_name(m)),
            m.kind,
            ", ".join(code(label) for label in m.labels),
            one_line(m.help),
        ]
        for m in sorted(metrics, key=exported_name)
    ]


def render_metrics(catalogues: dict[str, Sequence[MetricLike]]) -> str:
    """The whole page from the catalogues, by section title.

    >>> from types import SimpleNamespace as Spec
    >>> page = render_metrics(
    ...     {"Monitor": [Spec(name="driftwarden_pending", kind="gauge", help="Waiting.",
    ...                       labels=("model", "kind"))]}
    ... )
    >>> page.splitlines()[-1]
    '| `driftwarden_pending` | gauge | `model`, `kind` | Waiting. |'
    """
    parts = [generated_notice("the metric catalogues"), "# Metrics reference\n", _INTRO]
    for title, metrics in catalogues.items():
        parts.append(f"## {title}\n")
        parts.append(table(["Metric", "Type", "Labels", "Meaning"], _rows(metrics)) + "\n")
    return "\n".join(parts)
