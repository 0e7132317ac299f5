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
    rng = np.random.default_rng(seed)
    readings = sim.readings.copy()
    readings["temperature"] = (readings["temperature"] + rng.normal(0, 0.6, len(readings))).round(2)
    humidity = readings["humidity"] + rng.normal(0, 2.0, len(readings))
    readings["humidity"] = humidity.clip(0, 100).round(1)
    return replace(sim, readings=readings)
