"""The monitor's label-free estimate as the demo watches it: read from ``/metrics`` like Prometheus.

:class:`EstimateProbe` scrapes the monitor's endpoint while the stream replays and keeps, per
scrape, how many predictions of the model the monitor had applied, the estimated accuracy of its
newest version with the band (``driftwarden_estimated_performance`` and ``_lower`` / ``_upper``)
and the realized rolling accuracy from the labels joined so far (``driftwarden_performance``).
:func:`first_below` finds when each first fell below the retrain policy's threshold, in
predictions applied: the estimate knows as soon as the predictions arrive, the realized metric
only once their labels have.
"""

from __future__ import annotations

import math
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["EstimateProbe", "EstimateSample", "first_below"]

ESTIMATED = "driftwarden_estimated_performance"
REALIZED = "driftwarden_performance"
PREDICTIONS = "driftwarden_predictions_total"
JOINED = "driftwarden_joined_total"
SCRAPE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class EstimateSample:
    """One scrape: predictions applied, and the newest version's accuracy (None: not yet) with
    the labelled examples its realized value stands on."""

    predictions: int
    joined: int
    estimated: float | None
    lower: float | None
    upper: float | None
    realized: float | None


@dataclass
class EstimateProbe:
    """Scrapes ``url`` for the accuracy of ``model``; call :meth:`sample` now and then."""

    url: str
    model: str
    samples: list[EstimateSample] = field(default_factory=list)

    def sample(self) -> None:
        """Scrape once; a scrape that changes nothing is not kept."""
        with urllib.request.urlopen(self.url, timeout=SCRAPE_TIMEOUT_S) as response:  # noqa: S310 - the monitor's loopback URL
            text = response.read().decode("utf-8")
        sample = parse_sample(text, self.model)
        if not self.samples or sample != self.samples[-1]:
            self.samples.append(sample)


def parse_sample(text: str, model: str) -> EstimateSample:
    """The :class:`EstimateSample` of one ``/metrics`` page.

    >>> page = '''
    ... driftwarden_predictions_total{model="loan",version="1",partition="0"} 900.0
    ... driftwarden_predictions_total{model="loan",version="2",partition="0"} 100.0
    ... driftwarden_estimated_performance{model="loan",version="1",metric="accuracy"} 0.7
    ... driftwarden_estimated_performance_lower{model="loan",version="1",metric="accuracy"} 0.66
    ... driftwarden_estimated_performance_upper{model="loan",version="1",metric="accuracy"} 0.74
    ... driftwarden_performance{model="loan",version="1",metric="accuracy",window="rolling"} 0.9
    ... driftwarden_joined_total{model="loan",version="1",partition="0"} 400.0
    ... '''
    >>> parse_sample(page, "loan")
    EstimateSample(predictions=1000, joined=400, estimated=0.7, lower=0.66, upper=0.74,
                   realized=0.9)
    """
    values: dict[str, dict[str, float]] = {}
    joined: dict[str, float] = {}
    predictions = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels = sample.name, sample.labels
            if labels.get("model") != model:
                continue
            if name == PREDICTIONS:
                predictions += sample.value
            elif name == JOINED:
                version = labels.get("version", "")
                joined[version] = joined.get(version, 0.0) + sample.value
            elif labels.get("metric") == "accuracy" and _wanted(name, labels):
                values.setdefault(name, {})[labels["version"]] = sample.value
    newest = _newest(values.get(ESTIMATED, {}))
    labelled = _newest(values.get(REALIZED, {}))
    return EstimateSample(
        predictions=int(predictions),
        joined=int(joined.get(labelled or "", 0.0)),
        estimated=_at(values.get(ESTIMATED), newest),
        lower=_at(values.get(f"{ESTIMATED}_lower"), newest),
        upper=_at(values.get(f"{ESTIMATED}_upper"), newest),
        realized=_at(values.get(REALIZED), labelled),
    )


def first_below(
    samples: Iterable[EstimateSample],
    threshold: float,
    value: Callable[[EstimateSample], float | None],
    minimum: Callable[[EstimateSample], bool],
) -> int | None:
    """Predictions applied at the first sample with enough data (``minimum``) whose ``value`` is
    below ``threshold``."""
    for sample in samples:
        current = value(sample)
        if minimum(sample) and current is not None and current < threshold:
            return sample.predictions
    return None


def _wanted(name: str, labels: Mapping[str, str]) -> bool:
    if name == REALIZED:
        return labels.get("window") == "rolling"
    return name in (ESTIMATED, f"{ESTIMATED}_lower", f"{ESTIMATED}_upper")


def _newest(by_version: Mapping[str, float]) -> str | None:
    """The highest version with a defined value (versions are numbered 1, 2, ...)."""
    defined = [v for v, x in by_version.items() if not math.isnan(x)]
    return max(defined, key=lambda v: (len(v), v), default=None)


def _at(by_version: Mapping[str, float] | None, version: str | None) -> float | None:
    if by_version is None or version is None or version not in by_version:
        return None
    value = by_version[version]
    return None if math.isnan(value) else round(value, 4)
