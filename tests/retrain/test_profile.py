from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pa_parquet
import pytest

from driftwarden.core.errors import ProfileError
from driftwarden.core.profile import (
    CategoricalProfile,
    Column,
    NumericProfile,
    build_profile,
    category_key,
)
from driftwarden.core.profile_build import build_profile_from_file, read_table
from driftwarden.core.profile_json import load_profile, save_profile


def training_columns(n: int = 2_000, seed: int = 3) -> dict[str, list[Any]]:
    rng = np.random.default_rng(seed)
    tenure = rng.gamma(2.0, 12.0, n).round(3).tolist()
    for i in rng.choice(n, n // 10, replace=False):
        tenure[i] = None
    plan = rng.choice(["free", "pro", "team"], n, p=[0.6, 0.3, 0.1]).tolist()
    plan[::50] = [None] * len(plan[::50])
    churned = (rng.random(n) < 0.3).astype(int).tolist()
    flips = rng.random(n) < 0.2
    predicted = [1 - y if flip else y for y, flip in zip(churned, flips, strict=True)]
    seats = rng.integers(1, 6, n).tolist()
    return {"tenure": tenure, "seats": seats, "plan": plan, "churned": churned, "pred": predicted}


def test_continuous_column_gets_equal_frequency_bins() -> None:
    values = np.random.default_rng(7).normal(50.0, 10.0, 20_000)
    profile = NumericProfile.from_values(values)
    assert len(profile.edges) == 19
    assert profile.frequencies == (0.05,) * 20
    assert np.bincount(profile.bin_indices(values)).tolist() == [1000] * 20
    assert (profile.count, profile.missing_rate) == (20_000, 0.0)
    assert (profile.mean, profile.std) == (float(values.mean()), float(values.std()))
    assert (profile.min, profile.max) == (float(values.min()), float(values.max()))


def test_discrete_column_gets_deduplicated_edges() -> None:
    values = np.random.default_rng(1).permutation([0] * 700 + [1] * 200 + [2] * 100)
    profile = NumericProfile.from_values(values.tolist())
    assert profile.edges == (1.0, 2.0)
    assert profile.frequencies == (0.7, 0.2, 0.1)
    probes = np.array([-1.0, 0.0, 0.5, 1.0, 2.0, 9.0])
    assert profile.bin_indices(probes).tolist() == [0, 0, 0, 1, 2, 2]


def test_missing_infinite_and_non_number_values_count_as_missing() -> None:
    values = [1.0, None, math.nan, "7", "abc", True, 3, math.inf, 4.5, 2]
    profile = build_profile("m", {"x": values}, {"x": "numeric"}).features["x"]
    assert isinstance(profile, NumericProfile)
    assert (profile.count, profile.missing_rate) == (4, 0.6)
    assert (profile.mean, profile.min, profile.max) == (2.625, 1.0, 4.5)


def test_categorical_missing_values() -> None:
    profile = build_profile("m", {"c": ["a", None, math.nan, "a"]}).features["c"]
    assert isinstance(profile, CategoricalProfile)
    assert (profile.count, profile.missing_rate) == (2, 0.5)
    assert profile.frequencies == (1.0, 0.0)


def test_top_k_categories_and_other() -> None:
    values = ["e"] + ["d"] * 2 + ["c"] * 3 + ["b"] * 3 + ["a"] * 5 + [None] * 2
    profile = build_profile("m", {"c": values}, top_k=2).features["c"]
    assert isinstance(profile, CategoricalProfile)
    assert profile.categories == ("a", "b")
    assert profile.frequencies == (5 / 14, 3 / 14, 6 / 14)
    assert (profile.count, profile.missing_rate) == (14, 0.125)
    assert profile.bin_indices(["b", "a", "c", "zzz"]).tolist() == [1, 0, 2, 2]


@pytest.mark.parametrize(
    ("value", "key"),
    [
        (True, "true"),
        (False, "false"),
        (1, "1"),
        (1.0, "1"),
        (-3.0, "-3"),
        (2.5, "2.5"),
        ("pro", "pro"),
    ],
)
def test_category_key(value: object, key: str) -> None:
    assert category_key(value) == key


def test_categorical_features_use_category_keys() -> None:
    profile = build_profile("m", {"c": [1, 1.0, "1", True, 2.0]}).features["c"]
    assert isinstance(profile, CategoricalProfile)
    assert profile.categories == ("1", "2", "true")
    assert profile.frequencies == (0.6, 0.2, 0.2, 0.0)


def test_feature_types_are_inferred_without_targets() -> None:
    columns: dict[str, Column] = {
        "n": [1, 2.5, None],
        "i": np.array([1, 2, 3]),
        "b": [True, False, None],
        "s": ["x", 2, 3],
        "y": [0, 1, 1],
        "p": [0, 1, 0],
    }
    profile = build_profile("m", columns, label="y", prediction="p")
    kinds = {name: type(p).__name__ for name, p in profile.features.items()}
    assert kinds == {
        "n": "NumericProfile",
        "i": "NumericProfile",
        "b": "CategoricalProfile",
        "s": "CategoricalProfile",
    }


def test_feature_types_select_and_type_features() -> None:
    columns: dict[str, Column] = {"n": [1, 2, 3], "code": [10, 20, 10], "ignored": ["a", "b", "c"]}
    profile = build_profile("m", columns, {"n": "numeric", "code": "categorical"})
    assert list(profile.features) == ["n", "code"]
    code = profile.features["code"]
    assert isinstance(code, CategoricalProfile) and code.categories == ("10", "20")


@pytest.mark.parametrize(
    ("columns", "task", "kind"),
    [
        ({"y": [0, 1, 1]}, None, CategoricalProfile),
        ({"y": [0.0, 1.0, None]}, None, CategoricalProfile),
        ({"y": ["a", "b", "b"]}, None, CategoricalProfile),
        ({"y": [0.5, 1.25, 3.0]}, None, NumericProfile),
        ({"y": [1.0, 2.0, 3.0], "p": [1.5, 2.0, 2.5]}, None, NumericProfile),
        ({"y": [1, 2, 3]}, "regression", NumericProfile),
        ({"y": [0.5, 1.5, 1.5]}, "multiclass", CategoricalProfile),
    ],
)
def test_task_decides_how_targets_are_profiled(
    columns: dict[str, list[Any]], task: str | None, kind: type
) -> None:
    prediction = "p" if "p" in columns else None
    profile = build_profile("m", columns, label="y", prediction=prediction, task=task)
    assert isinstance(profile.label, kind)
    assert prediction is None or isinstance(profile.prediction, kind)


def test_classification_targets_use_class_keys_and_accuracy() -> None:
    labels = [1, 0, 1, 1, 0, None]
    predictions = [1.0, 1, True, 0, "0", 1]
    profile = build_profile("m", {"y": labels, "p": predictions}, label="y", prediction="p")
    assert isinstance(profile.label, CategoricalProfile)
    assert profile.label.categories == ("1", "0")
    assert profile.label.frequencies == (0.6, 0.4, 0.0)
    assert isinstance(profile.prediction, CategoricalProfile)
    assert profile.prediction.categories == ("1", "0")
    assert profile.performance == {"accuracy": 0.6}
    assert profile.features == {}


def test_regression_performance() -> None:
    columns: dict[str, Column] = {"y": [1.0, 2.0, 3.0, 4.0, None], "p": [1.5, 2.0, 2.0, 6.0, 7.0]}
    profile = build_profile("m", columns, label="y", prediction="p")
    assert profile.performance == {"mae": 0.875, "rmse": math.sqrt(1.3125)}


def test_no_performance_without_both_targets() -> None:
    assert build_profile("m", {"x": [1, 2], "y": [0, 1]}, label="y").performance is None


@pytest.mark.parametrize(
    ("columns", "kwargs", "message"),
    [
        ({"x": [1, 2], "y": [1]}, {}, "columns differ in length: x=2, y=1"),
        ({"x": []}, {}, "no rows"),
        ({"x": [1]}, {"label": "y"}, "label column 'y' not found; available columns: x"),
        ({"x": [1]}, {"feature_types": {"z": "numeric"}}, "feature 'z' not found"),
        ({"x": [1]}, {"feature_types": {"x": "text"}}, "feature 'x': unknown type 'text'"),
        ({"x": [1], "y": [1]}, {"label": "y", "task": "ranking"}, "unknown task 'ranking'"),
        ({"x": [None, math.nan]}, {}, "column 'x': no numeric values among 2 rows"),
        ({"x": ["a", "b"]}, {"feature_types": {"x": "numeric"}}, "column 'x': no numeric"),
        ({"x": [1.0]}, {"bins": 0}, "bins must be at least 1"),
    ],
)
def test_invalid_input_raises_profile_error(
    columns: dict[str, list[Any]], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ProfileError, match=re.escape(message)):
        build_profile("m", columns, **kwargs)


def test_json_round_trip(tmp_path: Path) -> None:
    profile = build_profile(
        "churn",
        training_columns(),
        label="churned",
        prediction="pred",
        version="3",
        source={"path": "train.csv", "sha256": "ab" * 32},
    )
    path = tmp_path / "churn.json"
    save_profile(profile, path)
    assert load_profile(path) == profile
    assert [p.name for p in tmp_path.iterdir()] == ["churn.json"]
    document = json.loads(path.read_text())
    assert list(document) == [
        "schema",
        "model",
        "version",
        "created_at",
        "rows",
        "features",
        "prediction",
        "label",
        "performance",
        "source",
    ]
    assert document["features"]["tenure"]["type"] == "numeric"
    assert document["features"]["plan"]["type"] == "categorical"
    assert document["created_at"].endswith("Z")


def _valid_document() -> dict[str, Any]:
    columns = training_columns(200)
    return build_profile("churn", columns, label="churned", prediction="pred").to_dict()


_DELETE = object()


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """A mutation of a valid document: set (or delete) the value at a dotted key path."""

    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            document = document[key]
        if value is _DELETE:
            del document[last]
        else:
            document[last] = value

    return mutate


def _halve_tenure_frequencies(document: dict[str, Any]) -> None:
    tenure = document["features"]["tenure"]
    tenure["frequencies"] = [f / 2 for f in tenure["frequencies"]]


@pytest.mark.parametrize(
    ("mutate", "key_path"),
    [
        (_set("schema", 2), "schema: unsupported schema 2"),
        (_set("rows", _DELETE), "rows: missing"),
        (_set("model", 7), "model: must be a non-empty string"),
        (_set("created_at", "yesterday"), "created_at: must be an ISO-8601 timestamp"),
        (_set("features.tenure.frequencies", [1.0]), "features.tenure.frequencies: has 1 entries"),
        (_halve_tenure_frequencies, "features.tenure.frequencies: must be non-negative and sum"),
        (_set("features.tenure.mean", math.nan), "features.tenure.mean: must be a finite number"),
        (_set("features.tenure.max", math.inf), "features.tenure.max: must be a finite number"),
        (_set("features.tenure.edges", [2.0, 1.0]), "features.tenure.edges: must be strictly"),
        (_set("features.tenure.count", -1), "features.tenure.count: must be an integer >= 1"),
        (_set("features.plan.frequencies", [1.0]), "features.plan.frequencies: has 1 entries"),
        (_set("features.plan.categories", ["a", "a"]), "features.plan.categories: must not"),
        (_set("features.plan.type", "text"), "features.plan.type: must be 'numeric' or"),
        (_set("features.plan.missing_rate", 1.5), "features.plan.missing_rate: must be between"),
        (_set("label.count", _DELETE), "label.count: missing"),
        (_set("prediction", []), "prediction: must be an object"),
        (_set("performance.accuracy", "high"), "performance.accuracy: must be a finite number"),
    ],
)
def test_invalid_profile_json_names_file_and_key_path(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], key_path: str
) -> None:
    document = _valid_document()
    mutate(document)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ProfileError, match=re.escape(f"{path}: {key_path}")):
        load_profile(path)


