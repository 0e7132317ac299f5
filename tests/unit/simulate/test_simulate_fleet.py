"""The simulated fleet: layout, determinism, realistic signals, validity of clean data."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from simulate_helpers import START, small_config

from sensorguard.schemas import BUILTIN_SENSOR_TYPES, Reading
from sensorguard.simulate import (
    FaultKind,
    Simulation,
    SimulationConfig,
    build_fleet,
    simulate_fleet,
)
from sensorguard.validation import ReadingValidator, StaticCatalog


def validator_for(sim: Simulation, **kwargs: object) -> ReadingValidator:
    return ReadingValidator(StaticCatalog.of(sim.sensors, BUILTIN_SENSOR_TYPES), **kwargs)  # type: ignore[arg-type]


def test_fleet_mixes_types_over_every_site() -> None:
    sensors = build_fleet(SimulationConfig(sensors=12, sites=3))
    assert [s.sensor_id for s in sensors[:3]] == ["th-001", "snd-002", "env-003"]
    assert {s.site for s in sensors} == {"site-a", "site-b", "site-c"}
    for site in ("site-a", "site-b", "site-c"):
        types = {s.sensor_type for s in sensors if s.site == site}
        assert len(types) >= 2, f"{site} holds only {types}"
    assert len({s.sensor_id for s in sensors}) == 12


def test_readings_frame_shape() -> None:
    sim = simulate_fleet(small_config(fault_rate=0.0))
    frame = sim.readings
    assert list(frame.columns) == [
        "sensor_id",
        "ts",
        "seq",
        "temperature",
        "humidity",
        "sound_level",
    ]
    assert str(frame["ts"].dt.tz) == "UTC"
    assert len(frame) == 6 * 1440
    # Time order across the fleet: devices interleave.
    assert frame["ts"].is_monotonic_increasing
    assert frame["ts"].iloc[0] == pd.Timestamp(START)
    assert frame["ts"].iloc[-1] == pd.Timestamp(sim.end - timedelta(minutes=1))
    by_type = {s.sensor_id: s.sensor_type for s in sim.sensors}
    acoustic = frame["sensor_id"].map(by_type) == "acoustic"
    assert frame.loc[acoustic, ["temperature", "humidity"]].isna().all().all()
    assert frame.loc[~acoustic, "temperature"].notna().all()


def test_values_have_device_resolution() -> None:
    frame = simulate_fleet(small_config(fault_rate=0.0)).readings
    for name, digits in (("temperature", 2), ("humidity", 1), ("sound_level", 1)):
        values = frame[name].dropna().to_numpy()
        assert np.allclose(values, np.round(values, digits), rtol=0, atol=1e-9), name


def test_same_seed_same_data_other_seed_other_data() -> None:
    a = simulate_fleet(small_config(fault_rate=3.0))
    b = simulate_fleet(small_config(fault_rate=3.0))
    pd.testing.assert_frame_equal(a.readings, b.readings)
    assert a.labels == b.labels
    assert a.sensors == b.sensors
    c = simulate_fleet(small_config(fault_rate=3.0, seed=12))
    assert not a.readings["temperature"].equals(c.readings["temperature"])
    assert a.labels != c.labels


def test_temperature_and_humidity_are_anticorrelated() -> None:
    frame = simulate_fleet(small_config(days=2.0, fault_rate=0.0)).readings.dropna(
        subset=["temperature", "humidity"]
    )
    corr = (
        frame.groupby("sensor_id")[["temperature", "humidity"]]
        .corr()
        .xs("temperature", level=1)["humidity"]
    )
    assert len(corr) == 4
    assert (corr < -0.3).all(), corr.to_dict()


def test_sound_is_louder_on_weekday_working_hours() -> None:
    sim = simulate_fleet(small_config(days=7.0, fault_rate=0.0, sensor_types=("acoustic",)))
    offsets = {s.sensor_id: int(s.tags["utc_offset_h"]) for s in sim.sensors}
    frame = sim.readings
    local = frame["ts"] + pd.to_timedelta(frame["sensor_id"].map(offsets), unit="h")
    hour, weekday = local.dt.hour, local.dt.weekday
    busy = frame.loc[(weekday < 5) & hour.between(10, 15), "sound_level"].mean()
    night = frame.loc[hour.between(1, 4), "sound_level"].mean()
    assert busy > night + 5.0, (busy, night)


def test_clean_data_passes_ingest_validation() -> None:
    sim = simulate_fleet(small_config(fault_rate=0.0))
    result = validator_for(sim, clock=lambda: sim.end).validate_batch(list(sim.iter_raw()))
    assert result.rejected == []
    assert len(result.accepted) == len(sim.readings)


def test_default_start_ends_now_and_passes_clock_skew_checks() -> None:
    sim = simulate_fleet(SimulationConfig(sensors=3, sites=1, days=0.1, fault_rate=0.0))
    result = validator_for(sim).validate_batch(list(sim.iter_raw()))
    assert result.rejected == []
    # The last reading is within one interval of now, so the data is fresh.
    assert Reading.model_validate(list(sim.iter_raw())[-1]).ts > sim.end - timedelta(minutes=2)


def test_only_out_of_range_faults_are_rejected(faulty_sim: Simulation) -> None:
    sim = faulty_sim
    kinds = {label.kind for label in sim.labels}
    assert kinds == set(FaultKind), f"fixture lacks {set(FaultKind) - kinds}"
    result = validator_for(sim, clock=lambda: sim.end).validate_batch(list(sim.iter_raw()))
    points = sim.point_labels()
    expected = points.index[points["kind"] == FaultKind.OUT_OF_RANGE.value].tolist()
    assert [r.index for r in result.rejected] == expected
    assert {r.field for r in result.rejected} <= {
        "channels.temperature",
        "channels.humidity",
        "channels.sound_level",
    }


def test_iter_readings_matches_frame() -> None:
    sim = simulate_fleet(small_config(days=0.1, fault_rate=0.0))
    readings = list(sim.iter_readings())
    assert len(readings) == len(sim.readings)
    first, row = readings[4], sim.readings.iloc[4]
    assert first.sensor_id == row["sensor_id"]
    assert first.ts == row["ts"].to_pydatetime()
    assert first.seq == row["seq"]
    assert set(first.channels) == {c for c in sim.channels if not pd.isna(row[c])}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sensors": 2, "sites": 3}, "sites"),
        ({"days": 0.0001, "interval_s": 60}, "interval"),
        ({"sensor_types": ("climate", "weather")}, "weather"),
        ({"sensors": 5000, "days": 30}, "at most"),
    ],
)
def test_config_refuses_nonsense(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        SimulationConfig(**overrides)  # type: ignore[arg-type]
