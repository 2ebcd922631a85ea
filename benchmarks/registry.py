"""Registry backends: what a registration, a promotion and a load cost on the filesystem and on
MLflow.

Method. A local MLflow server (:class:`~driftwarden.testing.mlflow_server.MlflowServer`: SQLite
backend store, local artifacts, loopback) is started once. The estimator is the pipeline a run
registers: :func:`~driftwarden.retrain.features.make_pipeline` around a
``HistGradientBoostingClassifier`` (60 iterations) fitted on ``--rows`` rows of three features.
Each backend first registers one warm-up version (MLflow's first log in a process resolves its
package requirements once, ~5 s, a per-process cost that is reported separately), then
``--repeat`` times: registers a version (with a profile and a card), promotes it to production
(archiving the previous one, re-rendering nothing: the registry call only) and loads it (download,
SHA-256 and HMAC check, skops load with the exact trust list). The report gives each operation's
median in milliseconds per backend and the MLflow/filesystem ratio. Exits 0.

    python -m benchmarks.registry [--repeat 5] [--rows 2000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier

from driftwarden.core.mlflow_settings import MlflowSettings
from driftwarden.retrain.features import make_pipeline
from driftwarden.retrain.mlflow_registry import MlflowRegistry
from driftwarden.retrain.registry import ModelRegistry
from driftwarden.retrain.registry_backend import RegistryBackend
from driftwarden.retrain.versions import Stage
from driftwarden.testing.mlflow_server import MlflowServer

KEY = b"benchmark-registry-key-0123456789"
OPERATIONS = ("register", "promote", "load")


def fitted(rows: int) -> Any:
    """The pipeline a retrain run registers, on ``rows`` seeded rows."""
    rng = random.Random(0)  # noqa: S311 - data, not secrets
    data: list[dict[str, Any]] = [
        {"x1": rng.gauss(0, 1), "x2": rng.gauss(0, 1), "plan": rng.choice(["free", "pro", "team"])}
        for _ in range(rows)
    ]
    labels = [int(row["x1"] + (row["plan"] == "pro") > 0.5) for row in data]
    return make_pipeline(HistGradientBoostingClassifier(max_iter=60, random_state=0)).fit(
        data, labels
    )


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(registry: RegistryBackend, estimator: Any, repeat: int) -> dict[str, Any]:
    """Warm-up seconds, and the per-operation seconds of ``repeat`` rounds."""
    model = f"bench-{uuid.uuid4().hex[:8]}"
    profile = {"schema": 1, "model": model, "columns": {}}
    warm_up = timed(lambda: registry.register(model, estimator, {}, profile, "# card"))
    times: dict[str, list[float]] = {name: [] for name in OPERATIONS}
    for _ in range(repeat):
        started = time.perf_counter()
        version = registry.register(model, estimator, {}, profile, "# card").version
        times["register"].append(time.perf_counter() - started)
        started = time.perf_counter()
        registry.set_stage(model, version, Stage.PRODUCTION, "bench", "bench")
        times["promote"].append(time.perf_counter() - started)
        started = time.perf_counter()
        registry.load_artifact(model, version)
        times["load"].append(time.perf_counter() - started)
    return {"warm_up": warm_up, **{k: statistics.median(v) for k, v in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    estimator = fitted(args.rows)
    exact = frozenset(sio.get_untrusted_types(data=sio.dumps(estimator)))  # this pipeline's types

    def trusted(model: str) -> frozenset[str]:
        return exact

    with tempfile.TemporaryDirectory() as tmp, MlflowServer(Path(tmp) / "mlflow") as server:
        results = {
            "filesystem": measure(
                ModelRegistry(Path(tmp) / "fs", key=KEY, trusted_types=trusted),
                estimator,
                args.repeat,
            ),
            "mlflow": measure(
                MlflowRegistry(
                    MlflowSettings(server.uri), Path(tmp) / "ml", key=KEY, trusted_types=trusted
                ),
                estimator,
                args.repeat,
            ),
        }
    fs, ml = results["filesystem"], results["mlflow"]
    print(f"median of {args.repeat}, ms   filesystem      mlflow   mlflow/filesystem")
    for name in OPERATIONS:
        print(
            f"{name:<20}{fs[name] * 1e3:>12.1f}{ml[name] * 1e3:>12.1f}{ml[name] / fs[name]:>18.1f}"
        )
    print(
        f"first registration in the process: filesystem {fs['warm_up']:.2f} s, "
        f"mlflow {ml['warm_up']:.2f} s"
    )


if __name__ == "__main__":
    main()
