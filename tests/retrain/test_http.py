"""The HTTP endpoints with TLS and basic authentication, against a real server and real
certificates made with openssl at test time."""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from driftwarden.core.http import HealthServer
from driftwarden.core.http_config import BasicAuthConfig, HttpConfig, TlsConfig
from tests.tls import TlsFiles, client_context, get, make_tls_files

PASSWORD = "c0rrect-h0rse-battery"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("driftwarden_test_scrapes", "a metric to find", registry=registry).inc(3)
    return registry


def serve(registry: CollectorRegistry, config: HttpConfig) -> HealthServer:
    return HealthServer.from_config(registry, config, lambda: True).start()


@pytest.fixture
def secure(registry: CollectorRegistry, tls_files: TlsFiles) -> Iterator[str]:
    config = HttpConfig.model_validate(
        {
            "host": "127.0.0.1",
            "port": 0,
            "tls": {"cert_file": str(tls_files.cert), "key_file": str(tls_files.key)},
            "basic_auth": {"username": "prometheus", "password": PASSWORD},
        }
    )
    server = serve(registry, config)
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_https_with_the_ca_serves_metrics_to_the_right_credentials_only(
    secure: str, tls_files: TlsFiles
) -> None:
    context = client_context(tls_files.ca)

    status, headers, _ = get(f"https://{secure}/metrics", context)
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="driftwarden"'
    assert get(f"https://{secure}/metrics", context, ("prometheus", "wrong"))[0] == 401
    assert get(f"https://{secure}/metrics", context, ("grafana", PASSWORD))[0] == 401
    assert get(f"https://{secure}/metrics", context, ("prometheus", PASSWORD + "x"))[0] == 401

    status, _, body = get(f"https://{secure}/metrics", context, ("prometheus", PASSWORD))
    assert status == 200
    assert b"driftwarden_test_scrapes_total 3.0" in body


def test_the_probes_stay_open_and_other_paths_need_credentials(
    secure: str, tls_files: TlsFiles
) -> None:
    context = client_context(tls_files.ca)
    assert get(f"https://{secure}/healthz", context)[:3:2] == (200, b"ok\n")
    assert get(f"https://{secure}/readyz", context)[:3:2] == (200, b"ready\n")
    assert get(f"https://{secure}/metrics?x=1", context)[0] == 401
    assert get(f"https://{secure}/elsewhere", context)[0] == 401
    assert get(f"https://{secure}/elsewhere", context, ("prometheus", PASSWORD))[0] == 404


def test_malformed_authorization_headers_get_401(secure: str, tls_files: TlsFiles) -> None:
    for header in ("Bearer abc", "Basic", "Basic !!!not-base64", "Basic cHJvbWV0aGV1cw=="):
        connection = http.client.HTTPSConnection(
            secure.split(":")[0],
            int(secure.split(":")[1]),
            context=client_context(tls_files.ca),
            timeout=5,
        )
        connection.request("GET", "/metrics", headers={"Authorization": header})
        assert connection.getresponse().status == 401, header
        connection.close()


def test_plain_http_to_the_tls_port_fails(secure: str) -> None:
    with pytest.raises((http.client.HTTPException, OSError)):
        get(f"http://{secure}/healthz")


def test_a_client_without_the_ca_refuses_the_server(secure: str, tls_files: TlsFiles) -> None:
    with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
        get(f"https://{secure}/healthz", client_context(tls_files.other_ca))


def test_the_server_still_serves_after_failed_handshakes(secure: str, tls_files: TlsFiles) -> None:
    for _ in range(3):
        with pytest.raises((http.client.HTTPException, OSError)):
            get(f"http://{secure}/healthz")
    assert get(f"https://{secure}/healthz", client_context(tls_files.ca))[0] == 200


def test_tls_clients_stalled_in_the_handshake_are_dropped_at_the_deadline(
    registry: CollectorRegistry, tls_files: TlsFiles
) -> None:
    config = HttpConfig.model_validate(
        {
            "host": "127.0.0.1",
            "port": 0,
            "request_timeout": 1.0,
            "tls": {"cert_file": str(tls_files.cert), "key_file": str(tls_files.key)},
        }
    )
    server = serve(registry, config)
    try:
        stalled = [
            socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(50)
        ]
        for sock in stalled:
            sock.sendall(b"\x16\x03\x01")  # the start of a ClientHello, and nothing more
        context = client_context(tls_files.ca)
        assert get(f"https://127.0.0.1:{server.port}/healthz", context)[0] == 200
        for sock in stalled:  # closed by the server within the deadline (and a sweep)
            assert sock.recv(1) == b""
            sock.close()
        dropped = registry.get_sample_value(
            "driftwarden_http_connections_dropped_total", {"reason": "deadline"}
        )
        assert dropped == len(stalled)
    finally:
        server.stop()


def test_client_certificates_are_required_with_client_ca_file(
    registry: CollectorRegistry, tls_files: TlsFiles
) -> None:
    config = HttpConfig(
        host="127.0.0.1",
        port=0,
        tls=TlsConfig(
            cert_file=tls_files.cert, key_file=tls_files.key, client_ca_file=tls_files.ca
        ),
    )
    server = serve(registry, config)
    url = f"https://127.0.0.1:{server.port}/metrics"
    try:
        with pytest.raises((ssl.SSLError, OSError, http.client.HTTPException)):
            get(url, client_context(tls_files.ca))
        with_cert = client_context(tls_files.ca, tls_files.client_cert, tls_files.client_key)
        assert get(url, with_cert)[0] == 200
    finally:
        server.stop()


