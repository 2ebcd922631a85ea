"""Secrets reach the clients that need them and nothing else: not ``config check``, not config
errors, not the logs at DEBUG, not ``repr``. Integration parts run against the real broker."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from driftwarden.cli import main
from driftwarden.config import load_config, parse_config
from driftwarden.core.config import secret_values
from driftwarden.core.errors import ConfigError
from driftwarden.core.logs import MASK, configure_logging
from driftwarden.retrain.settings import RetrainSettings
from driftwarden.retrain.worker import RetrainWorker
from driftwarden.testing import TansuBroker, create_topics, free_port, produce
from tests.conftest import TopicNames
from tests.helpers import ServiceThread, wait_until
from tests.monitor.harness import MonitorProcess, ThreadedMonitor, monitor_config
from tests.tls import TlsFiles, client_context, get, make_tls_files

pytestmark = pytest.mark.kafka

MINIMAL = {"models": [{"name": "churn", "task": "binary", "positive_label": 1}]}
SASL_ENV = "sasl-pw-from-env-7f3a"
SSL_FILE = "ssl-pw-from-file-91c2"
HTTP_INLINE = "http-pw-inline-0d4e"
HTTP_INLINE_DIGITS = "90210734"
HOOK_TOKEN = "hook-token-inline-5e1b"
PAGER_ENV = "pager-key-from-env-c8d0"
SECRETS = (SASL_ENV, SSL_FILE, HTTP_INLINE, HOOK_TOKEN, PAGER_ENV)
PREDICTION = (
    b'{"prediction_id": "p-1", "model": "churn", "model_version": "1", "timestamp": 1000,'
    b' "features": {"tenure": 3.0, "plan": "pro"}, "prediction": 1}'
)
LABEL = b'{"prediction_id": "p-1", "model": "churn", "label": 1, "timestamp": 1010}'


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def secret_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DW_TEST_SASL_PASSWORD", SASL_ENV)
    monkeypatch.setenv("DW_TEST_PAGER_KEY", PAGER_ENV)
    (tmp_path / "ssl-password").write_text(SSL_FILE + "\n")
    return tmp_path / "ssl-password"


def with_secrets(config: dict[str, Any], ssl_password_file: Path) -> dict[str, Any]:
    """``config`` with a secret of every kind: env, file, inline; Kafka, HTTP, notifiers.

    The Kafka connection stays PLAINTEXT (the test broker has no SASL), so the SASL and SSL
    options travel to the clients without being used."""
    kafka = dict(config.get("kafka", {}))
    kafka["client"] = {
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "driftwarden",
        "sasl_plain_password": {"env": "DW_TEST_SASL_PASSWORD"},
        "ssl_password": {"file": str(ssl_password_file)},
    }
    http = {
        **config.get("http", {}),
        "basic_auth": {"username": "scraper", "password": HTTP_INLINE},
    }
    notifiers = [
        {"name": "hook", "type": "webhook", "url": f"http://127.0.0.1:9/hooks/{HOOK_TOKEN}"},
        {"name": "pager", "type": "pagerduty", "routing_key": {"env": "DW_TEST_PAGER_KEY"}},
    ]
    return {**config, "kafka": kafka, "http": http, "notifiers": notifiers}


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked"


def test_secret_values_finds_every_secret(secret_sources: Path) -> None:
    config = parse_config(with_secrets(MINIMAL, secret_sources))
    url = f"http://127.0.0.1:9/hooks/{HOOK_TOKEN}"  # the whole URL is the secret
    assert secret_values(config) == {SASL_ENV, SSL_FILE, HTTP_INLINE, PAGER_ENV, url}


def test_config_check_and_repr_never_show_secrets(
    tmp_path: Path, secret_sources: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(with_secrets(MINIMAL, secret_sources)))
    assert main(["config", "check", str(path)]) == 0
    captured = capsys.readouterr()
    assert_no_secret(captured.out + captured.err)
    shown = yaml.safe_load(captured.out)
    assert shown["kafka"]["client"]["sasl_plain_password"] == MASK
    assert shown["kafka"]["client"]["ssl_password"] == MASK
    assert shown["http"]["basic_auth"] == {"username": "scraper", "password": MASK}
    assert [n.get("url") or n.get("routing_key") for n in shown["notifiers"]] == [MASK, MASK]

    config = load_config(path)
    settings = RetrainSettings.from_config(config)
    for obj in (config, config.kafka, config.http, config.notifiers, settings):
        assert_no_secret(repr(obj) + str(obj))


@pytest.mark.parametrize(
    "broken",
    [
        # a wrong type next to a secret
        {"kafka": {"client": {"sasl_plain_password": HTTP_INLINE}, "max_poll_records": "many"}},
        # an unknown kafka-python option holding a secret
        {"kafka": {"client": {"sasl_plain_pasword": HTTP_INLINE}}},
        # a secret where a number belongs, and under a key that does not exist
        {"kafka": {"session_timeout_ms": HTTP_INLINE}, "http": {"passwd": HTTP_INLINE}},
        # a secret of the wrong type, and next to a bad username
        {"http": {"basic_auth": {"username": "a:b", "password": HTTP_INLINE}}},
        {"http": {"basic_auth": {"username": "a", "password": [HTTP_INLINE]}}},
        # a notifier URL that is not a URL, a routing key on the wrong type
        {"notifiers": [{"name": "n", "type": "webhook", "url": f"ftp://{HTTP_INLINE}"}]},
        {
            "notifiers": [
                {
                    "name": "n",
                    "type": "slack",
                    "url": "https://x.example",
                    "routing_key": HTTP_INLINE,
                }
            ]
        },
        # a numeric secret (YAML reads an unquoted password of digits as a number)
        {"kafka": {"client": {"ssl_password": int(HTTP_INLINE_DIGITS)}}},
        {"http": {"basic_auth": {"username": "a", "password": int(HTTP_INLINE_DIGITS)}}},
        # a secret in a list where a mapping belongs
        {"kafka": {"client": [HTTP_INLINE]}},
        # an unreadable secret file
        {"kafka": {"client": {"ssl_password": {"file": "/nonexistent/pw"}, "x": HTTP_INLINE}}},
    ],
)
def test_config_errors_never_echo_a_secret(
    tmp_path: Path, broken: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_config({**MINIMAL, **broken})
    for secret in (HTTP_INLINE, HTTP_INLINE_DIGITS):
        assert secret not in str(excinfo.value)
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump({**MINIMAL, **broken}))
    assert main(["config", "check", str(path)]) == 2
    captured = capsys.readouterr()
    assert "invalid setting" in captured.err
    for secret in (HTTP_INLINE, HTTP_INLINE_DIGITS):
        assert secret not in captured.out + captured.err


def test_yaml_syntax_errors_do_not_quote_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(f'kafka:\n  client:\n    sasl_plain_password: "{HTTP_INLINE}\n  x: [\n')
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "invalid YAML" in err and "line 3, column 26" in err
    assert HTTP_INLINE not in err
    path.write_text(f"kafka:\n  client:\n    sasl_plain_password: {HTTP_INLINE}: x\n")
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "mapping values are not allowed here at line 3" in err
    assert HTTP_INLINE not in err


@pytest.fixture
def built_clients(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Records the options of every real kafka-python client created from now on."""
    built: list[tuple[str, dict[str, Any]]] = []
    for cls in (KafkaConsumer, KafkaProducer, KafkaAdminClient):

        def init(self: Any, *topics: Any, _cls: Any = cls, _init: Any = cls.__init__, **kw: Any):  # type: ignore[no-untyped-def]
            built.append((_cls.__name__, dict(kw)))
            _init(self, *topics, **kw)

        monkeypatch.setattr(cls, "__init__", init)
    return built


