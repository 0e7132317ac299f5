"""A sensor judged against its own recent past: the last stage of the one scoring path.

A frozen model's surprise says how unusual a reading is next to the *training* rows. A
sensor that has since settled into a noisier or shifted normal keeps scoring high for as
long as that model is champion, and every such reading is a false alarm. In the spirit of
Numenta's anomaly likelihood, this stage asks instead how unusual the sensor's *latest*
readings are next to its own recent ones:

* **likelihood**: the mean surprise of the last ``recent_short`` readings against the mean
  and spread of the ``recent_rows`` surprises before them; the score is ``-log10`` of the
  Gaussian tail probability of that mean (never saturating: ``log_ndtr`` keeps its precision
  far into the tail, so the score is not capped). Until a sensor has ``MIN_RECENT_ROWS``
  scored readings of its own, the held-out calibration rows of training stand in for its past
  (:class:`RecentPrior`). An earlier fault in the window widens its spread, so a second one
  soon after scores lower here; the new-extreme rules below do not depend on the spread.
* **new extreme**: a reading beyond the range of the sensor's last ``recent_rows`` values of
  a channel, or more surprising than any of them, by more than ``extreme_margin`` of that
  range, scores ``log10(recent_rows + 1)``: ``-log10`` of the chance that the newest of that
  many exchangeable readings is their maximum.

The score is the larger of the two. Both look back only, over a bounded window, so a live
sensor carries the last ``recent_rows + recent_short`` surprises and values (see
:mod:`sensorguard.scoring.live`), and a reading's score equals the batch's whatever the
chunks it arrives in: every window is summed afresh from the same elements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F = npt.NDArray[np.float64]

MIN_RECENT_ROWS = 100  # a sensor's own past counts once it holds this many scored readings
SPREAD_FLOOR = 0.05  # surprise units: a perfectly steady past must not make every wobble news
_LN10 = math.log(10.0)


@dataclass(frozen=True)
class RecentPrior:
    """Mean and spread of surprise on the held-out calibration rows: a new sensor's past."""

    mean: float
    std: float

    @classmethod
    def fit(cls, surprise: F) -> RecentPrior:
        finite = surprise[np.isfinite(surprise)]
        if not len(finite):
            return cls(0.0, 1.0)
        return cls(float(finite.mean()), float(finite.std()))


def _window_sums(x: F, width: int, ends: npt.NDArray[np.intp]) -> F:
    """Sum of ``x[e - width : e]`` for each end ``e`` (zeros before the array's start)."""
    padded = np.concatenate([np.zeros(width), x])
    views = np.lib.stride_tricks.sliding_window_view(padded, width)
    # views[e] covers padded[e : e + width] = x[e - width : e]. Ends come as a run of
    # consecutive rows (clipped at 0 at the start): a slice of the view, not a copy of n x width.
    if not len(ends):
        return np.empty(0)
    result: F = np.empty(len(ends))
    lead = int(np.searchsorted(ends, 1))  # ends clipped to 0: windows before the array
    result[:lead] = 0.0
    if lead < len(ends):
        first, last = int(ends[lead]), int(ends[-1])
        if last - first + 1 == len(ends) - lead:
            result[lead:] = views[first : last + 1].sum(axis=1)
        else:
            result[lead:] = views[ends[lead:]].sum(axis=1)
    return result


def _window_extreme(x: F, width: int, ends: npt.NDArray[np.intp], top: bool) -> F:
    """Max (``top``) or min of the finite ``x[e - width : e]``; -inf/inf when there are none.

    A rolling max picks values rather than adding them, so it is exact whatever the array's
    start: a chunk with its past gets the numbers of the whole series.
    """
    import pandas as pd

    fill = -np.inf if top else np.inf
    if not len(ends):
        return np.empty(0)
    rolling = pd.Series(np.where(np.isfinite(x), x, np.nan)).rolling(width, min_periods=1)
    upto = (rolling.max() if top else rolling.min()).to_numpy()  # over x[j - width + 1 : j + 1]
    picked = upto[np.maximum(ends - 1, 0)]
    result: F = np.where((ends > 0) & np.isfinite(picked), picked, fill)
    return result


def _window_counts(finite: npt.NDArray[np.bool_], width: int, ends: npt.NDArray[np.intp]) -> F:
    """How many of ``x[e - width : e]`` are finite, from integer running counts (exact)."""
    running = np.concatenate([[0], np.cumsum(finite, dtype=np.int64)])
    result: F = (running[ends] - running[np.maximum(ends - width, 0)]).astype(np.float64)
    return result


