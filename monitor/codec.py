"""The explicit, versioned encoding of monitor state: plain data in, plain data out.

State classes turn themselves into JSON-ready documents (``to_state``) and back (``from_state``
or ``restore_state``) with the helpers here; :func:`dump_document` writes a document as
zlib-compressed JSON (orjson) under a schema version, :func:`load_document` reads one back.
Nothing in a document names a class or a function: a reader only ever builds the types its code
asks for, so bytes from anywhere cannot make it run code.

Reading is total: any byte string yields a document or one :class:`StateDecodeError`.
Decompression stops at a fixed size, and every number, string, list and array is checked
against the type (and for arrays the dtype, from an allow-list, and the shape) the reader
expects. Floats are JSON numbers when finite; ``inf``, ``-inf`` and ``nan`` are written as
those strings, which JSON cannot carry otherwise.

>>> blob = dump_document("example", {"values": encode_floats([1.5, float("-inf")])})
>>> decode_floats(load_document(blob, "example", 1 << 20)["values"])
[1.5, -inf]
>>> load_document(b"not zlib", "example", 1 << 20)
Traceback (most recent call last):
...
driftwarden.monitor.codec.StateDecodeError: not a compressed state document: ...
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import math
import types
import typing
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import fields
from typing import Any, TypeVar

import numpy as np
import orjson
from numpy.typing import NDArray

from driftwarden.monitor.errors import MonitorError

__all__ = [
    "MAX_RATIO",
    "RATIO_FLOOR",
    "SCHEMA_VERSION",
    "Doc",
    "StateDecodeError",
    "StateTooLarge",
    "decode_array",
    "decode_fields",
    "decode_float",
    "decode_floats",
    "decode_scalar",
    "decoding",
    "dump_document",
    "encode_array",
    "encode_fields",
    "encode_float",
    "encode_floats",
    "encode_scalar",
    "load_document",
    "need",
    "need_bool",
    "need_dict",
    "need_float",
    "need_int",
    "need_list",
    "need_str",
]

SCHEMA_VERSION = 1
MAX_RATIO = 100  # inflated bytes per compressed byte a document may reach
RATIO_FLOOR = 8 << 20  # ... or this many bytes, whatever its compressed size
_INT64 = 1 << 63
_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
# The only dtypes a document may hold; little-endian on the wire whatever the machine.
_DTYPES = {
    name: np.dtype(name).newbyteorder("<")
    for name in ("int16", "int32", "int64", "uint8", "float64")
}

Doc = dict[str, Any]
T = TypeVar("T")


class StateDecodeError(MonitorError, ValueError):
    """Bytes or a document that are not monitor state this version can read."""


class StateTooLarge(StateDecodeError):
    """A document that would inflate beyond its size limit."""


@contextlib.contextmanager
def decoding() -> Iterator[None]:
    """Turn any error a malformed document may still cause into :class:`StateDecodeError`."""
    try:
        yield
    except StateDecodeError:
        raise
    except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as exc:
        raise StateDecodeError(f"state does not decode: {type(exc).__name__}: {exc}") from exc


def dump_document(kind: str, body: Doc) -> bytes:
    """``body`` under ``{"schema": 1, "kind": kind}``, as compressed JSON."""
    return zlib.compress(orjson.dumps({"schema": SCHEMA_VERSION, "kind": kind, **body}), 1)


def load_document(blob: bytes, kind: str, max_bytes: int) -> Doc:
    """The document of ``kind`` in ``blob``; :class:`StateDecodeError` if it is not one, or if
    it inflates to more than ``max_bytes``, or to more than :data:`MAX_RATIO` times its
    compressed size (at least :data:`RATIO_FLOOR`): encoded state compresses about 4 to 1,
    a zlib bomb about 1000 to 1, and it is stopped before it is inflated."""
    limit = min(max_bytes, max(len(blob) * MAX_RATIO, RATIO_FLOOR))
    inflate = zlib.decompressobj()
    try:
        text = inflate.decompress(blob, limit)
    except (zlib.error, TypeError) as exc:
        raise StateDecodeError(f"not a compressed state document: {exc}") from exc
    if inflate.unconsumed_tail:
        raise StateTooLarge(
            f"state document of {len(blob)} bytes inflates to more than {limit} bytes"
        )
    if not inflate.eof:
        raise StateDecodeError("state document is truncated")
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise StateDecodeError(f"state document is not JSON: {exc}") from exc
    doc = need_dict(doc, "document")
    schema = doc.get("schema")
    if type(schema) is not int or schema != SCHEMA_VERSION:
        raise StateDecodeError(f"unsupported state schema {schema!r}, expected {SCHEMA_VERSION}")
    if doc.get("kind") != kind:
        raise StateDecodeError(f"a {doc.get('kind')!r} document where {kind!r} was expected")
    return doc


def need(doc: Doc, key: str) -> Any:
    if key not in doc:
        raise StateDecodeError(f"missing field {key!r}")
    return doc[key]


def need_dict(value: object, what: str) -> Doc:
    if not isinstance(value, dict):
        raise StateDecodeError(f"{what} must be an object")
    return value


def need_list(value: object, what: str, length: int | None = None) -> list[Any]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise StateDecodeError(f"{what} must be a list" + (f" of {length}" if length else ""))
    return value


def need_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise StateDecodeError(f"{what} must be a string")
    return value


def need_bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise StateDecodeError(f"{what} must be true or false")
    return value


def need_int(value: object, what: str, low: int = -_INT64, high: int = _INT64 - 1) -> int:
    if type(value) is not int or not low <= value <= high:
        raise StateDecodeError(f"{what} must be an integer in [{low}, {high}]")
    return value


def need_float(value: object, what: str) -> float:
    return decode_float(value, what)


def encode_float(value: float) -> float | str:
    """A finite float as itself; ``inf``, ``-inf`` and ``nan`` as those strings."""
    value = float(value)
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def decode_float(value: object, what: str = "number") -> float:
    if type(value) is float or type(value) is int:
        return float(value)
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    raise StateDecodeError(f"{what} must be a number")


def encode_floats(values: Iterable[float]) -> list[float | str]:
    return [encode_float(v) for v in values]


def decode_floats(value: object, what: str = "numbers") -> list[float]:
    return [decode_float(v, what) for v in need_list(value, what)]


def encode_scalar(value: object) -> object:
    """A JSON scalar (None, bool, int, str, float); a non-finite float as ``{"float": "inf"}``."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": encode_float(value)}
    return value


