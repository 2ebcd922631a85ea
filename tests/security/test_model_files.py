"""Model files that run code when loaded, through the CLI, real files and the real registry.

The attack: a skops file whose schema names ``builtins.exec`` with a string argument. The old
prefix trust list (``builtins.`` among others) accepted it, and loading it ran the string.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest
import skops.io as sio

from driftwarden.config import load_config
from driftwarden.config.training import TrainingConfig
from driftwarden.retrain.dataset import TrainingSet, read_base_table
from driftwarden.retrain.errors import ArtifactTampered, UntrustedArtifact
from driftwarden.retrain.registry import ModelRegistry
from driftwarden.retrain.settings import RetrainSettings
from driftwarden.retrain.trainer import train
from driftwarden.testing import TansuBroker
from tests.conftest import TopicNames
from tests.monitor.harness import monitor_config, write_config
from tests.retrain.test_retrain_loop import base_table
from tests.retrain.test_run_governance import configure

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
FEATURES = {"x1": "numeric", "x2": "numeric", "plan": "categorical"}
KEY = "k" * 32


def evil_skops(marker: Path) -> bytes:
    """A skops file whose root is ``builtins.exec("<write marker>")``."""
    code = f"open({str(marker)!r}, 'w').write('code ran')"
    schema = json.loads(zipfile.ZipFile(io.BytesIO(sio.dumps((code,)))).read("schema.json"))
    versions = {key: schema.pop(key) for key in ("protocol", "_skops_version")}
    root = {
        "__class__": "exec",
        "__module__": "builtins",
        "__loader__": "ConstructorFromReduceNode",
        "content": schema,
        "__id__": 1,
        **versions,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", json.dumps(root))
    return buffer.getvalue()


def driftwarden(*args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"DW_REGISTRY_KEY": key} if key else {})}
    return subprocess.run(  # noqa: S603 - our own CLI, argv from the test
        [sys.executable, "-m", "driftwarden", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def offline_config(tmp_path: Path, keyed: bool = False, **training: Any) -> Path:
    """A config whose model trains a logistic regression; no broker is contacted."""
    config = monitor_config("127.0.0.1:9", "security", tmp_path / "state", features=FEATURES)
    config["models"][0]["training"] = {
        "estimator": "sklearn.linear_model.LogisticRegression",
        "data": {"base": str(tmp_path / "base.csv")},
        **training,
    }
    config["registry"] = str(tmp_path / "registry")
    if keyed:
        config["registry_key"] = {"env": "DW_REGISTRY_KEY"}
    return write_config(tmp_path / f"driftwarden-{len(list(tmp_path.glob('*.yaml')))}.yaml", config)


def trained_file(tmp_path: Path, estimator: str, name: str) -> Path:
    """A pipeline trained by our trainer on the base table, saved with skops."""
    table = tmp_path / "base.csv"
    if not table.exists():
        base_table(table)
    examples, _ = read_base_table(str(table), "label", None)
    trained = train(
        TrainingConfig(
            estimator=estimator, params={"n_estimators": 5} if "Forest" in estimator else {}
        ),
        TrainingSet(examples=tuple(examples), lineage={}),
    )
    path = tmp_path / name
    sio.dump(trained.pipeline, path)
    return path


def register(
    config: Path, artifact: Path, key: str | None = None
) -> subprocess.CompletedProcess[str]:
    return driftwarden(
        "models", "register", "--model", "churn", "--artifact", str(artifact),
        "--data", str(artifact.parent / "base.csv"), "--config", str(config), key=key,
    )  # fmt: skip


def registry_of(config: Path) -> ModelRegistry:
    """The registry as the config opens it (its key from the environment, if configured)."""
    return ModelRegistry.from_settings(RetrainSettings.from_config(load_config(config)))


def swap_artifact(registry: ModelRegistry, version: str, blob: bytes) -> None:
    """What someone with write access to the registry directory does: file and digest."""
    info = registry.get("churn", version)
    (info.path / "model.skops").write_bytes(blob)
    metadata = {**info.metadata, "artifact_sha256": hashlib.sha256(blob).hexdigest()}
    (info.path / "metadata.json").write_text(json.dumps(metadata))


def test_models_register_refuses_a_file_naming_builtins_exec(tmp_path: Path) -> None:
    config = offline_config(tmp_path)
    base_table(tmp_path / "base.csv")
    marker = tmp_path / "MARKER"
    evil = tmp_path / "evil.skops"
    evil.write_bytes(evil_skops(marker))

    result = register(config, evil)

    assert result.returncode == 1, result.stderr
    assert "['builtins.exec']" in result.stderr
    assert "outside the trust list of model 'churn'" in result.stderr
    assert not marker.exists()
    assert registry_of(config).versions("churn") == []


def test_a_model_trained_by_the_trainer_registers_and_loads(tmp_path: Path) -> None:
    config = offline_config(tmp_path, estimator="sklearn.ensemble.HistGradientBoostingClassifier")
    artifact = trained_file(tmp_path, "sklearn.ensemble.HistGradientBoostingClassifier", "m.skops")

    result = register(config, artifact)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("churn 1: ")
    loaded = registry_of(config).load_artifact("churn", "1")
    assert loaded.predict([{"x1": 0.5, "x2": -1.0, "plan": "pro"}]).shape == (1,)


def test_operator_types_are_exact_names_never_prefixes_or_callables(tmp_path: Path) -> None:
    forest = trained_file(tmp_path, "sklearn.ensemble.RandomForestClassifier", "forest.skops")

    # The configured estimator (a logistic regression) gives no tree types: refused by name.
    refused = register(offline_config(tmp_path), forest)
    assert refused.returncode == 1
    assert "['sklearn.tree._tree.Tree']" in refused.stderr
    for prefix, problem in (
        ("sklearn.tree.", "is not an exact type name: use 'package.module.Class'"),
        ("builtins.exec", "is from module 'builtins', which a model file may never name"),
        ("os.system", "is from module 'os', which a model file may never name"),
        ("sklearn.__builtins__", "names something special ('__builtins__')"),
    ):
        bad = register(offline_config(tmp_path, trusted_types=[prefix]), forest)
        assert bad.returncode == 2
        assert f"models.0.training.trusted_types: type {prefix!r} {problem}" in bad.stderr
    assert registry_of(offline_config(tmp_path)).versions("churn") == []

    config = offline_config(tmp_path, trusted_types=["sklearn.tree._tree.Tree"])
    accepted = register(config, forest)
    assert accepted.returncode == 0, accepted.stderr
    assert registry_of(config).load_artifact("churn", "1").predict([{"x1": 1.0}]).shape == (1,)


def test_a_registry_key_refuses_an_artifact_swapped_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = offline_config(tmp_path, keyed=True)
    artifact = trained_file(tmp_path, "sklearn.linear_model.LogisticRegression", "m.skops")
    assert register(config, artifact, key=KEY).returncode == 0
    monkeypatch.setenv("DW_REGISTRY_KEY", KEY)
    registry = registry_of(config)
    assert "artifact_hmac" in registry.get("churn", "1").metadata
    registry.load_artifact("churn", "1")

    # Another file of trusted types, its digest updated: only the key tells it apart.
    other = trained_file(tmp_path, "sklearn.linear_model.RidgeClassifier", "other.skops")
    swap_artifact(registry, "1", other.read_bytes())
    with pytest.raises(ArtifactTampered, match="not authenticated by the registry key"):
        registry.load_artifact("churn", "1")
    monkeypatch.setenv("DW_REGISTRY_KEY", "x" * 32)
    with pytest.raises(ArtifactTampered, match="not authenticated by the registry key"):
        registry_of(config).load_artifact("churn", "1")

    marker = tmp_path / "MARKER"
    swap_artifact(registry, "1", evil_skops(marker))
    with pytest.raises(ArtifactTampered, match="not authenticated by the registry key"):
        registry.load_artifact("churn", "1")
    assert not marker.exists()


def test_a_tampered_champion_in_the_registry_is_refused_and_the_run_fails(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path
) -> None:
    _, config = configure(broker, topic_names, tmp_path)
    first = driftwarden("retrain", "run", "--config", str(config), "--model", "churn")
    assert first.returncode == 0, first.stderr
    registry = registry_of(config)
    assert registry.production("churn").version == "1"  # type: ignore[union-attr]
    marker = tmp_path / "MARKER"
    swap_artifact(registry, "1", evil_skops(marker))

    with pytest.raises(UntrustedArtifact, match=r"churn/1/model\.skops names types .*exec"):
        registry.load_artifact("churn", "1")

    # The next run loads version 1 as its champion: refused, the run fails, no code ran.
    again = driftwarden("retrain", "run", "--config", str(config), "--model", "churn")
    assert again.returncode == 1
    outcome = orjson.loads(again.stdout)
    assert outcome["outcome"] == "failed"
    assert (
        "names types outside the trust list of model 'churn': ['builtins.exec']"
        in (outcome["error"])
    )
    assert not marker.exists()
    assert [v.version for v in registry.versions("churn")] == ["1"]


def test_a_model_file_that_would_inflate_past_the_limit_is_refused_unread(tmp_path: Path) -> None:
    config = offline_config(tmp_path)
    base_table(tmp_path / "base.csv")
    legit = trained_file(tmp_path, "sklearn.linear_model.LogisticRegression", "legit.skops")
    blob = bytearray(legit.read_bytes())
    # A zip bomb's central directory: one member claims ~4 GiB once inflated.
    entry = blob.index(b"PK\x01\x02")
    blob[entry + 24 : entry + 28] = (0xFFFFFFF0).to_bytes(4, "little")
    bomb = tmp_path / "bomb.skops"
    bomb.write_bytes(bytes(blob))

    result = register(config, bomb)

    assert result.returncode == 1, result.stderr
    assert "inflates to" in result.stderr and "refusing it" in result.stderr
    assert registry_of(config).versions("churn") == []
