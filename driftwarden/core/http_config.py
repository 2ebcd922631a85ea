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
    key_file: Path
    client_ca_file: Path | None = None

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
    password: SecretStr

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
    port: int = Field(default=9108, ge=0, le=65535)
    tls: TlsConfig | None = None
    basic_auth: BasicAuthConfig | None = None
    # Connections open at once; more are closed as soon as they are accepted.
    max_connections: int = Field(default=512, gt=0)
    # Seconds from accepting a connection to the last byte of its response (TLS handshake and
    # request included): a client that is slower is disconnected.
    request_timeout: float = Field(default=10.0, gt=0)
