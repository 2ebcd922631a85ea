"""Dead-letter records that always fit the output producer's record size limit; no I/O.

A dead letter copies the rejected message's key, value and headers and adds its own headers
(``error``, ``error-detail``, ``source-*``). The monitor must be able to publish it whatever the
input was, so when the copy would exceed the limit it is cut down, in this order, and says so:
the value is truncated (header ``value-truncated``: the original size in bytes), then the original
headers are dropped (``headers-dropped``: how many), then the key is truncated
(``key-truncated``: the original size). Original headers with the name of one of these headers
are dropped, so that each of them appears exactly once.

>>> from driftwarden.contracts.records import header, record_size
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

from driftwarden.contracts.records import (
    HEADER_OVERHEAD,
    Headers,
    headers_size,
    record_size,
    source_headers,
)

__all__ = ["DEAD_LETTER_HEADERS", "DeadLetter", "dead_letter"]

DEAD_LETTER_HEADERS = frozenset(
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
"""The headers a dead letter adds; original headers of these names are dropped."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: Headers


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
    theirs: Headers = [(k, v) for k, v in headers if v is not None and k not in DEAD_LETTER_HEADERS]
    ours: Headers = [("error", reason.encode()), ("error-detail", detail[:1000].encode())]
    ours += source_headers(*source)
    # Room for the key, value and original headers, keeping space for the truncation headers.
    room = limit - headers_size(ours) - 3 * (len("headers-dropped") + 20 + HEADER_OVERHEAD)
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
