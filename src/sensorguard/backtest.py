"""Backtest a detector on a labelled CSV: fit on a training prefix, score the rest in time order.

The series goes through the one scoring path (:mod:`sensorguard.scoring`) exactly as a live
sensor would: causal features, the detector fitted and calibrated on the training prefix only
and then frozen (as a champion is between two training runs), the episode tracker stepped row
by row. Scoring the first k rows therefore gives exactly the first k verdicts of the whole
file. The NAB benchmark (``bench/nab/run.py``) calls :func:`backtest_frame` with these
defaults, so its figures are what ``sensorguard backtest`` gives a user.

Outputs per row: ``score`` (surprise, ``-log10`` of the chance a normal reading is this
unusual), ``flag`` (inside a fault episode), ``alert`` (the episode's first reading: where an
alert opens), ``kind`` and the leading contributor of flagged rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from sensorguard.errors import ValidationFailed
from sensorguard.transforms.spec import FeatureSpec

if TYPE_CHECKING:
    import pandas as pd

    from sensorguard.scoring import ScoringModel, ScoringPolicy, Verdicts

F = npt.NDArray[np.float64]
Progress = Callable[[str], None]

MIN_TRAIN_ROWS = 50
# Chosen on the simulator's fault taxonomy (bench/faults.py), not on NAB: a rank-based tail
# probability that keeps growing past the training extremes, where tree, histogram and
# tail-count detectors saturate, and robust z-scores drown in heavy-tailed features.
DEFAULT_DETECTOR = "tail_max"
DEFAULT_WINDOWS: tuple[int, ...] = (5, 20)


def backtest_spec(channels: Sequence[str], windows: Sequence[int] = DEFAULT_WINDOWS) -> FeatureSpec:
    """Default backtest features for any numeric channels.

    Per channel: the value against its recent past (z-scores over the windows and a longer
    baseline), steps, stuck runs, staleness, and the day-over-day difference (a daily cycle
    repeats itself, a fault does not); the gap between readings shows dropouts.
    """
    return FeatureSpec(
        channels=tuple(channels),
        windows=tuple(windows),
        window_stats=("mean", "std", "z"),
        baseline=500,
        point_features=("value", "zscore", "delta", "stale_s", "flat_len", "seasonal"),
        gap=True,
        time_of_day=False,
    )


# A backtest's recent-past window and short mean (see sensorguard.scoring.recent). Chosen on
# NAB (bench/nab/README.md gives the grid), not on the simulator, where the stage is worse.
BACKTEST_RECENT_ROWS = 2000
BACKTEST_RECENT_SHORT = 20


def default_policy(
    refractory_rows: int | None = None, recent_rows: int | None = None
) -> ScoringPolicy:
    """The scoring policy's defaults plus the recent-past stage (and an optional refractory span).

    A backtest model is fitted once on a prefix and then frozen for the rest of a series of
    any length, while a fleet's champion is retrained on schedule: so each reading is also
    judged against the series' own last ``recent_rows`` readings (default
    ``BACKTEST_RECENT_ROWS``; 0 = off), which stands in for that retraining (a lasting new
    normal stops alerting, a new extreme of the recent range does). On the simulator's fleets,
    which the scheduled retraining keeps in step, the stage costs recall and adds false
    alarms (bench/results/faults/results.md), so the fleet specs leave it off.

    ``refractory_rows`` (default 0, off): after an episode, only a reading beyond its peak
    opens another on the same channel within that span. An earlier session chose half the
    training rows on NAB; with the recent-past stage it no longer helps there.
    """
    from sensorguard.scoring import ScoringPolicy

    recent = BACKTEST_RECENT_ROWS if recent_rows is None else recent_rows
    return ScoringPolicy(
        refractory_rows=refractory_rows or 0,
        recent_rows=recent,
        recent_short=BACKTEST_RECENT_SHORT,
    )


@dataclass(frozen=True)
class BacktestRun:
    """A scored series: the fitted model and every row's verdict (training rows in-sample)."""

    model: ScoringModel
    verdicts: Verdicts
    train_rows: int

    @property
    def alerts(self) -> npt.NDArray[np.bool_]:
        """Rows where an alert opens: the first reading of each episode."""
        return self.verdicts.onset

    @property
    def alert_score(self) -> F:
        """The score of each alert's opening reading, 0 elsewhere (what NAB is given)."""
        return np.where(self.verdicts.onset, self.verdicts.score, 0.0)


