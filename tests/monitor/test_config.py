from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from driftwarden.cli import main
from driftwarden.config import load_config, parse_config
from driftwarden.core.errors import ConfigError

MINIMAL = {"models": [{"name": "churn", "task": "binary", "positive_label": 1}]}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_defaults_match_the_contract() -> None:
    config = parse_config(MINIMAL)
    assert config.kafka.bootstrap_servers == ["127.0.0.1:9092"]
    assert config.kafka.group_id == "driftwarden-monitor"
    assert config.topics.model_dump() == {
        "predictions": "predictions",
        "labels": "labels",
        "events": "driftwarden.events",
        "examples": "driftwarden.examples",
        "retrain_requests": "driftwarden.retrain-requests",
        "dead_letter": "driftwarden.dead-letter",
        "changelog": None,
    }
    assert config.changelog_topic == "driftwarden-monitor.changelog"
    assert (config.http.host, config.http.port) == ("0.0.0.0", 9108)
    assert config.state.checkpoint_every == 5.0
    model = config.models[0]
    assert (model.label_ttl, model.window, model.max_pending) == (3600.0, 1000, 100_000)


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"models": [{"name": "m", "task": "binary"}]}, "models.0", "positive_label"),
        ({"models": [{"name": "m", "task": "ranking"}]}, "models.0.task", "regression"),
        (
            {"models": [{"name": "m", "task": "regression", "label_ttl": "5 parsecs"}]},
            "models.0.label_ttl",
            "invalid duration",
        ),
        (
            {"models": [{"name": "m", "task": "regression", "features": {"x": "vector"}}]},
            "models.0.features.x",
            "numeric",
        ),
        (
            {"models": [{"name": "m", "task": "regression", "window": 0}]},
            "models.0.window",
            "greater than 0",
        ),
        ({"http": {"port": 70000}}, "http.port", "less than or equal"),
        ({"kafka": {"bootstrap": "x"}}, "kafka.bootstrap", "Extra inputs"),
        ({"topics": {"predictions": "same", "labels": "same"}}, "topics", "different topics"),
        ({"models": []}, "models", "at least 1"),
        ({"models": [MINIMAL["models"][0], MINIMAL["models"][0]]}, "models", "unique"),
    ],
)
def test_errors_name_the_key_path(change: dict[str, object], path: str, words: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_config({**MINIMAL, **change})
    lines = str(excinfo.value).splitlines()[1:]
    assert any(line.strip().startswith(f"{path}:") and words in line for line in lines), lines


def test_bootstrap_servers_accepts_a_string_or_a_list() -> None:
    assert parse_config(
        {**MINIMAL, "kafka": {"bootstrap_servers": "a:1, b:2"}}
    ).kafka.bootstrap_servers == ["a:1", "b:2"]
    assert parse_config(
        {**MINIMAL, "kafka": {"bootstrap_servers": ["a:1"]}}
    ).kafka.bootstrap_servers == ["a:1"]


def test_secrets_come_from_env_and_files_and_are_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DW_TEST_SASL", "s3cr3t-from-env")
    secret_file = tmp_path / "ssl-password"
    secret_file.write_text("s3cr3t-from-file\n")
    path = write(
        tmp_path,
        {
            **MINIMAL,
            "kafka": {
                "client": {
                    "security_protocol": "SASL_SSL",
                    "sasl_mechanism": "PLAIN",
                    "sasl_plain_username": "driftwarden",
                    "sasl_plain_password": {"env": "DW_TEST_SASL"},
                    "ssl_password": {"file": str(secret_file)},
                }
            },
        },
    )
    config = load_config(path)
    options = config.kafka.client_options("producer")
    assert options["sasl_plain_password"] == "s3cr3t-from-env"
    assert options["ssl_password"] == "s3cr3t-from-file"
    assert main(["config", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "s3cr3t" not in out
    assert "sasl_plain_password: '**********'" in out
    assert "security_protocol: SASL_SSL" in out


def test_missing_env_secret_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DW_TEST_NOT_SET", raising=False)
    with pytest.raises(ConfigError, match=r"kafka\.client: .*DW_TEST_NOT_SET"):
        parse_config(
            {**MINIMAL, "kafka": {"client": {"sasl_plain_password": {"env": "DW_TEST_NOT_SET"}}}}
        )


def test_config_check_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path, {"models": [{"name": "m", "task": "binary", "window": -1, "positive_label": 1}]}
    )
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "models.0.window" in err


def test_unreadable_and_malformed_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "check", str(tmp_path / "absent.yaml")]) == 2
    assert "cannot read config file" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed\n")
    assert main(["config", "check", str(bad)]) == 2
    assert "invalid YAML" in capsys.readouterr().err


def test_training_must_fit_the_task() -> None:
    regression = {"name": "m", "task": "regression"}
    with pytest.raises(ConfigError, match=r"training.gate.metric 'accuracy' does not fit"):
        parse_config({"models": [{**regression, "training": {}}]})
    with pytest.raises(ConfigError, match="is a classifier but the task is 'regression'"):
        parse_config({"models": [{**regression, "training": {"gate": {"metric": "rmse"}}}]})
    with pytest.raises(ConfigError, match="outside the allowed module prefixes"):
        parse_config({"models": [{**MINIMAL["models"][0], "training": {"estimator": "os.system"}}]})
    parse_config(
        {
            "models": [
                {
                    **regression,
                    "training": {
                        "estimator": "sklearn.ensemble.HistGradientBoostingRegressor",
                        "gate": {"metric": "rmse"},
                    },
                }
            ]
        }
    )
