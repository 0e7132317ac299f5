"""A synthetic climate sensor with one fault of each kind injected at a known place."""

from __future__ import annotations

import numpy as np
import pandas as pd

STEP_MIN = 5
DAYS = 5
TRAIN_DAYS = 2
KINDS = ("spike", "level_shift", "drift", "flatline", "dropout", "noise_burst")


def climate_with_faults(seed: int) -> pd.DataFrame:
    """5-minute temperature/humidity with a daily cycle; faults start after the training days.

    Returns columns ts, temperature, humidity, fault ('' or the kind). A dropout removes two
    hours of readings; its label sits on the first reading after the gap.
    """
    rng = np.random.default_rng(seed)
    n = DAYS * 24 * 60 // STEP_MIN
    ts = pd.Timestamp("2024-05-01", tz="UTC") + pd.to_timedelta(np.arange(n) * STEP_MIN, unit="min")
    day = np.arange(n) / (24 * 60 / STEP_MIN)
    temperature = 21 + 3 * np.sin(2 * np.pi * (day + rng.random())) + rng.normal(0, 0.15, n)
    humidity = 80 - 1.5 * temperature + rng.normal(0, 0.4, n)
    fault = np.full(n, "", dtype=object)
    first = TRAIN_DAYS * 24 * 60 // STEP_MIN + 60
    starts = first + np.arange(len(KINDS)) * 120 + rng.integers(0, 40, len(KINDS))
    keep = np.ones(n, dtype=bool)
    for kind, start in zip(KINDS, starts, strict=True):
        if kind == "spike":
            temperature[start] += 3.0
            fault[start] = kind
        elif kind == "level_shift":
            humidity[start : start + 30] += 6.0
            fault[start : start + 30] = kind
        elif kind == "drift":
            temperature[start : start + 48] += np.linspace(0, 3.0, 48)
            fault[start : start + 48] = kind
        elif kind == "flatline":
            temperature[start : start + 36] = temperature[start]
            fault[start : start + 36] = kind
        elif kind == "dropout":
            keep[start : start + 24] = False
            fault[start + 24] = kind
        else:
            temperature[start : start + 24] += rng.normal(0, 1.0, 24)
            fault[start : start + 24] = kind
    frame = pd.DataFrame(
        {"ts": ts, "temperature": temperature, "humidity": humidity, "fault": fault}
    )
    return frame[keep].reset_index(drop=True)


def train_rows(frame: pd.DataFrame) -> int:
    return int((frame["ts"] < frame["ts"].iloc[0] + pd.Timedelta(days=TRAIN_DAYS)).sum())
