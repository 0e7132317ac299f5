"""Scores and flags of a group's evaluation rows against labelled faults, for all its sensors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from sensorguard.training.labels import LabelWindow


def evaluate_scores(
    keys: pd.DataFrame,
    scores: npt.NDArray[np.float64],
    threshold: float,
    labels: Sequence[LabelWindow],
    *,
    grace_s: float = 0.0,
) -> dict[str, Any]:
    """Point and event metrics over several sensors' rows (`keys`: sensor_id, ts).

    Point metrics (precision, recall, F1, PR-AUC) pool every row. Event metrics are computed
    per sensor by :func:`sensorguard.evaluation.event_metrics` (a false alarm is a run of
    flags on one sensor's timeline) and summed: recall per fault kind, mean time to detect,
    false alarms per sensor-day.
    """
    import numpy as np

    from sensorguard.evaluation import event_metrics, point_metrics
    from sensorguard.training.labels import row_labels, sensor_events

    scores = np.asarray(scores, dtype=np.float64)
    flags = scores > threshold
    ts_all = keys["ts"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    sensor_all = keys["sensor_id"].to_numpy()
    truth = np.zeros(len(keys), dtype=np.int8)
    per_kind: dict[str, dict[str, Any]] = {}
    totals = {"events": 0, "detected": 0, "false_alarms": 0, "sensor_days": 0.0, "delay": 0.0}
    unobservable = 0
    for sensor_id in dict.fromkeys(sensor_all.tolist()):
        rows = np.flatnonzero(sensor_all == sensor_id)
        rows = rows[np.argsort(ts_all[rows], kind="stable")]
        ts = ts_all[rows]
        truth[rows], _ = row_labels(sensor_id, ts, labels)
        events, missed = sensor_events(sensor_id, ts, labels, grace_s=grace_s)
        unobservable += missed
        result = event_metrics(ts.astype("datetime64[ns]"), flags[rows], events)
        totals["false_alarms"] += result["false_alarms"]
        totals["sensor_days"] += result["sensor_days"]
        for kind, stats in result["per_kind"].items():
            agg = per_kind.setdefault(kind, {"events": 0, "detected": 0, "delay": 0.0})
            agg["events"] += stats["events"]
            agg["detected"] += stats["detected"]
            if stats["mean_time_to_detect_s"] is not None:
                agg["delay"] += stats["mean_time_to_detect_s"] * stats["detected"]
    kinds: dict[str, dict[str, Any]] = {}
    for kind, agg in sorted(per_kind.items()):
        totals["events"] += agg["events"]
        totals["detected"] += agg["detected"]
        totals["delay"] += agg["delay"]
        kinds[kind] = {
            "events": agg["events"],
            "detected": agg["detected"],
            "recall": agg["detected"] / agg["events"],
            "mean_time_to_detect_s": agg["delay"] / agg["detected"] if agg["detected"] else None,
        }
    point = point_metrics(truth, flags, scores)
    days = float(totals["sensor_days"])
    return {
        **point,
        "rows": len(keys),
        "positives": int(truth.sum()),
        "flags": int(flags.sum()),
        "events": int(totals["events"]),
        "detected": int(totals["detected"]),
        "unobservable_events": unobservable,
        "event_recall": totals["detected"] / totals["events"] if totals["events"] else None,
        "mean_time_to_detect_s": totals["delay"] / totals["detected"]
        if totals["detected"]
        else None,
        "false_alarms": int(totals["false_alarms"]),
        "sensor_days": days,
        "false_alarms_per_sensor_day": totals["false_alarms"] / days if days > 0 else None,
        "per_kind": kinds,
    }


def flat_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The report as MLflow metrics: numbers only, per-kind values as `recall_<kind>` etc."""
    flat: dict[str, float] = {}
    for key, value in report.items():
        if key != "per_kind" and isinstance(value, int | float) and value is not None:
            flat[key] = float(value)
    for kind, stats in report.get("per_kind", {}).items():
        flat[f"recall_{kind}"] = float(stats["recall"])
        flat[f"events_{kind}"] = float(stats["events"])
        if stats["mean_time_to_detect_s"] is not None:
            flat[f"time_to_detect_s_{kind}"] = float(stats["mean_time_to_detect_s"])
    return flat


def metric_value(report: dict[str, Any], metric: str) -> float:
    """A headline metric, with an undefined value (no events, one class) counted as 0."""
    value = report.get(metric)
    return float(value) if isinstance(value, int | float) else 0.0
