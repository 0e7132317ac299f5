"""The report's plots, each returned as a PNG data URI (the HTML stays one file)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sensorguard.plotting import (
    FAULT_COLOR,
    FLAG_COLOR,
    READING_COLOR,
    SCORE_COLOR,
    figure_data_uri,
    pyplot,
)

if TYPE_CHECKING:
    import pandas as pd

    from sensorguard.alerting.records import Alert
    from sensorguard.report.data import DriftRow
    from sensorguard.schemas import Sensor
    from sensorguard.training.labels import LabelWindow

CHANNELS = ("temperature", "humidity", "sound_level")
WINDOW_COLOR = "0.85"  # a drift check's recent window


def _naive(ts: Any) -> Any:
    """Matplotlib plots UTC times without their zone (every time here is UTC)."""
    import pandas as pd

    if isinstance(ts, pd.Series):
        return ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts.tz_convert("UTC").tz_localize(None)


def _shade_windows(axes: Sequence[Any], drift: Sequence[DriftRow]) -> None:
    seen: set[tuple[Any, Any]] = set()
    for row in drift:
        span = (row.window_start, row.window_end)
        if span in seen:
            continue
        seen.add(span)
        for n, ax in enumerate(axes):
            ax.axvspan(
                *(_naive_dt(t) for t in span),
                color=WINDOW_COLOR,
                zorder=0,
                label="drift-check window" if len(seen) == 1 and n == 0 else None,
            )


def _naive_dt(moment: Any) -> Any:
    return moment.replace(tzinfo=None) if moment.tzinfo else moment


def fleet_overview(
    readings: pd.DataFrame, sensors: Sequence[Sensor], drift: Sequence[DriftRow]
) -> str:
    """One panel per channel: every sensor's 30-minute means, coloured by site."""
    plt = pyplot()
    channels = [c for c in CHANNELS if c in readings.columns and readings[c].notna().any()]
    fig, axes = plt.subplots(
        len(channels), 1, figsize=(12, 2.4 * len(channels) + 0.6), sharex=True, squeeze=False
    )
    site_of = {s.sensor_id: s.site for s in sensors}
    sites = sorted(set(site_of.values()))
    colours = {site: plt.get_cmap("tab10")(i % 10) for i, site in enumerate(sites)}
    frame = readings.assign(site=readings["sensor_id"].map(site_of))
    for ax, channel in zip(axes[:, 0], channels, strict=True):
        for sensor_id, rows in frame.groupby("sensor_id"):
            series = rows.set_index("ts")[channel].dropna()
            if series.empty:
                continue
            means = series.resample("30min").mean()
            ax.plot(
                _naive(means.index),
                means.to_numpy(),
                lw=0.7,
                alpha=0.8,
                color=colours[site_of.get(str(sensor_id), sites[0])],
            )
        ax.set_ylabel(channel)
    _shade_windows(axes[:, 0], drift)
    handles = [plt.Line2D([], [], color=colours[s], label=s) for s in sites]
    if drift:
        handles.append(plt.Rectangle((0, 0), 1, 1, color=WINDOW_COLOR, label="drift-check window"))
    axes[0, 0].legend(handles=handles, loc="upper left", fontsize=8, ncol=len(handles))
    axes[0, 0].set_title(
        f"{readings['sensor_id'].nunique()} sensors, 30-minute means of each (colour = site)"
    )
    fig.tight_layout()
    return figure_data_uri(fig)


