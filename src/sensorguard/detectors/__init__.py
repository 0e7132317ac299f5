"""Anomaly detectors: PyOD models behind a lazily resolved name registry, plus a scaling wrapper.

Importing this package is cheap; PyOD/scikit-learn load when a detector is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sensorguard.detectors.registry import (
    REGISTRY,
    DetectorEntry,
    UnknownDetector,
    available_detectors,
    detector_params,
    make_estimator,
)

if TYPE_CHECKING:
    from sensorguard.detectors.pipeline import Detector

__all__ = [
    "REGISTRY",
    "Detector",
    "DetectorEntry",
    "UnknownDetector",
    "available_detectors",
    "detector_params",
    "make_detector",
    "make_estimator",
]


def make_detector(name: str, **kwargs: Any) -> Detector:
    """See :func:`sensorguard.detectors.pipeline.make_detector` (imported lazily: pyod is heavy)."""
    from sensorguard.detectors.pipeline import make_detector as _make

    return _make(name, **kwargs)


def __getattr__(attr: str) -> Any:
    if attr == "Detector":
        from sensorguard.detectors.pipeline import Detector

        return Detector
    raise AttributeError(attr)
