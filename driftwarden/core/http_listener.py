"""Connections of the HTTP endpoints: a cap on how many, a deadline on each, no thread per client.

One selector thread accepts, completes TLS handshakes and reads request heads without blocking;
a small pool answers the requests that arrived whole; the selector thread writes the answers
back. A client that sends slowly (or not at all) costs a socket and a few bytes, never a thread,
so a scrape is answered while hundreds of such clients are connected. Every connection is closed
``request_timeout`` seconds after it was accepted, answered or not; connections beyond
``max_connections`` are closed as soon as they are accepted. Both are counted in
``driftwarden_http_connections_dropped_total{reason}`` and logged at most once a minute.
"""

from __future__ import annotations

import logging
import queue
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from driftwarden.core.metric_spec import counter_family, gauge_family
from driftwarden.core.metrics import HTTP_CONNECTIONS_DROPPED, HTTP_CONNECTIONS_OPEN

__all__ = ["DROP_REASONS", "BoundedListener"]

log = logging.getLogger(__name__)

DROP_REASONS = ("over_limit", "deadline")
MAX_REQUEST_HEAD = 16384  # bytes of request line and headers; the endpoints take no body
_HANDLER_THREADS = 4
_SWEEP_EVERY_S = 0.1  # how often deadlines are checked
_LOG_EVERY_S = 60.0
_ACCEPT_PAUSE_S = 0.5  # after accept() failed, e.g. out of file descriptors
_HEAD_ENDS = (b"\r\n\r\n", b"\n\n")

Respond = Callable[[bytes, str], bytes]  # request head, peer address -> the whole response


@dataclass(eq=False)
class _Connection:
    sock: socket.socket
    peer: str
    deadline: float  # monotonic
    handshaken: bool = False  # TLS only
    head: bytearray = field(default_factory=bytearray)
    reply: memoryview | None = None
    closed: bool = False


