"""River objects (metrics, running statistics, drift detectors) as plain data, and back.

A river object is never rebuilt from a document: the reader constructs it from the monitor's own
configuration and then restores its numbers into it. Only the types listed here are encoded, each
as its attributes (methods and other callables, which river derives from the configuration, are
skipped), and a document value is restored into an attribute only if it has the same kind as the
attribute of the freshly built object. The Rust helpers of river 0.26 (ADWIN's window, ``EWMean``)
pickle to bytes of their own format: those bytes are carried as data (base64) and handed to the
helper's ``__setstate__``, a crafted byte string there can only fail (a pyo3 panic included),
which surfaces as :class:`~driftwarden.monitor.codec.StateDecodeError`.

Drift detectors are encoded by an exact allow-list (:data:`DETECTOR_FIELDS`): their class name
and the attributes that change as they learn; their parameters come from the configuration.

>>> from river import stats
>>> mean = stats.Mean()
>>> mean.update(2.0)
>>> restored = restore(stats.Mean(), encode(mean))
>>> restored.get(), restored.n
(2.0, 1.0)
"""

from __future__ import annotations

import base64
import binascii
import random
from collections import deque
from typing import Any

import numpy as np
from river import metrics, stats
from river.drift.binary.hddm_w import SampleInfo

from driftwarden.monitor.codec import (
    Doc,
    StateDecodeError,
    decode_scalar,
    encode_scalar,
    need,
    need_dict,
    need_float,
    need_int,
    need_list,
    need_str,
)

__all__ = [
    "DETECTOR_FIELDS",
    "encode",
    "encode_confusion",
    "encode_detector",
    "restore",
    "restore_confusion",
    "restore_detector",
]

# The attributes of each river detector that change with its input (all but its parameters).
DETECTOR_FIELDS: dict[str, tuple[str, ...]] = {
    "ADWIN": ("_drift_detected", "_helper"),
    "DDM": ("_drift_detected", "_warning_detected", "_p", "_p_min", "_s_min", "_ps_min"),
    "DummyDriftDetector": ("_drift_detected", "_rng", "_n", "_warmup_done"),
    "EDDM": (
        "_drift_detected",
        "_warning_detected",
        "_error_distances",
        "_n",
        "_last_error",
        "_n_errors",
        "_p2s_prime_max",
    ),
    "FHDDM": ("_drift_detected", "_warning_detected", "n_one", "_sliding_window", "_u_max"),
    "HDDMA": ("_drift_detected", "_warning_detected", "_x_min", "_x_max", "_z"),
    "HDDMW": (
        "_drift_detected",
        "_warning_detected",
        "_total",
        "_s1_decr",
        "_s1_incr",
        "_s2_decr",
        "_s2_incr",
        "_incr_cutpoint",
        "_decr_cutpoint",
    ),
    "KSWIN": ("_drift_detected", "p_value", "n", "window", "_rng"),
    "NoDrift": ("_drift_detected",),
    "PageHinkley": (
        "_drift_detected",
        "_x_mean",
        "_sum_increase",
        "_sum_decrease",
        "_min_increase",
        "_max_decrease",
    ),
}
# Python objects encoded attribute by attribute.
_OBJECTS: tuple[type, ...] = (
    stats.Mean,
    stats.Var,
    stats.EWMean,
    metrics.MAE,
    metrics.RMSE,
    metrics.R2,
    SampleInfo,
)
_RUST_NAMES = frozenset({"AdaptiveWindowing", "RsEWMean"})  # river._river_rust helpers
_SCALARS = (type(None), bool, int, float, np.floating)


def encode(value: Any) -> Any:
    """``value`` (a scalar or one of the supported river types) as plain data."""
    if isinstance(value, _SCALARS):
        return {"scalar": encode_scalar(value.item() if isinstance(value, np.floating) else value)}
    if isinstance(value, deque):
        return {"deque": [encode_scalar(v) for v in value]}
    if isinstance(value, random.Random):
        version, internal, gauss = value.getstate()
        return {"random": [version, list(internal), encode_scalar(gauss)]}
    if _is_rust(value):
        return {"rust": base64.b64encode(value.__getstate__()).decode()}
    if isinstance(value, _OBJECTS):
        return {"object": {k: encode(v) for k, v in vars(value).items() if not callable(v)}}
    raise TypeError(f"{type(value).__name__} is not a state type")


