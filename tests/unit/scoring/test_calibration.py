"""Calibrator: surprise is monotone, honest about probability, and never saturates."""

from __future__ import annotations

import numpy as np
import pytest

from sensorguard.errors import ValidationFailed
from sensorguard.scoring.calibration import Calibrator, probability_of


@pytest.fixture(scope="module")
def calibrator() -> Calibrator:
    return Calibrator.fit(np.random.default_rng(0).normal(size=20_000))


def test_surprise_is_monotone_and_starts_at_zero(calibrator: Calibrator) -> None:
    raw = np.linspace(-5, 40, 5000)
    surprise = calibrator.surprise(raw)
    assert np.all(np.diff(surprise) >= 0)
    assert surprise[0] == 0.0


def test_surprise_reads_as_a_tail_probability(calibrator: Calibrator) -> None:
    fresh = np.random.default_rng(1).normal(size=200_000)
    surprise = calibrator.surprise(fresh)
    for level in (1.0, 2.0, 3.0):
        share = float(np.mean(surprise >= level))
        assert share == pytest.approx(probability_of(level), rel=0.35)


def test_scores_beyond_the_sample_keep_growing_without_ties(calibrator: Calibrator) -> None:
    far = np.array([6.0, 8.0, 12.0, 50.0, 1e6])
    surprise = calibrator.surprise(far)
    assert np.all(np.diff(surprise) > 0)
    assert np.all(np.isfinite(surprise))


def test_every_row_is_scored_alone(calibrator: Calibrator) -> None:
    raw = np.random.default_rng(2).normal(size=300) * 3
    batch = calibrator.surprise(raw)
    alone = np.array([calibrator.surprise(raw[i : i + 1])[0] for i in range(len(raw))])
    np.testing.assert_array_equal(batch, alone)
    assert calibrator.surprise(np.array([np.nan]))[0] == 0.0


def test_degenerate_and_short_samples() -> None:
    flat = Calibrator.fit(np.ones(500))
    assert flat.surprise(np.array([1.0]))[0] < 2.0
    assert flat.surprise(np.array([2.0]))[0] > 3.0
    with pytest.raises(ValidationFailed, match="calibration rows"):
        Calibrator.fit(np.ones(5))


def test_the_reference_is_bounded() -> None:
    small = Calibrator.fit(np.random.default_rng(3).normal(size=5_000))
    large = Calibrator.fit(np.random.default_rng(3).normal(size=500_000))
    assert len(large.reference) == len(small.reference)
