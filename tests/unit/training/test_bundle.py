"""DetectorBundle: fitted through the scoring path, verdicts per reading in any input order."""

from __future__ import annotations

import json
import pickle
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from training_helpers import FAST_SPECS

from sensorguard.errors import ValidationFailed
from sensorguard.simulate import Simulation
from sensorguard.specs import ModelSpec, load_specs
from sensorguard.training.bundle import PREDICTION_COLUMNS, DetectorBundle, fit_bundle
from sensorguard.training.dataset import GroupDataset, compute_group_features


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_specs(FAST_SPECS)["climate"]


@pytest.fixture(scope="module")
def readings(fleet: Simulation, spec: ModelSpec) -> pd.DataFrame:
    frame = fleet.readings[fleet.readings["sensor_id"].str.startswith("th-")]
    frame = frame[["sensor_id", "ts", *spec.channels]]
    return frame.sort_values(["sensor_id", "ts"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def bundle(spec: ModelSpec, readings: pd.DataFrame) -> DetectorBundle:
    features = compute_group_features(readings, spec.feature_spec)
    start: datetime = readings["ts"].min().to_pydatetime()
    dataset = GroupDataset(
        group=spec.group,
        readings=readings,
        features=features,
        start=start,
        split=start + pd.Timedelta(days=2),
        end=readings["ts"].max().to_pydatetime(),
        source="store",
        feature_spec=spec.feature_spec,
        ranges={"temperature": (-40.0, 85.0), "humidity": (0.0, 100.0)},
    )
    return fit_bundle(spec, spec.detectors[0], dataset)


def test_calibration_rows_were_held_out_of_the_fit(bundle: DetectorBundle) -> None:
    info = bundle.info
    assert info["calibration_rows"] > 0 and info["fit_rows"] > info["calibration_rows"]
    assert (
        info["fit_rows"] + info["calibration_rows"] + info["left_out_rows"] == info["n_train_rows"]
    )
    assert bundle.threshold == bundle.model.policy.open_level


def test_predict_answers_every_column_per_row(
    readings: pd.DataFrame, bundle: DetectorBundle
) -> None:
    out = bundle.predict(readings)
    assert tuple(out.columns) == PREDICTION_COLUMNS
    assert (out.index == readings.index).all()
    assert out["flag"].any() and not out["flag"].all()
    flagged = out[out["flag"]]
    assert (flagged["kind"] != "").all() and (out.loc[~out["flag"], "kind"] == "").all()
    shares = [json.loads(text) for text in flagged["contributions"]]
    assert all(abs(sum(s.values()) - 1.0) < 1e-3 for s in shares)


def test_row_order_of_the_input_does_not_matter(
    readings: pd.DataFrame, bundle: DetectorBundle
) -> None:
    subset = readings.iloc[:3000]
    shuffled = subset.sample(frac=1.0, random_state=3)
    expected = bundle.predict(subset)
    got = bundle.predict(shuffled)
    assert (got.index == shuffled.index).all()
    pd.testing.assert_frame_equal(got.sort_index(), expected.sort_index())


def test_missing_channel_is_named(readings: pd.DataFrame, bundle: DetectorBundle) -> None:
    with pytest.raises(ValidationFailed, match="missing 'humidity'"):
        bundle.predict(readings.drop(columns=["humidity"]))


def test_bundle_survives_pickling(readings: pd.DataFrame, bundle: DetectorBundle) -> None:
    copy = pickle.loads(pickle.dumps(bundle))
    head = readings.head(500)
    pd.testing.assert_frame_equal(copy.predict(head), bundle.predict(head))
    np.testing.assert_array_equal(
        copy.model.calibrator.reference, bundle.model.calibrator.reference
    )
