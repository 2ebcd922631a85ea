"""The demo's world: loan applications (river's Agrawal generator) that change at a known point.

Before the change, approvals follow Agrawal's classification function 0 (approved below 40 and
from 60 years of age). From ``change_at`` on, by scenario:

- ``concept`` (the default): approvals follow function 2 and the applicants earn and borrow more,
  a concept change as well as a covariate shift. The model stays as sure of itself as before, so
  a label-free estimate cannot see this change: only the labels can.
- ``covariate``: the rule stays; the applicants crowd the ages where it flips (within
  ``NEAR_BOUNDARY`` years of 40 and 60, where river's 5% perturbation of the age makes the label
  a coin toss for the model). Only the inputs move, so a calibrated model knows it is less sure
  and the estimate sees the drop before the labels do.

Everything is generated from the seed, so a run is reproducible.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

from river.datasets import synth

__all__ = ["CATEGORICAL", "FEATURES", "SCENARIOS", "Applicant", "LoanWorld", "write_table"]

NUMERIC = ("salary", "commission", "age", "hvalue", "hyears", "loan")
CATEGORICAL = ("elevel", "car", "zipcode")
FEATURES = {**dict.fromkeys(NUMERIC, "numeric"), **dict.fromkeys(CATEGORICAL, "categorical")}
SCENARIOS = ("concept", "covariate")
BOUNDARY_AGES = (40, 60)
NEAR_BOUNDARY = 2  # years; river moves the age by up to 3 (5% of 20..80) after labelling
FAR_KEPT = 0.02  # share of the applicants away from the boundaries kept after a covariate shift


@dataclass(frozen=True, slots=True)
class Applicant:
    features: dict[str, float | str]
    approved: int


def _applicants(function: int, seed: int, count: int, shift: bool) -> list[Applicant]:
    out = []
    generator = synth.Agrawal(classification_function=function, perturbation=0.05, seed=seed)
    for raw, label in generator.take(count):
        features: dict[str, float | str] = {
            name: (str(raw[name]) if name in CATEGORICAL else float(raw[name])) for name in FEATURES
        }
        if shift:
            features["salary"] = float(features["salary"]) * 1.25
            features["loan"] = float(features["loan"]) * 1.5
        out.append(Applicant(features, int(label)))
    return out


def _near_boundaries(seed: int, count: int) -> list[Applicant]:
    """Applicants of function 0 crowding the ages where it flips: a shift of the inputs alone."""
    keep = random.Random(seed)  # noqa: S311 - a reproducible demo, not cryptography
    out: list[Applicant] = []
    while len(out) < count:
        for applicant in _applicants(0, seed + len(out), 4 * count, shift=False):
            age = float(applicant.features["age"])
            near = min(abs(age - b) for b in BOUNDARY_AGES) <= NEAR_BOUNDARY
            if (near or keep.random() < FAR_KEPT) and len(out) < count:
                out.append(applicant)
    return out


class LoanWorld:
    def __init__(self, events: int, change_at: int, seed: int, scenario: str = "concept") -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}: one of {', '.join(SCENARIOS)}")
        self.change_at = change_at
        self.scenario = scenario
        after = max(events - change_at, 0)
        changed = (
            _near_boundaries(seed + 1, after)
            if scenario == "covariate"
            else _applicants(2, seed + 1, after, shift=True)
        )
        self.stream = _applicants(0, seed, change_at, shift=False) + changed

    def training_table(self, rows: int, seed: int) -> list[Applicant]:
        """Applicants of the world before the change, for version 1."""
        return _applicants(0, seed + 2, rows, shift=False)

    def reference_table(self, rows: int, seed: int) -> list[Applicant]:
        """Other applicants of the world before the change: version 1's reference profile and
        calibration (scores of rows it was not trained on, which are not overconfident)."""
        return _applicants(0, seed + 3, rows, shift=False)


def write_table(path: Path, applicants: list[Applicant]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*FEATURES, "label"])
        for applicant in applicants:
            writer.writerow([*(applicant.features[n] for n in FEATURES), applicant.approved])
    return path
