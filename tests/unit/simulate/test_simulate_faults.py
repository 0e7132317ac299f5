"""Every injected fault is where its label says and looks like its kind; nothing else changes."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from simulate_helpers import small_config

from sensorguard.schemas import BUILTIN_SENSOR_TYPES
from sensorguard.simulate import FaultKind, FaultLabel, Simulation, simulate_fleet

TYPES = {t.name: t for t in BUILTIN_SENSOR_TYPES}
RESOLUTION = {"temperature": 0.01, "humidity": 0.1, "sound_level": 0.1}
# Noise-free scale of each channel: a real fault must stand out of it.
NOISE = {"temperature": 0.1, "humidity": 1.0, "sound_level": 2.0}


def faulty_and_clean(kind: FaultKind) -> tuple[Simulation, Simulation]:
    """The same seed with and without faults: the clean signal is the same in both."""
    faulty = simulate_fleet(small_config(days=2.0, fault_rate=3.0, fault_kinds=(kind,)))
    clean = simulate_fleet(small_config(days=2.0, fault_rate=0.0))
    assert faulty.labels, f"no {kind} fault injected"
    assert {label.kind for label in faulty.labels} == {kind}
    return faulty, clean


def window(sim: Simulation, label: FaultLabel) -> pd.DataFrame:
    frame = sim.readings
    ts = frame["ts"]
    inside = (
        (frame["sensor_id"] == label.sensor_id)
        & (ts >= pd.Timestamp(label.start))
        & (ts < pd.Timestamp(label.end))
    )
    return frame[inside]


def steps(sim: Simulation, label: FaultLabel) -> int:
    return (label.end - label.start) // timedelta(seconds=sim.config.interval_s)


def check_common(faulty: Simulation, label: FaultLabel) -> None:
    sensor_types = {s.sensor_id: s.sensor_type for s in faulty.sensors}
    assert label.sensor_id in sensor_types
    assert faulty.start <= label.start < label.end <= faulty.end
    assert (label.start - faulty.start) % timedelta(seconds=faulty.config.interval_s) == timedelta(
        0
    )
    if label.kind is FaultKind.DROPOUT:
        assert label.channel is None
    else:
        assert label.channel in TYPES[sensor_types[label.sensor_id]].channels


def deviation(faulty: Simulation, clean: Simulation, label: FaultLabel) -> np.ndarray:
    bad, good = window(faulty, label), window(clean, label)
    assert len(bad) == len(good) == steps(faulty, label)
    assert label.channel is not None
    return bad[label.channel].to_numpy() - good[label.channel].to_numpy()


def expected_offsets(
    faulty: Simulation, clean: Simulation, label: FaultLabel, ramp: np.ndarray
) -> None:
    """Faulty = clean + magnitude * ramp, up to rounding, unless clipped at the physical range."""
    assert label.channel is not None and label.magnitude is not None
    sensor = next(s for s in faulty.sensors if s.sensor_id == label.sensor_id)
    spec = TYPES[sensor.sensor_type].channels[label.channel]
    good = window(clean, label)[label.channel].to_numpy()
    bad = window(faulty, label)[label.channel].to_numpy()
    want = np.clip(good + label.magnitude * ramp, spec.min, spec.max)
    assert np.allclose(bad, want, rtol=0, atol=RESOLUTION[label.channel] * 1.01)


@pytest.mark.parametrize("kind", list(FaultKind))
def test_rows_outside_labelled_windows_are_untouched(kind: FaultKind) -> None:
    faulty, clean = faulty_and_clean(kind)
    for label in faulty.labels:
        check_common(faulty, label)
    points = faulty.point_labels()
    keys = ["sensor_id", "ts"]
    normal = faulty.readings[points["label"] == 0]
    merged = normal.merge(clean.readings, on=keys, suffixes=("", "_clean"), validate="1:1")
    assert len(merged) == len(normal)
    for name in faulty.channels:
        pd.testing.assert_series_equal(merged[name], merged[f"{name}_clean"], check_names=False)
    if kind is not FaultKind.DROPOUT:
        assert len(faulty.readings) == len(clean.readings)
        labelled = sum(steps(faulty, label) for label in faulty.labels)
        assert int(points["label"].sum()) == labelled
        assert set(points.loc[points["label"] == 1, "kind"]) == {kind.value}


def test_spike_rows_deviate_by_the_magnitude() -> None:
    faulty, clean = faulty_and_clean(FaultKind.SPIKE)
    for label in faulty.labels:
        assert label.channel is not None and label.magnitude is not None
        assert 1 <= steps(faulty, label) <= 3
        assert abs(label.magnitude) > 5 * NOISE[label.channel]
        assert (np.abs(deviation(faulty, clean, label)) > 3 * NOISE[label.channel]).all()
        expected_offsets(faulty, clean, label, np.ones(steps(faulty, label)))


def test_level_shift_is_a_constant_offset() -> None:
    faulty, clean = faulty_and_clean(FaultKind.LEVEL_SHIFT)
    for label in faulty.labels:
        assert label.channel is not None and label.magnitude is not None
        assert steps(faulty, label) >= 60
        assert abs(label.magnitude) > 2 * NOISE[label.channel]
        expected_offsets(faulty, clean, label, np.ones(steps(faulty, label)))


def test_drift_grows_gradually() -> None:
    faulty, clean = faulty_and_clean(FaultKind.DRIFT)
    for label in faulty.labels:
        n = steps(faulty, label)
        assert n >= 180
        expected_offsets(faulty, clean, label, np.arange(1, n + 1) / n)
        dev = np.abs(deviation(faulty, clean, label))
        assert dev[: n // 10].mean() < dev[-(n // 10) :].mean()


def test_stuck_rows_are_constant() -> None:
    faulty, clean = faulty_and_clean(FaultKind.STUCK)
    for label in faulty.labels:
        assert label.channel is not None
        bad = window(faulty, label)[label.channel]
        good = window(clean, label)[label.channel]
        assert len(bad) >= 30
        assert (bad == label.magnitude).all()
        assert bad.iloc[0] == good.iloc[0]
        assert good.nunique() > 1, "the clean signal would not have been flat"


def test_dropout_rows_are_absent() -> None:
    faulty, clean = faulty_and_clean(FaultKind.DROPOUT)
    for label in faulty.labels:
        assert label.magnitude is None
        assert window(faulty, label).empty
        assert len(window(clean, label)) == steps(faulty, label)
    missing = sum(steps(faulty, label) for label in faulty.labels)
    assert len(clean.readings) - len(faulty.readings) == missing
    # seq numbers jump over the gap, as a device's counter would.
    seq_gaps = faulty.readings.groupby("sensor_id")["seq"].diff().fillna(1)
    assert int((seq_gaps - 1).sum()) == missing


def test_noise_burst_adds_noise_of_the_labelled_size() -> None:
    faulty, clean = faulty_and_clean(FaultKind.NOISE_BURST)
    for label in faulty.labels:
        assert label.channel is not None and label.magnitude is not None
        dev = deviation(faulty, clean, label)
        assert len(dev) >= 15
        assert label.magnitude > NOISE[label.channel]
        assert 0.4 * label.magnitude < dev.std() < 1.6 * label.magnitude


def test_out_of_range_values_leave_the_physical_range() -> None:
    faulty, _ = faulty_and_clean(FaultKind.OUT_OF_RANGE)
    types = {s.sensor_id: TYPES[s.sensor_type] for s in faulty.sensors}
    for label in faulty.labels:
        assert label.channel is not None and label.magnitude is not None
        spec = types[label.sensor_id].channels[label.channel]
        bad = window(faulty, label)[label.channel]
        assert 1 <= len(bad) <= 5
        assert (bad == label.magnitude).all()
        assert ((bad > spec.max) | (bad < spec.min)).all()


def test_labels_frame_lists_every_label(faulty_sim: Simulation) -> None:
    frame = faulty_sim.labels_frame()
    assert len(frame) == len(faulty_sim.labels)
    assert frame["fault_id"].tolist() == list(range(len(frame)))
    assert frame["start"].is_monotonic_increasing
    assert set(frame["kind"]) == {k.value for k in FaultKind}
    assert frame.loc[frame["kind"] == "dropout", "channel"].isna().all()


def test_faults_on_a_sensor_never_overlap(faulty_sim: Simulation) -> None:
    frame = faulty_sim.labels_frame().sort_values(["sensor_id", "start"])
    for _, group in frame.groupby("sensor_id"):
        assert (group["start"].iloc[1:].to_numpy() > group["end"].iloc[:-1].to_numpy()).all()
