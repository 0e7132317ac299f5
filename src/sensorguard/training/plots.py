"""Evaluation plots logged with every candidate: score over time with label windows, PR curve."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sensorguard.plotting import pyplot

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from sensorguard.training.labels import LabelWindow

KIND_COLOURS = {
    "spike": "tab:red",
    "level_shift": "tab:orange",
    "drift": "tab:olive",
    "stuck": "tab:purple",
    "dropout": "tab:gray",
    "noise_burst": "tab:cyan",
    "out_of_range": "tab:brown",
}


def score_timeline(
    keys: pd.DataFrame,
    scores: npt.NDArray[np.float64],
    flags: npt.NDArray[np.bool_],
    threshold: float,
    labels: Sequence[LabelWindow],
    path: Path,
    *,
    title: str,
    max_sensors: int = 6,
) -> Path:
    """One panel per sensor (those with faults first): score, threshold, flags, shaded faults.

    Flags are the scoring path's episode flags: a flagged reading may sit below the dashed
    opening threshold while its episode lasts.
    """
    import numpy as np
    import pandas as pd

    plt = pyplot()
    faulty = {lab.sensor_id for lab in labels}
    sensors = sorted(keys["sensor_id"].unique(), key=lambda s: (s not in faulty, s))[:max_sensors]
    fig, axes = plt.subplots(
        len(sensors), 1, figsize=(11, 1.9 * len(sensors) + 0.6), sharex=True, squeeze=False
    )
    for ax, sensor_id in zip(axes[:, 0], sensors, strict=True):
        rows = (keys["sensor_id"] == sensor_id).to_numpy()
        ts = pd.to_datetime(keys["ts"][rows], utc=True).dt.tz_localize(None)
        sensor_scores = np.asarray(scores)[rows]
        ax.plot(ts, sensor_scores, lw=0.7, color="tab:blue")
        ax.axhline(threshold, color="black", lw=0.8, ls="--")
        flagged = np.asarray(flags)[rows]
        ax.scatter(ts[flagged], sensor_scores[flagged], s=8, color="tab:red", zorder=3)
        for lab in labels:
            if lab.sensor_id == sensor_id:
                ax.axvspan(
                    pd.Timestamp(lab.start).tz_convert(None),
                    pd.Timestamp(lab.end).tz_convert(None),
                    color=KIND_COLOURS.get(lab.kind, "tab:green"),
                    alpha=0.25,
                    label=lab.kind,
                )
        ax.set_ylabel(sensor_id, fontsize=8)
        handles, names = ax.get_legend_handles_labels()
        if names:
            unique = dict(zip(names, handles, strict=True))
            ax.legend(unique.values(), unique.keys(), fontsize=7, loc="upper left")
    axes[0, 0].set_title(f"{title}: score (line), threshold (dashed), flags (red), faults (shaded)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def pr_curve(
    truth: npt.NDArray[np.int8], scores: npt.NDArray[np.float64], path: Path, *, title: str
) -> Path | None:
    """Precision-recall curve of row labels; None when the rows hold one class only."""
    import numpy as np
    from sklearn.metrics import average_precision_score, precision_recall_curve

    if truth.min() == truth.max():
        return None
    plt = pyplot()
    precision, recall, _ = precision_recall_curve(truth, scores)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(recall, precision, lw=1.2)
    ax.axhline(float(np.mean(truth)), color="gray", ls=":", lw=0.8, label="chance")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"{title} (PR-AUC {average_precision_score(truth, scores):.3f})", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