class BoundedListener:
    """Serve ``respond`` on ``listener`` (a bound, listening socket) until :meth:`stop`."""

    def __init__(
        self,
        listener: socket.socket,
        respond: Respond,
        *,
        max_connections: int,
        request_timeout: float,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._listener = listener
        self._respond = respond
        self._max = max_connections
        self._timeout = request_timeout
        self._tls = tls
        self._open: set[_Connection] = set()
        self._answered: queue.SimpleQueue[_Connection] = queue.SimpleQueue()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = False
        self._accept_paused_until: float | None = None
        self._pool = ThreadPoolExecutor(_HANDLER_THREADS, thread_name_prefix="http-handler")
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)
        self.dropped = dict.fromkeys(DROP_REASONS, 0)
        self._unlogged = dict.fromkeys(DROP_REASONS, 0)
        self._last_log = -_LOG_EVERY_S
        self.metrics = _ConnectionMetrics(self)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def start(self) -> None:
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()
        self._selector.close()

    def _run(self) -> None:
        while not self._stopping:
            for key, _ in self._selector.select(timeout=_SWEEP_EVERY_S):
                try:
                    self._dispatch(key)
                except Exception:  # a bug must not end the endpoints: drop that connection
                    log.exception("http: unexpected error serving a connection")
                    if isinstance(key.data, _Connection):
                        self._close(key.data)
            self._sweep()
        for connection in list(self._open):
            self._close(connection)

    def _dispatch(self, key: selectors.SelectorKey) -> None:
        if key.fileobj is self._listener:
            self._accept()
        elif key.fileobj is self._wake_r:
            self._take_answers()
        else:
            self._advance(key.data)

    def _accept(self) -> None:
        while True:
            try:
                sock, address = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:  # EMFILE and the like: let the sweep retry shortly
                log.warning("http: cannot accept connections: %s", exc)
                self._selector.unregister(self._listener)
                self._accept_paused_until = time.monotonic() + _ACCEPT_PAUSE_S
                return
            if len(self._open) >= self._max:
                self._count("over_limit", address[0])
                sock.close()
                continue
            sock.setblocking(False)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            connection = _Connection(sock, address[0], time.monotonic() + self._timeout)
            self._open.add(connection)
            self._selector.register(sock, selectors.EVENT_READ, connection)

    def _advance(self, connection: _Connection) -> None:
        """Move one connection on as far as its socket allows: handshake, read, or write."""
        sock = connection.sock
        try:
            if isinstance(sock, ssl.SSLSocket) and not connection.handshaken:
                sock.do_handshake()
                connection.handshaken = True
            if connection.reply is None:
                self._read(connection)
            else:
                self._write(connection)
        except ssl.SSLWantReadError:
            self._selector.modify(sock, selectors.EVENT_READ, connection)
        except ssl.SSLWantWriteError:
            self._selector.modify(sock, selectors.EVENT_WRITE, connection)
        except BlockingIOError:
            return  # still registered for what it waits for
        except OSError as exc:  # a failed handshake (plain HTTP on the TLS port), a reset
            log.debug("http: connection from %s failed: %s", connection.peer, exc)
            self._close(connection)

    def _read(self, connection: _Connection) -> None:
        sock, head = connection.sock, connection.head
        while True:
            chunk = sock.recv(MAX_REQUEST_HEAD)
            if not chunk:
                self._close(connection)
                return
            head += chunk
            if any(end in head for end in _HEAD_ENDS):
                self._selector.unregister(sock)
                self._pool.submit(self._answer, connection)
                return
            if len(head) > MAX_REQUEST_HEAD:
                log.debug("http: request head from %s too long", connection.peer)
                self._close(connection)
                return
            if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                return  # the selector says when more arrives

    def _answer(self, connection: _Connection) -> None:
        """On a pool thread: the response to a whole request head, handed back to be written."""
        try:
            reply = self._respond(bytes(connection.head), connection.peer)
        except Exception:
            log.exception("http: answering a request from %s failed", connection.peer)
            reply = b"HTTP/1.0 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
        connection.reply = memoryview(reply)
        self._answered.put(connection)
        self._wake()

    def _take_answers(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        while not self._answered.empty():
            connection = self._answered.get()
            if not connection.closed:  # its deadline may have passed meanwhile
                self._selector.register(connection.sock, selectors.EVENT_WRITE, connection)
                self._advance(connection)

    def _write(self, connection: _Connection) -> None:
        reply = connection.reply
        assert reply is not None  # noqa: S101 - only called once there is one
        while reply:
            reply = reply[connection.sock.send(reply) :]
            connection.reply = reply
        try:
            connection.sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            log.debug("http: shutting down the connection to %s: %s", connection.peer, exc)
        self._close(connection)

    def _sweep(self) -> None:
        now = time.monotonic()
        for connection in [c for c in self._open if c.deadline <= now]:
            self._count("deadline", connection.peer)  # first: a client sees the close after it
            self._close(connection)
        if self._accept_paused_until is not None and now >= self._accept_paused_until:
            self._accept_paused_until = None
            self._selector.register(self._listener, selectors.EVENT_READ)

    def _close(self, connection: _Connection) -> None:
        if connection.closed:
            return
        connection.closed = True
        self._open.discard(connection)
        if connection.sock in self._selector.get_map():
            self._selector.unregister(connection.sock)
        connection.sock.close()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:  # the buffer is full (a wake-up is pending anyway) or stopped
            return

    def _count(self, reason: str, peer: str) -> None:
        self.dropped[reason] += 1
        self._unlogged[reason] += 1
        now = time.monotonic()
        if now - self._last_log < _LOG_EVERY_S:
            return
        self._last_log = now
        log.warning(
            "http: closed %d connection(s) beyond http.max_connections (%d) and %d that did not "
            "complete a request within http.request_timeout (%gs) since the last report, the "
            "latest from %s; if these are your scrapers or probes, raise those keys, otherwise "
            "block the clients in front of the service (network policy, firewall)",
            self._unlogged["over_limit"],
            self._max,
            self._unlogged["deadline"],
            self._timeout,
            peer,
        )
        self._unlogged = dict.fromkeys(DROP_REASONS, 0)


class _ConnectionMetrics(Collector):
    """The listener's connection counts, read at scrape time."""

    def __init__(self, listener: BoundedListener) -> None:
        self._listener = listener

    def collect(self) -> Iterator[Metric]:
        dropped = counter_family(HTTP_CONNECTIONS_DROPPED)
        for reason in DROP_REASONS:
            dropped.add_metric([reason], self._listener.dropped[reason])
        yield dropped
        connections = gauge_family(HTTP_CONNECTIONS_OPEN)
        connections.add_metric([], self._listener.open_connections)
        yield connections
