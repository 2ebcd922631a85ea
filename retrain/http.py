"""``/metrics``, ``/healthz`` and ``/readyz`` on a background thread, for both services.

Optionally over TLS (``http.tls``) and with HTTP basic authentication (``http.basic_auth``).
Authentication protects every path but the probes, ``/healthz`` and ``/readyz``: they reveal
nothing but "ok" and "ready", and kubelet and container health checks cannot send credentials
without putting them in clear text into the pod spec or the image.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from retrain.config import BasicAuthConfig, HttpConfig, TlsConfig

__all__ = ["OPEN_PATHS", "REALM", "HealthServer", "credentials_match"]

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz", "/readyz"})  # never behind basic authentication
REALM = "driftwarden"
_HANDSHAKE_TIMEOUT = 10.0  # seconds a client gets to complete the TLS handshake and request


class HealthServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` on a background thread."""

    def __init__(
        self,
        registry: CollectorRegistry,
        host: str,
        port: int,
        ready: Callable[[], bool],
        *,
        tls: TlsConfig | None = None,
        basic_auth: BasicAuthConfig | None = None,
    ) -> None:
        handler = _make_handler(registry, ready, _expected_digest(basic_auth))
        server = _Server6 if ":" in host else _Server  # an IPv6 address such as "::1"
        self._server = server((host, port), handler)
        self._server.daemon_threads = True
        self.tls = tls is not None
        if tls is not None:
            self._server.socket = tls.server_context().wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    @classmethod
    def from_config(
        cls, registry: CollectorRegistry, config: HttpConfig, ready: Callable[[], bool]
    ) -> HealthServer:
        return cls(
            registry, config.host, config.port, ready, tls=config.tls, basic_auth=config.basic_auth
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A failed TLS handshake (e.g. plain HTTP to the TLS port) or a dropped client: no
        # traceback on stderr, which is what socketserver prints by default.
        log.debug("http: request from %s failed", client_address[0], exc_info=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


def _expected_digest(auth: BasicAuthConfig | None) -> bytes | None:
    if auth is None:
        return None
    pair = f"{auth.username}:{auth.password.get_secret_value()}".encode()
    return hashlib.sha256(pair).digest()


def credentials_match(header: str | None, expected_digest: bytes) -> bool:
    """Whether an ``Authorization`` header carries the expected basic credentials.

    Both sides are hashed first and compared in constant time, so neither the content nor the
    length of the configured credentials shows in the response time.

    >>> expected = hashlib.sha256(b"prometheus:pw").digest()
    >>> credentials_match("Basic " + base64.b64encode(b"prometheus:pw").decode(), expected)
    True
    >>> credentials_match("Basic " + base64.b64encode(b"prometheus:no").decode(), expected)
    False
    >>> credentials_match(None, expected), credentials_match("Basic !!", expected)
    (False, False)
    """
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(hashlib.sha256(given).digest(), expected_digest)


def _make_handler(
    registry: CollectorRegistry, ready: Callable[[], bool], expected: bytes | None
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = _HANDSHAKE_TIMEOUT

        def setup(self) -> None:
            super().setup()  # applies the timeout to the connection
            if isinstance(self.connection, ssl.SSLSocket):
                self.connection.do_handshake()  # here, not in the accepting thread

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = self.path.split("?", 1)[0]
            if expected is not None and path not in OPEN_PATHS:
                if not credentials_match(self.headers.get("Authorization"), expected):
                    log.debug("http: unauthorized request for %s", path)
                    self._send(401, b"unauthorized\n", authenticate=True)
                    return
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._send(200, b"ok\n")
            elif path == "/readyz":
                ok = ready()
                self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
            else:
                self._send(404, b"not found\n")

        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str = "text/plain",
            authenticate: bool = False,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if authenticate:
                self.send_header("WWW-Authenticate", f'Basic realm="{REALM}"')
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            log.debug("http: %s", format % args)

    return Handler