def test_basic_auth_without_tls(registry: CollectorRegistry) -> None:
    config = HttpConfig(
        host="127.0.0.1",
        port=0,
        basic_auth=BasicAuthConfig(username="prometheus", password=PASSWORD),  # type: ignore[arg-type]
    )
    server = serve(registry, config)
    try:
        assert get(f"http://127.0.0.1:{server.port}/metrics")[0] == 401
        assert (
            get(f"http://127.0.0.1:{server.port}/metrics", auth=("prometheus", PASSWORD))[0] == 200
        )
    finally:
        server.stop()


def test_without_security_settings_everything_is_open(registry: CollectorRegistry) -> None:
    server = serve(registry, HttpConfig(host="127.0.0.1", port=0))
    try:
        assert get(f"http://127.0.0.1:{server.port}/metrics")[0] == 200
    finally:
        server.stop()


def test_the_bind_host_is_honoured(registry: CollectorRegistry) -> None:
    server = serve(registry, HttpConfig(host="127.0.0.2", port=0))
    try:
        assert get(f"http://127.0.0.2:{server.port}/healthz")[0] == 200
        with socket.socket() as sock:
            sock.settimeout(2)
            assert sock.connect_ex(("127.0.0.1", server.port)) != 0  # not on another address
    finally:
        server.stop()


def test_an_ipv6_bind_host_is_honoured(registry: CollectorRegistry) -> None:
    server = serve(registry, HttpConfig(host="::1", port=0))
    try:
        assert get(f"http://[::1]:{server.port}/healthz")[0] == 200
        with socket.socket() as sock:
            sock.settimeout(2)
            assert sock.connect_ex(("127.0.0.1", server.port)) != 0
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("tls", "path", "words"),
    [
        ({"cert_file": "absent.pem", "key_file": "k"}, "tls.cert_file", "cannot read"),
        ({"cert_file": "ca.pem", "key_file": "server.key"}, "tls", "not a PEM certificate"),
        ({"cert_file": "server.key", "key_file": "server.key"}, "tls", "not a PEM certificate"),
        (
            {"cert_file": "server.pem", "key_file": "server.key", "client_ca_file": "server.key"},
            "tls",
            "client_ca_file",
        ),
        ({"cert_file": "server.pem"}, "tls.key_file", "Field required"),
    ],
)
def test_bad_tls_settings_name_the_key(
    tls_files: TlsFiles, tls: dict[str, str], path: str, words: str
) -> None:
    from pydantic import ValidationError

    located = {key: str(tls_files.ca.parent / value) for key, value in tls.items()}
    with pytest.raises(ValidationError) as excinfo:
        HttpConfig.model_validate({"tls": located})
    errors = [(".".join(map(str, e["loc"])), e["msg"]) for e in excinfo.value.errors()]
    assert any(loc == path and words in msg for loc, msg in errors), errors


def test_basic_auth_settings_are_checked() -> None:
    from pydantic import ValidationError

    for auth, words in (
        ({"username": "a:b", "password": "p4ssword"}, "must not contain ':'"),
        ({"username": "a", "password": ""}, "must not be empty"),
        ({"username": "", "password": "p4ssword"}, "at least 1"),
        ({"username": "a"}, "Field required"),
    ):
        with pytest.raises(ValidationError, match=words):
            HttpConfig.model_validate({"basic_auth": auth})


def test_the_password_comes_from_env_or_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DW_TEST_HTTP_PASSWORD", "from-env-pw")
    (tmp_path / "pw").write_text("from-file-pw\n")
    by_env = BasicAuthConfig.model_validate(
        {"username": "u", "password": {"env": "DW_TEST_HTTP_PASSWORD"}}
    )
    by_file = BasicAuthConfig.model_validate(
        {"username": "u", "password": {"file": str(tmp_path / "pw")}}
    )
    assert by_env.password.get_secret_value() == "from-env-pw"
    assert by_file.password.get_secret_value() == "from-file-pw"
    assert "from-env-pw" not in repr(by_env) and "from-file-pw" not in str(by_file)


def test_worker_settings_with_tls_and_auth_survive_pickling(tls_files: TlsFiles) -> None:
    """The worker hands its settings to its process pool."""
    import pickle

    from driftwarden.config import parse_config
    from driftwarden.retrain.settings import RetrainSettings

    config = parse_config(
        {
            "models": [{"name": "m", "task": "regression"}],
            "worker": {
                "http": {
                    "tls": {"cert_file": str(tls_files.cert), "key_file": str(tls_files.key)},
                    "basic_auth": {"username": "u", "password": PASSWORD},
                }
            },
        }
    )
    settings = RetrainSettings.from_config(config)
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", 9109)
    again = pickle.loads(pickle.dumps(settings))  # noqa: S301 - our own object
    assert again.http_tls == settings.http_tls and again.http_tls is not None
    assert again.http_basic_auth is not None
    assert again.http_basic_auth.password.get_secret_value() == PASSWORD


@pytest.mark.parametrize(
    ("argv", "worker"),
    [(["monitor", "--config"], False), (["retrain", "worker", "--config"], True)],
)
def test_a_missing_certificate_stops_start_up_with_exit_2(
    tmp_path: Path,
    tls_files: TlsFiles,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    worker: bool,
) -> None:
    import yaml

    from driftwarden.cli import main

    http = {"tls": {"cert_file": str(tmp_path / "absent.pem"), "key_file": str(tls_files.key)}}
    section = {"worker": {"http": http}} if worker else {"http": http}
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump({"models": [{"name": "m", "task": "regression"}], **section}))
    for command in (argv, ["config", "check"]):
        assert main([*command, str(config)]) == 2
        err = capsys.readouterr().err
        key = "worker.http.tls.cert_file" if worker else "http.tls.cert_file"
        assert f"{key}: cannot read '{tmp_path / 'absent.pem'}': No such file or directory" in err
