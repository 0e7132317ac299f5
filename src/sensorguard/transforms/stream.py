"""Incremental features: one sensor's state, updated one reading at a time in O(window)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from sensorguard.transforms import _kernels as k
from sensorguard.transforms.spec import SEP, FeatureSpec, feature_names

if TYPE_CHECKING:
    from sensorguard.schemas import Reading

F = npt.NDArray[np.float64]


def epoch_ns(ts: datetime | np.datetime64 | int) -> int:
    if isinstance(ts, datetime):
        aware = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
        delta = aware - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    if isinstance(ts, np.datetime64):
        return int(ts.astype("datetime64[ns]").astype(np.int64))
    return int(ts)


class _Channel:
    """Ring buffer and running point state of one channel."""

    def __init__(self, history: int):
        self.values: deque[float] = deque(maxlen=history)
        self.last_value = float("nan")
        self.last_ts: int | None = None
        self.flat = 0.0
        # (time, value) of the last season, plus the newest reading older than that.
        self.season: deque[tuple[int, float]] = deque()
        self.season_diffs: deque[float] = deque(maxlen=history)


class FeatureState:
    """Feature state of one sensor; :meth:`update` returns the feature vector of a reading.

    Same definitions as :func:`sensorguard.transforms.compute_features` (the window math is the
    same code, fed one row from the ring buffers), so a model trained on batch features scores
    stream features. Memory and time per update are O(longest window). Picklable.
    """

    def __init__(self, spec: FeatureSpec):
        self.spec = spec
        self.names = feature_names(spec)
        self._history = spec.history
        self._times: deque[int] = deque(maxlen=self._history)
        self._channels = {name: _Channel(self._history) for name in spec.channels}
        self._prev_ts: int | None = None

    def update_reading(self, reading: Reading) -> F:
        """Feature vector of a validated reading (channels the spec lacks are ignored)."""
        return self.update(reading.ts, reading.channels)

    def update(self, ts: datetime | np.datetime64 | int, channels: Mapping[str, float]) -> F:
        """Advance by one reading (``ts`` aware datetime, or epoch ns); missing channels are NaN."""
        spec = self.spec
        now = epoch_ns(ts)
        self._times.append(now)
        times = np.fromiter(self._times, dtype=np.float64)
        out: dict[str, float] = {}
        current: dict[str, float] = {}
        before: dict[str, F] = {}  # each channel's buffer before this reading
        for name, state in self._channels.items():
            raw = channels.get(name, float("nan"))
            value = float(raw) if raw is not None else float("nan")
            if not np.isfinite(value):
                value = float("nan")
            current[name] = value
            before[name] = previous = np.fromiter(state.values, dtype=np.float64)
            state.values.append(value)
            buffer = np.append(previous, value)
            out.update(
                {
                    f"{name}{SEP}{key}": val
                    for key, val in self._channel(
                        state, value, now, previous, buffer, times
                    ).items()
                }
            )
        for x_name, y_name in spec.active_pairs:
            xs = self._tail(before[x_name], spec.pair_window)
            ys = self._tail(before[y_name], spec.pair_window)
            resid = k.pair_residual(
                xs[None, :], ys[None, :], np.array([current[x_name]]), np.array([current[y_name]])
            )
            out[f"{y_name}{SEP}resid_on_{x_name}"] = float(resid[0])
        if spec.gap:
            out["gap_s"] = (
                float("nan") if self._prev_ts is None else (now - self._prev_ts) / k.NS_PER_SECOND
            )
        if spec.time_of_day:
            sin, cos = k.time_of_day(np.array([now], dtype=np.int64))
            out["tod_sin"], out["tod_cos"] = float(sin[0]), float(cos[0])
        self._prev_ts = now
        return np.array([out[name] for name in self.names], dtype=np.float64)

    @staticmethod
    def _tail(values: F, width: int) -> F:
        """The last ``width`` values, NaN-padded in front like the batch windows."""
        tail = values[-width:]
        return np.concatenate([np.full(width - len(tail), np.nan), tail])

    def _channel(
        self, state: _Channel, value: float, now: int, previous: F, buffer: F, times: F
    ) -> dict[str, float]:
        spec = self.spec
        points = set(spec.point_features)
        out: dict[str, float] = {}
        present = bool(np.isfinite(value))
        if "value" in points:
            out["value"] = value
        if "zscore" in points:
            _, mean, std, _, _ = k.moments(self._tail(previous, spec.baseline)[None, :])
            out["zscore"] = float(k.zscore(np.array([value]), mean, std, spec.z_clip)[0])
        if points & {"delta", "rate", "stale_s"}:
            elapsed = float("nan") if state.last_ts is None else float(now - state.last_ts)
            steps = k.steps(np.array([value]), np.array([state.last_value]), np.array([elapsed]))
            for key, column in zip(("delta", "rate", "stale_s"), steps, strict=True):
                if key in points:
                    out[key] = float(column[0])
        if "flat_len" in points:
            prev_value = previous[-1] if len(previous) else float("nan")
            state.flat = (state.flat + 1.0 if value == prev_value else 1.0) if present else 0.0
            out["flat_len"] = state.flat
        if "seasonal" in points:
            horizon = now - int(spec.season_s * k.NS_PER_SECOND)
            while len(state.season) >= 2 and state.season[1][0] <= horizon:
                state.season.popleft()
            lagged = (
                state.season[0][1]
                if state.season and state.season[0][0] <= horizon
                else float("nan")
            )
            state.season.append((now, value))
            state.season_diffs.append(value - lagged)
            diffs = self._tail(
                np.fromiter(state.season_diffs, dtype=np.float64), spec.season_smooth
            )
            out["seasonal"] = float(k.moments(diffs[None, :])[1][0])
        if present:
            state.last_value, state.last_ts = value, now
        for width in spec.windows:
            block = self._tail(buffer, width)[None, :]
            _, mean, std, vmin, vmax = k.moments(block)
            stats = {"mean": mean[0], "std": std[0], "min": vmin[0], "max": vmax[0]}
            if "slope" in spec.window_stats:
                t_block = self._tail(times, width)
                stats["slope"] = k.slope(block, ((t_block - now) / k.NS_PER_HOUR)[None, :])[0]
            if "z" in spec.window_stats:
                _, pm, ps, _, _ = k.moments(self._tail(previous, width)[None, :])
                stats["z"] = k.zscore(np.array([value]), pm, ps, spec.z_clip)[0]
            for stat in spec.window_stats:
                out[f"{stat}_{width}"] = float(stats[stat])
        return out
