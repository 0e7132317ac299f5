"""DetectorBundle: threshold from training scores, same scores from readings or features, any order."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from training_helpers import FAST_SPECS

from sensorguard.errors import ValidationFailed
from sensorguard.simulate import Simulation
from sensorguard.specs import ModelSpec, load_specs
from sensorguard.training.bundle import DetectorBundle, fit_bundle
from sensorguard.training.dataset import compute_group_features


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_specs(FAST_SPECS)["climate"]


@pytest.fixture(scope="module")
def readings(fleet: Simulation, spec: ModelSpec) -> pd.DataFrame:
    frame = fleet.readings[fleet.readings["sensor_id"].str.startswith("th-")]
    frame = frame[["sensor_id", "ts", *spec.channels]]
    return frame.sort_values(["sensor_id", "ts"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(
    spec: ModelSpec, readings: pd.DataFrame
) -> tuple[DetectorBundle, np.ndarray, pd.DataFrame]:
    features = compute_group_features(readings, spec.feature_spec)
    train = (readings["ts"] < readings["ts"].min() + pd.Timedelta(days=2)).to_numpy()
    bundle, train_scores = fit_bundle(spec, spec.detectors[0], features[train])
    return bundle, train_scores, features


def test_threshold_is_the_spec_quantile_of_training_scores(
    spec: ModelSpec, fitted: tuple[DetectorBundle, np.ndarray, pd.DataFrame]
) -> None:
    bundle, train_scores, _ = fitted
    assert bundle.threshold == pytest.approx(np.quantile(train_scores, spec.threshold.level))
    flagged = float(np.mean(train_scores > bundle.threshold))
    # At most one row more than the quantile leaves above it (interpolation).
    assert 0 < flagged <= 1 - spec.threshold.level + 1 / len(train_scores)


def test_readings_and_features_give_the_same_scores(
    readings: pd.DataFrame, fitted: tuple[DetectorBundle, np.ndarray, pd.DataFrame]
) -> None:
    bundle, _, features = fitted
    from_readings = bundle.predict(readings)
    from_features = bundle.predict(features)
    assert list(from_readings.columns) == ["score", "flag", "threshold"]
    np.testing.assert_allclose(from_readings["score"], from_features["score"])
    assert (from_readings["flag"] == (from_readings["score"] > bundle.threshold)).all()
    assert from_readings["flag"].any()


def test_row_order_of_the_input_does_not_matter(
    readings: pd.DataFrame, fitted: tuple[DetectorBundle, np.ndarray, pd.DataFrame]
) -> None:
    bundle, _, _ = fitted
    subset = readings.iloc[:3000]
    shuffled = subset.sample(frac=1.0, random_state=3)
    expected = bundle.predict(subset)["score"]
    got = bundle.predict(shuffled)["score"]
    assert (got.index == shuffled.index).all()
    np.testing.assert_allclose(got.sort_index(), expected.sort_index())


def test_missing_channel_is_named(
    fitted: tuple[DetectorBundle, np.ndarray, pd.DataFrame], readings: pd.DataFrame
) -> None:
    bundle, _, _ = fitted
    with pytest.raises(ValidationFailed, match="missing 'humidity'"):
        bundle.predict(readings.drop(columns=["humidity"]))


def test_bundle_survives_pickling(fitted: tuple[DetectorBundle, np.ndarray, pd.DataFrame]) -> None:
    bundle, _, features = fitted
    copy = pickle.loads(pickle.dumps(bundle))
    np.testing.assert_allclose(
        copy.score_features(features.head(500)), bundle.score_features(features.head(500))
    )