def test_unreadable_and_unwritable_profile_files(tmp_path: Path) -> None:
    profile = build_profile("m", {"x": [1.0]})
    with pytest.raises(ProfileError, match="cannot write profile .*No such file or directory"):
        save_profile(profile, tmp_path / "absent" / "m.json")
    with pytest.raises(ProfileError, match="cannot read profile"):
        load_profile(tmp_path / "absent.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ProfileError, match="broken.json: invalid JSON"):
        load_profile(tmp_path / "broken.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ProfileError, match="list.json: the top level must be a JSON object"):
        load_profile(tmp_path / "list.json")


def _write_both(tmp_path: Path) -> tuple[Path, Path]:
    table = pa.table(training_columns())
    csv_path, parquet_path = tmp_path / "train.csv", tmp_path / "train.parquet"
    pa_csv.write_csv(table, csv_path)
    pa_parquet.write_table(table, parquet_path)
    return csv_path, parquet_path


def test_csv_and_parquet_give_the_same_profile(tmp_path: Path) -> None:
    expected = build_profile("churn", training_columns(), label="churned", prediction="pred")
    for path in _write_both(tmp_path):
        profile = build_profile_from_file("churn", path, label="churned", prediction="pred")
        assert profile.features == expected.features
        assert (profile.label, profile.prediction) == (expected.label, expected.prediction)
        assert profile.performance == expected.performance
        assert profile.rows == 2_000
        assert profile.source == {
            "path": str(path),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "rows": 2_000,
        }


def test_read_table_values_and_digest(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,d\n1,x,true,\n,,false,2.5\n")
    columns, sha256 = read_table(path)
    assert sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    a, d = columns["a"], columns["d"]
    assert isinstance(a, np.ndarray) and isinstance(d, np.ndarray)
    assert (a[0], d[1]) == (1.0, 2.5) and np.isnan(a[1]) and np.isnan(d[0])
    assert (columns["b"], columns["c"]) == (["x", None], [True, False])


def test_unsupported_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"unsupported file type '\.xlsx'; use one of \.csv"):
        read_table(tmp_path / "train.xlsx")
    with pytest.raises(ProfileError, match="cannot read .*absent.csv"):
        read_table(tmp_path / "absent.csv")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(ProfileError, match="cannot read .*junk.parquet"):
        read_table(tmp_path / "junk.parquet")


def test_missing_target_column_lists_available_columns(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    message = f"{path}: prediction column 'score' not found; available columns: a, b"
    with pytest.raises(ProfileError, match=re.escape(message)):
        build_profile_from_file("m", path, prediction="score")
