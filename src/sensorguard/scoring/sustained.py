"""Sustained evidence: many mildly surprising readings in a row are surprising together.

A slow drift or a small offset makes each reading only a little unusual; no single one
crosses the opening level, but their run is rare. In the spirit of Numenta's anomaly
likelihood, the mean surprise over the last ``rows`` readings is itself calibrated (on runs of
held-out training rows, the way the live path computes it) and the reading's score becomes the
larger of its own surprise and its run's. Causal: only the reading and those before it count.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from sensorguard.errors import ValidationFailed
from sensorguard.scoring.calibration import MIN_CALIBRATION_ROWS, Calibrator

F = npt.NDArray[np.float64]


def run_means(surprise: F, rows: int) -> F:
    """Mean of each reading's last ``rows`` surprises; NaN until ``rows`` readings exist."""
    out = np.full(len(surprise), np.nan)
    if rows >= 1 and len(surprise) >= rows:
        windows = np.lib.stride_tricks.sliding_window_view(surprise, rows)
        out[rows - 1 :] = windows.mean(axis=1)
    return out


def fit_sustained(runs: list[F], rows: int) -> Calibrator | None:
    """Calibrate run means over contiguous runs of held-out surprises; None if too few."""
    means = [m[np.isfinite(m)] for m in (run_means(r, rows) for r in runs)]
    joined = np.concatenate(means) if means else np.empty(0)
    if len(joined) < MIN_CALIBRATION_ROWS:
        return None
    return Calibrator.fit(joined)


def combine(surprise: F, means: F, calibrator: Calibrator | None) -> F:
    """Each reading's score: its own surprise or its run's, whichever is larger."""
    if calibrator is None:
        return surprise
    sustained = np.where(np.isfinite(means), calibrator.surprise(np.nan_to_num(means)), 0.0)
    result: F = np.maximum(surprise, sustained)
    return result


class SustainedState:
    """One live sensor's last ``rows`` surprises (the stream form of :func:`run_means`)."""

    def __init__(self, rows: int, calibrator: Calibrator | None):
        if rows < 1:
            raise ValidationFailed("sustain rows", rows, "at least 1")
        self.calibrator = calibrator
        self._recent: deque[float] = deque(maxlen=rows)

    def update(self, surprise: float) -> float:
        self._recent.append(surprise)
        if self._recent.maxlen is not None and len(self._recent) < self._recent.maxlen:
            mean = np.array([np.nan])
        else:
            mean = np.array([np.mean(np.fromiter(self._recent, dtype=np.float64))])
        return float(combine(np.array([surprise]), mean, self.calibrator)[0])
