"""Bounds on the size of what one event may hold or publish; no I/O.

A prediction may carry at most ``models[].max_features`` features
(:func:`check_feature_count`); when the model declares its ``features``, the others are dropped
before the prediction is held or published (:func:`declared_only`). A regression target must be
a number of at most :data:`MAX_REGRESSION_TARGET` in magnitude (:func:`check_target`). The
memory a waiting item holds is estimated by :func:`footprint`.

The join's byte budget (``models[].max_pending_bytes``) sums these estimates. An estimate is a
pure function of the item, so a replay or a restored snapshot accounts exactly what the first
run did, and it is computed once, when the item arrives. The constants are CPython 3.11+ object
sizes rounded up (``sys.getsizeof``): a string is its header plus one byte a character when it
is ASCII, else up to four; a dict its header plus a slot an entry; ``_ITEM`` covers the item's
tuples, numbers and its entries in the join's maps and deadline heap. Measured with tracemalloc
(``benchmarks.memory --flood``), held items take at most the estimate.

>>> small = Label("p-1", "churn", 1, 0.0)
>>> footprint(small)
650
>>> wide = Prediction("p-1", "churn", "3", 0.0, {"plan": "pro", "tenure": 1.5}, 1, None)
>>> footprint(wide) - footprint(Prediction("p-1", "churn", "3", 0.0, {}, 1, None))
288
"""

from __future__ import annotations

from collections.abc import Mapping

from driftwarden.contracts.errors import InvalidEvent
from driftwarden.contracts.inputs import Label, Prediction
from driftwarden.core.tasks import Task

__all__ = [
    "MAX_REGRESSION_TARGET",
    "TOO_MANY_FEATURES",
    "check_feature_count",
    "check_target",
    "declared_only",
    "footprint",
]

TOO_MANY_FEATURES = "too_many_features"
MAX_REGRESSION_TARGET = 1e150  # its squared error still fits a float

_ITEM = 512
_STR, _WIDE_STR = 49, 80
_DICT, _DICT_ENTRY = 200, 48
_NUMBER = 32  # a float (24 bytes) or an int of up to 64 bits (36), rounded


def check_feature_count(features: Mapping[str, object], limit: int) -> None:
    """Reject a prediction with more than ``limit`` (``models[].max_features``) features.

    >>> check_feature_count({"a": 1, "b": 2}, 1)
    Traceback (most recent call last):
    ...
    driftwarden.contracts.errors.InvalidEvent: too_many_features: 2 features, more than \
models[].max_features (1)
    """
    if len(features) > limit:
        raise InvalidEvent(
            TOO_MANY_FEATURES,
            f"{len(features)} features, more than models[].max_features ({limit})",
        )


def check_target(task: Task, value: object, field: str) -> None:
    """Reject a regression ``field`` (prediction or label) that is not a number or is too large.

    >>> check_target(Task.REGRESSION, 1e200, "label")
    Traceback (most recent call last):
    ...
    driftwarden.contracts.errors.InvalidEvent: schema_violation: field 'label' is 1e+200: \
regression targets must be at most 1e+150 in magnitude
    """
    if task is not Task.REGRESSION:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEvent("schema_violation", f"field {field!r} must be a number for regression")
    if abs(value) > MAX_REGRESSION_TARGET:
        raise InvalidEvent(
            "schema_violation",
            f"field {field!r} is {value!r}: regression targets must be at most"
            f" {MAX_REGRESSION_TARGET:g} in magnitude",
        )


def declared_only(pred: Prediction, declared: frozenset[str] | None) -> tuple[Prediction, int]:
    """``pred`` with only the ``declared`` features (all when ``None``), and how many it lost.

    >>> pred = Prediction("p-1", "churn", "3", 0.0, {"tenure": 1.5, "junk": "x"}, 1, None)
    >>> kept, dropped = declared_only(pred, frozenset({"tenure", "plan"}))
    >>> kept.features, dropped
    ({'tenure': 1.5}, 1)
    """
    if declared is None or pred.features.keys() <= declared:
        return pred, 0
    kept = {name: value for name, value in pred.features.items() if name in declared}
    return pred._replace(features=kept), len(pred.features) - len(kept)


def footprint(event: Prediction | Label) -> int:
    """Estimated bytes that ``event`` holds while it waits in the join."""
    size = _ITEM + _str(event.prediction_id) + _str(event.model)
    if isinstance(event, Label):
        return size + _value(event.label)
    size += _str(event.version) + _value(event.prediction) + _dict(event.features)
    return size if event.scores is None else size + _dict(event.scores)


def _str(text: str) -> int:
    return _STR + len(text) if text.isascii() else _WIDE_STR + 4 * len(text)


def _value(value: object) -> int:
    if isinstance(value, str):
        return _str(value)
    return 0 if value is None or isinstance(value, bool) else _NUMBER


def _dict(mapping: Mapping[str, object]) -> int:
    return _DICT + sum(_DICT_ENTRY + _str(k) + _value(v) for k, v in mapping.items())
