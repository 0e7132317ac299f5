"""Attribution: a fault injected into one channel of a multi-channel sensor is blamed on it.

Every registry entry is trained through the scoring path on one simulated fleet of
`environment` sensors (temperature, humidity, sound level) and scores another; for each
labelled single-channel fault it flags, the channel its flags name first (the largest share
summed over the fault's flagged readings: what an operator is shown) must be the faulted one
in at least 90 % of those faults.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from sensorguard.detectors import available_detectors
from sensorguard.scoring import ScoringModel, SensorHistory, fit_scoring_model
from sensorguard.simulate import Simulation, SimulationConfig, simulate_fleet
from sensorguard.specs import load_specs
from sensorguard.training.dataset import per_sensor
from sensorguard.training.labels import from_simulation, row_truth

CHANNELS = ("temperature", "humidity", "sound_level")
KINDS = ("spike", "level_shift", "drift", "stuck", "noise_burst")
START = datetime(2026, 3, 1, tzinfo=UTC)  # fixed: a run-time start would move the faults
MIN_RIGHT_CHANNEL = 0.9
# Known shortfalls, strict: each must keep failing until fixed (then drop it from here).
# With the shipped features, copod, ecod and ensemble name the right channel for 85-89 % of the
# faults they flag (ecod 28/33); hbos 11/14; iforest, loda, ocsvm and pca flag few of these
# faults on a fleet they were not trained on, and name the channel less often still.
SHORT = {"copod", "ecod", "ensemble", "hbos", "iforest", "loda", "ocsvm", "pca"}
DETECTORS = [
    pytest.param(
        name,
        marks=pytest.mark.xfail(strict=True, reason="attribution below 90 %, see SHORT"),
    )
    if name in SHORT
    else name
    for name in available_detectors()
]


def fleet(seed: int) -> Simulation:
    return simulate_fleet(
        SimulationConfig(
            sensors=8,
            sites=2,
            days=2,
            seed=seed,
            fault_rate=6,
            start=START,
            fault_kinds=KINDS,
            sensor_types=("environment",),
        )
    )


@pytest.fixture(scope="module")
def spec_and_fleets() -> tuple[object, Simulation, Simulation]:
    return load_specs()["environment"], fleet(41), fleet(43)


def fitted(detector: str, spec: object, train: Simulation) -> ScoringModel:
    readings = train.readings[["sensor_id", "ts", *CHANNELS]].reset_index(drop=True)
    truth = row_truth(readings[["sensor_id", "ts"]], from_simulation(train.labels))
    histories, learnable = [], []
    for rows, ts, values, features in per_sensor(readings, spec.feature_spec):  # type: ignore[attr-defined]
        histories.append(SensorHistory(ts, values, features))
        learnable.append(truth[rows] == 0)
    return fit_scoring_model(detector, histories, spec.feature_spec, learnable=learnable)  # type: ignore[attr-defined]


@pytest.mark.parametrize("detector", DETECTORS)
def test_the_faulted_channel_is_named_first(
    detector: str, spec_and_fleets: tuple[object, Simulation, Simulation]
) -> None:
    spec, train, test = spec_and_fleets
    model = fitted(detector, spec, train)
    readings = test.readings[["sensor_id", "ts", *CHANNELS]].reset_index(drop=True)
    verdicts = model.score_frame(readings)
    sources = list(verdicts.sources)
    right, faults = 0, 0
    warm = pd.Timestamp(test.start + timedelta(hours=6))
    for label in test.labels:
        if label.channel is None or pd.Timestamp(label.start) < warm:
            continue
        rows = (
            (readings["sensor_id"] == label.sensor_id)
            & (readings["ts"] >= pd.Timestamp(label.start))
            & (readings["ts"] < pd.Timestamp(label.end))
        ).to_numpy() & verdicts.flag
        if not rows.any():
            continue
        faults += 1
        lead = sources[int(np.argmax(verdicts.shares[rows].sum(axis=0)))]
        right += lead == label.channel
    assert faults >= 10, faults
    assert right / faults >= MIN_RIGHT_CHANNEL, f"{detector}: {right}/{faults}"
