"""Live scoring: a sensor's recent readings and episode state, continued batch after batch.

The stream scorer and the HTTP service score readings as they come, many sensors per call.
For each sensor they keep (or, the service, rebuild from the store) a :class:`SensorContext`:
the last readings the feature windows look back on, what the unbounded features knew before
them (:class:`~sensorguard.transforms.batch.ChannelCarry`), and the episode tracker. New readings
are scored by :meth:`ScoringModel.score_recent`, which runs the batch feature code over
context + new rows, so a reading gets the numbers ``backtest`` gives it over the whole history.

The recent-past stage (:mod:`sensorguard.scoring.recent`) judges new rows against the base
scores of the sensor's last readings, so a context keeps those too (``base``, aligned with its
rows) and keeps enough rows for the stage's lookback.

Warming: a context built from stored readings (a new stream member after a rebalance, the
service on every request) replays its last ``warmup_rows`` through the tracker with full
feature windows behind them, so an episode that was open is open again; the base scores of the
rows before them are computed from the stored readings (see :func:`known_base`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from sensorguard.scoring.model import finite_or_nan
from sensorguard.transforms.batch import NO_CARRY, ChannelCarry
from sensorguard.transforms.stream import epoch_ns

if TYPE_CHECKING:
    from sensorguard.schemas import Reading
    from sensorguard.scoring.episodes import EpisodeTracker
    from sensorguard.scoring.model import ScoringModel, Verdicts

F = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

DEFAULT_WARMUP_ROWS = 120


def context_rows(model: ScoringModel, warmup_rows: int = DEFAULT_WARMUP_ROWS) -> int:
    """Readings a live context keeps: full feature windows and the recent-past stage's
    lookback behind ``warmup_rows`` rows (and, for ``seasonal``, back to one season before the
    newest rows, see ``_kept_from``)."""
    return model.feature_spec.history + model.recent_lookback + warmup_rows


def history_span(model: ScoringModel, lookback: timedelta) -> timedelta:
    """How far back a reader must look for a context: ``lookback``, or a season and a bit."""
    spec = model.feature_spec
    if "seasonal" in spec.point_features:
        return max(lookback, timedelta(seconds=spec.season_s) * 1.05)
    return lookback


@dataclass
class SensorContext:
    """One sensor's recent readings (oldest first) and state, under one model version."""

    model_key: str
    ts_ns: I64
    values: dict[str, F]
    tracker: EpisodeTracker
    carry: dict[str, ChannelCarry] = field(default_factory=dict)
    # The true flat_len of each kept row per channel: the carry of a later trim.
    flat: dict[str, F] = field(default_factory=dict)
    # Each kept row's base score (before the recent-past stage), NaN where unknown.
    base: F = field(default_factory=lambda: np.empty(0))

    def __len__(self) -> int:
        return len(self.ts_ns)

    @property
    def last_ns(self) -> int | None:
        return int(self.ts_ns[-1]) if len(self.ts_ns) else None


def arrays(readings: Sequence[Reading], channels: Sequence[str]) -> tuple[I64, dict[str, F]]:
    """(epoch ns, channel -> values) of one sensor's readings, in the order given."""
    ts = np.fromiter((epoch_ns(r.ts) for r in readings), dtype=np.int64, count=len(readings))
    values = {
        c: np.fromiter(
            (finite_or_nan(r.channels.get(c)) for r in readings),
            dtype=np.float64,
            count=len(readings),
        )
        for c in channels
    }
    return ts, values


def _empty_context(model: ScoringModel, model_key: str) -> SensorContext:
    return SensorContext(
        model_key,
        np.empty(0, dtype=np.int64),
        {c: np.empty(0) for c in model.channels},
        model.new_tracker(),
    )


def advance(
    model: ScoringModel,
    context: SensorContext,
    ts_ns: I64,
    values: Mapping[str, F],
    *,
    keep: int,
) -> Verdicts:
    """Score new readings of a sensor (time order, all after the context) and keep the last
    ``keep`` rows as the next context. Mutates ``context``."""
    return advance_many(model, [(context, ts_ns, values)], keep=keep)[0]


