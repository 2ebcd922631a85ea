"""What the contracts' records share: headers, the source headers, and a record's size.

>>> source_headers("predictions", 2, 41)
[('source-topic', b'predictions'), ('source-partition', b'2'), ('source-offset', b'41')]
>>> header([("error", b"a"), ("error", b"b")], "error")
b'b'
>>> record_size(b"k", b"{}", [("error", b"invalid_json")])
30
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

__all__ = [
    "HEADER_OVERHEAD",
    "Headers",
    "Record",
    "header",
    "headers_size",
    "record_size",
    "source_headers",
]

Headers = list[tuple[str, bytes]]

HEADER_OVERHEAD = 10  # two varints per header


class Record(NamedTuple):
    """A record to produce: key, value and headers."""

    key: bytes | None
    value: bytes | None
    headers: Headers


def source_headers(topic: str, partition: int, offset: int) -> Headers:
    """Where a record came from: ``source-topic``, ``source-partition``, ``source-offset``."""
    return [
        ("source-topic", topic.encode()),
        ("source-partition", str(partition).encode()),
        ("source-offset", str(offset).encode()),
    ]


def header(headers: Iterable[tuple[str, bytes | None]], name: str) -> bytes | None:
    """The value of the last header called ``name``, else None."""
    found = None
    for key, value in headers:
        if key == name:
            found = value
    return found


def record_size(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """Bytes of key, value and headers, with the headers' framing."""
    return len(key or b"") + len(value or b"") + headers_size(headers)


def headers_size(headers: Headers) -> int:
    """Bytes of ``headers``, with their framing."""
    return sum(len(k.encode()) + len(v) + HEADER_OVERHEAD for k, v in headers)
