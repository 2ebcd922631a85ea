"""NannyML's CBPE as a baseline, in its own virtualenv, on the estimation benchmark's predictions.

``nannyml`` 0.13.1 pins versions that conflict with driftwarden's, so it lives in a virtualenv of
its own, created on first use under ``$XDG_CACHE_HOME/driftwarden`` (``~/.cache/driftwarden``) by
pip from the package index (``nannyml==0.13.1`` and ``statsmodels``, which it imports without
declaring it). benchmarks/nannyml_cbpe.py runs in it as a subprocess; predictions go to it as
CSV files and its estimates come back as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.estimation_scenarios import Scored, Stream

NANNYML = "nannyml==0.13.1"
UNDECLARED = ("statsmodels",)
SCRIPT = Path(__file__).with_name("nannyml_cbpe.py")
INSTALL_TIMEOUT_S = 1800
RUN_TIMEOUT_S = 1800

Estimates = dict[str, dict[int, dict[str, dict[str, list[float]]]]]


def default_venv() -> Path:
    """Where the virtualenv is kept between runs."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "driftwarden" / "nannyml-0.13.1"


def ensure_venv(venv: Path) -> Path:
    """The interpreter of ``venv``, creating it and installing NannyML if not done yet."""
    python = venv / "bin" / "python"
    done = venv / ".driftwarden-installed"
    if done.exists():
        return python
    print(f"installing {NANNYML} into {venv} (once; a few minutes)", flush=True)
    _run([sys.executable, "-m", "venv", str(venv)], INSTALL_TIMEOUT_S)
    _run([str(python), "-m", "pip", "install", "-q", NANNYML, *UNDECLARED], INSTALL_TIMEOUT_S)
    done.write_text(f"{NANNYML} {' '.join(UNDECLARED)}\n", encoding="utf-8")
    return python


def nannyml_estimates(
    streams: Sequence[Stream], chunk_sizes: Sequence[int], venv: Path
) -> Estimates:
    """NannyML's per-chunk accuracy and F1 estimates with bounds, per scenario and chunk size."""
    python = ensure_venv(venv)
    with tempfile.TemporaryDirectory(prefix="bench-nannyml-") as tmp:
        folder = Path(tmp)
        request = {"scenarios": [s.name for s in streams], "chunk_sizes": list(chunk_sizes)}
        (folder / "request.json").write_text(json.dumps(request), encoding="utf-8")
        _write_csv(folder / "reference.csv", streams[0].reference, with_labels=True)
        for stream in streams:
            _write_csv(folder / f"{stream.name}.csv", stream.production, with_labels=False)
        _run([str(python), str(SCRIPT), str(folder)], RUN_TIMEOUT_S)
        raw: dict[str, dict[str, Any]] = json.loads(
            (folder / "nannyml.json").read_text(encoding="utf-8")
        )
    return {
        scenario: {int(size): metrics for size, metrics in by_size.items()}
        for scenario, by_size in raw.items()
    }


def _write_csv(path: Path, scored: Scored, *, with_labels: bool) -> None:
    columns = [scored.score, scored.predicted.astype(int)]
    header = "score,pred"
    if with_labels:
        columns.append(scored.actual.astype(int))
        header += ",y"
    fmt = ["%.17g", "%d", "%d"][: len(columns)]
    np.savetxt(path, np.column_stack(columns), fmt=fmt, delimiter=",", header=header, comments="")


def _run(command: list[str], timeout_s: float) -> None:
    done = subprocess.run(  # noqa: S603 - a fixed command line of our own
        command, capture_output=True, text=True, check=False, timeout=timeout_s
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-4000:]}"
        )
