"""What tracking a retrain run in MLflow costs: one run untracked vs tracked, same data.

Starts an embedded Tansu broker and a local MLflow server (``mlflow server`` on a loopback port,
SQLite and local artifacts), puts ``--examples`` joined examples on the examples topic next to
a 1,500-row base table, and runs the loop's model (a HistGradientBoostingClassifier) as the
foreground ``retrain run`` does, alternately without and with MLflow tracking, each on an empty
registry (so every run trains, registers and promotes a first version). After one untimed
warm-up of each (imports, the experiment's creation), prints the median of ``--repeat`` runs of
each, the overhead (seconds and ratio), and what one run costs when the server is down.

    python -m benchmarks.retrain_run [--examples 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import orjson

from driftwarden.config import parse_config
from driftwarden.contracts.requests import RetrainRequest
from driftwarden.core.mlflow_settings import MlflowSettings
from driftwarden.retrain.run import RetrainJob, RunOutcome
from driftwarden.retrain.settings import RetrainSettings
from driftwarden.testing import TansuBroker, free_port, produce, resolve_binary
from driftwarden.testing.mlflow_server import MlflowServer
from tests.retrain.test_retrain_loop import loop_config, world


def prepare(broker: TansuBroker, root: Path, examples: int) -> RetrainSettings:
    """The loop's config, with ``examples`` joined examples of ``churn`` on its topic."""
    config = loop_config(broker, lambda prefix="topic": f"{prefix}-{uuid.uuid4().hex[:8]}", root)
    rows = world(examples, seed=3, changed=False)
    values = [
        orjson.dumps(
            {
                "schema": 1,
                "prediction_id": f"e-{i}",
                "model": "churn",
                "model_version": "0",
                "features": {k: row[k] for k in ("x1", "x2", "plan")},
                "label": row["label"],
                "prediction_timestamp": 1_795_600_000.0 + i,
            }
        )
        for i, row in enumerate(rows)
    ]
    produce(broker.bootstrap, [(config["topics"]["examples"], b"churn", v) for v in values])
    return RetrainSettings.from_config(parse_config(config))


def timed_run(
    settings: RetrainSettings, registry: Path, *, promote: bool = True
) -> tuple[float, RunOutcome]:
    """Seconds of one run on the empty registry ``registry`` (which must promote, if
    ``promote``)."""
    job = RetrainJob(dataclasses.replace(settings, registry=registry), lambda event: None)
    request = RetrainRequest.new("churn", None, "manual", timestamp=time.time())
    start = time.perf_counter()
    outcome = job.run(request)
    seconds = time.perf_counter() - start
    if promote and outcome.outcome != "promoted":
        raise SystemExit(f"the benchmark run ended {outcome.outcome}: {outcome.error}")
    return seconds, outcome


def spread(seconds: list[float]) -> str:
    """The fastest and slowest of the runs: how far apart they are says how noisy it was."""
    return f"{min(seconds):.2f}-{max(seconds):.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-retrain-") as tmp,
        TansuBroker(binary=resolve_binary()) as broker,
        MlflowServer(Path(tmp) / "mlflow") as server,
    ):
        root = Path(tmp)
        untracked = prepare(broker, root, args.examples)
        tracking = MlflowSettings(server.uri, experiment_prefix="bench/")
        tracked = dataclasses.replace(untracked, mlflow=tracking)
        registries = (root / f"registry-{i}" for i in range(2 * args.repeat + 3))
        timed_run(untracked, next(registries))  # warm-up: imports, caches
        timed_run(tracked, next(registries))  # warm-up: mlflow's import, the experiment
        plain, with_mlflow = [], []
        for _ in range(args.repeat):  # alternated, so a slow moment hits both
            plain.append(timed_run(untracked, next(registries))[0])
            seconds, outcome = timed_run(tracked, next(registries))
            if outcome.tracking_failed:
                raise SystemExit("tracking failed against the local server; see the log")
            with_mlflow.append(seconds)
        down = dataclasses.replace(
            untracked, mlflow=MlflowSettings(f"http://127.0.0.1:{free_port()}")
        )
        outage, outcome = timed_run(down, next(registries), promote=False)
    base, tracked_s = statistics.median(plain), statistics.median(with_mlflow)
    print(f"retrain run, {args.examples} examples + 1500 base rows, median of {args.repeat}:")
    print(f"  untracked                {base:7.2f} s  (runs {spread(plain)})")
    print(f"  tracked in MLflow        {tracked_s:7.2f} s  (runs {spread(with_mlflow)})")
    print(f"  overhead                 {tracked_s - base:+7.2f} s  (ratio {tracked_s / base:.2f}x)")
    print(
        f"  MLflow down (1 run)      {outage:7.2f} s  (outcome {outcome.outcome}: the registry "
        "is MLflow, so the run fails fast and says where)"
    )


if __name__ == "__main__":
    main()
