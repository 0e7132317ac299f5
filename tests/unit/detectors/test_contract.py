"""The scoring contract every registered detector keeps, tested over the whole registry.

Once fitted, a row's score is a function of that row alone (the same alone, in any batch, in any
order), the pickled model does not grow with the training rows, missing features score without
error, and obvious outliers rank above normal rows. A new registry line is tested automatically.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.metrics import roc_auc_score

from sensorguard.detectors import REGISTRY, Detector, available_detectors, make_detector
from sensorguard.detectors.stats import SCORE_SAMPLE_SIZE

F = npt.NDArray[np.float64]

N_FEATURES = 6
# Stated floor: every registered detector ranks the injected outliers above normal rows with
# ROC-AUC >= 0.8. Most reach 1.0; HBOS sits lower because a single far-out feature adds at most
# one capped histogram penalty to its sum over features.
AUC_FLOOR = 0.8
# Scores of one row in different batches agree to this (relative and absolute) tolerance.
SAME_SCORE = 1e-9
# Training rows for the size check: past MANY_ROWS the pickled model must not grow at all, and
# from FEW_ROWS to MANY_ROWS at most GROWTH_ALLOWED, unless the registry caps the detector's
# training rows below MANY_ROWS (k-NN, LOF, OCSVM keep their capped rows by design).
FEW_ROWS, MANY_ROWS, MORE_ROWS = 2_000, 20_000, 40_000
GROWTH_ALLOWED = 1.5
PLATEAU_NOISE = 1.05


@dataclass(frozen=True)
class Sample:
    """Training rows (with a few NaNs), 300 test rows with labelled outliers, shifted rows."""

    train: F
    test: F
    truth: npt.NDArray[np.bool_]
    shifted: F


def _correlated(rng: np.random.Generator, mixing: F, rows: int) -> F:
    result: F = rng.normal(size=(rows, N_FEATURES)) @ mixing
    return result


@pytest.fixture(scope="module")
def mixing() -> F:
    return np.random.default_rng(7).normal(size=(N_FEATURES, N_FEATURES))


@pytest.fixture(scope="module")
def sample(mixing: F) -> Sample:
    """Test outliers are far out on every feature or on one. (Outliers that only break
    correlations are out of reach of HBOS/ECOD/COPOD, which look at one feature at a time, so
    they are not part of the shared contract.)"""
    rng = np.random.default_rng(42)
    train = _correlated(rng, mixing, 2_000)
    train[::53, 2] = np.nan
    train[::211, 4] = np.nan
    spread = np.nanstd(train, axis=0)
    test = _correlated(rng, mixing, 300)
    truth = np.zeros(len(test), dtype=bool)
    truth[:20] = True
    test[:10] += rng.choice([-1, 1], size=(10, N_FEATURES)) * 5 * spread
    for row in range(10, 20):
        column = rng.integers(N_FEATURES)
        test[row, column] += rng.choice([-1, 1]) * 8 * spread[column]
    shifted = _correlated(rng, mixing, 5_000) + 3 * spread
    return Sample(train, test, truth, shifted)


@pytest.fixture(scope="module")
def fitted(sample: Sample) -> Callable[[str], Detector]:
    """Each detector fitted once on the shared training rows, on first use."""
    cache: dict[str, Detector] = {}

    def get(name: str) -> Detector:
        if name not in cache:
            cache[name] = make_detector(name).fit(sample.train)
        return cache[name]

    return get


@pytest.mark.parametrize("name", available_detectors())
def test_a_row_scores_the_same_in_any_batch(
    name: str, sample: Sample, fitted: Callable[[str], Detector]
) -> None:
    detector = fitted(name)
    test = sample.test
    batch = detector.decision_function(test)
    alone = np.concatenate([detector.decision_function(test[i : i + 1]) for i in range(len(test))])
    order = np.random.default_rng(3).permutation(len(test))
    shuffled = np.empty_like(batch)
    shuffled[order] = detector.decision_function(test[order])
    half = len(sample.shifted) // 2
    mixed = detector.decision_function(
        np.vstack([sample.shifted[:half], test, sample.shifted[half:]])
    )
    for label, scores in (
        ("alone", alone),
        ("shuffled", shuffled),
        ("among 5,000 shifted rows", mixed[half : half + len(test)]),
    ):
        np.testing.assert_allclose(
            scores, batch, rtol=SAME_SCORE, atol=SAME_SCORE, err_msg=f"{name}: {label}"
        )


@pytest.mark.parametrize("name", available_detectors())
def test_model_size_is_bounded_in_training_rows(name: str, mixing: F) -> None:
    rng = np.random.default_rng(11)
    rows = _correlated(rng, mixing, MORE_ROWS)
    size = {
        n: len(pickle.dumps(make_detector(name).fit(rows[:n])))
        for n in (FEW_ROWS, MANY_ROWS, MORE_ROWS)
    }
    assert size[MORE_ROWS] <= PLATEAU_NOISE * size[MANY_ROWS], (name, size)
    cap = REGISTRY[name].max_train_rows
    if cap is None or cap >= MANY_ROWS:
        assert size[MANY_ROWS] <= GROWTH_ALLOWED * size[FEW_ROWS], (name, size)


@pytest.mark.parametrize("name", available_detectors())
def test_missing_features_score_finite(name: str, fitted: Callable[[str], Detector]) -> None:
    rows = np.random.default_rng(5).normal(size=(4, N_FEATURES))
    rows[0] = np.nan
    rows[1, 0] = np.nan
    rows[2, ::2] = np.nan
    scores = fitted(name).decision_function(rows)
    assert scores.shape == (4,)
    assert np.isfinite(scores).all(), (name, scores)


@pytest.mark.parametrize("name", available_detectors())
def test_obvious_outliers_rank_high(
    name: str, sample: Sample, fitted: Callable[[str], Detector]
) -> None:
    detector = fitted(name)
    scores = detector.decision_function(sample.test)
    assert scores.shape == (len(sample.test),)
    assert np.isfinite(scores).all()
    assert roc_auc_score(sample.truth, scores) >= AUC_FLOOR, name
    kept = detector.decision_scores_
    assert len(kept) <= SCORE_SAMPLE_SIZE
    assert (np.diff(kept) >= 0).all(), "training scores are kept as a sorted sample"