def advance_many(
    model: ScoringModel,
    items: Sequence[tuple[SensorContext, I64, Mapping[str, F]]],
    *,
    keep: int,
) -> list[Verdicts]:
    """:func:`advance` for many sensors of one model, with one detector call for them all."""
    from sensorguard.scoring.model import RecentRows

    joined = []
    for context, ts_ns, values in items:
        all_ts = np.concatenate([context.ts_ns, ts_ns])
        all_values = {c: np.concatenate([context.values[c], values[c]]) for c in model.channels}
        joined.append((all_ts, all_values))
    scored = model.score_recent_many(
        [
            RecentRows(
                all_ts, all_values, len(context), context.tracker, context.carry, _base(context)
            )
            for (context, _, _), (all_ts, all_values) in zip(items, joined, strict=True)
        ]
    )
    out = []
    for (context, _, _), (all_ts, all_values), result in zip(items, joined, scored, strict=True):
        first = len(context)
        all_flat = {
            c: np.concatenate([context.flat.get(c, np.zeros(first)), result.features[:, col]])
            for c, col in model.flat_columns.items()
        }
        context.base = np.concatenate([_base(context), result.base])
        _trim(context, all_ts, all_values, all_flat, _kept_from(model, all_ts, keep))
        out.append(result.verdicts)
    return out


def _base(context: SensorContext) -> F:
    """The context's base scores aligned with its rows (NaN for rows that have none)."""
    n = len(context)
    if len(context.base) == n:
        return context.base
    known = context.base[-n:] if n else context.base[:0]
    return np.concatenate([np.full(n - len(known), np.nan), known])


def known_base(model: ScoringModel, context: SensorContext) -> F:
    """Base scores of a context's rows computed from its readings, for the recent-past stage
    of a context that was not scored as it grew (warmed from the store, a champion swap).

    The first ``feature_spec.history`` rows have only partial feature windows behind them
    here: exactly what the stream computed if they are the sensor's first readings, an
    approximation otherwise. A reader that keeps ``context_rows`` readings never needs them:
    the stage looks back ``recent_lookback`` rows from the replayed ones, which start later.
    """
    from sensorguard.transforms.batch import feature_matrix

    if not model.recent_lookback or not len(context):
        return np.full(len(context), np.nan)
    features = feature_matrix(
        context.ts_ns, context.values, model.feature_spec, carry=context.carry
    )
    return model.base_scores(features)


def _kept_from(model: ScoringModel, ts_ns: I64, keep: int) -> int:
    """The first row to keep: ``keep`` rows back, or further when ``seasonal`` needs the
    reading one season before each of the last ``season_smooth`` rows."""
    drop = max(0, len(ts_ns) - keep)
    spec = model.feature_spec
    if drop and "seasonal" in spec.point_features:
        anchor = ts_ns[max(0, len(ts_ns) - spec.season_smooth)]
        lag = int(np.searchsorted(ts_ns, anchor - spec.season_s * 1_000_000_000, "right")) - 1
        drop = min(drop, max(0, lag))
    return drop


def _trim(
    context: SensorContext,
    ts_ns: I64,
    values: dict[str, F],
    flat: dict[str, F],
    drop: int,
) -> None:
    """Keep rows ``drop`` onward; what the dropped rows knew moves into the carry."""
    if drop:
        for c, column in values.items():
            dropped = column[:drop]
            finite = np.flatnonzero(np.isfinite(dropped))
            old = context.carry.get(c, NO_CARRY)
            last_ts, last_value = (
                (float(ts_ns[finite[-1]]), float(dropped[finite[-1]]))
                if len(finite)
                else (old.last_ts, old.last_value)
            )
            run = float(flat[c][drop]) if c in flat else 0.0
            context.carry[c] = ChannelCarry(run, last_ts, last_value)
    context.ts_ns = ts_ns[drop:]
    context.values = {c: v[drop:] for c, v in values.items()}
    context.flat = {c: v[drop:] for c, v in flat.items()}
    context.base = _aligned(context.base, len(ts_ns))[drop:]


