"""Raw detector scores to one calibrated unit: surprise = -log10 of the chance of being this unusual.

Every detector speaks its own scale (path lengths, distances, summed log tail probabilities).
A :class:`Calibrator` is fitted on raw scores of held-out *normal* training rows, computed the
way the stream computes them (one row at a time, causal features), and turns a raw score ``s``
into ``-log10 P(S >= s)``. ``surprise 3`` therefore reads "one normal reading in a thousand is
this unusual" in every group, for every detector and sensor type.

Inside the calibration sample ``P`` is the interpolated empirical tail; above the top
``TAIL_FRACTION`` of it, an exponential tail fitted to the excesses (peaks over threshold)
extrapolates, so the score keeps growing with the raw score instead of saturating at the
sample's largest value: thousands of equal scores would defeat every threshold sweep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sensorguard.errors import ValidationFailed

F = npt.NDArray[np.float64]

REFERENCE_SIZE = 2001  # quantiles kept: bounds the model whatever the calibration rows
TAIL_FRACTION = 0.02  # the top 2 % of calibration scores fit the exponential tail
MIN_CALIBRATION_ROWS = 20
MAX_SURPRISE = 300.0  # ~float64's smallest probability; reached only by absurd raw scores


@dataclass(frozen=True)
class Calibrator:
    """Frozen map from raw scores to surprise; a row's value depends on that row alone."""

    reference: F  # sorted quantiles of the calibration scores, evenly spaced in rank
    rows: int  # calibration rows the quantiles summarise
    tail_start: float  # raw score where the exponential tail takes over
    tail_scale: float  # mean excess over tail_start in the calibration tail

    @classmethod
    def fit(cls, raw: F) -> Calibrator:
        values = np.sort(np.asarray(raw, dtype=np.float64)[np.isfinite(raw)])
        if len(values) < MIN_CALIBRATION_ROWS:
            raise ValidationFailed(
                "calibration rows", len(values), f"at least {MIN_CALIBRATION_ROWS} finite scores"
            )
        ranks = np.linspace(0.0, 1.0, min(REFERENCE_SIZE, len(values)))
        reference = np.quantile(values, ranks)
        tail_start = float(np.quantile(values, 1.0 - TAIL_FRACTION))
        excess = values[values > tail_start] - tail_start
        spread = float(values[-1] - values[0])
        scale = float(excess.mean()) if len(excess) else 0.0
        # A degenerate tail (every top score equal) still needs a positive scale: a raw score
        # one whole calibration range above the top is then 1/e as likely again.
        floor = max(spread, abs(tail_start), 1.0) * 1e-6
        return cls(reference, len(values), tail_start, max(scale, floor))

    def tail_probability(self, raw: F) -> F:
        """P(a normal row's raw score >= raw), never 0 and never exactly tied above the sample."""
        raw = np.asarray(raw, dtype=np.float64)
        ranks = np.linspace(0.0, 1.0, len(self.reference))
        # Tied reference values keep their lowest rank: a raw score equal to many calibration
        # scores is exactly as common as they are (P(S >= s) counts them all), not rare.
        values, first = np.unique(self.reference, return_index=True)
        below = 1.0 - np.interp(raw, values, ranks[first], left=0.0, right=1.0)
        floor = 1.0 / (self.rows + 1)
        body = np.maximum(below, floor)
        with np.errstate(over="ignore", invalid="ignore"):
            tail = TAIL_FRACTION * np.exp(-(raw - self.tail_start) / self.tail_scale)
        p = np.where(raw > self.tail_start, np.minimum(tail, TAIL_FRACTION), body)
        return np.where(np.isfinite(raw), p, 1.0)

    def surprise(self, raw: F) -> F:
        """``-log10`` of :meth:`tail_probability`; 0 for typical rows (and NaN raw scores)."""
        with np.errstate(divide="ignore"):
            s = -np.log10(self.tail_probability(raw))
        result: F = np.clip(np.nan_to_num(s, nan=0.0, posinf=MAX_SURPRISE), 0.0, MAX_SURPRISE)
        return result


def probability_of(surprise: float) -> float:
    """The tail probability a surprise level stands for (surprise 3 -> 0.001)."""
    return math.pow(10.0, -surprise)
