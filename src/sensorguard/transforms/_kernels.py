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


def slope(values: F, hours: F) -> F:
    """Least-squares slope of each row's finite values against their times (units per hour)."""
    finite = np.isfinite(values) & np.isfinite(hours)
    count = finite.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(finite, hours, 0.0)
        v = np.where(finite, values, 0.0)
        t_mean = t.sum(axis=1) / count
        v_mean = v.sum(axis=1) / count
        dt = np.where(finite, t - t_mean[:, None], 0.0)
        dv = np.where(finite, v - v_mean[:, None], 0.0)
        sxx = (dt * dt).sum(axis=1)
        sxy = (dt * dv).sum(axis=1)
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
    ok = np.isfinite(x) & np.isfinite(y)
    count = ok.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        xs = np.where(ok, x, 0.0)
        ys = np.where(ok, y, 0.0)
        x_mean = xs.sum(axis=1) / count
        y_mean = ys.sum(axis=1) / count
        dx = np.where(ok, x - x_mean[:, None], 0.0)
        dy = np.where(ok, y - y_mean[:, None], 0.0)
        sxx = (dx * dx).sum(axis=1)
        b = np.where(sxx > 0, (dx * dy).sum(axis=1) / sxx, 0.0)
        fitted = y_mean + b * (x_now - x_mean)
        return np.where(count >= 3, y_now - fitted, np.nan)


def time_of_day(ts_ns: npt.NDArray[np.int64]) -> tuple[F, F]:
    """sin/cos of the UTC time of day: midnight and 23:59 end up close together."""
    seconds = np.mod(ts_ns // 1_000_000_000, int(SECONDS_PER_DAY)).astype(np.float64)
    angle = 2.0 * np.pi * seconds / SECONDS_PER_DAY
    return np.sin(angle), np.cos(angle)
