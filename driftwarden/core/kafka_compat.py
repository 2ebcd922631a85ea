"""A fix for kafka-python's consumer: header keys that are not UTF-8.

kafka-python decodes every header key strictly as UTF-8 while it reads a record batch. A key
that is not UTF-8 (the Java client never writes one, other clients can) raises
``CorruptRecordError`` from ``poll()`` for the record and every later record of its batch, and the
next ``poll()`` then spins without returning: one such message would stop a consumer for good.
:func:`install` makes the consumer decode such keys the way the Java client does, replacing
invalid bytes with U+FFFD, so the message is processed (and, if invalid, dead-lettered) like any
other. Records whose keys are valid UTF-8 take the unchanged path and cost nothing extra.

>>> install()
>>> from kafka.record.default_records import DefaultRecordBatchBuilder
>>> from kafka.record.memory_records import MemoryRecords
>>> class RawKey(str):  # writes bytes that are not UTF-8
...     def encode(self, *args: object, **kwargs: object) -> bytes:
...         return b"\\xff-key"
>>> builder = DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, 1000000)
>>> _ = builder.append(0, 0, b"k", b"v", [(RawKey(), b"1")])
>>> _ = builder.append(1, 0, b"k2", b"v2", [])
>>> batch = MemoryRecords(bytes(builder.build())).next_batch()
>>> [(record.offset, record.headers) for record in batch]
[(0, [('\\ufffd-key', b'1')]), (1, [])]
"""

from __future__ import annotations

from typing import Any, SupportsIndex

from kafka.record import default_records

__all__ = ["install"]

_MARK = "_driftwarden_lenient_header_keys"


class _LenientBytes(bytes):
    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return bytes.decode(self, encoding, "replace")


class _LenientBuffer(bytearray):
    """A record batch buffer whose slices decode leniently."""

    def __getitem__(self, index: SupportsIndex | slice) -> Any:
        item = super().__getitem__(index)
        return _LenientBytes(item) if isinstance(index, slice) else item


def install() -> None:
    """Patch kafka-python's record reader once per process (idempotent)."""
    batch = default_records.DefaultRecordBatch
    if getattr(batch._read_msg, _MARK, False):  # noqa: SLF001 - the method being fixed
        return
    strict = batch._read_msg  # noqa: SLF001

    def read_msg(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = self._pos
        try:
            return strict(self, *args, **kwargs)
        except UnicodeDecodeError:
            buffer, self._pos = self._buffer, start
            self._buffer = _LenientBuffer(buffer)
            try:
                return strict(self, *args, **kwargs)
            finally:
                self._buffer = buffer

    setattr(read_msg, _MARK, True)
    batch._read_msg = read_msg  # noqa: SLF001