def decode_scalar(value: object, what: str) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict) and set(value) == {"float"}:
        return decode_float(value["float"], what)
    raise StateDecodeError(f"{what} must be a scalar")


def encode_array(array: NDArray[Any]) -> Doc:
    """``{"dtype", "shape", "data"}``: the array's raw little-endian bytes in base64."""
    dtype = _DTYPES[array.dtype.name]
    data = np.ascontiguousarray(array, dtype=dtype).tobytes()
    return {
        "dtype": dtype.name,
        "shape": list(array.shape),
        "data": base64.b64encode(data).decode(),
    }


def decode_array(
    value: object, dtype: str, shape: tuple[int | None, ...], what: str
) -> NDArray[Any]:
    """An array of exactly ``dtype`` whose shape matches ``shape`` (``None``: any length)."""
    doc = need_dict(value, what)
    if doc.get("dtype") != dtype:
        raise StateDecodeError(f"{what} must have dtype {dtype}")
    dims = need_list(need(doc, "shape"), f"{what} shape", len(shape))
    size = 1
    for got, wanted in zip(dims, shape, strict=True):
        size *= need_int(got, f"{what} shape", 0, _INT64 - 1 if wanted is None else wanted)
        if wanted is not None and got != wanted:
            raise StateDecodeError(f"{what} must have shape {shape}")
    try:
        data = base64.b64decode(need_str(need(doc, "data"), f"{what} data"), validate=True)
    except binascii.Error as exc:
        raise StateDecodeError(f"{what} data is not base64") from exc
    kind = _DTYPES[dtype]
    if len(data) != size * kind.itemsize:
        raise StateDecodeError(f"{what} holds {len(data)} bytes, not {size} {dtype} values")
    return np.frombuffer(data, dtype=kind).astype(np.dtype(dtype)).reshape(dims)


def encode_fields(obj: object) -> Doc:
    """Every dataclass field of ``obj``, encoded by its declared type (see :func:`_encode`)."""
    return {f.name: _encode(getattr(obj, f.name)) for f in fields(obj)}  # type: ignore[arg-type]


def decode_fields(cls: Callable[..., T], doc: object, what: str) -> T:
    """An instance of the dataclass ``cls`` from :func:`encode_fields`; a field missing from
    ``doc`` (written before it existed) keeps its default."""
    doc = need_dict(doc, what)
    hints = typing.get_type_hints(cls)
    values = {
        f.name: _decode(doc[f.name], hints[f.name], f"{what}.{f.name}")
        for f in fields(cls)  # type: ignore[arg-type]
        if f.name in doc
    }
    return cls(**values)


def _encode(value: object) -> object:
    """Mappings as lists of ``[key, value]`` pairs (keys need not be strings), tuples as lists,
    floats by :func:`encode_float`."""
    if isinstance(value, dict):
        return [[_encode(k), _encode(v)] for k, v in value.items()]
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, float):
        return encode_float(value)
    return value


def _decode(value: object, hint: Any, what: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is int:
        return need_int(value, what)
    if hint is float:
        return decode_float(value, what)
    if hint is str:
        return need_str(value, what)
    if hint is bool:
        return need_bool(value, what)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _decode(value, inner, what)
    if isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields"):
        items = need_list(value, what, len(hint._fields))  # a NamedTuple, as a plain tuple
        named = typing.get_type_hints(hint)
        return hint(*(_decode(v, named[f], what) for v, f in zip(items, hint._fields, strict=True)))
    if origin is tuple:
        items = need_list(value, what, len(args))
        return tuple(_decode(v, a, what) for v, a in zip(items, args, strict=True))
    if origin is list:
        return [_decode(v, args[0], what) for v in need_list(value, what)]
    if origin is Counter:
        return Counter(dict(_pairs(value, args[0], int, what)))
    if origin is dict:
        return dict(_pairs(value, args[0], args[1], what))
    raise StateDecodeError(f"{what}: type {hint!r} cannot be decoded")


def _pairs(value: object, key: Any, item: Any, what: str) -> Iterable[tuple[Any, Any]]:
    for pair in need_list(value, what):
        k, v = need_list(pair, what, 2)
        yield _decode(k, key, what), _decode(v, item, what)
