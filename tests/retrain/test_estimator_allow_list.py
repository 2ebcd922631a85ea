"""The estimator allow-list cannot be used to run code: public scikit-learn helpers that run a
script, delete a directory or are not estimators are refused before they are called."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.ensemble import RandomForestClassifier

from driftwarden.config import parse_config
from driftwarden.core.errors import ConfigError
from driftwarden.retrain.errors import TrainingError
from driftwarden.retrain.trainer import resolve_estimator

SKLEARN = ("sklearn.",)


def dangerous(tmp_path: Path) -> list[tuple[str, dict[str, object], str]]:
    marker = tmp_path / "pwned"
    return [
        (  # runs a Python script in a subprocess
            "sklearn.utils._testing:assert_run_python_script_without_output",
            {"source_code": f"open({str(marker)!r}, 'w').write('x')", "pattern": ".*"},
            "names something private ('_testing')",
        ),
        (  # shutil.rmtree of any directory
            "sklearn.datasets:clear_data_home",
            {"data_home": str(tmp_path / "keep")},
            "is a factory under a default prefix",
        ),
        (  # writes a file anywhere
            "sklearn.datasets:dump_svmlight_file",
            {"X": [[1.0]], "y": [1], "f": str(marker)},
            "is a factory under a default prefix",
        ),
        ("sklearn.utils.Bunch", {"a": 1}, "is a class without fit and predict"),
        ("sklearn.base._fit_context", {}, "names something private ('_fit_context')"),
    ]


def test_the_estimator_helpers_that_run_code_are_refused_before_the_call(tmp_path: Path) -> None:
    (tmp_path / "keep").mkdir()
    for path, params, words in dangerous(tmp_path):
        with pytest.raises(TrainingError, match=words.replace("(", r"\(").replace(")", r"\)")):
            resolve_estimator(path, params, SKLEARN)
    assert (tmp_path / "keep").is_dir()
    assert not (tmp_path / "pwned").exists()


def test_the_config_refuses_them_at_load(tmp_path: Path) -> None:
    for path, params, words in dangerous(tmp_path):
        if "without fit" in words:
            continue  # known only once imported: refused when training starts
        model = {
            "name": "m",
            "task": "binary",
            "positive_label": 1,
            "training": {"estimator": path, "params": params},
        }
        with pytest.raises(ConfigError, match="models.0.training: estimator") as excinfo:
            parse_config({"models": [model]})
        assert words in str(excinfo.value)


def test_a_factory_from_a_prefix_the_user_added_is_still_called() -> None:
    pipeline = resolve_estimator(
        "tests.retrain.test_trainer:scaled_forest", {"n_estimators": 2}, ("sklearn.", "tests.")
    )
    assert pipeline.named_steps["forest"].n_estimators == 2
    assert isinstance(
        resolve_estimator("sklearn.ensemble.RandomForestClassifier", {}, SKLEARN),
        RandomForestClassifier,
    )