@pytest.fixture
def broker_config(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path, secret_sources: Path
) -> dict[str, Any]:
    config = monitor_config(broker.bootstrap, topic_names("sec"), tmp_path / "state")
    topics = config["topics"]
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], 1)
    config["models"][0]["training"] = {"data": {"examples": 100}}
    config["registry"] = str(tmp_path / "registry")
    config["worker"] = {"group_id": f"{topics['predictions']}-worker", "http": {"port": 0}}
    return with_secrets(config, secret_sources)


def test_every_client_of_the_monitor_and_the_worker_gets_the_secrets(
    broker_config: dict[str, Any], tmp_path: Path, built_clients: list[tuple[str, dict[str, Any]]]
) -> None:
    config = parse_config(broker_config)
    with ThreadedMonitor(broker_config) as monitor:
        wait_until(lambda: monitor.service.ready, "monitor ready")
    worker = RetrainWorker(RetrainSettings.from_config(config))
    with ServiceThread(worker):
        wait_until(lambda: worker.ready, "worker ready")
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(broker_config))
    assert main(["retrain", "run", "--config", str(path), "--model", "churn"]) == 1  # no data

    kinds = {name for name, _ in built_clients}
    assert kinds == {"KafkaAdminClient", "KafkaConsumer", "KafkaProducer"}
    assert len(built_clients) >= 6  # admin, consumer, producer; worker consumer; run's two
    for name, options in built_clients:
        assert options["sasl_plain_password"] == SASL_ENV, name
        assert options["ssl_password"] == SSL_FILE, name
        assert options["sasl_mechanism"] == "SCRAM-SHA-512", name
        assert options["bootstrap_servers"] == config.kafka.bootstrap_servers, name


