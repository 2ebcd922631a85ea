"""NannyML's CBPE on the estimation benchmark's predictions: run in NannyML's own virtualenv.

A standalone script (it imports nothing of driftwarden): benchmarks.nannyml_venv runs it with the
interpreter of a virtualenv holding ``nannyml`` (its pins conflict with driftwarden's). Data
comes and goes as files, never pickles:

    python nannyml_cbpe.py DIR

reads ``DIR/request.json`` (``{"scenarios": [...], "chunk_sizes": [...]}``), ``DIR/reference.csv``
(columns ``score``, ``pred``, ``y``: the raw positive-class score, the decision and the label) and
``DIR/<scenario>.csv`` (``score``, ``pred``), fits ``nannyml.CBPE`` on the reference (NannyML
calibrates the scores itself) per chunk size, and writes ``DIR/nannyml.json``:
``{scenario: {chunk_size: {metric: {"value": [...], "lower": [...], "upper": [...]}}}}``, one
entry per chunk of consecutive predictions, the bounds being NannyML's confidence boundaries.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

METRICS = ("accuracy", "f1")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: nannyml_cbpe.py DIR", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
    pd = importlib.import_module("pandas")
    reference = pd.read_csv(folder / "reference.csv")
    out: dict[str, dict[str, Any]] = {}
    for scenario in request["scenarios"]:
        analysis = pd.read_csv(folder / f"{scenario}.csv")
        out[scenario] = {
            str(size): _estimate(reference, analysis, int(size)) for size in request["chunk_sizes"]
        }
    (folder / "nannyml.json").write_text(json.dumps(out), encoding="utf-8")
    return 0


def _estimate(reference: Any, analysis: Any, chunk_size: int) -> dict[str, dict[str, list[float]]]:
    nml = importlib.import_module("nannyml")
    cbpe = nml.CBPE(
        y_pred_proba="score",
        y_pred="pred",
        y_true="y",
        metrics=list(METRICS),
        chunk_size=chunk_size,
        problem_type="classification_binary",
    )
    cbpe.fit(reference)
    frame = cbpe.estimate(analysis).filter(period="analysis").to_df()
    return {
        metric: {
            "value": [float(v) for v in frame[(metric, "value")]],
            "lower": [float(v) for v in frame[(metric, "lower_confidence_boundary")]],
            "upper": [float(v) for v in frame[(metric, "upper_confidence_boundary")]],
        }
        for metric in METRICS
    }


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
