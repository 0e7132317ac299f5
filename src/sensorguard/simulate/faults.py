"""Labelled faults injected into clean signals: spikes, shifts, drift, flatlines, gaps, noise, range violations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from sensorguard.schemas import ChannelSpec, Sensor, SensorType
from sensorguard.simulate.config import FaultKind, FaultLabel
from sensorguard.simulate.signals import RESOLUTION, TYPICAL_SCALE, FloatArray

BoolArray = NDArray[np.bool_]

# Window length per kind, in seconds (converted to readings, at least one).
_DURATION_S: dict[FaultKind, tuple[float, float]] = {
    FaultKind.LEVEL_SHIFT: (3600, 6 * 3600),
    FaultKind.DRIFT: (3 * 3600, 12 * 3600),
    FaultKind.STUCK: (30 * 60, 4 * 3600),
    FaultKind.DROPOUT: (10 * 60, 3 * 3600),
    FaultKind.NOISE_BURST: (15 * 60, 2 * 3600),
}
# Point faults last a few readings whatever the interval.
_DURATION_STEPS: dict[FaultKind, tuple[int, int]] = {
    FaultKind.SPIKE: (1, 3),
    FaultKind.OUT_OF_RANGE: (1, 5),
}
# Magnitude ranges, in multiples of the channel's TYPICAL_SCALE.
_SCALE_MULTIPLE: dict[FaultKind, tuple[float, float]] = {
    FaultKind.SPIKE: (6.0, 12.0),
    FaultKind.LEVEL_SHIFT: (3.0, 6.0),
    FaultKind.DRIFT: (4.0, 8.0),
    FaultKind.NOISE_BURST: (1.5, 3.0),
}
_PLACEMENT_TRIES = 20


@dataclass(frozen=True)
class _Window:
    sensor: int
    channel: str | None
    kind: FaultKind
    start: int
    steps: int

    @property
    def stop(self) -> int:
        return self.start + self.steps


def _draw_steps(kind: FaultKind, n_steps: int, interval_s: int, rng: np.random.Generator) -> int:
    if kind in _DURATION_STEPS:
        lo, hi = _DURATION_STEPS[kind]
        steps = int(rng.integers(lo, hi + 1))
    else:
        lo_s, hi_s = _DURATION_S[kind]
        steps = max(1, round(rng.uniform(lo_s, hi_s) / interval_s))
    return min(steps, n_steps)


def _plan(
    sensors: Sequence[Sensor],
    types: Mapping[str, SensorType],
    kinds: Sequence[FaultKind],
    faults_per_sensor: float,
    n_steps: int,
    interval_s: int,
    rng: np.random.Generator,
) -> list[_Window]:
    """Non-overlapping windows per sensor, a reading apart, so each row has at most one cause."""
    windows: list[_Window] = []
    for i, sensor in enumerate(sensors):
        channels = list(types[sensor.sensor_type].channels)
        taken: list[_Window] = []
        for _ in range(int(rng.poisson(faults_per_sensor))):
            kind = kinds[int(rng.integers(len(kinds)))]
            channel = (
                None if kind is FaultKind.DROPOUT else channels[int(rng.integers(len(channels)))]
            )
            steps = _draw_steps(kind, n_steps, interval_s, rng)
            for _ in range(_PLACEMENT_TRIES):
                start = int(rng.integers(0, n_steps - steps + 1))
                if all(start > w.stop or start + steps < w.start for w in taken):
                    taken.append(_Window(i, channel, kind, start, steps))
                    break
        windows.extend(taken)
    windows.sort(key=lambda w: (w.start, w.sensor))
    return windows


def _signed_offset(
    segment: FloatArray, ramp: FloatArray, spec: ChannelSpec, size: float, rng: np.random.Generator
) -> float:
    """A random sign, flipped when that direction would leave the physical range."""
    offset = size if rng.random() < 0.5 else -size
    shifted = segment + offset * ramp
    if shifted.max() > spec.max or shifted.min() < spec.min:
        offset = -offset
    return offset


def _inject_one(
    kind: FaultKind,
    channel: str,
    series: FloatArray,
    sl: slice,
    spec: ChannelSpec,
    rng: np.random.Generator,
) -> float:
    """Alter series[sl] in place; return the label's magnitude."""
    segment = series[sl]
    steps = len(segment)
    scale = TYPICAL_SCALE[channel]
    digits = RESOLUTION[channel]
    if kind in (FaultKind.SPIKE, FaultKind.LEVEL_SHIFT, FaultKind.DRIFT):
        lo, hi = _SCALE_MULTIPLE[kind]
        size = float(rng.uniform(lo, hi)) * scale
        ramp = (
            np.arange(1, steps + 1, dtype=np.float64) / steps
            if kind is FaultKind.DRIFT
            else np.ones(steps)
        )
        offset = round(_signed_offset(segment, ramp, spec, size, rng), digits)
        series[sl] = segment + offset * ramp
        return offset
    if kind is FaultKind.STUCK:
        held = round(float(segment[0]), digits)
        series[sl] = held
        return held
    if kind is FaultKind.NOISE_BURST:
        lo, hi = _SCALE_MULTIPLE[kind]
        sd = round(float(rng.uniform(lo, hi)) * scale, digits)
        series[sl] = segment + rng.normal(0.0, sd, size=steps)
        return sd
    if kind is FaultKind.OUT_OF_RANGE:
        # A constant bogus value well outside the range, like a broken ADC or a sentinel.
        beyond = float(rng.uniform(0.05, 0.5)) * (spec.max - spec.min)
        value = round(spec.max + beyond if rng.random() < 0.5 else spec.min - beyond, digits)
        series[sl] = value
        return value
    raise ValueError(f"fault kind must be one that alters a channel, got {kind}")


