from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pa_parquet  # type: ignore[import-untyped]
import pytest

from driftwarden.contracts.errors import MalformedExample
from driftwarden.retrain.dataset import (
    BASE_VERSION,
    Example,
    TrainingSet,
    build_training_set,
    canonical_sha256,
    parse_example,
    read_base_table,
    time_split,
)
from driftwarden.retrain.errors import TrainingError


def record(prediction_id: object = "p-1", **overrides: Any) -> bytes:
    doc = {
        "schema": 1,
        "prediction_id": prediction_id,
        "model": "churn",
        "model_version": "3",
        "features": {"tenure": 1.5, "plan": "pro", "active": True, "seats": None},
        "prediction": 1,
        "scores": {"0": 0.2, "1": 0.8},
        "label": 0,
        "prediction_timestamp": 1_795_662_000.5,
        "label_timestamp": 1_795_669_800,
    }
    doc.update(overrides)
    return orjson.dumps(doc)


def example(prediction_id: str, timestamp: float, label: object = 1) -> Example:
    return Example(
        features={"x": timestamp},
        label=label,  # type: ignore[arg-type]
        prediction_timestamp=timestamp,
        model_version="1",
        prediction_id=prediction_id,
    )


def test_parse_example_reads_the_monitor_contract() -> None:
    records = [record(), record("p-2", label=True, model_version=4, prediction_timestamp=7)]
    first, second = (parse_example(r) for r in records)
    assert first == Example(
        features={"tenure": 1.5, "plan": "pro", "active": True, "seats": None},
        label=0,
        prediction_timestamp=1_795_662_000.5,
        model_version="3",
        prediction_id="p-1",
    )
    assert (second.label, second.model_version, second.prediction_timestamp) == (True, "4", 7.0)
    assert isinstance(second.prediction_timestamp, float)


@pytest.mark.parametrize(
    ("bad", "reason", "message"),
    [
        (b"{not json", "json", "not JSON"),
        (b"[1, 2]", "schema", "expected a JSON object"),
        (record(schema=2), "schema", "unsupported schema 2"),
        (record(label=None), "field", "missing field 'label'"),
        (record(features=[1.0]), "field", "field 'features' has unexpected type list"),
        (record(prediction_timestamp=True), "field", "'prediction_timestamp' has unexpected"),
        (record(prediction_id=7), "field", "'prediction_id' has unexpected type int"),
    ],
)
def test_a_malformed_record_is_refused_with_its_reason(
    bad: bytes, reason: str, message: str
) -> None:
    with pytest.raises(MalformedExample, match=message) as raised:
        parse_example(bad)
    assert raised.value.reason == reason


def test_training_set_puts_base_first_then_production_by_time_and_id() -> None:
    base = [example("base-0", 1.0), example("base-1", 0.0), example("base-2", 0.0)]
    production = [example("b", 20.0), example("c", 10.0), example("a", 20.0)]
    training_set = build_training_set(base, production, {"topic": "examples"})
    ids = [e.prediction_id for e in training_set.examples]
    assert ids == ["base-1", "base-2", "base-0", "c", "a", "b"]
    assert training_set.lineage == {
        "topic": "examples",
        "base_examples": 3,
        "production_examples": 3,
        "duplicates_dropped": 0,
    }


def test_a_replayed_prediction_counts_once() -> None:
    production = [example("a", 1.0), example("b", 2.0), example("a", 1.0)]
    training_set = build_training_set([], production, {})
    assert [e.prediction_id for e in training_set.examples] == ["a", "b"]
    assert training_set.lineage["duplicates_dropped"] == 1


