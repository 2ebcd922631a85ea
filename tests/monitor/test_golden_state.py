"""Golden state: a fixed stream of binary, multiclass and regression models through
:class:`StreamProcessor` gives, byte for byte, the state encoding, the Prometheus exposition and
the output records stored under ``tests/monitor/fixtures/``.

The state encoding (driftwarden.monitor.codec), the metrics and the wire format are contracts: a
refactoring must not change them by one byte. After an intended change to one of them, rewrite
the fixtures with ``DRIFTWARDEN_WRITE_GOLDEN=1 pytest tests/monitor/test_golden_state.py`` and
review their diff.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from driftwarden.config import MonitorConfig, parse_config
from driftwarden.core.profile import ReferenceProfile, build_profile
from driftwarden.monitor.drift.factory import drift_factory
from driftwarden.monitor.exporter import MetricsSnapshot, MonitorCollector
from driftwarden.monitor.processor import OutputRecord, StreamProcessor
from driftwarden.monitor.state import MonitorState
from tests.monitor.harness import Record

FIXTURES = Path(__file__).parent / "fixtures"
WRITE = os.environ.get("DRIFTWARDEN_WRITE_GOLDEN") == "1"
START = 1_795_600_000.0
PARTITIONS = 2
BATCH = 97  # not a divisor of anything below: batches cut joins and drift windows anywhere
SPECIES = ("setosa", "versicolor", "virginica", "hybrid")  # max_classes 3: one is "other"
MODELS = ("churn", "species", "price")
REQUEST_ID = re.compile(r'("request_id":")[0-9a-f]{32}(?=")')
OUTPUTS = ("examples", "dead_letters", "events", "requests")


def golden_config() -> MonitorConfig:
    features = {"size": "numeric", "colour": "categorical"}
    drift = {"window": 60, "every": 20, "concept": {"detector": "PageHinkley"}}
    return parse_config(
        {
            "topics": {"predictions": "g.predictions", "labels": "g.labels"},
            "models": [
                {
                    "name": "churn",
                    "task": "binary",
                    "positive_label": 1,
                    "features": features,
                    "label_ttl": "10m",
                    "window": 40,
                    "max_pending": 150,
                    "future_tolerance": None,
                    "drift": drift,
                    # Scores unrelated to the labels: estimates diverge from the realized values.
                    "estimation": {"window": 30, "divergence_windows": 2},
                    "retrain": {
                        "when": {
                            "performance_below": {
                                "metric": "accuracy",
                                "value": 0.9,
                                "min_examples": 50,
                            },
                            "drift": {"kinds": ["data", "concept"]},
                        },
                        "cooldown": "5m",
                    },
                },
                {
                    "name": "species",
                    "task": "multiclass",
                    "features": features,
                    "window": 30,
                    "max_classes": 3,
                    "future_tolerance": None,
                    "drift": drift,
                    "retrain": {
                        "when": {"performance_below": {"metric": "macro_f1", "value": 0.95}},
                        "cooldown": "10m",
                    },
                },
                {
                    "name": "price",
                    "task": "regression",
                    "features": features,
                    "window": 25,
                    "max_versions": 1,
                    "future_tolerance": None,
                    "drift": {**drift, "concept": {"detector": "ADWIN"}},
                },
            ],
        },
        source="golden",
    )


def _example(rng: random.Random, model: str, i: int, shifted: bool) -> tuple[dict, Any, Any]:
    """Features, prediction and label of event ``i`` of ``model``."""
    size = round(rng.gauss(12 if shifted else 10, 3), 3)
    features: dict[str, Any] = {"size": size, "colour": rng.choice(["red", "green", "blue"])}
    if i % 17 == 0:
        features["size"] = None  # a missing value
    if model == "churn":
        prediction: Any = int(size > 10)
        label: Any = prediction if rng.random() < 0.8 else 1 - prediction
    elif model == "species":
        prediction = SPECIES[int(size) % 4]
        label = prediction if rng.random() < 0.7 else rng.choice(SPECIES)
    else:
        prediction = round(size * 3 + rng.gauss(0, 1), 4)
        label = round(prediction + rng.gauss(0, 2 if shifted else 1), 4)
    return features, prediction, label


def _events(count: int, seed: int, shift_at: int) -> Iterator[tuple[str, bytes, dict]]:
    """``(topic, key, document)`` in publication order: predictions one a second, each label
    5 s to 11 min later (some after the 10 min TTL of churn), every ninth never."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    due: list[tuple[float, int, bytes, dict]] = []
    for i in range(count):
        ts = START + i
        while due and due[0][0] <= ts:
            _, _, key, doc = due.pop(0)
            yield "labels", key, doc
        model = MODELS[i % 3]
        version = "2" if i > count * 2 // 3 and model != "species" else "1"
        features, prediction, label = _example(rng, model, i, i >= shift_at)
        pid = f"{model[0]}-{i:05d}"
        doc: dict[str, Any] = {
            "schema": 1,
            "prediction_id": pid,
            "model": model,
            "model_version": version,
            "timestamp": ts,
            "features": features,
            "prediction": prediction,
        }
        if model == "churn" and i % 5:
            score = min(max(rng.gauss(0.3 + len(features["colour"]) / 10, 0.2), 0.0), 1.0)
            doc["scores"] = {"0": round(1 - score, 4), "1": round(score, 4)}
        yield "predictions", pid.encode(), doc
        if i % 9 == 4:
            continue
        label_ts = ts + rng.uniform(5, 660)
        label_doc = {"schema": 1, "prediction_id": pid, "model": model, "label": label}
        due.append((label_ts, i, pid.encode(), {**label_doc, "timestamp": label_ts}))
        due.sort(key=lambda d: (d[0], d[1]))
    for _, _, key, doc in due:
        yield "labels", key, doc