def inject_faults(
    values: dict[str, FloatArray],
    present: BoolArray,
    sensors: Sequence[Sensor],
    types: Mapping[str, SensorType],
    *,
    kinds: Sequence[FaultKind],
    fault_rate: float,
    start: datetime,
    interval_s: int,
    rng: np.random.Generator,
) -> list[FaultLabel]:
    """Inject faults into `values` (sensors x steps per channel) and `present` in place.

    Every value outside an out_of_range fault ends within its channel's physical range, so
    out_of_range faults are the only readings ingest validation refuses.
    """
    n_steps = present.shape[1]
    days = n_steps * interval_s / 86_400
    windows = _plan(sensors, types, kinds, fault_rate * days, n_steps, interval_s, rng)
    magnitudes: list[float | None] = [None] * len(windows)

    def inject(index: int) -> None:
        w = windows[index]
        if w.channel is None:
            present[w.sensor, w.start : w.stop] = False
            return
        spec = types[sensors[w.sensor].sensor_type].channels[w.channel]
        series = values[w.channel][w.sensor]
        magnitudes[index] = _inject_one(
            w.kind, w.channel, series, slice(w.start, w.stop), spec, rng
        )

    late = [n for n, w in enumerate(windows) if w.kind is FaultKind.OUT_OF_RANGE]
    for n in (n for n, w in enumerate(windows) if w.kind is not FaultKind.OUT_OF_RANGE):
        inject(n)
    for i, sensor in enumerate(sensors):
        for name, spec in types[sensor.sensor_type].channels.items():
            np.clip(values[name][i], spec.min, spec.max, out=values[name][i])
    # Out-of-range values go in after the clipping, which must not pull them back into range.
    for n in late:
        inject(n)

    step = timedelta(seconds=interval_s)
    return [
        FaultLabel(
            fault_id=n,
            sensor_id=sensors[w.sensor].sensor_id,
            channel=w.channel,
            kind=w.kind,
            start=start + w.start * step,
            end=start + w.stop * step,
            magnitude=m,
        )
        for n, (w, m) in enumerate(zip(windows, magnitudes, strict=True))
    ]
