"""simulate.noisier: a regime change on chosen sensors, within physical ranges, unlabelled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from sensorguard.simulate import FaultKind, SimulationConfig, noisier, simulate_fleet

START = datetime(2026, 3, 1, tzinfo=UTC)


def test_noise_goes_on_the_chosen_types_from_since_on_and_stays_in_range() -> None:
    sim = simulate_fleet(SimulationConfig(sensors=6, sites=2, days=1, seed=3, start=START))
    since = START + timedelta(hours=12)
    after = noisier(
        sim, {"temperature": 0.6, "humidity": 2.0}, sensor_types=("climate",), since=since, seed=1
    )
    assert after.labels == sim.labels and len(after.readings) == len(sim.readings)
    climate = {s.sensor_id for s in sim.sensors if s.sensor_type == "climate"}
    before, now = sim.readings, after.readings
    moved = (before["temperature"] != now["temperature"]) & before["temperature"].notna()
    assert set(now.loc[moved, "sensor_id"]) == climate
    assert (now.loc[moved, "ts"] >= since).all()
    late = now["sensor_id"].isin(climate) & (now["ts"] >= since)
    extra = (now.loc[late, "temperature"] - before.loc[late, "temperature"]).std()
    assert extra == pytest.approx(0.6, rel=0.1)
    # Other channels and sensors are untouched; NaN (a channel the type lacks) stays NaN.
    assert before["sound_level"].equals(now["sound_level"])
    assert np.isnan(now.loc[now["sensor_id"].isin(climate), "sound_level"]).all()


def test_out_of_range_faults_stay_as_they_were() -> None:
    sim = simulate_fleet(
        SimulationConfig(
            sensors=2,
            sites=1,
            days=1,
            seed=2,
            start=START,
            fault_rate=20,
            fault_kinds=(FaultKind.OUT_OF_RANGE,),
            sensor_types=("climate",),
        )
    )
    after = noisier(sim, {"temperature": 1.0}, seed=0)
    outside = ~sim.readings["temperature"].between(-40, 85)
    assert outside.any()
    assert after.readings.loc[outside, "temperature"].equals(
        sim.readings.loc[outside, "temperature"]
    )
    assert after.readings.loc[~outside, "temperature"].between(-40, 85).all()


def test_unknown_channels_are_refused() -> None:
    sim = simulate_fleet(SimulationConfig(sensors=1, sites=1, days=0.1, seed=1, start=START))
    with pytest.raises(ValueError, match="noise channels must be among"):
        noisier(sim, {"pressure": 1.0})