def golden_records(count: int = 1800, seed: int = 11) -> list[Record]:
    """The golden stream as consumed records, on two partitions by key, with two bad records."""
    config = golden_config()
    topics = {"predictions": config.topics.predictions, "labels": config.topics.labels}
    offsets: dict[tuple[str, int], int] = {}
    records = []
    for n, (kind, key, doc) in enumerate(_events(count, seed, shift_at=count // 2)):
        topic, partition = topics[kind], zlib.crc32(key) % PARTITIONS
        value = orjson.dumps(doc)
        if n == 301:
            value = orjson.dumps({**doc, "model": "unknown"})
        elif n == 733:
            value = b"{not json"
        offset = offsets[(topic, partition)] = offsets.get((topic, partition), -1) + 1
        records.append(Record(topic, partition, offset, key, value))
    return records


def golden_profiles() -> dict[str, ReferenceProfile]:
    """Reference profiles of each model, from the unshifted stream of another seed."""
    rows: dict[bytes, dict[str, Any]] = {}
    for kind, key, doc in _events(1500, seed=3, shift_at=1500):
        row = rows.setdefault(key, {"model": doc["model"]})
        if kind == "predictions":
            row.update(doc["features"], prediction=doc["prediction"])
        else:
            row["label"] = doc["label"]
    tasks = {"churn": "binary", "species": "multiclass", "price": "regression"}
    profiles = {}
    for model, task in tasks.items():
        mine = [r for r in rows.values() if r["model"] == model and "label" in r]
        columns = {n: [r[n] for r in mine] for n in ("size", "colour", "prediction", "label")}
        types = {"size": "numeric", "colour": "categorical"}
        profile = build_profile(
            model, columns, types, prediction="prediction", label="label", task=task
        )
        profiles[model] = dataclasses.replace(profile, created_at="2026-11-25T00:00:00Z")
    return profiles


def _output(record: OutputRecord) -> list[Any]:
    """The record as text; a retrain request's random id as ``<request id>``."""
    key = None if record.key is None else record.key.decode()
    value = (
        None if record.value is None else REQUEST_ID.sub(r"\1<request id>", record.value.decode())
    )
    return [key, value, [[name, data.decode()] for name, data in record.headers]]


def golden_run() -> dict[str, Any]:
    """State document, exposition lines and outputs of the golden stream."""
    config = golden_config()
    profiles = golden_profiles()

    def lookup(model: str, version: str) -> ReferenceProfile | None:
        return profiles[model] if version == "1" else None

    records = golden_records()
    processor = StreamProcessor(config, MonitorState(), PARTITIONS, profiles=lookup)
    outputs: dict[str, list[Any]] = {name: [] for name in OUTPUTS}
    for start in range(0, len(records), BATCH):
        out = processor.process(records[start : start + BATCH])
        for name, produced in outputs.items():
            produced += [_output(r) for r in getattr(out, name)]
    # The joined examples, 1500 of them, by count, digest and the first few in full.
    examples = outputs.pop("examples")
    digest = hashlib.sha256(orjson.dumps(examples)).hexdigest()
    outputs["examples"] = [len(examples), digest, examples[:5]]
    collector = MonitorCollector()
    collector.snapshot = MetricsSnapshot.of(processor.state, list(MODELS), {}, None)
    registry = CollectorRegistry()
    registry.register(collector)
    return {
        "state": processor.state.to_state(),
        "metrics": generate_latest(registry).decode().splitlines(),
        "outputs": outputs,
    }


@pytest.fixture(scope="module")
def run() -> dict[str, Any]:
    result = golden_run()
    if WRITE:
        FIXTURES.mkdir(exist_ok=True)
        for name, part in result.items():
            (FIXTURES / f"golden_{name}.json").write_bytes(
                orjson.dumps(part, option=orjson.OPT_INDENT_2) + b"\n"
            )
    return result


def _fixture(name: str) -> Any:
    return orjson.loads((FIXTURES / f"golden_{name}.json").read_bytes())


def test_the_state_encoding_is_the_golden_one_byte_for_byte(run: dict[str, Any]) -> None:
    assert orjson.dumps(run["state"]) == orjson.dumps(_fixture("state"))


def test_the_golden_state_decodes_to_itself() -> None:
    golden = _fixture("state")
    profiles = golden_profiles()
    config = golden_config()
    factory = drift_factory(config, lambda m, v: profiles[m] if v == "1" else None)
    restored = MonitorState.from_state(golden, factory)
    assert orjson.dumps(restored.to_state()) == orjson.dumps(golden)


def _samples(lines: list[str]) -> tuple[list[str], list[float]]:
    """Help, type and series lines exactly; sample values apart (see below)."""
    names = [line if line.startswith("#") else line.rsplit(" ", 1)[0] for line in lines]
    return names, [float(line.rsplit(" ", 1)[1]) for line in lines if not line.startswith("#")]


def test_the_exported_metrics_are_the_golden_ones(run: dict[str, Any]) -> None:
    names, values = _samples(run["metrics"])
    golden_names, golden_values = _samples(_fixture("metrics"))
    assert names == golden_names
    # River's MacroF1 sums over a set of classes, in an order that follows string hashing.
    assert values == pytest.approx(golden_values, rel=1e-12, nan_ok=True)


def test_the_output_records_are_the_golden_ones(run: dict[str, Any]) -> None:
    assert run["outputs"] == _fixture("outputs")


def test_the_golden_stream_covers_every_task_and_output(run: dict[str, Any]) -> None:
    """The fixtures hold what they are meant to guard: state of each task, alarms, requests."""
    tasks = {perf[2]["task"] for perf in run["state"]["performance"]}
    assert tasks == {"binary", "multiclass", "regression"}
    assert all(run["outputs"][name] for name in OUTPUTS)
    assert run["outputs"]["examples"][0] > 1000
    assert any(drift[2] is not None for drift in run["state"]["drift"])
    assert any('metric="roc_auc"' in line for line in run["metrics"])
