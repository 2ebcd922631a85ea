"""Personal data among the features: dropped, or replaced by a keyed hash, before it is stored.

A model's config names its PII features (``pii: [email, user_id]``) and what to do with them
(``pii_mode: drop | hash``). :class:`PiiPolicy` carries that; :func:`scrub_features` applies it
to one feature mapping (an event, an example) and :func:`scrub_columns` to a table (a base table,
a profile's training data). Both are pure and return new objects.

A hashed value is a *pseudonym*: ``pii-hmac:`` and the first 32 hex digits (128 bits) of
HMAC-SHA256 over the value's canonical name (as for categories: ``1``, ``1.0`` and ``"1"`` are
the same value), keyed with the configured secret. The same value gives the same pseudonym under
the same key, in every feature and model, so hashed features can still be counted, joined and
used as categories; without the key they cannot be reversed or checked against a guessed value.
Missing values (``None``, NaN) stay missing.

>>> policy = PiiPolicy(frozenset({"email", "user_id"}), "hash", b"0123456789abcdef")
>>> scrubbed = scrub_features({"email": "ann@example.com", "user_id": 7, "tenure": 3}, policy)
>>> scrubbed["tenure"], scrubbed["user_id"] == pseudonym("7", policy.key)
(3, True)
>>> scrubbed["email"]
'pii-hmac:9f70eb4f1d9f0194d58bc08c41ce2b3b'
>>> scrub_features({"email": "ann@example.com", "tenure": 3}, PiiPolicy(frozenset({"email"})))
{'tenure': 3}
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from driftwarden.core.columns import Column
from driftwarden.core.profile import category_key

__all__ = [
    "PSEUDONYM_PREFIX",
    "PiiMode",
    "PiiPolicy",
    "check_pii_settings",
    "pseudonym",
    "scrub_columns",
    "scrub_features",
]

PiiMode = Literal["drop", "hash"]
PSEUDONYM_PREFIX = "pii-hmac:"
MIN_KEY_BYTES = 16
_DIGEST_HEX = 32


@dataclass(frozen=True)
class PiiPolicy:
    """The PII features of one model and how to scrub them; ``key`` is needed for ``hash``."""

    names: frozenset[str]
    mode: PiiMode = "drop"
    key: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.mode == "hash" and not self.key:
            raise ValueError("pii_mode 'hash' needs a key: set privacy.hash_key")

    def scrub(self, value: object) -> object:
        """The value to store in place of a PII ``value`` (hash mode only); missing values and
        pseudonyms are kept, so scrubbing twice is scrubbing once."""
        if _is_missing(value):
            return None
        if isinstance(value, str) and value.startswith(PSEUDONYM_PREFIX):
            return value
        assert self.key is not None  # noqa: S101 - checked in __post_init__
        return pseudonym(value, self.key)


def pseudonym(value: object, key: bytes) -> str:
    """``pii-hmac:`` + 32 hex digits of HMAC-SHA256(key, canonical name of ``value``).

    >>> a = pseudonym("ann@example.com", b"k" * 16)
    >>> a == pseudonym("ann@example.com", b"k" * 16), a == pseudonym("ann@example.com", b"j" * 16)
    (True, False)
    >>> pseudonym(7, b"k" * 16) == pseudonym(7.0, b"k" * 16) == pseudonym("7", b"k" * 16)
    True
    """
    digest = hmac.new(key, category_key(value).encode("utf-8"), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:_DIGEST_HEX]


def scrub_features(features: Mapping[str, Any], policy: PiiPolicy | None) -> dict[str, Any]:
    """``features`` without its PII (``drop``) or with each PII value hashed (``hash``).

    >>> scrub_features({"plan": "pro"}, None)
    {'plan': 'pro'}
    """
    if policy is None or not policy.names.intersection(features):
        return dict(features)
    if policy.mode == "drop":
        return {n: v for n, v in features.items() if n not in policy.names}
    return {n: policy.scrub(v) if n in policy.names else v for n, v in features.items()}


def scrub_columns(columns: Mapping[str, Column], policy: PiiPolicy | None) -> dict[str, Column]:
    """A table's columns (name -> values) with the PII columns dropped or hashed.

    >>> policy = PiiPolicy(frozenset({"email"}), "hash", b"k" * 16)
    >>> table = scrub_columns({"email": ["a@b.c", None], "tenure": [1, 2]}, policy)
    >>> table["email"][0] == pseudonym("a@b.c", b"k" * 16), table["email"][1], table["tenure"]
    (True, None, [1, 2])
    """
    if policy is None:
        return dict(columns)
    scrubbed: dict[str, Column] = {}
    for name, values in columns.items():
        if name not in policy.names:
            scrubbed[name] = values
        elif policy.mode == "hash":
            scrubbed[name] = [policy.scrub(v) for v in _python(values)]
    return scrubbed


def check_pii_settings(
    pii: Collection[str],
    mode: PiiMode,
    *,
    features: Mapping[str, str],
    drift_overrides: Iterable[str] = (),
    gate_features: Iterable[str] = (),
) -> None:
    """Raise ``ValueError`` (naming the key) where a PII setting contradicts the others.

    A dropped feature is never seen again, so it can be neither declared in ``features`` (whose
    drift is checked), nor given a drift override, nor used by a gate. A hashed one is a
    category: it may be declared ``categorical`` but not ``numeric``.

    >>> check_pii_settings(["email"], "drop", features={"email": "categorical"})
    Traceback (most recent call last):
    ...
    ValueError: features.email: 'email' is listed in 'pii' with pii_mode 'drop', so it never \
reaches drift checks or training; remove it from 'features' or use pii_mode 'hash'
    """
    for name in pii:
        if not name or name.startswith("__"):
            raise ValueError(f"pii: {name!r} is not a feature name")
    for name in sorted(set(pii)):
        where = [
            *([f"features.{name}"] if name in features else []),
            *([f"drift.features.overrides.{name}"] if name in set(drift_overrides) else []),
            *(["training.gate"] if name in set(gate_features) else []),
        ]
        if mode == "drop" and where:
            raise ValueError(
                f"{where[0]}: {name!r} is listed in 'pii' with pii_mode 'drop', so it never "
                f"reaches drift checks or training; remove it from {where[0].split('.')[0]!r} "
                "or use pii_mode 'hash'"
            )
        if mode == "hash" and features.get(name, "categorical") != "categorical":
            raise ValueError(
                f"features.{name}: {name!r} is hashed (pii_mode 'hash'), so its values are "
                "pseudonyms: declare it 'categorical'"
            )


def _python(values: Column) -> list[Any]:
    return [None if _is_missing(v) else v for v in list(values)]


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
