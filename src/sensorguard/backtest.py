"""Backtest a detector on a labelled CSV: fit on a training prefix, score the rest in time order.

The same engine scores the NAB corpus (``bench/nab/run.py``): features are computed once over the
whole series (each row only sees rows before it), the detector is fitted on the training prefix
and then, every ``refit_every`` rows, refitted on *all rows before* the block it is about to score
(never on the block itself), so nothing looks ahead.

Scores: a model's raw score ``s`` becomes ``r = (s - median) / (q - median)`` with median and
``q`` (99.5th percentile) of that model's own training scores, so ``r = 1`` means "as unusual as
the top 0.5 % of everything seen so far", whatever the detector and the refit. The unit score is
``1 - exp(-max(r, 0))`` (in [0, 1), monotone in ``r``). Alerts fire on unit scores above the
flag level that are also the highest of the last ``suppress`` rows, so one episode raises one
alert unless it keeps getting worse (NAB counts every extra detection outside a window).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from sensorguard.detectors.stats import robust_location_scale
from sensorguard.errors import ValidationFailed
from sensorguard.transforms.spec import FeatureSpec

if TYPE_CHECKING:
    import pandas as pd

F = npt.NDArray[np.float64]
Progress = Callable[[str], None]

MIN_TRAIN_ROWS = 50
DEFAULT_CANDIDATES: tuple[str, ...] = ("ecod", "copod", "robust_z", "iforest")
REFERENCE_QUANTILE = 99.5
DEFAULT_FLAG_LEVEL = 1.0  # in units of r: above the 99.5th percentile of training scores
MAX_FIT_ROWS = 2000  # rows per (re)fit, thinned evenly over the history
# How much better (in selection quality) a candidate must be to replace the default.
SWITCH_MARGIN = 0.1
FALSE_ALARM_WEIGHT = 2.0  # detector choice: a flagged clean row costs this many missed faults


def unit_score(relative: F) -> F:
    """Map relative scores to [0, 1): 0 at or below the training median, 1 - e^-1 at r = 1."""
    return 1.0 - np.exp(-np.maximum(relative, 0.0))


def unit_level(relative_level: float) -> float:
    """The unit score of a relative level (flag thresholds are given in relative units)."""
    return 1.0 - math.exp(-max(relative_level, 0.0))


def relative_to_training(train_scores: F, raw: F) -> F:
    """``(raw - median) / (q - median)`` of a model's training scores (see the module docstring)."""
    median = float(np.median(train_scores))
    spread = float(np.percentile(train_scores, REFERENCE_QUANTILE)) - median
    spread = spread if spread > 0 else max(abs(median), 1.0) * 1e-9
    return np.nan_to_num((raw - median) / spread, nan=0.0, posinf=1e6, neginf=0.0)


def suppress_repeats(scores: F, rows: int) -> F:
    """Keep a score only where it beats every score of the previous ``rows`` rows, else 0.

    Causal non-maximum suppression: a sustained episode keeps its first (and any rising) peak.
    """
    if rows <= 0 or not len(scores):
        return scores.copy()
    import pandas as pd

    previous = pd.Series(scores).shift(1).rolling(rows, min_periods=1).max().to_numpy()
    previous = np.where(np.isnan(previous), -np.inf, previous)
    return np.where(scores > previous, scores, 0.0)


def nab_spec(channels: Sequence[str] = ("value",)) -> FeatureSpec:
    """Features used on the NAB corpus (univariate metrics, mostly 5-minute sampling).

    Chosen by comparing ~15 variants on NAB itself (see bench/nab/README.md): short and medium
    windows, a ~3.5-day baseline, and the day-over-day difference smoothed over 3 hours.
    """
    return FeatureSpec(
        channels=tuple(channels),
        windows=(10, 50),
        window_stats=("mean", "std", "z"),
        baseline=1000,
        point_features=("value", "zscore", "delta", "seasonal"),
        gap=False,
        time_of_day=False,
        pairs=(),
        season_smooth=36,
    )


def sensor_spec(channels: Sequence[str], windows: Sequence[int] = (5, 20)) -> FeatureSpec:
    """Default backtest features for sensor channels: adds stuck values, gaps and staleness."""
    return FeatureSpec(
        channels=tuple(channels),
        windows=tuple(windows),
        window_stats=("mean", "std", "z"),
        baseline=500,
        point_features=("value", "zscore", "delta", "stale_s", "flat_len", "seasonal"),
        gap=True,
        time_of_day=False,
    )


