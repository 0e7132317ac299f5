"""Inductive ECOD/COPOD are still ECOD/COPOD, explain their scores per feature, stay bounded."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from pyod.models import copod as pyod_copod
from pyod.models import ecod as pyod_ecod
from scipy.stats import spearmanr

from sensorguard.detectors.robust_z import RobustZ
from sensorguard.detectors.tails import COPOD, ECOD

F = npt.NDArray[np.float64]

# PyOD ranks a batch against the training rows plus the batch itself, ours against the
# training rows only; on held-out rows the two orders must still agree this well.
SPEARMAN_FLOOR = 0.95
PAIRS = [(ECOD, pyod_ecod.ECOD), (COPOD, pyod_copod.COPOD)]


def _skewed(rng: np.random.Generator, rows: int) -> F:
    """Correlated features with clear skewness of both signs: PyOD picks each feature's tail by
    the sign of the skewness of training rows *plus the batch*, so near-symmetric features can
    flip sides with the batch and the comparison would measure that, not the method."""
    base = rng.gamma(2.0, size=(rows, 5)) * np.array([1.0, -1.0, 1.0, -1.0, 1.0])
    mixing = np.eye(5) + 0.3 * np.random.default_rng(0).random((5, 5))
    result: F = base @ mixing
    return result


@pytest.mark.parametrize(("ours", "theirs"), PAIRS)
def test_ranks_held_out_rows_like_pyod(ours: type[ECOD], theirs: type) -> None:
    rng = np.random.default_rng(1)
    train, held_out = _skewed(rng, 5_000), _skewed(rng, 500)
    ranked = ours().fit(train).decision_function(held_out)
    reference = theirs().fit(train).decision_function(held_out)
    rho = spearmanr(ranked, reference).statistic
    assert rho >= SPEARMAN_FLOOR, (ours.__name__, rho)


@pytest.mark.parametrize("cls", [ECOD, COPOD])
def test_feature_scores_add_up_to_the_score_and_name_the_faulty_feature(cls: type[ECOD]) -> None:
    rng = np.random.default_rng(2)
    detector = cls().fit(_skewed(rng, 3_000))
    rows = _skewed(rng, 50)
    rows[7, 3] += 40.0
    contributions = detector.feature_scores(rows)
    assert contributions.shape == rows.shape
    np.testing.assert_allclose(contributions.sum(axis=1), detector.decision_function(rows))
    assert int(np.argmax(contributions[7])) == 3


def test_robust_z_score_is_its_largest_feature_score() -> None:
    rng = np.random.default_rng(3)
    detector = RobustZ(top_k=1).fit(rng.normal(size=(500, 4)))
    rows = rng.normal(size=(20, 4))
    rows[5, 2] = 9.0
    contributions = detector.feature_scores(rows)
    np.testing.assert_array_equal(contributions.max(axis=1), detector.decision_function(rows))
    assert int(np.argmax(contributions[5])) == 2


@pytest.mark.parametrize("cls", [ECOD, COPOD])
def test_reference_is_a_bounded_sorted_sample_with_the_extremes(cls: type[ECOD]) -> None:
    train = _skewed(np.random.default_rng(4), 30_000)
    detector = cls(n_reference=500).fit(train)
    for column, reference in zip(train.T, detector.references_, strict=True):
        assert len(reference) == 500
        assert (np.diff(reference) >= 0).all()
        assert reference[0] == column.min() and reference[-1] == column.max()


@pytest.mark.parametrize("cls", [ECOD, COPOD])
def test_a_missing_feature_scores_as_the_training_median(cls: type[ECOD]) -> None:
    rng = np.random.default_rng(5)
    train = _skewed(rng, 2_000)
    train[::17, 1] = np.nan
    detector = cls().fit(train)
    rows = _skewed(rng, 10)
    rows[:, 1] = np.nan
    filled = rows.copy()
    filled[:, 1] = np.nanmedian(train[:, 1])
    np.testing.assert_array_equal(
        detector.decision_function(rows), detector.decision_function(filled)
    )


def test_tail_probability_is_smoothed_beyond_the_training_extremes() -> None:
    train = np.arange(100, dtype=np.float64).reshape(-1, 1)
    left, right = ECOD().fit(train).tail_scores(np.array([[-5.0], [500.0]]))
    # Counted once itself among 100 training values: P = 1 / 101, never 0.
    assert left[0, 0] == pytest.approx(np.log(101))
    assert right[1, 0] == pytest.approx(np.log(101))
    assert left[1, 0] == pytest.approx(0.0) and right[0, 0] == pytest.approx(0.0)