@pytest.fixture
def debug_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("kafka").level
    try:
        yield
    finally:
        root.handlers[:], level, kafka_level = saved
        root.setLevel(level)
        logging.getLogger("kafka").setLevel(kafka_level)


def test_debug_logs_of_the_monitor_never_show_a_secret(
    broker_config: dict[str, Any], debug_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config = parse_config(broker_config)
    configure_logging("DEBUG", secrets=secret_values(config))
    logging.getLogger("kafka").setLevel(logging.DEBUG)  # kafka-python logs its configuration
    topics = broker_config["topics"]
    with ThreadedMonitor(broker_config) as monitor:
        produce(
            config.kafka.bootstrap_servers[0],
            [
                (topics["predictions"], b"p-1", PREDICTION),
                (topics["labels"], b"p-1", LABEL),
                (topics["predictions"], b"bad", b"not json"),
            ],
        )

        def consumed() -> bool:
            status, _, body = get(f"{monitor.url}/metrics", auth=("scraper", HTTP_INLINE))
            return (
                status == 200 and b"driftwarden_joined_total{" in body and b"invalid_json" in body
            )

        wait_until(consumed, "the events consumed")
    worker = RetrainWorker(RetrainSettings.from_config(config))
    with ServiceThread(worker):
        wait_until(lambda: worker.ready, "worker ready")
    err = capsys.readouterr().err
    assert "Starting KafkaAdminClient with configuration" in err  # the config was logged ...
    assert f"'sasl_plain_password': '{MASK}'" in err  # ... and redacted
    assert "http: unauthorized" not in err and "apscheduler" in err  # the worker ran too
    assert_no_secret(err)


def test_the_monitor_serves_https_with_basic_auth_and_logs_no_secret(
    broker_config: dict[str, Any], tls_files: TlsFiles, tmp_path: Path
) -> None:
    port = free_port()
    broker_config["http"].update(
        port=port, tls={"cert_file": str(tls_files.cert), "key_file": str(tls_files.key)}
    )
    broker_config["logging"] = {"level": "DEBUG"}
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(broker_config))
    process = MonitorProcess(path, port, tmp_path / "monitor.log").start()
    context = client_context(tls_files.ca)
    url = f"https://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert process.alive(), (tmp_path / "monitor.log").read_text()[-3000:]
            try:
                return get(f"{url}/readyz", context)[0] == 200
            except OSError:
                return False

        wait_until(ready, "monitor ready over https")
        assert get(f"{url}/metrics", context)[0] == 401
        assert get(f"{url}/metrics", context, ("scraper", "wrong"))[0] == 401
        status, _, body = get(f"{url}/metrics", context, ("scraper", HTTP_INLINE))
        assert status == 200 and b"driftwarden_pending" in body
        with pytest.raises(OSError):
            get(f"http://127.0.0.1:{port}/healthz")
    finally:
        assert process.terminate() == 0
    log = (tmp_path / "monitor.log").read_text()
    assert "DEBUG" in log  # the log level took effect
    assert_no_secret(log)


def test_the_worker_serves_https_with_basic_auth(
    broker_config: dict[str, Any], tls_files: TlsFiles
) -> None:
    broker_config["worker"]["http"] = {
        "host": "127.0.0.1",
        "port": 0,
        "tls": {"cert_file": str(tls_files.cert), "key_file": str(tls_files.key)},
        "basic_auth": {"username": "scraper", "password": HTTP_INLINE},
    }
    worker = RetrainWorker(RetrainSettings.from_config(parse_config(broker_config)))
    with ServiceThread(worker) as running:
        wait_until(lambda: worker.http is not None, "worker serving")
        assert worker.http is not None
        url, context = f"https://127.0.0.1:{worker.http.port}", client_context(tls_files.ca)
        assert get(f"{url}/healthz", context)[0] == 200
        assert get(f"{url}/metrics", context)[0] == 401
        status, _, body = get(f"{url}/metrics", context, ("scraper", HTTP_INLINE))
        assert status == 200 and b"driftwarden_retrain_runs_total" in body
    assert not running.thread.is_alive()
