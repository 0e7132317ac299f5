"""Anomaly detectors: PyOD models behind a lazily resolved name registry, plus a scaling wrapper.

Importing this package is cheap; PyOD/scikit-learn load when a detector is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sensorguard._lazy import lazy_exports
from sensorguard.detectors.registry import (
    REGISTRY,
    DetectorEntry,
    UnknownDetector,
    available_detectors,
    detector_params,
    make_estimator,
)

if TYPE_CHECKING:
    from sensorguard.detectors.pipeline import Detector, make_detector

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

# The pipeline module needs numpy: resolved on first use, so the registry stays import-cheap.
__getattr__ = lazy_exports(__name__, {"Detector": "pipeline", "make_detector": "pipeline"})
