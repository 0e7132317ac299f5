"""The feature math, written once over (rows x window) arrays: the batch path passes many rows
at a time, the stream path passes one row built from its ring buffer."""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt

F = npt.NDArray[np.float64]

NS_PER_HOUR = 3.6e12
NS_PER_SECOND = 1e9
SECONDS_PER_DAY = 86400.0


def moments(values: F) -> tuple[F, F, F, F, F]:
    """(count, mean, std, min, max) of the finite values of each row; NaN-padded rows allowed.

    std is the population std, NaN below two values; mean/min/max NaN without any value.
    Two-pass (mean first), so large offsets with small spread stay exact.
    """
    finite = np.isfinite(values)
    count = finite.sum(axis=1).astype(np.float64)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.where(count > 0, np.nansum(values, axis=1) / count, np.nan)
        dev = np.where(finite, values - mean[:, None], 0.0)
        std = np.where(count > 1, np.sqrt((dev * dev).sum(axis=1) / count), np.nan)
        vmin = np.nanmin(values, axis=1)
        vmax = np.nanmax(values, axis=1)
    return count, mean, std, vmin, vmax


def _line_fit(x: F, y: F) -> tuple[F, F, F, F, F]:
    """Centred least-squares sums of y on x per row, over the pairs where both are finite.

    Returns (count, x mean, y mean, sxx, sxy); callers guard count and sxx before dividing.
    """
    ok = np.isfinite(x) & np.isfinite(y)
    count = ok.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        x_mean = np.where(ok, x, 0.0).sum(axis=1) / count
        y_mean = np.where(ok, y, 0.0).sum(axis=1) / count
        dx = np.where(ok, x - x_mean[:, None], 0.0)
        dy = np.where(ok, y - y_mean[:, None], 0.0)
    return count, x_mean, y_mean, (dx * dx).sum(axis=1), (dx * dy).sum(axis=1)


def slope(values: F, hours: F) -> F:
    """Least-squares slope of each row's finite values against their times (units per hour)."""
    count, _, _, sxx, sxy = _line_fit(hours, values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((count > 1) & (sxx > 0), sxy / sxx, np.nan)


def zscore(current: F, mean: F, std: F, clip: float) -> F:
    """How many (previous-window) standard deviations the current value is from the mean.

    A window with no spread would divide by zero; its std is floored relative to the mean's
    magnitude and the result clipped, so a stuck-then-moving signal scores very high, not inf.
    """
    floor = 1e-9 * (1.0 + np.abs(mean))
    with np.errstate(invalid="ignore"):
        z = (current - mean) / np.maximum(std, floor)
    return np.clip(z, -clip, clip)


def pair_residual(x: F, y: F, x_now: F, y_now: F) -> F:
    """``y_now`` minus the least-squares line of y on x fitted to each row's previous pairs."""
    count, x_mean, y_mean, sxx, sxy = _line_fit(x, y)
    with np.errstate(invalid="ignore", divide="ignore"):
        b = np.where(sxx > 0, sxy / sxx, 0.0)
        fitted = y_mean + b * (x_now - x_mean)
        return np.where(count >= 3, y_now - fitted, np.nan)


def steps(values: F, last_values: F, elapsed_ns: F) -> tuple[F, F, F]:
    """(delta, rate per hour, stale seconds) of each value against the last present one.

    ``elapsed_ns`` is the time since that last present value, NaN when there was none yet.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = values - last_values
        hours = elapsed_ns / NS_PER_HOUR
        rate = np.where(hours > 0, delta / hours, np.nan)
        stale = np.where(np.isfinite(values), 0.0, elapsed_ns / NS_PER_SECOND)
    return delta, rate, stale


def time_of_day(ts_ns: npt.NDArray[np.int64]) -> tuple[F, F]:
    """sin/cos of the UTC time of day: midnight and 23:59 end up close together."""
    seconds = np.mod(ts_ns // 1_000_000_000, int(SECONDS_PER_DAY)).astype(np.float64)
    angle = 2.0 * np.pi * seconds / SECONDS_PER_DAY
    return np.sin(angle), np.cos(angle)
