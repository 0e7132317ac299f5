"""Batch features: one sensor's readings (time + channel columns) to a feature frame, vectorised."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from sensorguard.errors import ValidationFailed
from sensorguard.transforms import _kernels as k
from sensorguard.transforms.spec import SEP, FeatureSpec, feature_names

if TYPE_CHECKING:
    import pandas as pd

F = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Rows per block when windows are laid out as (rows x window) arrays: bounds memory to
# about CHUNK_ROWS * window * 8 bytes per temporary, whatever the series length.
CHUNK_ROWS = 4096


def timestamps_ns(values: pd.Series) -> I64:
    """Epoch nanoseconds of a time column; naive times are taken as UTC."""
    import pandas as pd

    parsed = pd.to_datetime(values, utc=True, errors="coerce")
    if parsed.isna().any():
        bad = values[parsed.isna()].iloc[0]
        raise ValidationFailed(str(values.name), bad, "a timestamp")
    return parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64)


def _windows(values: F, width: int, *, exclude_current: bool = False) -> Iterator[tuple[int, F]]:
    """(start row, rows x width block) of trailing windows, NaN-padded before the first row."""
    pad = width if exclude_current else width - 1
    padded = np.concatenate([np.full(pad, np.nan), values])
    view = np.lib.stride_tricks.sliding_window_view(padded, width)[: len(values)]
    for start in range(0, len(values), CHUNK_ROWS):
        yield start, view[start : start + CHUNK_ROWS]


def _previous(values: F, finite: npt.NDArray[np.bool_]) -> F:
    """For each row, the last finite value strictly before it (NaN if none)."""
    idx = np.where(finite, np.arange(len(values)), -1)
    last = np.maximum.accumulate(idx)
    before = np.concatenate([[-1], last[:-1]])
    return np.where(before >= 0, values[np.maximum(before, 0)], np.nan)


def _flat_run(values: F, finite: npt.NDArray[np.bool_]) -> F:
    """Consecutive identical values ending at each row (0 where the value is missing)."""
    n = len(values)
    same = np.zeros(n, dtype=bool)
    if n > 1:
        same[1:] = finite[1:] & finite[:-1] & (values[1:] == values[:-1])
    run_start = np.maximum.accumulate(np.where(~same, np.arange(n), 0))
    return np.where(finite, np.arange(n) - run_start + 1, 0).astype(np.float64)


def channel_features(values: F, ts: I64, spec: FeatureSpec) -> dict[str, F]:
    """Point and window features of one channel, keyed by feature name without the channel."""
    n = len(values)
    finite = np.isfinite(values)
    out: dict[str, F] = {}
    points = set(spec.point_features)
    if "value" in points:
        out["value"] = values.copy()
    if "zscore" in points:
        prev = np.full(n, np.nan), np.full(n, np.nan)
        for start, block in _windows(values, spec.baseline, exclude_current=True):
            _, mean, std, _, _ = k.moments(block)
            prev[0][start : start + len(block)] = mean
            prev[1][start : start + len(block)] = std
        out["zscore"] = k.zscore(values, prev[0], prev[1], spec.z_clip)
    if points & {"delta", "rate", "stale_s"}:
        ts_f = ts.astype(np.float64)
        elapsed = ts_f - _previous(ts_f, finite)
        steps = k.steps(values, _previous(values, finite), elapsed)
        for name, column in zip(("delta", "rate", "stale_s"), steps, strict=True):
            if name in points:
                out[name] = column
    if "flat_len" in points:
        out["flat_len"] = _flat_run(values, finite)
    if "seasonal" in points:
        # The reading at or before one season ago (rows are in time order here).
        lag_row = np.searchsorted(ts, ts - int(spec.season_s * k.NS_PER_SECOND), side="right") - 1
        lagged = np.where(lag_row >= 0, values[np.maximum(lag_row, 0)], np.nan)
        diff = values - lagged
        seasonal = np.full(n, np.nan)
        for start, block in _windows(diff, spec.season_smooth):
            seasonal[start : start + len(block)] = k.moments(block)[1]
        out["seasonal"] = seasonal
    stats = set(spec.window_stats)
    for width in spec.windows:
        res = {stat: np.full(n, np.nan) for stat in ("mean", "std", "min", "max", "slope")}
        times = np.concatenate([np.full(width - 1, np.nan), ts.astype(np.float64)])
        t_view = np.lib.stride_tricks.sliding_window_view(times, width)
        for start, block in _windows(values, width):
            rows = slice(start, start + len(block))
            _, res["mean"][rows], res["std"][rows], res["min"][rows], res["max"][rows] = k.moments(
                block
            )
            if "slope" in stats:
                t_block = t_view[rows]
                hours = (t_block - t_block[:, -1:]) / k.NS_PER_HOUR
                res["slope"][rows] = k.slope(block, hours)
        if "z" in stats:
            prev_mean = np.concatenate([[np.nan], res["mean"][:-1]])
            prev_std = np.concatenate([[np.nan], res["std"][:-1]])
            res["z"] = k.zscore(values, prev_mean, prev_std, spec.z_clip)
        for stat in spec.window_stats:
            out[f"{stat}_{width}"] = res[stat]
    return out


def compute_features(
    frame: pd.DataFrame, spec: FeatureSpec, *, time_col: str = "ts"
) -> pd.DataFrame:
    """Feature frame of one sensor's readings, rows in arrival order, columns ``feature_names``.

    Every feature of a row uses only that row and the rows before it, so the frame can be
    computed once over a whole history without looking ahead. Channels absent from ``frame``
    raise; non-numeric channel values raise naming the column.
    """
    import pandas as pd

    if time_col not in frame.columns:
        raise ValidationFailed("time column", time_col, f"one of {list(frame.columns)}")
    ts = timestamps_ns(frame[time_col])
    columns: dict[str, F] = {}
    channel_values: dict[str, F] = {}
    for channel in spec.channels:
        if channel not in frame.columns:
            raise ValidationFailed("channel", channel, f"a column of {list(frame.columns)}")
        series = frame[channel]
        numeric = pd.to_numeric(series, errors="coerce")
        bad = numeric.isna() & series.notna()
        if bad.any():
            raise ValidationFailed(channel, series[bad].iloc[0], "a number")
        values = numeric.to_numpy(dtype=np.float64)
        values = np.where(np.isfinite(values), values, np.nan)
        channel_values[channel] = values
        for name, column in channel_features(values, ts, spec).items():
            columns[f"{channel}{SEP}{name}"] = column
    for x_name, y_name in spec.active_pairs:
        x, y = channel_values[x_name], channel_values[y_name]
        resid = np.full(len(x), np.nan)
        x_blocks = _windows(x, spec.pair_window, exclude_current=True)
        y_blocks = _windows(y, spec.pair_window, exclude_current=True)
        for (start, xb), (_, yb) in zip(x_blocks, y_blocks, strict=True):
            rows = slice(start, start + len(xb))
            resid[rows] = k.pair_residual(xb, yb, x[rows], y[rows])
        columns[f"{y_name}{SEP}resid_on_{x_name}"] = resid
    if spec.gap:
        gap = np.full(len(ts), np.nan)
        gap[1:] = np.diff(ts).astype(np.float64) / k.NS_PER_SECOND
        columns["gap_s"] = gap
    if spec.time_of_day:
        columns["tod_sin"], columns["tod_cos"] = k.time_of_day(ts)
    names = feature_names(spec)
    return pd.DataFrame({name: columns[name] for name in names}, index=frame.index)