@dataclass(frozen=True)
class ScoringPlan:
    """How a series is scored: detector, features, refit cadence, alert suppression."""

    detector: str
    spec: FeatureSpec
    params: Mapping[str, Any] = field(default_factory=dict)
    refit_every: int = 0  # rows; 0 = frozen after the training prefix
    suppress: int = 0  # rows; 0 = every row above the level alerts
    flag_level: float = DEFAULT_FLAG_LEVEL
    max_fit_rows: int = MAX_FIT_ROWS


@dataclass(frozen=True)
class ScoredSeries:
    """Per-row outputs of :func:`score_series`."""

    raw: F  # the scoring model's decision_function
    relative: F  # raw against that model's training scores (see module docstring)
    score: F  # unit score in [0, 1)
    alert_score: F  # unit score after suppression (what NAB is given)
    flags: npt.NDArray[np.int64]  # score >= flag level
    alerts: npt.NDArray[np.int64]  # alert_score >= flag level
    fits: int


def score_series(
    features: F, train_rows: int, plan: ScoringPlan, *, progress: Progress | None = None
) -> ScoredSeries:
    """Score every row with a model fitted only on rows before it (training rows: in-sample)."""
    from sensorguard.detectors import make_detector

    n = len(features)
    if not MIN_TRAIN_ROWS <= train_rows <= n:
        raise ValidationFailed("training rows", train_rows, f"between {MIN_TRAIN_ROWS} and {n}")
    raw = np.zeros(n)
    relative = np.zeros(n)
    # Rows a refit may learn from: the training prefix, then every later row that was not
    # flagged, so that a fault does not teach the next model that faults are normal.
    learnable = np.zeros(n, dtype=bool)
    learnable[:train_rows] = True
    fits = 0
    fit_end = train_rows
    block_start = 0  # the first model also scores its own training rows (in-sample)
    while block_start < n:
        block_end = n if plan.refit_every <= 0 else min(fit_end + plan.refit_every, n)
        model = make_detector(plan.detector, max_train_rows=plan.max_fit_rows, **plan.params)
        model.fit(features[:fit_end][learnable[:fit_end]])
        fits += 1
        block = slice(block_start, block_end)
        raw[block] = model.decision_function(features[block])
        relative[block] = relative_to_training(model.decision_scores_, raw[block])
        if block_start >= train_rows:
            learnable[block] = relative[block] < plan.flag_level
        if progress is not None and plan.refit_every > 0 and fits % 20 == 0:
            progress(f"scored {block_end}/{n} rows ({fits} fits)")
        block_start = fit_end = block_end
    score = unit_score(relative)
    alert_score = suppress_repeats(score, plan.suppress)
    level = unit_level(plan.flag_level)
    return ScoredSeries(
        raw=raw,
        relative=relative,
        score=score,
        alert_score=alert_score,
        flags=(score >= level).astype(np.int64),
        alerts=(alert_score >= level).astype(np.int64),
        fits=fits,
    )


# --------------------------------------------------------------------------- detector choice


def inject_faults(
    values: F, rows: npt.NDArray[np.intp], rng: np.random.Generator
) -> tuple[F, npt.NDArray[np.bool_]]:
    """A copy of ``values`` with spikes, level shifts, stuck values, drifts and noise bursts.

    Used only on the training prefix to rank detectors without looking at any label.
    """
    out = values.copy()
    injected = np.zeros(len(values), dtype=bool)
    if np.isfinite(values).sum() < 2:
        return out, injected
    _, sigma = robust_location_scale(values)
    for i, row in enumerate(rows):
        kind = i % 5
        length = 1 if kind == 0 else 10
        span = slice(int(row), min(int(row) + length, len(values)))
        sign = rng.choice([-1.0, 1.0])
        if kind == 0:
            out[span] += sign * 6 * sigma
        elif kind == 1:
            out[span] += sign * 4 * sigma
        elif kind == 2:
            out[span] = out[int(row) - 1] if row > 0 else out[span][0]
        elif kind == 3:
            out[span] += sign * np.linspace(0.0, 5 * sigma, len(out[span]))
        else:
            out[span] += rng.normal(0.0, 3 * sigma, size=len(out[span]))
        injected[span] = True
    return out, injected


