"""The registry resolves names and parameters, caps training rows and names what is wrong.

The scoring contract every registered detector keeps is in ``test_contract.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sensorguard.detectors import (
    REGISTRY,
    UnknownDetector,
    detector_params,
    make_detector,
)
from sensorguard.detectors.pipeline import NotFitted
from sensorguard.errors import ConfigError, ValidationFailed


def test_training_rows_are_capped() -> None:
    cap = REGISTRY["knn"].max_train_rows
    assert cap is not None
    rows = np.random.default_rng(0).normal(size=(cap + 500, 3))
    detector = make_detector("knn").fit(rows)
    assert detector.n_train_rows_ == cap
    assert make_detector("knn", max_train_rows=100).fit(rows).n_train_rows_ == 100


def test_unknown_detector_lists_the_registered_ones() -> None:
    with pytest.raises(
        UnknownDetector, match="no detector named 'isolation'; available: copod, ecod"
    ):
        make_detector("isolation")


def test_unknown_parameter_is_named_with_the_accepted_ones() -> None:
    with pytest.raises(
        ConfigError,
        match=r"detector 'iforest' has no parameter 'n_trees'; it accepts: .*n_estimators",
    ):
        make_detector("iforest", n_trees=10)
    assert "n_neighbors" in detector_params("lof")


def test_params_override_defaults() -> None:
    detector = make_detector("hbos", n_bins=7)
    assert detector.estimator.n_bins == 7
    assert make_detector("lof").estimator.novelty is True


def test_ensemble_members_must_be_registered() -> None:
    rows = np.random.default_rng(0).normal(size=(100, 2))
    with pytest.raises(UnknownDetector, match="no detector named 'nope'"):
        make_detector("ensemble", members=("hbos", "nope")).fit(rows)


def test_column_order_is_pinned_by_a_training_frame() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(80, 2)), columns=["a", "b"])
    detector = make_detector("hbos").fit(frame)
    assert detector.decision_function(frame).shape == (80,)
    with pytest.raises(ValidationFailed, match="feature columns must be the training columns"):
        detector.decision_function(frame[["b", "a"]])
    with pytest.raises(ValidationFailed, match="2 feature columns"):
        detector.decision_function(np.zeros((3, 5)))


def test_scoring_before_fitting_is_an_error() -> None:
    with pytest.raises(NotFitted):
        make_detector("hbos").decision_function(np.zeros((2, 2)))
