"""The demo's world: loan applications (river's Agrawal generator) that change at a known point.

Before the change, approvals follow Agrawal's classification function 0; from ``change_at`` on
they follow function 2 and the applicants earn and borrow more (a covariate shift as well as a
concept change). Everything is generated from the seed, so a run is reproducible.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from river.datasets import synth

__all__ = ["CATEGORICAL", "FEATURES", "Applicant", "LoanWorld", "write_table"]

NUMERIC = ("salary", "commission", "age", "hvalue", "hyears", "loan")
CATEGORICAL = ("elevel", "car", "zipcode")
FEATURES = {**dict.fromkeys(NUMERIC, "numeric"), **dict.fromkeys(CATEGORICAL, "categorical")}


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


class LoanWorld:
    def __init__(self, events: int, change_at: int, seed: int) -> None:
        self.change_at = change_at
        self.stream = _applicants(0, seed, change_at, shift=False) + _applicants(
            2, seed + 1, max(events - change_at, 0), shift=True
        )

    def training_table(self, rows: int, seed: int) -> list[Applicant]:
        """Applicants of the world before the change, for version 1."""
        return _applicants(0, seed + 2, rows, shift=False)


def write_table(path: Path, applicants: list[Applicant]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*FEATURES, "label"])
        for applicant in applicants:
            writer.writerow([*(applicant.features[n] for n in FEATURES), applicant.approved])
    return path
