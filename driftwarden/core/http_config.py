"""``http`` and ``worker.http``: where the HTTP endpoints are served and how they are protected."""

from __future__ import annotations

import ssl
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from driftwarden.core.config import Strict, resolve_secret

__all__ = ["BasicAuthConfig", "HttpConfig", "TlsConfig"]


class TlsConfig(Strict):
    """``http.tls``: serve HTTPS with this certificate; with ``client_ca_file``, also require
    client certificates signed by that CA (mutual TLS)."""

    cert_file: Path
    """PEM certificate (chain) the service presents."""
    key_file: Path
    """Unencrypted PEM private key of `cert_file`."""
    client_ca_file: Path | None = None
    """PEM CA certificates; when set, clients must present a certificate signed by one of them
    (mutual TLS).
    """

    @field_validator("cert_file", "key_file", "client_ca_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                value.read_bytes()
            except OSError as exc:
                raise ValueError(f"cannot read {str(value)!r}: {exc.strerror}") from exc
        return value

    @model_validator(mode="after")
    def _loadable(self) -> TlsConfig:
        self.server_context()
        return self

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context (TLS 1.2 or newer) with the certificate and key loaded."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
        except ssl.SSLError as exc:
            raise ValueError(
                "cert_file and key_file are not a PEM certificate and its unencrypted private "
                f"key ({exc.reason or exc})"
            ) from None
        if self.client_ca_file is not None:
            try:
                context.load_verify_locations(cafile=self.client_ca_file)
            except ssl.SSLError as exc:
                raise ValueError(
                    f"client_ca_file is not a PEM CA certificate ({exc.reason or exc})"
                ) from None
            context.verify_mode = ssl.CERT_REQUIRED
        return context


class BasicAuthConfig(Strict):
    """``http.basic_auth``: HTTP basic authentication for ``/metrics``.

    ``password`` is a secret: write it as ``{env: NAME}`` or ``{file: PATH}``.
    """

    username: str = Field(min_length=1)
    """User name; must not contain `:`."""
    password: SecretStr
    """Password, a secret: `{env: NAME}`, `{file: PATH}` or inline; masked by `config check`."""

    @field_validator("username")
    @classmethod
    def _no_colon(cls, value: str) -> str:
        if ":" in value:
            raise ValueError("must not contain ':' (basic authentication separates on it)")
        return value

    @field_validator("password", mode="before")
    @classmethod
    def _resolve(cls, value: object) -> object:
        return resolve_secret(value)

    @field_validator("password")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value


class HttpConfig(Strict):
    """``http`` (the monitor) and ``worker.http``: where ``/metrics``, ``/healthz`` and
    ``/readyz`` are served, and how they are protected."""

    host: str = "0.0.0.0"  # noqa: S104 - a service in a container listens on all interfaces
    """Listen address of `/metrics`, `/healthz`, `/readyz`: an IPv4 or IPv6 address (`127.0.0.1`,
    `::1`, `::`) or a host name.
    """
    port: int = Field(default=9108, ge=0, le=65535)
    """Listen port; `0` picks a free port."""
    tls: TlsConfig | None = None
    """Serve HTTPS (TLS 1.2 or newer) instead of HTTP. `cert_file`: PEM certificate (chain);
    `key_file`: its unencrypted PEM private key. With `client_ca_file` (PEM CA certificates),
    clients must present a certificate signed by one of them (mutual TLS). The files are read
    when the config is loaded: a missing, unreadable or mismatched file is a config error (exit
    2). They are not read again: restart the service after renewing the certificate.
    """
    basic_auth: BasicAuthConfig | None = None
    """Require HTTP basic authentication for every path except `/healthz` and `/readyz`. `password`
    is a secret (`{env: NAME}`, `{file: PATH}` or inline; masked by `config check`); `username`
    must not contain `:`. Without TLS, the password crosses the network in clear text: use both.
    """
    max_connections: int = Field(default=512, gt=0)
    """Connections open at once. One more is closed as soon as it is accepted and counted in
    `driftwarden_http_connections_dropped_total{reason="over_limit"}`. A waiting client costs a
    socket, not a thread.
    """
    request_timeout: float = Field(default=10.0, gt=0)
    """Time from accepting a connection to the last byte of its response, TLS handshake included. A
    client still sending its request then (a slow or idle client) is disconnected and counted
    with `reason="deadline"`. One request per connection.
    """