def one_sensor(
    sensor_id: str,
    readings: pd.DataFrame,
    scores: pd.DataFrame,
    labels: Sequence[LabelWindow],
    alerts: Sequence[Alert],
    drift: Sequence[DriftRow],
) -> str:
    """Its channels (top) and scores (bottom): labelled faults shaded, flags and alerts marked."""
    from sensorguard.training.plots import KIND_COLOURS

    plt = pyplot()
    mine = readings[readings["sensor_id"] == sensor_id].sort_values("ts")
    channels = [c for c in CHANNELS if c in mine.columns and mine[c].notna().any()]
    own = scores[scores["sensor_id"] == sensor_id].sort_values("ts")
    fig, axes = plt.subplots(
        len(channels) + 1,
        1,
        figsize=(12, 2.2 * (len(channels) + 1) + 0.4),
        sharex=True,
        squeeze=False,
    )
    flagged = own[own["flag"]]
    for ax, channel in zip(axes[:-1, 0], channels, strict=True):
        ax.plot(_naive(mine["ts"]), mine[channel], lw=0.6, color=READING_COLOR)
        at = mine.set_index("ts")[channel].reindex(flagged["ts"])
        ax.scatter(
            _naive(at.index), at.to_numpy(), s=6, color=FLAG_COLOR, zorder=3, label="flagged"
        )
        ax.set_ylabel(channel)
    score_ax = axes[-1, 0]
    score_ax.plot(_naive(own["ts"]), own["score"], lw=0.6, color=SCORE_COLOR, label="score")
    score_ax.scatter(
        _naive(flagged["ts"]), flagged["score"], s=6, color=FLAG_COLOR, zorder=3, label="flagged"
    )
    if len(own):
        score_ax.axhline(
            float(own["threshold"].iloc[-1]), ls="--", lw=0.8, color=FLAG_COLOR, label="threshold"
        )
    score_ax.set_yscale("symlog", linthresh=10.0)
    score_ax.set_ylabel("score (surprise)")
    mine_alerts = [a for a in alerts if a.sensor_id == sensor_id]
    for a in mine_alerts:
        score_ax.axvline(_naive_dt(a.started_at), color=FLAG_COLOR, lw=0.8, alpha=0.6)
    if mine_alerts:
        score_ax.plot([], [], color=FLAG_COLOR, lw=0.8, label="alert opened")
    kinds: set[str] = set()
    for lab in (lab for lab in labels if lab.sensor_id == sensor_id):
        colour = KIND_COLOURS.get(lab.kind, FAULT_COLOR)
        for ax in axes[:, 0]:
            # One legend entry per kind, on the top panel only.
            first = ax is axes[0, 0] and lab.kind not in kinds
            ax.axvspan(
                _naive_dt(lab.start),
                _naive_dt(lab.end),
                color=colour,
                alpha=0.25,
                zorder=0,
                label=lab.kind if first else None,
            )
        kinds.add(lab.kind)
    _shade_windows(axes[:, 0], drift)
    axes[0, 0].legend(loc="upper left", fontsize=7, ncol=6)
    score_ax.legend(loc="upper left", fontsize=7, ncol=4)
    axes[0, 0].set_title(f"{sensor_id}: readings, labelled faults (shaded), flags and alerts")
    fig.tight_layout()
    return figure_data_uri(fig)


def model_comparison(versions: Sequence[dict[str, Any]]) -> str:
    """Per group, every registered version's PR-AUC and event recall; @champion outlined."""
    plt = pyplot()
    groups = sorted({v["group"] for v in versions})
    fig, axes = plt.subplots(
        1, len(groups), figsize=(max(4.2 * len(groups), 8.0), 3.6), squeeze=False, sharey=True
    )
    for ax, group in zip(axes[0], groups, strict=True):
        rows = sorted((v for v in versions if v["group"] == group), key=lambda v: int(v["version"]))
        xs = range(len(rows))
        for offset, metric, colour in (
            (-0.2, "pr_auc", READING_COLOR),
            (0.2, "event_recall", FAULT_COLOR),
        ):
            values = [_float(r[metric]) for r in rows]
            bars = ax.bar([x + offset for x in xs], values, width=0.4, color=colour, label=metric)
            for bar, row in zip(bars, rows, strict=True):
                if "champion" in row["aliases"].split(","):
                    bar.set_edgecolor("black")
                    bar.set_linewidth(1.8)
        labels = [f"v{r['version']}\n{_short(r['detector'])}" for r in rows]
        ax.set_xticks(list(xs), labels, fontsize=7)
        trainings = [_training(r["trigger_reason"]) for r in rows]
        for x, (before, now) in enumerate(itertools.pairwise(trainings), start=1):
            if before != now:
                ax.axvline(x - 0.5, color="0.4", ls=":", lw=1)
        ax.set_title(f"{group} ({', '.join(dict.fromkeys(trainings))})", fontsize=9)
        ax.set_ylim(0, 1.05)
    axes[0, 0].set_ylabel("on each training's held-out day")
    axes[0, 0].legend(loc="upper left", fontsize=7)
    fig.suptitle(
        "Registered versions (outlined: @champion; dotted line: a retraining)", fontsize=10
    )
    fig.tight_layout()
    return figure_data_uri(fig)


def drift_features(row: DriftRow, *, top: int = 12) -> str:
    """A check's most drifted features (normed Wasserstein distance); red: judged drifted."""
    plt = pyplot()
    shown = sorted(row.features, key=lambda f: f[1], reverse=True)[:top][::-1]
    fig, ax = plt.subplots(figsize=(6.5, 0.28 * len(shown) + 1.2))
    ax.barh(
        [f[0] for f in shown],
        [f[1] for f in shown],
        color=[FLAG_COLOR if f[2] else SCORE_COLOR for f in shown],
    )
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("drift score (normed Wasserstein distance)")
    verdict = "drifted" if row.drifted else "no drift"
    ax.set_title(f"{row.group} vs champion v{row.champion_version}: {verdict}", fontsize=9)
    fig.tight_layout()
    return figure_data_uri(fig)


def _float(value: object) -> float:
    try:
        return float(str(value))
    except ValueError:
        return 0.0


def _short(detector: str) -> str:
    return detector.split("(")[0]


def _training(trigger: str) -> str:
    return trigger.split(":")[0] or "manual"