def judge(
    surprise: F,
    values: F,
    *,
    past_surprise: F,
    past_values: F,
    rows: int,
    short: int,
    margin: float | None,
    prior: RecentPrior,
    gaps: F | None = None,
    past_gaps: F | None = None,
) -> F:
    """Scores of readings (time order, ``values`` rows x channels) after their past ones.

    ``past_surprise`` and ``past_values`` are the readings just before them, oldest first
    (NaN where unknown); only their last ``rows + short`` matter. ``gaps`` (seconds since
    the reading before each, with ``past_gaps``) adds time as a channel whose new extreme is
    a silence longer than any recent one.
    """
    n = len(surprise)
    if n == 0:
        return np.empty(0)
    keep = rows + short
    past_s = np.asarray(past_surprise, dtype=np.float64)[-keep:] if keep else np.empty(0)
    new_v = np.asarray(values, dtype=np.float64).reshape(n, -1)
    past_v = np.asarray(past_values, dtype=np.float64).reshape(-1, new_v.shape[1])
    past_v = past_v[-rows:] if rows else past_v[:0]
    s = np.concatenate([past_s, np.asarray(surprise, dtype=np.float64)])
    ends = np.arange(len(past_s), len(s)) + 1  # window ends just after each new row
    finite = np.isfinite(s)
    clean = np.where(finite, s, 0.0)
    # The last `short` surprises (this reading's included) ...
    short_n = _window_counts(finite, short, ends)
    short_mean = _window_sums(clean, short, ends) / np.maximum(short_n, 1.0)
    # ... against the `rows` before them.
    long_ends = np.maximum(ends - short, 0)
    long_n = _window_counts(finite, rows, long_ends)
    long_sum = _window_sums(clean, rows, long_ends)
    long_sq = _window_sums(clean * clean, rows, long_ends)
    own = long_n >= MIN_RECENT_ROWS
    safe_n = np.maximum(long_n, 1.0)
    mean = np.where(own, long_sum / safe_n, prior.mean)
    var = np.maximum(long_sq / safe_n - (long_sum / safe_n) ** 2, 0.0)
    spread = np.maximum(np.where(own, np.sqrt(var), prior.std), SPREAD_FLOOR)
    z = (short_mean - mean) / spread
    from scipy.special import log_ndtr

    # No cap: log_ndtr keeps its precision far past float64's smallest probability, so a
    # larger excess always scores higher (ties would defeat every threshold sweep).
    likelihood = np.maximum(-log_ndtr(-z) / _LN10, 0.0)
    likelihood = np.where(short_n > 0, likelihood, 0.0)
    if margin is None or rows == 0:
        return np.asarray(likelihood, dtype=np.float64)
    # A reading more surprising than any of the last `rows` (past the margin) is a new extreme
    # of the surprise itself: what a one-reading fault that is no extreme of a value (a gap,
    # a jump within the range) looks like once the short mean has diluted it.
    extreme = _beyond(s[len(past_s) :], s[: len(past_s)], rows, margin, low_too=False)
    if gaps is not None:
        # A silence longer than any of the last `rows` (by the margin) is a new extreme of
        # time: a dropout, however surprising earlier faults made the recent scores.
        past_g = np.asarray(past_gaps if past_gaps is not None else np.empty(0))[-rows:]
        g = np.asarray(gaps, dtype=np.float64)
        x = np.concatenate([past_g, g])
        ends = np.arange(len(past_g), len(x))
        high = _window_extreme(x, rows, ends, top=True)
        seen = _window_counts(np.isfinite(x), rows, ends)
        with np.errstate(invalid="ignore"):
            longer = g > high * (1.0 + margin)
        extreme |= longer & (seen >= MIN_RECENT_ROWS) & (high > 0) & np.isfinite(g)
    for column in range(new_v.shape[1]):
        extreme |= _beyond(new_v[:, column], past_v[:, column], rows, margin, low_too=True)
    result: F = np.where(extreme, np.maximum(likelihood, math.log10(rows + 1)), likelihood)
    return result


def _beyond(new: F, past: F, rows: int, margin: float, *, low_too: bool) -> npt.NDArray[np.bool_]:
    """Whether each new value lies above (or, ``low_too``, below) the range of the ``rows``
    values before it (past, then the earlier new ones) by more than ``margin`` of that range."""
    x = np.concatenate([past, new])
    ends = np.arange(len(past), len(x))  # window: the `rows` values before each new one
    high = _window_extreme(x, rows, ends, top=True)
    low = _window_extreme(x, rows, ends, top=False)
    seen = _window_counts(np.isfinite(x), rows, ends)
    span = high - low
    with np.errstate(invalid="ignore"):
        out = new > high + margin * span
        if low_too:
            out |= new < low - margin * span
    result: npt.NDArray[np.bool_] = out & (seen >= MIN_RECENT_ROWS) & (span > 0) & np.isfinite(new)
    return result
