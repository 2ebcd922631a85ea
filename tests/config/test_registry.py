"""The ``registry`` section: a path as before, or a mapping naming the backend."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftwarden.cli import main
from driftwarden.config import parse_config
from driftwarden.core.errors import ConfigError
from driftwarden.core.mlflow_settings import MlflowSettings
from driftwarden.retrain.settings import RetrainSettings

MODELS = [{"name": "churn", "task": "binary", "positive_label": 1}]
MLFLOW = {"backend": "mlflow", "tracking_uri": "http://mlflow:5000"}


def config_with(registry: object) -> dict[str, Any]:
    return {"models": MODELS, "registry": registry}


def test_a_path_string_is_the_filesystem_backend_as_before() -> None:
    config = parse_config(config_with("/srv/registry"))
    assert (config.registry.backend, config.registry.path) == ("filesystem", Path("/srv/registry"))
    settings = RetrainSettings.from_config(config)
    assert (settings.registry, settings.mlflow) == (Path("/srv/registry"), None)
    default = parse_config({"models": MODELS}).registry
    assert (default.backend, default.path) == ("filesystem", Path("registry"))


def test_the_mlflow_backend_reaches_the_retrain_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_PW", "s3cret-pw")
    registry = {**MLFLOW, "path": "/var/dw", "username": "dw", "password": {"env": "MLFLOW_PW"}}
    settings = RetrainSettings.from_config(parse_config(config_with(registry)))
    assert settings.registry == Path("/var/dw")  # the audit log stays local
    assert settings.mlflow == MlflowSettings(
        "http://mlflow:5000", None, "driftwarden/", username="dw", password=os.environ["MLFLOW_PW"]
    )
    assert "s3cret-pw" not in repr(settings)


@pytest.mark.parametrize(
    ("registry", "path", "words"),
    [
        ({**MLFLOW, "trackin_uri": "x"}, "registry.trackin_uri", "Extra inputs"),
        ({"backend": "mlflow"}, "registry", "needs 'tracking_uri'"),
        ({"backend": "s3"}, "registry.backend", "'filesystem' or 'mlflow'"),
        ({**MLFLOW, "tracking_uri": "mlflow:5000"}, "registry.tracking_uri", "http(s) URI"),
        ({"path": "r", "token": "t"}, "registry", "only apply to backend 'mlflow'"),
        ({**MLFLOW, "token": "t", "password": "p"}, "registry", "not both"),
        ({**MLFLOW, "token": {"env": "DW_NO_SUCH_VAR"}}, "registry.token", "is not set"),
    ],
)
def test_bad_registry_settings_name_the_key(registry: object, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config_with(registry))
    line = next(line for line in str(caught.value).splitlines() if line.strip().startswith(path))
    assert line.strip().startswith(f"{path}:") and words in line


def test_config_check_masks_the_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text("tok-123456789\n")
    monkeypatch.setenv("MLFLOW_PW", "pw-987654321")
    path = tmp_path / "driftwarden.yaml"
    for credentials in ({"token": {"file": str(token)}}, {"password": {"env": "MLFLOW_PW"}}):
        path.write_text(yaml.safe_dump(config_with({**MLFLOW, **credentials})))
        assert main(["config", "check", str(path)]) == 0
        out = capsys.readouterr().out
        assert "http://mlflow:5000" in out and "**********" in out
        assert "tok-123456789" not in out and "pw-987654321" not in out
    path.write_text(yaml.safe_dump(config_with({**MLFLOW, "trackin_uri": "x"})))
    assert main(["config", "check", str(path)]) == 2
    assert "registry.trackin_uri" in capsys.readouterr().err