def backtest_frame(
    frame: pd.DataFrame,
    time_col: str,
    channels: Sequence[str],
    train_rows: int,
    *,
    detector: str = DEFAULT_DETECTOR,
    spec: FeatureSpec | None = None,
    policy: ScoringPolicy | None = None,
) -> BacktestRun:
    """Fit on the first ``train_rows`` rows of ``frame`` (in its order) and score every row."""
    from sensorguard.scoring import SensorHistory, fit_scoring_model
    from sensorguard.transforms import compute_features
    from sensorguard.transforms.batch import timestamps_ns

    n = len(frame)
    if not MIN_TRAIN_ROWS <= train_rows <= n:
        raise ValidationFailed("training rows", train_rows, f"between {MIN_TRAIN_ROWS} and {n}")
    spec = spec or backtest_spec(channels)
    if policy is None:
        policy = default_policy()
    features = compute_features(frame, spec, time_col=time_col).to_numpy(dtype=np.float64)
    ts = timestamps_ns(frame[time_col])
    values = {c: frame[c].to_numpy(dtype=np.float64) for c in channels}
    train = SensorHistory(
        ts[:train_rows], {c: v[:train_rows] for c, v in values.items()}, features[:train_rows]
    )
    model = fit_scoring_model(detector, [train], spec, policy=policy)
    verdicts = model.score_history(ts, values, features)
    return BacktestRun(model, verdicts, train_rows)


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
    detector: str = DEFAULT_DETECTOR,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    open_level: float | None = None,
    refractory_rows: int | None = None,
    recent_rows: int | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """Backtest one CSV and write predictions.csv, metrics.json and backtest.png into ``output``."""
    from sensorguard.detectors.registry import entry
    from sensorguard.evaluation.metrics import label_kinds

    say = progress or (lambda _msg: None)
    frame, channels = load_series(
        path, time_col=time_col, label_col=label_col, sep=sep, drop_cols=drop_cols
    )
    n_train = resolve_train_rows(len(frame), train_rows, train_fraction)
    entry(detector)  # fail fast on an unknown name, listing the registered ones
    spec = backtest_spec(channels, windows)
    if refractory_rows is not None and refractory_rows < 0:
        raise ValidationFailed("--refractory-rows", refractory_rows, "0 or more rows")
    if recent_rows is not None and not 0 <= recent_rows <= 20_000:
        raise ValidationFailed("--recent-rows", recent_rows, "0 (off) to 20000 rows")
    policy = default_policy(refractory_rows, recent_rows)
    if open_level is not None:
        if not open_level > 0:
            raise ValidationFailed("--open-level", open_level, "a surprise above 0")
        levels = {"open_level": open_level, "hold_level": min(policy.hold_level, open_level)}
        policy = policy.model_copy(update=levels)
    say(f"{len(frame)} rows, channels {channels}, training {detector} on the first {n_train}")
    run = backtest_frame(
        frame, time_col, channels, n_train, detector=detector.lower(), spec=spec, policy=policy
    )
    say(f"scored {len(frame) - n_train} rows after the training prefix")
    kinds = None if label_col is None else label_kinds(frame[label_col].tolist())
    metrics = evaluate_backtest(frame[time_col], kinds, run)
    model = run.model
    metrics["detector"] = {
        "name": model.detector_label,
        "threshold": model.threshold,
        "policy": model.policy.model_dump(),
        **model.info,
    }
    metrics["features"] = spec.model_dump(mode="json")
    output.mkdir(parents=True, exist_ok=True)
    write_predictions(output / "predictions.csv", frame[time_col], kinds, run)
    (output / "metrics.json").write_text(
        json.dumps(metrics, indent=2, default=_json_default) + "\n"
    )
    plot_backtest(output / "backtest.png", frame, time_col, channels, kinds, run)
    say(f"wrote {output / 'predictions.csv'}, metrics.json, backtest.png")
    return BacktestResult(output=output, detector=model.detector_label, metrics=metrics)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


Kinds = npt.NDArray[np.object_]  # each row's fault kind, "" when normal (label_kinds)