def restore(template: Any, doc: object, what: str = "river state") -> Any:
    """``template`` (built from the configuration) with the state of ``doc`` from
    :func:`encode`: objects are restored in place, a scalar or deque is returned anew."""
    doc = need_dict(doc, what)
    if isinstance(template, _SCALARS):
        value = decode_scalar(need(doc, "scalar"), what)
        if isinstance(value, str):
            raise StateDecodeError(f"{what} must be a number")
        return value
    if isinstance(template, deque):
        items = [need_float(v, what) for v in need_list(need(doc, "deque"), what)]
        return deque(items, maxlen=template.maxlen)
    if isinstance(template, random.Random):
        return _restore_random(need(doc, "random"), what)
    if _is_rust(template):
        _restore_rust(template, need_str(need(doc, "rust"), what), what)
        return template
    if isinstance(template, _OBJECTS):
        saved = need_dict(need(doc, "object"), what)
        for name, value in list(vars(template).items()):
            if name in saved and not callable(value):
                setattr(template, name, restore(value, saved[name], f"{what}.{name}"))
        return template
    raise StateDecodeError(f"{what}: {type(template).__name__} is not a state type")


def encode_detector(detector: Any) -> Doc:
    name = type(detector).__name__
    fields = DETECTOR_FIELDS[name]
    return {"class": name, "fields": {f: encode(getattr(detector, f)) for f in fields}}


def restore_detector(template: Any, doc: object) -> None:
    """Restore the learned state of ``doc`` into ``template``, a detector of the same class."""
    doc = need_dict(doc, "detector")
    name = type(template).__name__
    if need(doc, "class") != name or name not in DETECTOR_FIELDS:
        raise StateDecodeError(f"detector state is not that of a {name}")
    saved = need_dict(need(doc, "fields"), "detector fields")
    for field in DETECTOR_FIELDS[name]:
        if field in saved:
            value = restore(getattr(template, field), saved[field], f"detector.{field}")
            setattr(template, field, value)


def encode_confusion(cm: metrics.ConfusionMatrix) -> Doc:
    return {
        "data": [
            [encode_scalar(y), encode_scalar(p), encode_scalar(w)]
            for y, row in cm.data.items()
            for p, w in row.items()
        ],
        "sum_row": [[encode_scalar(c), encode_scalar(w)] for c, w in cm.sum_row.items()],
        "sum_col": [[encode_scalar(c), encode_scalar(w)] for c, w in cm.sum_col.items()],
        "n_samples": cm.n_samples,
        "total_weight": encode_scalar(float(cm.total_weight)),
        "true_positives": encode_scalar(float(cm.total_true_positives)),
    }


def restore_confusion(cm: metrics.ConfusionMatrix, doc: object) -> None:
    """Restore in place: the metrics built on ``cm`` share it."""
    doc = need_dict(doc, "confusion matrix")
    for y, p, w in (need_list(e, "confusion entry", 3) for e in need_list(need(doc, "data"), "cm")):
        cm.data[_class(y)][_class(p)] = need_float(decode_scalar(w, "weight"), "weight")
    for name in ("sum_row", "sum_col"):
        into = getattr(cm, name)
        for entry in need_list(need(doc, name), name):
            c, w = need_list(entry, name, 2)
            into[_class(c)] = need_float(decode_scalar(w, "weight"), "weight")
    cm.n_samples = need_int(need(doc, "n_samples"), "n_samples", 0)
    weight = need_float(decode_scalar(need(doc, "total_weight"), "weight"), "weight")
    cm.total_weight = weight  # type: ignore[assignment]
    tp = need_float(decode_scalar(need(doc, "true_positives"), "weight"), "weight")
    cm._total_true_positives = tp  # noqa: SLF001 - river keeps it private, no setter


def _class(value: object) -> bool | str:
    """A class key of the matrices: bool (binary) or str (multiclass)."""
    if isinstance(value, bool | str):
        return value
    raise StateDecodeError("a class of a confusion matrix must be a string or a boolean")


def _is_rust(value: object) -> bool:
    kind = type(value)
    return kind.__module__.startswith("river._river_rust") and kind.__name__ in _RUST_NAMES


def _restore_rust(template: Any, data: str, what: str) -> None:
    try:
        state = base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        raise StateDecodeError(f"{what} is not base64") from exc
    try:
        template.__setstate__(state)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        raise StateDecodeError(f"{what}: river cannot read its state: {exc!r}") from None


def _restore_random(doc: object, what: str) -> random.Random:
    version, internal, gauss = need_list(doc, what, 3)
    words = tuple(need_int(w, what, 0, 2**32) for w in need_list(internal, what, 625))
    rng = random.Random()  # noqa: S311 - river's own generators, for drift simulation only
    try:
        rng.setstate((need_int(version, what), words, decode_scalar(gauss, what)))
    except (ValueError, TypeError) as exc:
        raise StateDecodeError(f"{what}: not a random generator state: {exc}") from exc
    return rng
