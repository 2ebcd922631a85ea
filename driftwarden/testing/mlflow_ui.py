"""The MLflow UI's runs table of a driftwarden experiment, with driftwarden's columns shown.

MLflow's UI opens a new experiment on its GenAI overview, and its runs table shows no param,
metric or tag column until someone picks them. :func:`runs_view_url` saves a *shared view* the
way the UI's Share button does (the experiment tag ``mlflow.sharedViewState.driftwarden``, the
view as JSON) with a column for every param and metric of the experiment's runs and for their
``driftwarden.*`` tags, and returns the URL of the runs table in that view. :func:`log_sample_runs`
logs runs shaped like driftwarden's retrain runs (:data:`SAMPLE_RUNS`) for tests and the docs::

    experiment_id = log_sample_runs(client, "driftwarden/loan")
    url = runs_view_url(client, server.uri, experiment_id)
    html = render_dom(url)  # driftwarden.testing.browser
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from driftwarden.core.mlflow_names import TAG_PREFIX

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "OUTCOME_TAG",
    "SAMPLE_RUNS",
    "SHARED_VIEW_KEY",
    "SHARED_VIEW_TAG",
    "SampleRun",
    "log_sample_runs",
    "runs_view_url",
    "view_columns",
]

SHARED_VIEW_KEY = "driftwarden"
SHARED_VIEW_TAG = f"mlflow.sharedViewState.{SHARED_VIEW_KEY}"
OUTCOME_TAG = f"{TAG_PREFIX}outcome"
_MAX_RUNS = 200  # the runs whose keys make the columns
_CHARACTER_PX = 8  # column widths: about this many pixels per character of the longest text
_PADDING_PX = 40
_MAX_COLUMN_PX = 360


@dataclass(frozen=True)
class SampleRun:
    """A retrain run as MLflow shows it: what was trained, how both models scored, the outcome."""

    name: str
    estimator: str
    trigger: str
    challenger_accuracy: float
    champion_accuracy: float
    outcome: str  # promoted | rejected

    @property
    def params(self) -> dict[str, str]:
        return {"estimator": self.estimator, "trigger": self.trigger}

    @property
    def metrics(self) -> dict[str, float]:
        return {
            "challenger_accuracy": self.challenger_accuracy,
            "champion_accuracy": self.champion_accuracy,
        }


SAMPLE_RUNS = (
    SampleRun(
        "retrain-1", "sklearn.linear_model.LogisticRegression", "drift", 0.874, 0.861, "promoted"
    ),
    SampleRun(
        "retrain-2", "sklearn.ensemble.RandomForestClassifier", "schedule", 0.852, 0.874, "rejected"
    ),
    SampleRun(
        "retrain-3",
        "sklearn.ensemble.HistGradientBoostingClassifier",
        "drift",
        0.889,
        0.874,
        "promoted",
    ),
)


def log_sample_runs(
    client: MlflowClient, experiment: str, runs: Sequence[SampleRun] = SAMPLE_RUNS
) -> str:
    """Creates ``experiment`` with ``runs``, finished, in order; its experiment id."""
    experiment_id = client.create_experiment(experiment)
    for sample in runs:
        run = client.create_run(
            experiment_id, run_name=sample.name, tags={OUTCOME_TAG: sample.outcome}
        )
        run_id = run.info.run_id
        for key, value in sample.params.items():
            client.log_param(run_id, key, value)
        for key, number in sample.metrics.items():
            client.log_metric(run_id, key, number)
        client.set_terminated(run_id)
    return experiment_id


def view_columns(runs: Iterable[Mapping[str, Mapping[str, object]]]) -> dict[str, int]:
    """The UI's column key and width (pixels) of every param and metric and ``driftwarden.*``
    tag of ``runs`` (each ``{"params": ..., "metrics": ..., "tags": ...}``), in that order.

    >>> view_columns([{"params": {"estimator": "sklearn.svm.SVC"}, "metrics": {"accuracy": 0.9},
    ...                "tags": {"driftwarden.outcome": "promoted", "mlflow.user": "ci"}}])
    {'params.`estimator`': 160, 'metrics.`accuracy`': 104, 'tags.`driftwarden.outcome`': 192}
    """
    texts: dict[str, list[str]] = {}
    for run in runs:
        for kind in ("params", "metrics", "tags"):
            for name, value in run.get(kind, {}).items():
                if kind != "tags" or name.startswith(TAG_PREFIX):
                    texts.setdefault(f"{kind}.`{name}`", [name]).append(str(value))
    order = {"params": 0, "metrics": 1, "tags": 2}
    return {
        key: min(_MAX_COLUMN_PX, _PADDING_PX + _CHARACTER_PX * max(map(len, texts[key])))
        for key in sorted(texts, key=lambda key: (order[key.split(".", 1)[0]], key))
    }


def runs_view_url(client: MlflowClient, tracking_uri: str, experiment_id: str) -> str:
    """Saves the shared view of the experiment's runs; the URL of its runs table in that view.

    The columns are those of the experiment's latest 200 runs, so call it after logging them.
    """
    runs = client.search_runs([experiment_id], max_results=_MAX_RUNS)
    columns = view_columns(
        {"params": run.data.params, "metrics": run.data.metrics, "tags": run.data.tags}
        for run in runs
    )
    view = {"selectedColumns": list(columns), "columnOrder": list(columns), "columnWidths": columns}
    client.set_experiment_tag(experiment_id, SHARED_VIEW_TAG, json.dumps(view))
    return (
        f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs"
        f"?viewStateShareKey={SHARED_VIEW_KEY}&workflowType=machine_learning"
    )
