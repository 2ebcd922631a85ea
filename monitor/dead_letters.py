"""Dead-letter records that always fit the output producer's record size limit; no I/O.

A dead letter copies the rejected message's key, value and headers and adds its own headers
(``error``, ``error-detail``, ``source-*``). The monitor must be able to publish it whatever the
input was, so when the copy would exceed the limit it is cut down, in this order, and says so:
the value is truncated (header ``value-truncated``: the original size in bytes), then the original
headers are dropped (``headers-dropped``: how many), then the key is truncated
(``key-truncated``: the original size). Original headers with the name of one of these headers
are dropped, so that each of them appears exactly once.

>>> letter = dead_letter(b"k", b"x" * 2000, [("trace", b"1")], "message_too_large", "big",
...                      ("predictions", 0, 7), limit=1500)
>>> len(letter.value) < 1500, header(letter.headers, "value-truncated"), letter.key
(True, b'2000', b'k')
>>> record_size(letter.key, letter.value, letter.headers) <= 1500
True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from driftwarden.config import MonitorConfig

__all__ = [
    "DEFAULT_MAX_REQUEST_SIZE",
    "DeadLetter",
    "dead_letter",
    "header",
    "input_limit",
    "output_limit",
    "record_size",
    "source_headers",
]

Headers = list[tuple[str, bytes]]

DEFAULT_MAX_REQUEST_SIZE = 1_048_576  # kafka-python's producer default
_BATCH_OVERHEAD = 512  # record batch header (61 bytes) and record varints, with room to spare
_HEADER_OVERHEAD = 10  # two varints per header
_INPUT_HEADROOM = 4096  # room left in an output record for the headers the monitor adds
_RESERVED = frozenset(
    {
        "error",
        "error-detail",
        "source-topic",
        "source-partition",
        "source-offset",
        "value-truncated",
        "headers-dropped",
        "key-truncated",
    }
)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: Headers


def output_limit(config: MonitorConfig) -> int:
    """Largest output record (key + value + headers) to hand the producer."""
    size = config.kafka.client_options("producer").get("max_request_size")
    return int(size or DEFAULT_MAX_REQUEST_SIZE) - _BATCH_OVERHEAD


def input_limit(config: MonitorConfig) -> int:
    """Largest input value the monitor applies; larger ones are dead-lettered."""
    return output_limit(config) - _INPUT_HEADROOM


def source_headers(topic: str, partition: int, offset: int) -> Headers:
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
    return len(key or b"") + len(value or b"") + _headers_size(headers)


def _headers_size(headers: Headers) -> int:
    return sum(len(k.encode()) + len(v) + _HEADER_OVERHEAD for k, v in headers)


def dead_letter(
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes | None]],
    reason: str,
    detail: str,
    source: tuple[str, int, int],
    limit: int,
) -> DeadLetter:
    """The dead letter of a rejected message, at most ``limit`` bytes (see the module doc)."""
    theirs: Headers = [(k, v) for k, v in headers if v is not None and k not in _RESERVED]
    ours: Headers = [("error", reason.encode()), ("error-detail", detail[:1000].encode())]
    ours += source_headers(*source)
    # Room for the key, value and original headers, keeping space for the truncation headers.
    room = limit - _headers_size(ours) - 3 * (len("headers-dropped") + 20 + _HEADER_OVERHEAD)
    if record_size(key, value, theirs) > room and value:
        keep = max(room - record_size(key, None, theirs), 0)
        ours.append(("value-truncated", str(len(value)).encode()))
        value = value[:keep]
    if record_size(key, value, theirs) > room and theirs:
        ours.append(("headers-dropped", str(len(theirs)).encode()))
        theirs = []
    if record_size(key, value, theirs) > room and key:
        ours.append(("key-truncated", str(len(key)).encode()))
        key = key[: max(room - len(value or b""), 0)]
    return DeadLetter(key, value, theirs + ours)
