from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import driftwarden.retrain.registry as registry_module
from driftwarden.retrain.errors import (
    ArtifactTampered,
    ModelNotFound,
    RegistryError,
    UntrustedArtifact,
)
from driftwarden.retrain.features import make_pipeline as feature_pipeline
from driftwarden.retrain.registry import ModelRegistry
from driftwarden.retrain.versions import Stage
from tests.helpers import TickingClock

LINEAGE = {
    "parent_version": None,
    "trigger": "drift_detected",
    "request_id": "req-1",
    "estimator": "sklearn.linear_model.LogisticRegression",
    "params": {"C": 1.0},
    "seed": 0,
    "data": {"examples_topic": "driftwarden.examples", "rows": 60},
}


class ConstantClassifier(ClassifierMixin, BaseEstimator):
    """Not one of skops' default types, so skops flags it."""

    def fit(self, X: Any, y: Any) -> ConstantClassifier:  # noqa: N803
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> npt.NDArray[Any]:  # noqa: N803
        return np.full(len(X), self.classes_[0])


@pytest.fixture
def data() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    rng = np.random.default_rng(7)
    features = rng.normal(size=(60, 3))
    return features, (features[:, 0] + 0.5 * features[:, 1] > 0).astype(np.int64)


@pytest.fixture
def logistic(data: tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(random_state=0)).fit(*data)


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "registry", clock=TickingClock())


def register(registry: ModelRegistry, estimator: object, model: str = "churn") -> str:
    return registry.register(model, estimator, LINEAGE, {"schema": 1}, card="# card").version


def test_register_and_load_round_trip(
    registry: ModelRegistry,
    logistic: Pipeline,
    data: tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]],
) -> None:
    info = registry.register("churn", logistic, LINEAGE, {"schema": 1, "model": "churn"}, "# c")

    loaded = registry.load_artifact("churn", "1")

    np.testing.assert_array_equal(loaded.predict(data[0]), logistic.predict(data[0]))
    assert (info.model, info.version, info.stage) == ("churn", "1", Stage.CANDIDATE)
    assert info.path == registry.root / "churn" / "1"
    artifact = (info.path / "model.skops").read_bytes()
    assert info.metadata["artifact_sha256"] == hashlib.sha256(artifact).hexdigest()
    assert info.metadata["trigger"] == "drift_detected"
    assert {"python", "scikit-learn", "numpy", "skops"} <= set(info.metadata["library_versions"])
    assert info.stage_history == [
        {
            "stage": "candidate",
            "timestamp": info.created_at,
            "by": "driftwarden",
            "reason": "registered",
        }
    ]
    assert registry.profile("churn", "1") == {"schema": 1, "model": "churn"}
    assert (info.path / "model_card.md").read_text() == "# c"


def trusting(root: Path, *names: str) -> ModelRegistry:
    return ModelRegistry(root, clock=TickingClock(), trusted_types=lambda model: frozenset(names))


def test_a_tree_model_loads_once_its_flagged_sklearn_type_is_trusted_by_name(
    tmp_path: Path, data: tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]
) -> None:
    model = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(*data)
    with pytest.raises(UntrustedArtifact, match=r"\['sklearn\.ensemble\._hist_gradient_boo"):
        register(ModelRegistry(tmp_path, clock=TickingClock()), model)
    registry = trusting(
        tmp_path, "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
    )
    register(registry, model)

    loaded = registry.load_artifact("churn", "1")

    np.testing.assert_array_equal(loaded.predict_proba(data[0]), model.predict_proba(data[0]))


def test_the_trainers_feature_pipeline_is_trusted_without_config(
    registry: ModelRegistry,
) -> None:
    rows = [{"tenure": 1.0, "plan": "pro"}, {"tenure": 9.0}, {"tenure": 2.0, "plan": "free"}]
    pipeline = feature_pipeline(LogisticRegression()).fit(rows, [1, 0, 1])
    register(registry, pipeline)

    assert (
        registry.load_artifact("churn", "1").predict(rows).tolist()
        == pipeline.predict(rows).tolist()
    )


def test_versions_are_numbered_max_plus_one_and_sorted_as_numbers(
    registry: ModelRegistry, logistic: Pipeline
) -> None:
    for _ in range(11):
        register(registry, logistic)
    register(registry, logistic, model="fraud")

    assert [v.version for v in registry.versions("churn")] == [str(n) for n in range(1, 12)]
    assert registry.models() == ["churn", "fraud"]


def test_the_card_may_be_rendered_for_the_allocated_version(
    registry: ModelRegistry, logistic: Pipeline
) -> None:
    register(registry, logistic)

    info = registry.register("churn", logistic, {}, None, card=lambda v: f"# churn v{v}")

    assert (info.path / "model_card.md").read_text() == "# churn v2"
    assert registry.profile("churn", "2") is None


def test_lookups_of_what_is_not_there(registry: ModelRegistry, logistic: Pipeline) -> None:
    assert registry.models() == []
    assert registry.versions("churn") == []
    assert registry.production("churn") is None
    register(registry, logistic)

    with pytest.raises(ModelNotFound, match=r"no version '7'; its versions are \['1'\]"):
        registry.get("churn", "7")
    with pytest.raises(LookupError, match=r"no model 'fraud'.*registered models: \['churn'\]"):
        registry.load_artifact("fraud", "1")


