"""The monitor's PII handling: what it publishes, checkpoints and checks carries no raw PII.

:class:`PrivacyGuard` holds each model's :class:`~driftwarden.core.privacy.PiiPolicy`. The
processor
scrubs a prediction's features right after parsing it, before it is joined, buffered (and so
checkpointed), fed to the drift windows or published as a joined example.

A dead-letter record is scrubbed too, although the model, and so which fields are PII, may be
unknown. When any model declares ``pii`` (otherwise dead letters are copied unchanged):

- a value that is a JSON object keeps its content, except that the value of every key, at any
  depth, named like a PII feature of *any* model is replaced: by its pseudonym when the message's
  ``model`` is configured with ``pii_mode: hash``, else by ``"[pii redacted]"``;
- any other value (not JSON, or JSON but not an object) is replaced by a JSON object
  ``{"redacted": ..., "sha256": ..., "bytes": ...}`` naming the SHA-256 and size of the original;
- original headers named like a PII feature (ignoring case) are left out, and raw PII values
  found in the message are masked in ``error-detail`` as well;
- a record that was changed gets the header ``pii-redacted``: ``fields`` or ``value``.

PII that is not under a PII feature's name (free text in another field) cannot be recognised.

>>> from driftwarden.core.privacy import PiiPolicy
>>> guard = PrivacyGuard({"churn": PiiPolicy(frozenset({"email"}))})
>>> value, headers = guard.dead_letter(b'{"model": "x", "features": {"email": "a@b.c"}}', [])
>>> value, headers
(b'{"model":"x","features":{"email":"[pii redacted]"}}', [('pii-redacted', b'fields')])
>>> guard.dead_letter(b"email=a@b.c", [("error", b"invalid_json")])[1]
[('error', b'invalid_json'), ('pii-redacted', b'value')]
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from driftwarden.config import MonitorConfig
from driftwarden.contracts.inputs import Prediction
from driftwarden.core.privacy import PSEUDONYM_PREFIX, PiiPolicy, scrub_features

__all__ = ["REDACTED", "PrivacyGuard"]

REDACTED = "[pii redacted]"
HEADER = "pii-redacted"
Headers = list[tuple[str, bytes]]

log = logging.getLogger(__name__)


class PrivacyGuard:
    """Scrubs the monitor's inputs and dead letters by the models' PII policies."""

    def __init__(self, policies: Mapping[str, PiiPolicy]) -> None:
        self._policies = dict(policies)
        self._names = frozenset().union(*(p.names for p in self._policies.values()))

    @classmethod
    def from_config(cls, config: MonitorConfig) -> PrivacyGuard:
        policies = {m.name: config.pii_policy(m) for m in config.models}
        return cls({name: policy for name, policy in policies.items() if policy is not None})

    def prediction(self, prediction: Prediction) -> Prediction:
        """The prediction with its model's PII features dropped or hashed."""
        policy = self._policies.get(prediction.model)
        if policy is None or not policy.names.intersection(prediction.features):
            return prediction
        return prediction._replace(features=scrub_features(prediction.features, policy))

    def drift_features(
        self, model: str, declared: Sequence[str], profile: Mapping[str, object]
    ) -> list[str] | None:
        """The features whose drift is checked: ``declared`` (or ``None``: every feature of the
        ``profile``), without the PII features the checks must not see.

        Those are the dropped ones and, in hash mode, any whose profile column is not made of
        pseudonyms (a profile built without the model's config would hold raw values).
        """
        names = list(declared) or None
        policy = self._policies.get(model)
        if policy is None:
            return names
        excluded = {n for n in policy.names if n in profile}
        if policy.mode == "hash":
            excluded = {n for n in excluded if not _pseudonymized(profile[n])}
            for name in sorted(excluded):
                log.warning(
                    "drift of %s feature %r is not checked: its reference profile holds raw "
                    "values; rebuild it with 'driftwarden profile build --config'",
                    model,
                    name,
                )
        if not excluded:
            return names
        return [n for n in (names or profile) if n not in excluded]

    def dead_letter(self, value: bytes | None, headers: Headers) -> tuple[bytes | None, Headers]:
        """A dead letter's value and headers with PII removed (see the module docstring)."""
        if not self._names or value is None:
            return value, headers
        kept = [(k, v) for k, v in headers if k.lower() not in self._lower_names]
        try:
            doc = orjson.loads(value)
        except orjson.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict):
            marker = {
                "redacted": "the value is not a JSON object, so its PII cannot be told apart",
                "sha256": hashlib.sha256(value).hexdigest(),
                "bytes": len(value),
            }
            return orjson.dumps(marker), [*kept, (HEADER, b"value")]
        found: list[str] = []
        scrubbed = self._scrub(doc, self._policies.get(str(doc.get("model"))), found)
        if not found and len(kept) == len(headers):
            return value, headers
        return orjson.dumps(scrubbed), [*_mask(kept, found), (HEADER, b"fields")]

    @property
    def _lower_names(self) -> frozenset[str]:
        return frozenset(n.lower() for n in self._names)

    def _scrub(self, doc: Any, policy: PiiPolicy | None, found: list[str]) -> Any:
        if isinstance(doc, list):
            return [self._scrub(item, policy, found) for item in doc]
        if not isinstance(doc, dict):
            return doc
        result = {}
        for name, item in doc.items():
            if name in self._names:
                found.extend(_strings(item))
                hashed = policy is not None and policy.mode == "hash"
                result[name] = policy.scrub(item) if policy is not None and hashed else REDACTED
            else:
                result[name] = self._scrub(item, policy, found)
        return result


def _pseudonymized(column: object) -> bool:
    categories = getattr(column, "categories", None)
    return categories is not None and all(c.startswith(PSEUDONYM_PREFIX) for c in categories)


def _strings(value: object) -> list[str]:
    """Every text form of a raw PII value that could be quoted in an error message."""
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if value is None or isinstance(value, bool):
        return []
    return [text for text in {str(value), repr(value)} if len(text) >= 3]


def _mask(headers: Headers, raw: list[str]) -> Headers:
    """``error-detail`` with every raw value in ``raw`` replaced by the redaction marker."""
    masked = []
    for name, value in headers:
        if name == "error-detail" and raw:
            text = value.decode("utf-8", "replace")
            for item in sorted(raw, key=len, reverse=True):
                text = text.replace(item, REDACTED)
            value = text.encode()
        masked.append((name, value))
    return masked