def test_canonical_hash_does_not_depend_on_input_order() -> None:
    production = [example(f"p-{i}", float(i // 4), label=i % 3) for i in range(40)]
    production.append(example("p-7", 1.0, label=2))  # a replay that disagrees with the original
    expected = canonical_sha256(build_training_set([], production, {}))
    shuffler = random.Random(5)
    for _ in range(20):
        shuffler.shuffle(production)
        assert canonical_sha256(build_training_set([], production, {"run": 2})) == expected


def test_canonical_hash_changes_with_the_data() -> None:
    examples = (example("a", 1.0), example("b", 2.0))
    relabeled = (examples[0], example("b", 2.0, label=0))
    reordered = (examples[1], examples[0])
    hashes = {
        canonical_sha256(TrainingSet(examples=data, lineage={}))
        for data in (examples, relabeled, reordered)
    }
    assert len(hashes) == 3


@pytest.mark.parametrize(
    ("size", "fraction", "expected"), [(10, 0.2, 2), (11, 0.2, 3), (2, 0.9, 1)]
)
def test_time_split_holds_out_the_most_recent_examples(
    size: int, fraction: float, expected: int
) -> None:
    examples = tuple(example(f"p-{i:02}", float(i)) for i in range(size))
    train, holdout = time_split(TrainingSet(examples=examples, lineage={}), fraction)
    assert train + holdout == examples
    assert len(holdout) == expected
    assert max(e.prediction_timestamp for e in train) < holdout[0].prediction_timestamp


@pytest.mark.parametrize(("size", "fraction"), [(1, 0.5), (10, 0.0), (10, 1.0)])
def test_time_split_refuses_what_cannot_be_split(size: int, fraction: float) -> None:
    examples = tuple(example(f"p-{i}", float(i)) for i in range(size))
    with pytest.raises(TrainingError):
        time_split(TrainingSet(examples=examples, lineage={}), fraction)


CSV = "tenure,plan,active,churned\n1.5,pro,true,1\n,free,false,0\n2.0,,true,1\n"


def write_parquet(path: Path) -> None:
    table = pa.table(
        {
            "tenure": [1.5, None, 2.0],
            "plan": ["pro", "free", None],
            "active": [True, False, True],
            "churned": [1, 0, 1],
        }
    )
    pa_parquet.write_table(table, path)


def test_csv_and_parquet_base_tables_read_the_same(tmp_path: Path) -> None:
    csv_path, parquet_path = tmp_path / "base.csv", tmp_path / "base.parquet"
    csv_path.write_text(CSV)
    write_parquet(parquet_path)
    from_csv, csv_sha = read_base_table(csv_path, "churned")
    from_parquet, parquet_sha = read_base_table(parquet_path, "churned")
    assert from_csv == from_parquet
    assert csv_sha == hashlib.sha256(csv_path.read_bytes()).hexdigest()
    assert parquet_sha == hashlib.sha256(parquet_path.read_bytes()).hexdigest()
    assert [e.features for e in from_csv] == [
        {"tenure": 1.5, "plan": "pro", "active": True},
        {"tenure": None, "plan": "free", "active": False},
        {"tenure": 2.0, "plan": None, "active": True},
    ]
    assert [e.label for e in from_csv] == [1, 0, 1]
    assert [e.prediction_timestamp for e in from_csv] == [0.0, 1.0, 2.0]
    assert {e.model_version for e in from_csv} == {BASE_VERSION}
    assert [e.prediction_id for e in from_csv] == ["base-0", "base-1", "base-2"]


def test_a_timestamp_column_times_the_rows(tmp_path: Path) -> None:
    numeric, dated = tmp_path / "numeric.csv", tmp_path / "dated.csv"
    numeric.write_text("x,timestamp,y\n1,1795662000,0\n2,1795662060.5,1\n")
    dated.write_text("x,timestamp,y\n1,2026-11-26T03:00:00Z,0\n2,2026-11-26T03:01:00.5Z,1\n")
    for path in (numeric, dated):
        examples, _ = read_base_table(path, "y")
        assert [e.prediction_timestamp for e in examples] == [1795662000.0, 1795662060.5]
        assert [e.features for e in examples] == [{"x": 1}, {"x": 2}]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("base.csv", "x,y\n1,0\n", "no label column 'churned'"),
        ("base.csv", "x,churned\n1,0\n2,\n", "row 1 has no 'churned'"),
        ("base.csv", "x,timestamp,churned\n1,,0\n", "row 0 has timestamp None"),
        ("base.json", "{}", "unsupported file type"),
    ],
)
def test_unusable_base_tables_are_refused(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(TrainingError, match=message):
        read_base_table(path, "churned")
