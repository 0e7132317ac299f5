"""A fitted-as-one detector: robust feature scaling, missing-value fill, row cap, PyOD estimator."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from sensorguard.detectors.registry import entry, make_estimator
from sensorguard.detectors.stats import forget_training_rows, robust_columns, thin_evenly
from sensorguard.errors import SensorGuardError, ValidationFailed

F = npt.NDArray[np.float64]

# Scaled features beyond this many robust deviations carry no extra information, and some
# detectors (PCA, OCSVM) lose precision on huge magnitudes.
FEATURE_CLIP = 1e4


class NotFitted(SensorGuardError):
    """A detector was asked to score before it was fitted."""


class Detector:
    """One registered detector behind the same conventions as PyOD's ``BaseDetector``.

    ``fit(X)`` learns per-feature median/spread (scaling is fitted on training data only),
    fills missing values with the training median, thins training rows to the detector's cap,
    fits the estimator and sets ``decision_scores_``. ``decision_function(X)``: higher = more
    anomalous, each row's score a function of that row alone. There is deliberately no
    threshold here: when a score becomes a flag is :mod:`sensorguard.scoring`'s one decision. A DataFrame passed to
    ``fit`` pins the column order; a DataFrame passed later must have the same columns.

    Unlike PyOD's, ``decision_scores_`` is not one score per training row but a sorted sample
    of at most :data:`~sensorguard.detectors.stats.SCORE_SAMPLE_SIZE` of them, evenly spaced
    in rank: its quantiles are the training scores' quantiles,
    and a pickled detector does not grow with the training rows. The estimator's own
    per-row arrays are replaced by the same sample.
    """

    def __init__(
        self,
        name: str,
        *,
        scale: bool = True,
        max_train_rows: int | None = None,
        **params: Any,
    ):
        spec = entry(name)
        self.name = name.lower()
        self.params = params
        self.scale = scale
        self.max_train_rows = spec.max_train_rows if max_train_rows is None else max_train_rows
        self.estimator = make_estimator(self.name, **params)
        self.feature_names_in_: list[str] | None = None

    def _matrix(self, X: Any, *, fitting: bool) -> F:
        columns = getattr(X, "columns", None)
        if columns is not None:
            names = [str(c) for c in columns]
            if fitting:
                self.feature_names_in_ = names
            elif self.feature_names_in_ is not None and names != self.feature_names_in_:
                raise ValidationFailed(
                    "feature columns", names, f"the training columns {self.feature_names_in_}"
                )
        matrix = np.asarray(X, dtype=np.float64)
        if matrix.ndim != 2:
            raise ValidationFailed("X", matrix.shape, "a 2-d array (rows x features)")
        if not fitting:
            expected = len(self.center_)
            if matrix.shape[1] != expected:
                raise ValidationFailed("X", matrix.shape, f"{expected} feature columns")
        return matrix

    def _transform(self, matrix: F) -> F:
        scaled = (matrix - self.center_) / self.scale_
        scaled = np.where(np.isfinite(scaled), scaled, 0.0)
        return np.clip(scaled, -FEATURE_CLIP, FEATURE_CLIP)

    def fit(self, X: Any, y: Any = None) -> Detector:
        matrix = self._matrix(X, fitting=True)
        if len(matrix) < 2:
            raise ValidationFailed("training rows", len(matrix), "at least 2")
        if self.scale:
            self.center_, self.scale_ = robust_columns(matrix)
        else:
            self.center_ = np.zeros(matrix.shape[1])
            self.scale_ = np.ones(matrix.shape[1])
        rows = thin_evenly(len(matrix), self.max_train_rows)
        self.estimator.fit(self._transform(matrix[rows]))
        train_scores = np.asarray(self.estimator.decision_scores_, dtype=np.float64)
        finite = train_scores[np.isfinite(train_scores)]
        # Degenerate training data can give inf (e.g. PCA's zero-variance components).
        fill = float(finite.max()) if len(finite) else 0.0
        train_scores = np.where(np.isfinite(train_scores), train_scores, fill)
        forget_training_rows(self.estimator, train_scores)
        self.decision_scores_ = self.estimator.decision_scores_
        self.n_train_rows_ = len(rows)
        return self

    def scaled(self, X: Any) -> F:
        """Rows as the estimator sees them: robustly scaled, missing values at the median."""
        if not hasattr(self, "center_"):
            raise NotFitted(f"detector {self.name!r} must be fitted before scoring")
        return self._transform(self._matrix(X, fitting=False))

    def decision_function(self, X: Any) -> F:
        if not hasattr(self, "center_"):
            raise NotFitted(f"detector {self.name!r} must be fitted before scoring")
        matrix = self._matrix(X, fitting=False)
        if not len(matrix):
            return np.empty(0)
        scores = np.asarray(self.estimator.decision_function(self._transform(matrix)), np.float64)
        # A few PyOD detectors return NaN/inf on degenerate inputs; treat those as "typical".
        return np.where(np.isfinite(scores), scores, float(np.median(self.decision_scores_)))


def make_detector(
    name: str,
    *,
    scale: bool = True,
    max_train_rows: int | None = None,
    **params: Any,
) -> Detector:
    """A :class:`Detector` for registry ``name``; ``params`` override the registry defaults.

    Raises :class:`~sensorguard.detectors.registry.UnknownDetector` listing the registered
    names, or :class:`~sensorguard.errors.ConfigError` naming an unknown parameter and listing
    the accepted ones.
    """
    return Detector(name, scale=scale, max_train_rows=max_train_rows, **params)
