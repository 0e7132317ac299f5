"""Inductive ECOD and COPOD: per-feature tail probabilities against a frozen, bounded reference."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np
import numpy.typing as npt
from pyod.models.base import BaseDetector

from sensorguard.detectors.stats import thin_evenly
from sensorguard.errors import ConfigError, ValidationFailed

F = npt.NDArray[np.float64]

# Sorted values kept per feature. Tail probabilities resolve down to 1 / (REFERENCE_SIZE + 1),
# i.e. a per-feature score of at most about 7.6; 16 features cost 16 x 2,000 floats (256 kB).
REFERENCE_SIZE = 2_000


class _TailDetector(BaseDetector):  # type: ignore[misc]
    """Shared fit and tail probabilities of :class:`ECOD` and :class:`COPOD`.

    PyOD's ECOD and COPOD are transductive: ``decision_function(X)`` rebuilds the empirical
    CDFs over the training matrix *plus X*, so a row's score depends on the other rows in the
    call, and the model carries the whole training matrix. Here ``fit`` freezes, per feature,
    an evenly spaced sorted sample of at most ``n_reference`` training values (minimum and
    maximum included) and the sign of the feature's skewness; a row is scored by binary search
    into those samples alone.

    Tail probabilities count the scored value itself once, ``P(X <= x) = (#{ref <= x} + 1) /
    (n + 1)``: never zero, and (with every training value kept) what PyOD gives a single row
    scored after fitting. A missing feature is scored as that feature's training median: the
    evidence of a typical value, the same as the
    :class:`~sensorguard.detectors.pipeline.Detector` wrapper's median fill. A feature with no
    finite training value contributes nothing. As in PyOD, ``decision_scores_`` holds one
    score per training row; ``Detector`` keeps only a bounded sample of them.
    """

    def __init__(self, contamination: float = 0.1, n_reference: int = REFERENCE_SIZE):
        super().__init__(contamination=contamination)
        self.n_reference = n_reference

    def fit(self, X: F, y: Any = None) -> _TailDetector:
        if self.n_reference < 2:
            raise ConfigError(f"n_reference must be at least 2, got {self.n_reference}")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValidationFailed("X", X.shape, "a 2-d array (rows x features)")
        self._set_n_classes(y)
        references: list[F] = []
        medians: list[float] = []
        skew_signs: list[float] = []
        for column in X.T:
            ordered = np.sort(column[np.isfinite(column)])
            references.append(ordered[thin_evenly(len(ordered), self.n_reference)])
            medians.append(float(np.median(ordered)) if len(ordered) else 0.0)
            skew_signs.append(_skew_sign(ordered))
        self.references_ = references
        self.medians_ = np.array(medians)
        self.skew_sign_ = np.array(skew_signs)
        self.decision_scores_ = self.decision_function(X)
        self._process_decision_scores()
        return self

    def tail_scores(self, X: F) -> tuple[F, F]:
        """``-log P(X <= x)`` and ``-log P(X >= x)`` per row and feature (rows x features)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.references_):
            raise ValidationFailed("X", X.shape, f"rows x {len(self.references_)} features")
        X = np.where(np.isnan(X), self.medians_, X)
        left = np.empty_like(X)
        right = np.empty_like(X)
        for j, reference in enumerate(self.references_):
            n = len(reference)
            at_most = np.searchsorted(reference, X[:, j], side="right")
            below = np.searchsorted(reference, X[:, j], side="left")
            left[:, j] = -np.log((at_most + 1) / (n + 1))
            right[:, j] = -np.log((n - below + 1) / (n + 1))
        return left, right

    def _skew_corrected(self, left: F, right: F) -> F:
        # PyOD's expression: the left tail for negative skew, the right tail for positive skew,
        # both added when the skewness is exactly zero.
        s = self.skew_sign_
        result: F = left * -np.sign(s - 1) + right * np.sign(s + 1)
        return result

    @abstractmethod
    def feature_scores(self, X: F) -> F:
        """Each feature's contribution to the score (rows x features); rows sum to the score."""

    def decision_function(self, X: F) -> F:
        result: F = self.feature_scores(X).sum(axis=1)
        return result


class ECOD(_TailDetector):
    """ECOD: per feature the largest of the left, right and skewness-chosen tail scores, summed.

    The same expression as PyOD's ``ECOD`` (a maximum per feature, then a sum, rather than the
    paper's maximum of three sums), so rankings agree and the score splits over the features.
    """

    def feature_scores(self, X: F) -> F:
        left, right = self.tail_scores(X)
        result: F = np.maximum(np.maximum(left, right), self._skew_corrected(left, right))
        return result


class COPOD(_TailDetector):
    """COPOD: per feature the larger of the skewness-corrected and the two-sided tail score, summed.

    The same expression as PyOD's ``COPOD`` (``max(U_skew, (U_l + U_r) / 2)`` per feature).
    """

    def feature_scores(self, X: F) -> F:
        left, right = self.tail_scores(X)
        result: F = np.maximum(self._skew_corrected(left, right), (left + right) / 2)
        return result


def _skew_sign(ordered: F) -> float:
    """Sign of the sample skewness of sorted finite values; 0 when they are all equal."""
    if not len(ordered) or ordered[0] == ordered[-1]:
        # A constant column: its centred moments are rounding noise, so no side is favoured.
        return 0.0
    centred = ordered - ordered.mean()
    return float(np.sign(np.dot(centred * centred, centred)))
