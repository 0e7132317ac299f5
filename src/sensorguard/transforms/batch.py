"""Batch features: one sensor's readings (time + channel columns) to a feature frame, vectorised."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
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


def _windows(
    values: F, width: int, *, exclude_current: bool = False, first: int = 0
) -> Iterator[tuple[int, F]]:
    """(start row counted from ``first``, rows x width block) of the trailing windows of rows
    ``first`` onward, NaN-padded before the first row."""
    pad = width if exclude_current else width - 1
    padded = np.concatenate([np.full(pad, np.nan), values])
    view = np.lib.stride_tricks.sliding_window_view(padded, width)[first : len(values)]
    for start in range(0, len(view), CHUNK_ROWS):
        yield start, view[start : start + CHUNK_ROWS]


@dataclass(frozen=True)
class ChannelCarry:
    """What a channel's unbounded features knew before row 0 of a sensor's recent rows.

    ``flat_len``, ``delta``, ``rate`` and ``stale_s`` may look back further than any window: a
    stuck value or a dropout can last longer than the rows a live scorer keeps. The carry
    hands that memory over, so the recent rows give the numbers the whole history would.
    """

    run: float = 0.0  # flat_len of row 0 (0: unknown, counted from row 0)
    last_ts: float = math.nan  # epoch ns and value of the last finite value before row 0
    last_value: float = math.nan


NO_CARRY = ChannelCarry()


def _previous(values: F, finite: npt.NDArray[np.bool_], before_first: float = math.nan) -> F:
    """For each row, the last finite value strictly before it (``before_first`` if none)."""
    idx = np.where(finite, np.arange(len(values)), -1)
    last = np.maximum.accumulate(idx)
    before = np.concatenate([[-1], last[:-1]])
    return np.where(before >= 0, values[np.maximum(before, 0)], before_first)


def _flat_run(values: F, finite: npt.NDArray[np.bool_], carry_run: float = 0.0) -> F:
    """Consecutive identical values ending at each row (0 where the value is missing)."""
    n = len(values)
    same = np.zeros(n, dtype=bool)
    if n > 1:
        same[1:] = finite[1:] & finite[:-1] & (values[1:] == values[:-1])
    run_start = np.maximum.accumulate(np.where(~same, np.arange(n), 0))
    run = np.where(finite, np.arange(n) - run_start + 1, 0).astype(np.float64)
    if carry_run > 1 and n and finite[0]:
        run[(run_start == 0) & finite] += carry_run - 1
    return run


def channel_features(
    values: F, ts: I64, spec: FeatureSpec, first: int = 0, carry: ChannelCarry = NO_CARRY
) -> dict[str, F]:
    """Point and window features of one channel, keyed by feature name without the channel.

    Rows ``first`` onward only; the rows before them are context the windows look back on.
    A live scorer keeps a sensor's recent rows as context and computes its new rows with the
    very code the batch path runs over a whole history, so both give the same numbers.
    """
    n = len(values) - first
    finite = np.isfinite(values)
    out: dict[str, F] = {}
    points = set(spec.point_features)
    if "value" in points:
        out["value"] = values[first:].copy()
    if "zscore" in points:
        prev = np.full(n, np.nan), np.full(n, np.nan)
        for start, block in _windows(values, spec.baseline, exclude_current=True, first=first):
            _, mean, std, _, _ = k.moments(block)
            prev[0][start : start + len(block)] = mean
            prev[1][start : start + len(block)] = std
        out["zscore"] = k.zscore(values[first:], prev[0], prev[1], spec.z_clip)
    if points & {"delta", "rate", "stale_s"}:
        ts_f = ts.astype(np.float64)
        elapsed = ts_f - _previous(ts_f, finite, carry.last_ts)
        steps = k.steps(values, _previous(values, finite, carry.last_value), elapsed)
        for name, column in zip(("delta", "rate", "stale_s"), steps, strict=True):
            if name in points:
                out[name] = column[first:]
    if "flat_len" in points:
        out["flat_len"] = _flat_run(values, finite, carry.run)[first:]
    if "seasonal" in points:
        # The reading at or before one season ago (rows are in time order here).
        lag_row = np.searchsorted(ts, ts - int(spec.season_s * k.NS_PER_SECOND), side="right") - 1
        lagged = np.where(lag_row >= 0, values[np.maximum(lag_row, 0)], np.nan)
        diff = values - lagged
        seasonal = np.full(n, np.nan)
        for start, block in _windows(diff, spec.season_smooth, first=first):
            seasonal[start : start + len(block)] = k.moments(block)[1]
        out["seasonal"] = seasonal
    stats = set(spec.window_stats)
    for width in spec.windows:
        # One more row than asked when there is one: the z of the first row wants the
        # window before it.
        lead = 1 if first > 0 else 0
        m = n + lead
        res = {stat: np.full(m, np.nan) for stat in ("mean", "std", "min", "max", "slope")}
        times = np.concatenate([np.full(width - 1, np.nan), ts.astype(np.float64)])
        t_view = np.lib.stride_tricks.sliding_window_view(times, width)[first - lead :]
        for start, block in _windows(values, width, first=first - lead):
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
            res["z"] = k.zscore(values[first - lead :], prev_mean, prev_std, spec.z_clip)
        for stat in spec.window_stats:
            out[f"{stat}_{width}"] = res[stat][lead:]
    return out


def feature_matrix(
    ts: I64,
    values: Mapping[str, F],
    spec: FeatureSpec,
    *,
    first: int = 0,
    carry: Mapping[str, ChannelCarry] | None = None,
) -> F:
    """Feature rows ``first`` onward of one sensor's readings in time order (columns
    ``feature_names(spec)``); earlier rows serve as the windows' context only, and ``carry``
    says what each channel knew before row 0."""
    n = len(ts)
    if not 0 <= first <= n:
        raise ValidationFailed("first", first, f"a row index between 0 and {n}")
    names = feature_names(spec)
    if n == first:
        return np.empty((0, len(names)))
    columns: dict[str, F] = {}
    for channel in spec.channels:
        for name, column in channel_features(
            values[channel], ts, spec, first, (carry or {}).get(channel, NO_CARRY)
        ).items():
            columns[f"{channel}{SEP}{name}"] = column
    for x_name, y_name in spec.active_pairs:
        x, y = values[x_name], values[y_name]
        resid = np.full(n - first, np.nan)
        x_blocks = _windows(x, spec.pair_window, exclude_current=True, first=first)
        y_blocks = _windows(y, spec.pair_window, exclude_current=True, first=first)
        for (start, xb), (_, yb) in zip(x_blocks, y_blocks, strict=True):
            rows = slice(start, start + len(xb))
            resid[rows] = k.pair_residual(xb, yb, x[first:][rows], y[first:][rows])
        columns[f"{y_name}{SEP}resid_on_{x_name}"] = resid
    if spec.gap:
        gap = np.full(n, np.nan)
        gap[1:] = np.diff(ts).astype(np.float64) / k.NS_PER_SECOND
        columns["gap_s"] = gap[first:]
    if spec.time_of_day:
        columns["tod_sin"], columns["tod_cos"] = k.time_of_day(ts[first:])
    return np.column_stack([columns[name] for name in names]).astype(np.float64, copy=False)


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
        channel_values[channel] = np.where(np.isfinite(values), values, np.nan)
    return pd.DataFrame(
        feature_matrix(ts, channel_values, spec), columns=feature_names(spec), index=frame.index
    )
