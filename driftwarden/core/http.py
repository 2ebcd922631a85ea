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
import io
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from driftwarden.core.http_config import BasicAuthConfig, HttpConfig, TlsConfig
from driftwarden.core.http_listener import BoundedListener

__all__ = ["OPEN_PATHS", "REALM", "HealthServer", "credentials_match"]

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz", "/readyz"})  # never behind basic authentication
REALM = "driftwarden"
_BACKLOG = 128


class HealthServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` on a background thread.

    At most ``max_connections`` connections at once, each closed ``request_timeout`` seconds
    after it was accepted (see :mod:`driftwarden.core.http_listener`).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        host: str,
        port: int,
        ready: Callable[[], bool],
        *,
        tls: TlsConfig | None = None,
        basic_auth: BasicAuthConfig | None = None,
        max_connections: int = 512,
        request_timeout: float = 10.0,
    ) -> None:
        endpoints = _Endpoints(registry, ready, _expected_digest(basic_auth))
        family = socket.AF_INET6 if ":" in host else socket.AF_INET  # an IPv6 address: "::1"
        self._registry = registry
        self.tls = tls is not None
        self._listener = BoundedListener(
            socket.create_server((host, port), family=family, backlog=_BACKLOG),
            lambda head, peer: _Exchange(head, peer, endpoints).response(),
            max_connections=max_connections,
            request_timeout=request_timeout,
            tls=tls.server_context() if tls is not None else None,
        )

    @classmethod
    def from_config(
        cls, registry: CollectorRegistry, config: HttpConfig, ready: Callable[[], bool]
    ) -> HealthServer:
        return cls(
            registry,
            config.host,
            config.port,
            ready,
            tls=config.tls,
            basic_auth=config.basic_auth,
            max_connections=config.max_connections,
            request_timeout=config.request_timeout,
        )

    @property
    def port(self) -> int:
        return self._listener.port

    def start(self) -> HealthServer:
        self._registry.register(self._listener.metrics)
        self._listener.start()
        return self

    def stop(self) -> None:
        self._listener.stop()
        self._registry.unregister(self._listener.metrics)


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


@dataclass(frozen=True)
class _Endpoints:
    registry: CollectorRegistry
    ready: Callable[[], bool]
    expected: bytes | None  # digest of the basic credentials, None: no authentication


class _Exchange(BaseHTTPRequestHandler):
    """One request head in, one response out: the listener does the socket I/O."""

    def __init__(self, head: bytes, peer: str, endpoints: _Endpoints) -> None:
        # No socket and no BaseRequestHandler.__init__: reading and writing happen in memory.
        self.client_address = (peer, 0)
        self.rfile = io.BytesIO(head)
        self._out = io.BytesIO()
        self.wfile = self._out
        self.close_connection = True
        self._endpoints = endpoints

    def response(self) -> bytes:
        self.handle_one_request()
        return self._out.getvalue()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        expected = self._endpoints.expected
        if expected is not None and path not in OPEN_PATHS:
            if not credentials_match(self.headers.get("Authorization"), expected):
                log.debug("http: unauthorized request for %s", path)
                self._send(401, b"unauthorized\n", authenticate=True)
                return
        if path == "/metrics":
            self._send(200, generate_latest(self._endpoints.registry), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._send(200, b"ok\n")
        elif path == "/readyz":
            ok = self._endpoints.ready()
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
