"""Kafka SSL and SASL settings: from ``kafka.client`` to every kafka-python client the monitor
and the retraining side build, secrets revealed only there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from driftwarden.config import parse_config
from driftwarden.core.errors import ConfigError
from driftwarden.retrain.settings import RetrainSettings
from tests.tls import TlsFiles, make_tls_files

MINIMAL = {"models": [{"name": "churn", "task": "binary", "positive_label": 1}]}
ENV_PASSWORD = "sasl-pw-from-env-7f3a"
FILE_PASSWORD = "sasl-pw-from-file-91c2"
KEY_PASSWORD = "ssl-key-pw-inline-0d4e"
CLASSES: dict[str, Any] = {
    "consumer": KafkaConsumer,
    "producer": KafkaProducer,
    "admin": KafkaAdminClient,
}


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def sasl_ssl_client(tls_files: TlsFiles, mechanism: str, password: object) -> dict[str, object]:
    return {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "driftwarden",
        "sasl_plain_password": password,
        "ssl_cafile": str(tls_files.ca),
        "ssl_certfile": str(tls_files.client_cert),
        "ssl_keyfile": str(tls_files.client_key),
        "ssl_password": KEY_PASSWORD,
    }


@pytest.fixture
def password_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    monkeypatch.setenv("DW_TEST_KAFKA_PASSWORD", ENV_PASSWORD)
    (tmp_path / "kafka-password").write_text(FILE_PASSWORD + "\n")
    return {
        "env": ({"env": "DW_TEST_KAFKA_PASSWORD"}, ENV_PASSWORD),
        "file": ({"file": str(tmp_path / "kafka-password")}, FILE_PASSWORD),
    }


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("source", ["env", "file"])
def test_sasl_ssl_settings_reach_every_client_revealed(
    tls_files: TlsFiles, password_sources: dict[str, Any], mechanism: str, source: str
) -> None:
    written, password = password_sources[source]
    config = parse_config(
        {**MINIMAL, "kafka": {"client": sasl_ssl_client(tls_files, mechanism, written)}}
    )
    expected = {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "driftwarden",
        "sasl_plain_password": password,
        "ssl_cafile": str(tls_files.ca),
        "ssl_certfile": str(tls_files.client_cert),
        "ssl_keyfile": str(tls_files.client_key),
        "ssl_password": KEY_PASSWORD,
    }
    settings = RetrainSettings.from_config(config)
    built = {
        "monitor consumer": ("consumer", config.kafka.client_options("consumer")),
        "monitor producer": ("producer", config.kafka.client_options("producer")),
        "monitor admin": ("admin", config.kafka.client_options("admin")),
        "worker consumer": ("consumer", settings.consumer_options),
        "worker producer": ("producer", settings.producer_options),
    }
    for name, (kind, options) in built.items():
        assert {k: options[k] for k in expected} == expected, name
        assert set(options) <= set(CLASSES[kind].DEFAULT_CONFIG), name


@pytest.mark.parametrize("kind", ["consumer", "producer"])
def test_kafka_python_accepts_the_options(tls_files: TlsFiles, kind: str) -> None:
    """kafka-python itself takes the options (it raises on unknown ones); ``api_version`` set,
    it builds the client without connecting."""
    config = parse_config(
        {
            **MINIMAL,
            "kafka": {
                "bootstrap_servers": "127.0.0.1:1",
                "client": sasl_ssl_client(tls_files, "SCRAM-SHA-512", ENV_PASSWORD),
            },
        }
    )
    client = CLASSES[kind](**config.kafka.client_options(kind), api_version=(2, 8))
    try:
        assert client.config["sasl_plain_password"] == ENV_PASSWORD
        assert client.config["ssl_password"] == KEY_PASSWORD
        assert client.config["sasl_mechanism"] == "SCRAM-SHA-512"
    finally:
        client.close()


def test_secrets_stay_masked_outside_the_client_options(
    tls_files: TlsFiles, password_sources: dict[str, Any]
) -> None:
    written, password = password_sources["env"]
    config = parse_config(
        {**MINIMAL, "kafka": {"client": sasl_ssl_client(tls_files, "PLAIN", written)}}
    )
    settings = RetrainSettings.from_config(config)
    for text in (repr(config), str(config), repr(config.kafka), repr(settings), str(settings)):
        assert password not in text and KEY_PASSWORD not in text
    assert "driftwarden" in repr(config.kafka)  # the username is not a secret


@pytest.mark.parametrize(
    ("client", "words"),
    [
        ({"security_protocol": "SASL_SLL"}, "security_protocol must be one of"),
        ({"security_protocol": "SASL_SSL"}, "needs sasl_mechanism"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-1"}, "needs sasl_mech"),
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512"},
            "needs sasl_plain_username and sasl_plain_password",
        ),
        (
            {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "PLAIN",
                "sasl_plain_username": "u",
            },
            "needs sasl_plain_password",
        ),
        ({"ssl_cafile": "/nonexistent/ca.pem"}, "ssl_cafile: cannot read '/nonexistent/ca.pem'"),
    ],
)
def test_security_settings_kafka_python_checks_only_when_connecting(
    client: dict[str, object], words: str
) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_config({**MINIMAL, "kafka": {"client": client}})
    assert any(
        line.strip().startswith("kafka.client:") and words in line
        for line in str(excinfo.value).splitlines()
    ), str(excinfo.value)
