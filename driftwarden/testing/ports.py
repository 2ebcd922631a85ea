"""Loopback ports for brokers and servers started by tests: a free one, and whether one accepts.

>>> port = free_port()
>>> 1024 <= port <= 65535, port_accepts(port)
(True, False)
"""

from __future__ import annotations

import socket

__all__ = ["free_port", "port_accepts"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago.

    Another process may take it before the caller binds it: a server started on it should
    check that it is still alive (as :class:`~driftwarden.testing.TansuBroker` does).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port`` within ``timeout`` s."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False
