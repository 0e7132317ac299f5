"""A score-normalised average of several registered detectors, as one PyOD-style detector."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from pyod.models.base import BaseDetector

from sensorguard.detectors.stats import forget_training_rows, robust_location_scale, thin_evenly
from sensorguard.errors import ConfigError

F = npt.NDArray[np.float64]


class ScoreAverage(BaseDetector):  # type: ignore[misc]
    """Fits each member, standardises its scores by their training median and spread, averages.

    Members are registry names; each keeps its own training-row cap. Scores of detectors on
    different scales (distances, log-probabilities, path lengths) become comparable "how many
    robust standard deviations above a typical training row" before averaging.
    """

    def __init__(
        self,
        members: Sequence[str] = ("iforest", "hbos", "ecod"),
        contamination: float = 0.1,
        member_params: dict[str, dict[str, Any]] | None = None,
    ):
        super().__init__(contamination=contamination)
        self.members = tuple(members)
        self.member_params = member_params

    def fit(self, X: F, y: Any = None) -> ScoreAverage:
        from sensorguard.detectors.registry import entry, make_estimator

        if not self.members:
            raise ConfigError("ensemble needs at least one member detector")
        if "ensemble" in self.members:
            raise ConfigError("an ensemble cannot contain another ensemble")
        X = np.asarray(X, dtype=np.float64)
        self._set_n_classes(y)
        self.estimators_: list[Any] = []
        self.score_location_: list[tuple[float, float]] = []
        params = self.member_params or {}
        for name in self.members:
            rows = thin_evenly(len(X), entry(name).max_train_rows)
            estimator = make_estimator(name, **params.get(name, {}))
            estimator.fit(X[rows])
            scores = np.asarray(estimator.decision_scores_, dtype=np.float64)
            self.score_location_.append(robust_location_scale(scores))
            # Otherwise every member carries a score per training row into the pickled ensemble.
            forget_training_rows(estimator, scores)
            self.estimators_.append(estimator)
        self.decision_scores_ = self.decision_function(X)
        self._process_decision_scores()
        return self

    def decision_function(self, X: F) -> F:
        X = np.asarray(X, dtype=np.float64)
        total = np.zeros(len(X))
        for estimator, (center, scale) in zip(self.estimators_, self.score_location_, strict=True):
            total += (np.asarray(estimator.decision_function(X), dtype=np.float64) - center) / scale
        return total / len(self.estimators_)