def _aligned(base: F, n: int) -> F:
    """``base`` as the scores of the last of ``n`` rows, NaN-padded at the front."""
    if len(base) >= n:
        return base[len(base) - n :]
    return np.concatenate([np.full(n - len(base), np.nan), base])


@dataclass
class Replay:
    """Stored readings a fresh context still has to step its tracker over (time order)."""

    ts_ns: I64
    values: dict[str, F]

    def __len__(self) -> int:
        return len(self.ts_ns)


def prepare_context(
    model: ScoringModel,
    model_key: str,
    history: Sequence[Reading],
    *,
    warmup_rows: int = DEFAULT_WARMUP_ROWS,
) -> tuple[SensorContext, Replay]:
    """A context holding a sensor's stored readings but the last ``warmup_rows``, which are
    returned to be replayed through its fresh tracker (with the earlier ones as their feature
    context). A caller may replay them together with new rows: one detector call for both."""
    context = _empty_context(model, model_key)
    ts, values = arrays(history, model.channels)
    split = max(0, len(history) - warmup_rows)
    if split:
        _trim(context, ts[:split], {c: v[:split] for c, v in values.items()}, {}, 0)
        context.base = known_base(model, context)
    return context, Replay(ts[split:], {c: v[split:] for c, v in values.items()})


def warm_context(
    model: ScoringModel,
    model_key: str,
    history: Sequence[Reading],
    *,
    warmup_rows: int = DEFAULT_WARMUP_ROWS,
) -> SensorContext:
    """A context from a sensor's stored readings (time order), its replay done."""
    context, replay = prepare_context(model, model_key, history, warmup_rows=warmup_rows)
    advance(model, context, replay.ts_ns, replay.values, keep=context_rows(model, warmup_rows))
    return context


def rewarm(
    model: ScoringModel,
    model_key: str,
    context: SensorContext,
    *,
    warmup_rows: int = DEFAULT_WARMUP_ROWS,
) -> SensorContext:
    """The same readings under another model (a champion swap): features and tracker anew."""
    keep = context_rows(model, warmup_rows)
    fresh = _empty_context(model, model_key)
    split = max(0, len(context) - warmup_rows)
    fresh.carry = dict(context.carry)
    if split:
        head = {c: context.values[c][:split] for c in model.channels if c in context.values}
        _trim(
            fresh,
            context.ts_ns[:split],
            {c: head.get(c, np.full(split, np.nan)) for c in model.channels},
            {c: v[:split] for c, v in context.flat.items()},
            0,
        )
        fresh.base = known_base(model, fresh)
    tail = {
        c: context.values[c][split:]
        if c in context.values
        else np.full(len(context) - split, np.nan)
        for c in model.channels
    }
    advance(model, fresh, context.ts_ns[split:], tail, keep=keep)
    return fresh


HistoryReader = Callable[[str, datetime, datetime, "int | None"], Sequence["Reading"]]
"""(sensor_id, start, end, limit) -> the sensor's stored readings in [start, end), time order:
the newest ``limit`` of them, or all with ``limit`` None."""


def read_history(
    reader: HistoryReader,
    model: ScoringModel,
    sensor_id: str,
    before: datetime,
    lookback: timedelta,
    warmup_rows: int = DEFAULT_WARMUP_ROWS,
) -> list[Reading]:
    """The stored readings of a sensor strictly before ``before`` that a context keeps."""
    rows = context_rows(model, warmup_rows)
    if "seasonal" not in model.feature_spec.point_features:
        return list(reader(sensor_id, before - lookback, before, rows))
    # A season back from the newest rows: a time span, whatever the count.
    found = list(reader(sensor_id, before - history_span(model, lookback), before, None))
    if not found:
        return found
    ts = np.fromiter((epoch_ns(r.ts) for r in found), dtype=np.int64, count=len(found))
    return found[_kept_from(model, ts, rows) :]