def test_a_tampered_artifact_is_refused_before_deserializing(
    registry: ModelRegistry, logistic: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = registry.get("churn", register(registry, logistic)).path / "model.skops"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("a tampered artifact reached skops")

    monkeypatch.setattr(registry_module.sio, "load", never)
    monkeypatch.setattr(registry_module.sio, "get_untrusted_types", never)

    with pytest.raises(ArtifactTampered, match="does not match metadata; refusing to load it"):
        registry.load_artifact("churn", "1")


def test_an_estimator_outside_the_trust_list_is_not_registered(
    tmp_path: Path, data: tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]
) -> None:
    prefix = trusting(tmp_path, ConstantClassifier.__module__ + ".")
    with pytest.raises(UntrustedArtifact, match=r"ConstantClassifier.*outside the trust list"):
        register(prefix, ConstantClassifier().fit(*data))

    assert prefix.versions("churn") == []


def test_a_load_refuses_types_outside_the_trust_list(
    tmp_path: Path, data: tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]
) -> None:
    name = f"{ConstantClassifier.__module__}.{ConstantClassifier.__qualname__}"
    permissive = trusting(tmp_path, name)
    register(permissive, ConstantClassifier().fit(*data))

    assert permissive.load_artifact("churn", "1").predict(data[0][:2]).tolist() == [0, 0]
    with pytest.raises(UntrustedArtifact, match=r"model\.skops names types outside the trust"):
        ModelRegistry(tmp_path).load_artifact("churn", "1")


def test_a_crash_while_writing_leaves_no_version(
    registry: ModelRegistry, logistic: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(registry, logistic)
    before = registry.versions("churn")
    write_file = registry_module.write_synced

    def disk_full_at_metadata(path: Path, data: bytes) -> None:
        if path.name == "metadata.json":
            raise OSError("No space left on device")
        write_file(path, data)

    monkeypatch.setattr(registry_module, "write_synced", disk_full_at_metadata)
    with pytest.raises(OSError, match="No space left"):
        register(registry, logistic)
    monkeypatch.undo()

    assert registry.versions("churn") == before
    assert sorted(p.name for p in (registry.root / "churn").iterdir()) == [".lock", "1"]
    assert register(registry, logistic) == "2"


def test_leftover_staging_directories_are_ignored_then_cleaned(
    registry: ModelRegistry, logistic: Pipeline
) -> None:
    register(registry, logistic)
    leftover = registry.root / "churn" / ".staging-killed"
    leftover.mkdir()
    (leftover / "model.skops").write_bytes(b"half")
    (registry.root / "orphan" / ".staging-x").mkdir(parents=True)

    assert [v.version for v in registry.versions("churn")] == ["1"]
    assert registry.models() == ["churn"]
    assert registry.cleanup() == [leftover, registry.root / "orphan" / ".staging-x"]
    assert not leftover.exists()


def test_promoting_archives_the_previous_production_version(
    registry: ModelRegistry, logistic: Pipeline
) -> None:
    register(registry, logistic)
    register(registry, logistic)
    registry.set_stage("churn", "1", Stage.PRODUCTION, by="worker", reason="first")

    promoted = registry.set_stage("churn", "2", "production", by="alice", reason="better")

    old = registry.get("churn", "1")
    assert registry.production("churn") == promoted
    assert old.stage is Stage.ARCHIVED
    assert old.stage_history[-1] | {"timestamp": None} == {
        "stage": "archived",
        "timestamp": None,
        "by": "alice",
        "reason": "better",
        "superseded_by": "2",
    }
    assert promoted.stage_history[-1]["replaces"] == "1"
    assert [e["stage"] for e in old.stage_history] == ["candidate", "production", "archived"]
    assert not list(old.path.glob(".metadata.json.*"))  # atomic rewrite left no temp file


def test_a_stage_change_can_require_the_stage_it_starts_from(
    registry: ModelRegistry, logistic: Pipeline
) -> None:
    register(registry, logistic)

    with pytest.raises(RegistryError, match="is candidate now, not one of"):
        registry.set_stage("churn", "1", Stage.PRODUCTION, "a", "b", from_stages={Stage.ARCHIVED})
    with pytest.raises(ValueError, match="'live' is not a valid Stage"):
        registry.set_stage("churn", "1", "live", by="a", reason="b")


def test_registry_owned_metadata_cannot_be_set_by_callers(
    registry: ModelRegistry, logistic: Pipeline
) -> None:
    with pytest.raises(ValueError, match=r"\['stage'\] are set by the registry"):
        registry.register("churn", logistic, {"stage": "production"}, None, "")
    register(registry, logistic)

    with pytest.raises(ValueError, match=r"\['artifact_sha256'\]"):
        registry.update_metadata("churn", "1", {"artifact_sha256": "0" * 64})
    updated = registry.update_metadata("churn", "1", {"risk_tier": "high"})
    assert updated.metadata["risk_tier"] == "high"
    assert json.loads((updated.path / "metadata.json").read_text())["risk_tier"] == "high"


@pytest.mark.parametrize("name", ["", "../escape", ".hidden", "a/b"])
def test_model_names_must_be_plain_directory_names(
    registry: ModelRegistry, logistic: Pipeline, name: str
) -> None:
    with pytest.raises(ValueError, match="not usable as a directory name"):
        register(registry, logistic, model=name)


def zipped_schema(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", text)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"not a zip",
        b"PK\x05\x06" + bytes(18),
        zipped_schema("[]"),
        zipped_schema("[" * 100_000 + "]" * 100_000),
    ],
    ids=["empty", "text", "empty zip", "a list", "deep"],
)
def test_what_is_not_a_skops_file_is_refused_cleanly(registry: ModelRegistry, blob: bytes) -> None:
    with pytest.raises(UntrustedArtifact, match=r"^upload is not a skops file \("):
        registry.deserialize("churn", blob, "upload")
