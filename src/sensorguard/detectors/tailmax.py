"""The most surprising feature: per-feature tail probabilities with extrapolated tails, maximum.

Robust z-scores assume light tails: on heavy-tailed features (a z-score against a short
window, whose std can be tiny) ordinary rows reach large |z| and drown a real fault. ECOD's
empirical tail probabilities are rank-based and so tail-agnostic, but they stop at the edge of
the training sample: every value beyond the training extremes gets the same score, so a fault
twice as large is no more surprising. :class:`TailMax` keeps the ranks and extrapolates: past
each feature's top (bottom) ``tail`` share, an exponential tail fitted to the excesses carries
the probability on down, so the score keeps growing with the size of the deviation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pyod.models.base import BaseDetector

from sensorguard.detectors.stats import thin_evenly

F = npt.NDArray[np.float64]

REFERENCE_SIZE = 2_000


def _tail_fit(excess: F, spread: float) -> float:
    """Mean excess (the exponential tail's scale), floored so a flat tail still decays."""
    scale = float(excess.mean()) if len(excess) else 0.0
    return max(scale, spread * 1e-3, 1e-12)


class TailMax(BaseDetector):  # type: ignore[misc]
    """Score = largest ``-log10`` two-sided tail probability over the features.

    Fit keeps, per feature, at most ``REFERENCE_SIZE`` sorted quantiles plus two exponential
    tails (bounded whatever the training rows). A missing feature is no evidence (score 0).
    """

    def __init__(self, tail: float = 0.02, contamination: float = 0.1):
        super().__init__(contamination=contamination)
        self.tail = tail

    def fit(self, X: F, y: Any = None) -> TailMax:
        X = np.asarray(X, dtype=np.float64)
        self._set_n_classes(y)
        self.references_: list[F] = []
        self.tails_: list[tuple[float, float, float, float]] = []
        for column in X.T:
            ordered = np.sort(column[np.isfinite(column)])
            if not len(ordered):
                ordered = np.zeros(1)
            self.references_.append(ordered[thin_evenly(len(ordered), REFERENCE_SIZE)])
            low, high = np.quantile(ordered, [self.tail, 1.0 - self.tail])
            spread = float(ordered[-1] - ordered[0]) or max(abs(float(ordered[0])), 1.0)
            self.tails_.append(
                (
                    float(low),
                    _tail_fit(low - ordered[ordered < low], spread),
                    float(high),
                    _tail_fit(ordered[ordered > high] - high, spread),
                )
            )
        self.decision_scores_ = self.decision_function(X)
        self._process_decision_scores()
        return self

    def feature_scores(self, X: F) -> F:
        """``-log10`` of each feature's two-sided tail probability (rows x features)."""
        X = np.asarray(X, dtype=np.float64)
        out = np.zeros_like(X)
        for j, (reference, (low, low_scale, high, high_scale)) in enumerate(
            zip(self.references_, self.tails_, strict=True)
        ):
            x = X[:, j]
            n = len(reference)
            below = (np.searchsorted(reference, x, side="right") + 1) / (n + 1)
            above = (n - np.searchsorted(reference, x, side="left") + 1) / (n + 1)
            with np.errstate(over="ignore", invalid="ignore"):
                right = self.tail * np.exp(-(x - high) / high_scale)
                left = self.tail * np.exp(-(low - x) / low_scale)
            above = np.where(x > high, np.minimum(right, above), above)
            below = np.where(x < low, np.minimum(left, below), below)
            p = np.clip(2.0 * np.minimum(below, above), 1e-300, 1.0)
            out[:, j] = np.where(np.isfinite(x), -np.log10(p), 0.0)
        return out

    def decision_function(self, X: F) -> F:
        scores = self.feature_scores(X)
        result: F = scores.max(axis=1) if scores.shape[1] else np.zeros(len(scores))
        return result
