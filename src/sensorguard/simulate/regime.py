"""Unlabelled changes of operating regime: what a drift check must notice, not a fault to flag.

A fault (`simulate.faults`) is a labelled episode a detector should flag. A regime change is
the world moving under a trained model (a firmware update that makes sensors noisier, a new
ventilation schedule): every reading from some time on is different, none of them is a fault,
and the right response is a retraining, not an alert.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from sensorguard.simulate.signals import RESOLUTION

if TYPE_CHECKING:
    from sensorguard.simulate.fleet import Simulation


def noisier(
    sim: Simulation,
    noise: Mapping[str, float],
    *,
    sensor_types: Collection[str] | None = None,
    since: datetime | None = None,
    seed: int = 0,
) -> Simulation:
    """The same simulation with extra Gaussian noise (standard deviation per channel) on the
    sensors of `sensor_types` (default: all) from `since` (default: the start) on.

    Values stay within their channel's physical range (an out_of_range fault stays out of it,
    untouched), so ingest refuses exactly what it refused before. Labels are kept as they are:
    the change is a new normal, not a fault.
    """
    from sensorguard.simulate.fleet import BUILTIN_TYPES

    unknown = [c for c in noise if c not in RESOLUTION]
    if unknown:
        raise ValueError(f"noise channels must be among {', '.join(RESOLUTION)}, got {unknown[0]}")
    rng = np.random.default_rng(seed)
    readings = sim.readings.copy()
    type_of = {s.sensor_id: s.sensor_type for s in sim.sensors}
    types = readings["sensor_id"].map(type_of)
    rows = types.isin(list(sensor_types)) if sensor_types is not None else types.notna()
    if since is not None:
        rows &= readings["ts"] >= since
    for channel, sd in noise.items():
        if channel not in readings.columns:
            continue
        values = readings[channel].to_numpy(dtype=np.float64, copy=True)
        specs = {n: t.channels[channel] for n, t in BUILTIN_TYPES.items() if channel in t.channels}
        lo = types.map({n: s.min for n, s in specs.items()}).to_numpy(dtype=np.float64)
        hi = types.map({n: s.max for n, s in specs.items()}).to_numpy(dtype=np.float64)
        # NaN: the type lacks the channel; outside the range: an out_of_range fault.
        target = rows.to_numpy() & ~np.isnan(values) & (values >= lo) & (values <= hi)
        moved = values[target] + rng.normal(0.0, sd, int(target.sum()))
        values[target] = np.round(np.clip(moved, lo[target], hi[target]), RESOLUTION[channel])
        readings[channel] = values
    return replace(sim, readings=readings)
