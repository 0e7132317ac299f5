"""The largest robust z-score across features: a transparent detector for one-feature faults."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pyod.models.base import BaseDetector

from sensorguard.detectors.stats import robust_columns

F = npt.NDArray[np.float64]


class RobustZ(BaseDetector):  # type: ignore[misc]
    """Score = mean of the ``top_k`` largest |x - median| / spread over the features.

    Detectors that add up evidence over all features (HBOS, ECOD, COPOD) dilute a fault that
    shows in a single feature (a stuck value, a gap, a drift away from yesterday); taking the
    largest deviations keeps it. Missing values count as no deviation.
    """

    def __init__(self, top_k: int = 1, contamination: float = 0.1):
        super().__init__(contamination=contamination)
        self.top_k = top_k

    def fit(self, X: F, y: Any = None) -> RobustZ:
        X = np.asarray(X, dtype=np.float64)
        self._set_n_classes(y)
        self.center_, self.scale_ = robust_columns(X)
        self.decision_scores_ = self.decision_function(X)
        self._process_decision_scores()
        return self

    def feature_scores(self, X: F) -> F:
        """|robust z| per row and feature (rows x features); the score is its top-``k`` mean."""
        deviation = np.abs((np.asarray(X, dtype=np.float64) - self.center_) / self.scale_)
        result: F = np.where(np.isfinite(deviation), deviation, 0.0)
        return result

    def decision_function(self, X: F) -> F:
        deviation = self.feature_scores(X)
        k = max(1, min(self.top_k, deviation.shape[1]))
        top = -np.partition(-deviation, k - 1, axis=1)[:, :k]
        result: F = top.mean(axis=1)
        return result