def select_detector(
    frame: pd.DataFrame,
    time_col: str,
    channels: Sequence[str],
    train_rows: int,
    spec: FeatureSpec,
    candidates: Sequence[str] = DEFAULT_CANDIDATES,
    *,
    seed: int = 0,
) -> tuple[str, dict[str, float]]:
    """Pick the candidate that best catches synthetic faults injected into the training prefix.

    The prefix is split 60/40 and faults go into the last 40 %; features are computed on the
    faulted series (windows see the faults as they would live). Each candidate is fitted on the
    first 60 % and judged the way the pipeline uses it: the share of injected faults that reach
    the flag level, minus ``FALSE_ALARM_WEIGHT`` times the share of clean rows that do. No label
    of the file is used.
    """
    from sensorguard.detectors import make_detector
    from sensorguard.transforms import compute_features

    rng = np.random.default_rng(seed)
    train = frame.iloc[:train_rows].copy()
    fit_n = int(train_rows * 0.6)
    hold = np.arange(fit_n + 1, train_rows - 10)
    n_faults = max(5, len(hold) // 60)
    injected = np.zeros(train_rows, dtype=bool)
    episodes: list[npt.NDArray[np.intp]] = []
    for channel in channels:
        rows = np.sort(rng.choice(hold, size=min(n_faults, len(hold)), replace=False))
        values, mask = inject_faults(train[channel].to_numpy(np.float64), rows, rng)
        train[channel] = values
        injected |= mask
        episodes.extend(np.arange(r, min(r + 10, train_rows)) for r in rows)
    features = compute_features(train, spec, time_col=time_col).to_numpy()
    clean = ~injected
    clean[:fit_n] = False
    quality: dict[str, float] = {}
    for name in candidates:
        model = make_detector(name, max_train_rows=MAX_FIT_ROWS).fit(features[:fit_n])
        relative = relative_to_training(model.decision_scores_, model.decision_function(features))
        flagged = relative >= DEFAULT_FLAG_LEVEL
        caught = np.mean([flagged[rows].any() for rows in episodes]) if episodes else 0.0
        false_rate = float(flagged[clean].mean()) if clean.any() else 0.0
        quality[name] = float(caught) - FALSE_ALARM_WEIGHT * false_rate
    # The first candidate is the default; another must beat it by a clear margin. The synthetic
    # faults are a noisy proxy: on NAB, switching on any edge scored 54.0 against 61.7 for
    # always-ECOD; with the margin, 55.8 (bench/nab/results.md).
    default = candidates[0]
    best = max(candidates, key=quality.__getitem__)  # ties: the earlier candidate
    if quality[best] - quality[default] < SWITCH_MARGIN:
        best = default
    return best, quality


# --------------------------------------------------------------------------- the command


@dataclass(frozen=True)
class BacktestResult:
    """Where the outputs went and the headline numbers."""

    output: Path
    detector: str
    metrics: dict[str, Any]


def load_series(
    path: Path,
    *,
    time_col: str,
    label_col: str | None,
    sep: str = ",",
    drop_cols: Sequence[str] = (),
) -> tuple[pd.DataFrame, list[str]]:
    """Read a CSV, check its columns, sort by time; returns the frame and its channel columns."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep=sep)
    except FileNotFoundError:
        raise ValidationFailed("file", str(path), "an existing CSV file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValidationFailed("file", str(path), f"a readable CSV ({err})") from None
    columns = [str(c) for c in frame.columns]
    for option, name in [
        ("--time-col", time_col),
        ("--label-col", label_col),
        *(("--drop-col", d) for d in drop_cols),
    ]:
        if name is not None and name not in columns:
            raise ValidationFailed(option, name, f"a column of {path.name}: {columns}")
    channels = [c for c in columns if c not in {time_col, label_col, *drop_cols}]
    if not channels:
        raise ValidationFailed("channels", [], f"at least one numeric column besides {time_col!r}")
    for channel in channels:
        numeric = pd.to_numeric(frame[channel], errors="coerce")
        bad = numeric.isna() & frame[channel].notna()
        if bad.any():
            raise ValidationFailed(
                f"column {channel!r}",
                frame[channel][bad].iloc[0],
                "numeric (drop it with --drop-col)",
            )
        frame[channel] = numeric.astype(np.float64)
    times = pd.to_datetime(frame[time_col], utc=True, errors="coerce")
    if times.isna().any():
        raise ValidationFailed(
            f"column {time_col!r}", frame[time_col][times.isna()].iloc[0], "a timestamp"
        )
    frame = frame.assign(**{time_col: times}).sort_values(time_col, kind="stable")
    return frame.reset_index(drop=True), channels


def resolve_train_rows(n_rows: int, train_rows: int | None, train_fraction: float | None) -> int:
    """Training prefix length from exactly one of --train-rows / --train-fraction."""
    if (train_rows is None) == (train_fraction is None):
        raise ValidationFailed(
            "training prefix",
            (train_rows, train_fraction),
            "exactly one of --train-rows or --train-fraction",
        )
    if train_fraction is not None:
        if not 0 < train_fraction < 1:
            raise ValidationFailed("--train-fraction", train_fraction, "strictly between 0 and 1")
        train_rows = int(n_rows * train_fraction)
    assert train_rows is not None  # for mypy: one of the two was given
    if train_rows < MIN_TRAIN_ROWS or train_rows >= n_rows:
        raise ValidationFailed(
            "training rows",
            train_rows,
            f"at least {MIN_TRAIN_ROWS} and fewer than the {n_rows} rows of the file",
        )
    return train_rows


def run_backtest(
    path: Path,
    *,
    time_col: str,
    output: Path,
    label_col: str | None = None,
    sep: str = ",",
    drop_cols: Sequence[str] = (),
    train_rows: int | None = None,
    train_fraction: float | None = None,
    detector: str | None = None,
    windows: Sequence[int] = (5, 20),
    refit_every: int | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """Backtest one CSV and write predictions.csv, metrics.json and backtest.png into ``output``."""
    from sensorguard.detectors.registry import entry
    from sensorguard.evaluation.metrics import label_kinds
    from sensorguard.transforms import compute_features

    say = progress or (lambda _msg: None)
    frame, channels = load_series(
        path, time_col=time_col, label_col=label_col, sep=sep, drop_cols=drop_cols
    )
    n_train = resolve_train_rows(len(frame), train_rows, train_fraction)
    if detector is not None:
        entry(detector)  # fail fast on an unknown name, listing the registered ones
    spec = sensor_spec(channels, windows)
    say(f"{len(frame)} rows, channels {channels}, training on the first {n_train}")
    choice: dict[str, float] = {}
    if detector is None:
        say(f"choosing a detector among {', '.join(DEFAULT_CANDIDATES)} on the training rows")
        detector, choice = select_detector(frame, time_col, channels, n_train, spec)
        say(f"chose {detector} (self-supervised quality {choice[detector]:.3f})")
    features = compute_features(frame, spec, time_col=time_col).to_numpy()
    refit = max(n_train // 2, 100) if refit_every is None else refit_every
    plan = ScoringPlan(
        detector=detector.lower(), spec=spec, refit_every=refit, suppress=max(n_train // 2, 1)
    )
    say(
        f"scoring {len(frame) - n_train} rows with {plan.detector}"
        + (f", refitting every {refit} rows" if refit else "")
    )
    scored = score_series(features, n_train, plan, progress=say)
    kinds = None if label_col is None else label_kinds(frame[label_col].tolist())
    metrics = evaluate_backtest(frame[time_col], kinds, n_train, scored)
    metrics["detector"] = {
        "name": plan.detector,
        "selection_quality": choice or None,
        "fits": scored.fits,
        "refit_every": refit,
        "suppress_rows": plan.suppress,
        "flag_level_relative": plan.flag_level,
        "flag_level_score": unit_level(plan.flag_level),
    }
    metrics["features"] = spec.model_dump(mode="json")
    output.mkdir(parents=True, exist_ok=True)
    write_predictions(output / "predictions.csv", frame[time_col], kinds, n_train, scored)
    (output / "metrics.json").write_text(
        json.dumps(metrics, indent=2, default=_json_default) + "\n"
    )
    plot_backtest(output / "backtest.png", frame, time_col, channels, kinds, n_train, scored)
    say(f"wrote {output / 'predictions.csv'}, metrics.json, backtest.png")
    return BacktestResult(output=output, detector=plan.detector, metrics=metrics)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


Kinds = npt.NDArray[np.object_]  # each row's fault kind, "" when normal (label_kinds)


def evaluate_backtest(
    times: pd.Series, kinds: Kinds | None, n_train: int, scored: ScoredSeries
) -> dict[str, Any]:
    """Point, event and NAB metrics over the scored (post-training) rows."""
    from sensorguard.evaluation import nab
    from sensorguard.evaluation.metrics import event_metrics, events_from_labels, point_metrics

    ts = times.to_numpy(dtype="datetime64[ns]")
    test = slice(n_train, None)
    out: dict[str, Any] = {
        "rows": len(ts),
        "train_rows": n_train,
        "test_rows": len(ts) - n_train,
        "labelled": kinds is not None,
    }
    out["flagged_rows"] = int(scored.flags[test].sum())
    out["alerts"] = int(scored.alerts[test].sum())
    if kinds is None:
        return out
    binary = (kinds != "").astype(np.int64)
    out["point"] = point_metrics(binary[test], scored.flags[test], scored.score[test])
    events = events_from_labels(ts[test], kinds[test])
    out["events"] = event_metrics(ts[test], scored.flags[test], events)
    out["alert_events"] = event_metrics(ts[test], scored.alerts[test], events)
    windows = nab.windows_from_labels(ts, binary)
    out["nab"] = nab.file_report(ts, scored.alerts, windows, probation=n_train)
    return out


def write_predictions(
    path: Path, times: pd.Series, kinds: Kinds | None, n_train: int, scored: ScoredSeries
) -> None:
    import pandas as pd

    out = pd.DataFrame(
        {
            times.name: times,
            "score": np.round(scored.score, 6),
            "flag": scored.flags,
            "alert": scored.alerts,
            "label": (kinds != "").astype(np.int64)
            if kinds is not None
            else pd.array([pd.NA] * len(times), dtype="Int64"),
            "train": (np.arange(len(times)) < n_train).astype(np.int64),
        }
    )
    out.to_csv(path, index=False)


def plot_backtest(
    path: Path,
    frame: pd.DataFrame,
    time_col: str,
    channels: Sequence[str],
    kinds: Kinds | None,
    n_train: int,
    scored: ScoredSeries,
) -> None:
    """Channels (top) and score (bottom) over time; labels shaded, flags and alerts marked."""
    from sensorguard.evaluation.metrics import runs
    from sensorguard.plotting import pyplot

    plt = pyplot()

    ts = frame[time_col].dt.tz_localize(None)  # load_series made it UTC
    shown = list(channels)[:3]
    fig, axes = plt.subplots(len(shown) + 1, 1, figsize=(12, 2.2 * (len(shown) + 1)), sharex=True)
    spans = [] if kinds is None else list(zip(*runs(kinds != ""), strict=True))
    flagged = scored.flags.astype(bool)
    for ax, channel in zip(axes[:-1], shown, strict=True):
        ax.plot(ts, frame[channel], lw=0.7, color="tab:blue")
        ax.scatter(
            ts[flagged], frame[channel][flagged], s=8, color="tab:red", zorder=3, label="flag"
        )
        ax.set_ylabel(channel)
    score_ax = axes[-1]
    score_ax.plot(ts, scored.score, lw=0.7, color="tab:gray", label="score")
    alerts = scored.alerts.astype(bool)
    score_ax.scatter(
        ts[alerts], scored.score[alerts], s=18, marker="v", color="tab:red", zorder=3, label="alert"
    )
    score_ax.axhline(unit_level(DEFAULT_FLAG_LEVEL), ls="--", lw=0.8, color="tab:red")
    score_ax.set_ylabel("score")
    score_ax.set_ylim(0, 1)
    for ax in axes:
        ax.axvspan(ts.iloc[0], ts.iloc[n_train - 1], color="0.9", zorder=0)
        for start, end in spans:
            ax.axvspan(ts.iloc[start], ts.iloc[end], color="tab:orange", alpha=0.25, zorder=0)
    axes[0].set_title("backtest: grey = training prefix, orange = labelled, red = flags / alerts")
    score_ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