def evaluate_backtest(times: pd.Series, kinds: Kinds | None, run: BacktestRun) -> dict[str, Any]:
    """Point, event and NAB metrics over the scored (post-training) rows."""
    from sensorguard.evaluation import nab
    from sensorguard.evaluation.metrics import event_metrics, events_from_labels, point_metrics

    ts = times.to_numpy(dtype="datetime64[ns]")
    n_train = run.train_rows
    verdicts = run.verdicts
    flags = verdicts.flag.astype(np.int64)
    alerts = run.alerts.astype(np.int64)
    test = slice(n_train, None)
    out: dict[str, Any] = {
        "rows": len(ts),
        "train_rows": n_train,
        "test_rows": len(ts) - n_train,
        "labelled": kinds is not None,
        "flagged_rows": int(flags[test].sum()),
        "alerts": int(alerts[test].sum()),
        "kinds": {
            str(k): int(c)
            for k, c in zip(
                *np.unique(verdicts.kind[test][flags[test] == 1], return_counts=True), strict=True
            )
        },
    }
    if kinds is None:
        return out
    binary = (kinds != "").astype(np.int64)
    out["point"] = point_metrics(binary[test], flags[test], verdicts.score[test])
    events = events_from_labels(ts[test], kinds[test])
    # Windowed features stay disturbed for the longest window after a fault ends: flags in
    # that echo belong to the fault, not to a new false alarm (training's grace_s, in rows).
    steps = np.diff(ts.astype(np.int64)) / 1e9
    echo_s = (
        float(np.median(steps)) * max(run.model.feature_spec.windows, default=1)
        if len(steps)
        else 0.0
    )
    out["echo_s"] = echo_s
    out["events"] = event_metrics(ts[test], flags[test], events, tolerance_s=echo_s)
    out["alert_events"] = event_metrics(ts[test], alerts[test], events, tolerance_s=echo_s)
    windows = nab.windows_from_labels(ts, binary)
    out["nab"] = nab.file_report(ts, alerts, windows, probation=n_train)
    return out


def write_predictions(path: Path, times: pd.Series, kinds: Kinds | None, run: BacktestRun) -> None:
    import pandas as pd

    verdicts = run.verdicts
    lead = np.where(verdicts.flag, verdicts.lead(), "")
    out = pd.DataFrame(
        {
            times.name: times,
            "score": np.round(verdicts.score, 6),
            "flag": verdicts.flag.astype(np.int64),
            "alert": run.alerts.astype(np.int64),
            "kind": verdicts.kind,
            "lead": lead,
            "label": (kinds != "").astype(np.int64)
            if kinds is not None
            else pd.array([pd.NA] * len(times), dtype="Int64"),
            "train": (np.arange(len(times)) < run.train_rows).astype(np.int64),
        }
    )
    out.to_csv(path, index=False)


def plot_backtest(
    path: Path,
    frame: pd.DataFrame,
    time_col: str,
    channels: Sequence[str],
    kinds: Kinds | None,
    run: BacktestRun,
) -> None:
    """Channels (top) and score (bottom) over time; labels shaded, flags and alerts marked."""
    from sensorguard.evaluation.metrics import runs
    from sensorguard.plotting import pyplot

    plt = pyplot()
    verdicts = run.verdicts
    n_train = run.train_rows
    ts = frame[time_col].dt.tz_localize(None)  # load_series made it UTC
    shown = list(channels)[:3]
    fig, axes = plt.subplots(len(shown) + 1, 1, figsize=(12, 2.2 * (len(shown) + 1)), sharex=True)
    spans = [] if kinds is None else list(zip(*runs(kinds != ""), strict=True))
    flagged = verdicts.flag
    for ax, channel in zip(axes[:-1], shown, strict=True):
        ax.plot(ts, frame[channel], lw=0.7, color="tab:blue")
        ax.scatter(
            ts[flagged], frame[channel][flagged], s=8, color="tab:red", zorder=3, label="flag"
        )
        ax.set_ylabel(channel)
    score_ax = axes[-1]
    score_ax.plot(ts, verdicts.score, lw=0.7, color="tab:gray", label="score (surprise)")
    alerts = run.alerts
    score_ax.scatter(
        ts[alerts],
        verdicts.score[alerts],
        s=18,
        marker="v",
        color="tab:red",
        zorder=3,
        label="alert",
    )
    score_ax.axhline(run.model.threshold, ls="--", lw=0.8, color="tab:red")
    score_ax.set_ylabel("score")
    score_ax.set_yscale("symlog", linthresh=10.0)
    for ax in axes:
        ax.axvspan(ts.iloc[0], ts.iloc[n_train - 1], color="0.9", zorder=0)
        for start, end in spans:
            ax.axvspan(ts.iloc[start], ts.iloc[end], color="tab:orange", alpha=0.25, zorder=0)
    axes[0].set_title("backtest: grey = training prefix, orange = labelled, red = flags / alerts")
    score_ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
