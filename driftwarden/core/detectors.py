"""Concept drift: any river drift detector, chosen by class name, on the per-example error."""

from __future__ import annotations

from typing import Any

from river import base, drift
from river.drift import binary

__all__ = ["detector_names", "is_binary", "make_detector"]

_BASES = (base.DriftDetector, base.BinaryDriftDetector)


def detector_names() -> list[str]:
    """Class names accepted in ``drift.concept.detector``.

    >>> {"ADWIN", "KSWIN", "PageHinkley", "DDM", "EDDM", "HDDMA", "HDDMW"} <= set(detector_names())
    True
    """
    return sorted(_all_classes())


def make_detector(name: str, params: dict[str, Any]) -> Any:
    """An instance of river's detector ``name`` (case and underscores ignored, so ``HDDM_A``
    works); ``ValueError`` names the valid choices."""
    wanted = _normalized(name)
    cls = next((c for n, c in _all_classes().items() if _normalized(n) == wanted), None)
    if cls is None:
        raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(detector_names())}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"invalid params for {name}: {exc}") from exc


def is_binary(detector: Any) -> bool:
    """Binary detectors (DDM, EDDM, HDDM_*) take 0/1 errors only."""
    return isinstance(detector, tuple(_classes(binary).values()))


def _normalized(name: str) -> str:
    """``HDDM_A`` and ``hddma`` name river's ``HDDMA``."""
    return name.replace("_", "").lower()


def _all_classes() -> dict[str, type]:
    return {**_classes(drift), **_classes(binary)}


def _classes(module: Any) -> dict[str, type]:
    found = {}
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name, None)
        if isinstance(obj, type) and issubclass(obj, _BASES):
            found[name] = obj
    return found
