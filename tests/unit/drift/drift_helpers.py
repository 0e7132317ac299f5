"""Helpers of the drift tests: synthetic frames and a fleet whose last day can be disturbed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from sensorguard.simulate import Simulation

ROOT = Path(__file__).resolve().parents[3]
FAST_SPECS = ROOT / "tests" / "unit" / "training" / "fast_specs"
START = datetime(2026, 3, 1, tzinfo=UTC)


def frame(n: int, *, seed: int, shift: float = 0.0, flag_rate: float = 0.02) -> pd.DataFrame:
    """Columns a, b (normal), c (uniform), score (exponential), flag; `shift` moves a and b."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(shift, 1.0, n),
            "b": rng.normal(10 + shift, 1.0, n),
            "c": rng.uniform(0, 1, n),
            "score": rng.exponential(1.0, n),
            "flag": rng.random(n) < flag_rate,
        }
    )


def days(sim: Simulation, first: int, last: int) -> Simulation:
    """The part of `sim` in whole days [first, last) after START."""
    ts = sim.readings["ts"]
    keep = (ts >= START + timedelta(days=first)) & (ts < START + timedelta(days=last))
    return replace(sim, readings=sim.readings[keep])


def noisier(sim: Simulation, *, seed: int = 1) -> Simulation:
    """A new regime: the same readings with 0.6 °C and 2 %RH of extra noise on every sensor."""
    from sensorguard.simulate import noisier as new_regime

    return new_regime(sim, {"temperature": 0.6, "humidity": 2.0}, seed=seed)


def with_defrost(
    sim: Simulation,
    sensor_id: str,
    *,
    from_day: int = 0,
    every_h: float = 4.0,
    minutes: int = 20,
    rise: float = 2.5,
) -> Simulation:
    """A benign routine the simulator does not label: from day `from_day` on, every `every_h`
    hours the sensor's temperature rises by up to `rise` °C and falls back over `minutes` (a
    defrost cycle, say, after a new controller was fitted)."""
    readings = sim.readings.copy()
    mine = (readings["sensor_id"] == sensor_id) & (
        readings["ts"] >= START + timedelta(days=from_day)
    )
    since = (readings["ts"] - START).dt.total_seconds()
    phase = since % (every_h * 3600) / 60.0  # minutes into the cycle
    inside = mine & (phase < minutes)
    bump = rise * np.sin(np.pi * phase[inside] / minutes)
    readings.loc[inside, "temperature"] = (readings.loc[inside, "temperature"] + bump).round(2)
    return replace(sim, readings=readings)
