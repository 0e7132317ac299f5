"""Scores and flags of a group's evaluation rows against labelled faults, for all its sensors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from sensorguard.training.labels import LabelSet, LabelWindow


def evaluate_verdicts(
    keys: pd.DataFrame,
    scores: npt.NDArray[np.float64],
    flags: npt.NDArray[np.bool_],
    kinds: npt.NDArray[np.object_] | None,
    labels: LabelSet | Sequence[LabelWindow],
    *,
    grace_s: float = 0.0,
) -> dict[str, Any]:
    """Point and event metrics of the scoring path's verdicts over several sensors' rows.

    `keys` (sensor_id, ts) are row-aligned with `scores` (surprise, for PR-AUC), `flags` (the
    episode flags) and `kinds` (each flagged row's kind). Point metrics (precision, recall,
    F1, PR-AUC) pool every row. Event metrics come from
    :func:`sensorguard.evaluation.event_metrics_by_sensor` (a false alarm is a run of flags on
    one sensor's timeline): recall per fault kind, mean time to detect, false alarms per
    sensor-day. `kind_accuracy` is the share of detected events whose flagged rows inside the
    event mostly carry the event's own kind; `kinds_called` counts, per true kind, what the
    detected events were called. Each sensor's events are the labels its rows can
    show (see `sensor_events`).

    With a :class:`LabelSet`, rows in maintenance windows are left out first, and each
    false-alarm verdict's window that the flags touch is counted in
    `confirmed_false_alarms_flagged` (of `confirmed_false_alarms` windows with rows): the
    one kind of false alarm an operator has already said is one.
    """
    import numpy as np

    from sensorguard.evaluation import Event, event_metrics_by_sensor, point_metrics
    from sensorguard.training.labels import (
        LabelSet,
        in_windows,
        row_truth,
        sensor_events,
        sensor_rows,
    )

    known = LabelSet.of(labels)
    scores = np.asarray(scores, dtype=np.float64)
    flags = np.asarray(flags, dtype=bool)
    if known.excluded:
        kept = ~in_windows(keys, known.excluded)
        keys, scores, flags = keys[kept], scores[kept], flags[kept]
        kinds = None if kinds is None else kinds[kept]
    labels = known.faults
    confirmed, confirmed_flagged = _confirmed_false_alarms(keys, flags, known.normal)
    truth = row_truth(keys, labels)
    events: dict[str, list[Event]] = {}
    unobservable = 0
    named, detected = 0, 0
    called: dict[str, dict[str, int]] = {}  # true kind -> the kind its flags mostly carried
    sensor_col = keys["sensor_id"].to_numpy()
    ts_col = keys["ts"].to_numpy(dtype="datetime64[ns]")
    for sensor_id, rows, ts in sensor_rows(keys):
        events[sensor_id], missed = sensor_events(sensor_id, ts, labels, grace_s=grace_s)
        unobservable += missed
        if kinds is None:
            continue
        for event in events[sensor_id]:
            lo, hi = (
                int(np.asarray(t, dtype="datetime64[ns]").astype(np.int64))
                for t in (event.start, event.end)
            )
            inside = (ts >= lo) & (ts <= hi)
            hit = rows[inside & flags[rows]]
            if not len(hit):
                continue
            detected += 1
            values, counts = np.unique(kinds[hit].astype(str), return_counts=True)
            said = str(values[counts.argmax()])
            named += int(said == event.kind)
            row = called.setdefault(event.kind, {})
            row[said] = row.get(said, 0) + 1
    pooled = event_metrics_by_sensor(sensor_col, ts_col, flags, events)
    return {
        **point_metrics(truth, flags, scores),
        "rows": len(keys),
        "positives": int(truth.sum()),
        "flags": int(flags.sum()),
        "unobservable_events": unobservable,
        "kind_accuracy": named / detected if detected else None,
        "kinds_called": called,
        "confirmed_false_alarms": confirmed,
        "confirmed_false_alarms_flagged": confirmed_flagged,
        **pooled,
    }


def _confirmed_false_alarms(
    keys: pd.DataFrame, flags: npt.NDArray[np.bool_], windows: Sequence[LabelWindow]
) -> tuple[int, int]:
    """(false-alarm verdict windows with rows among `keys`, those with a flag among them)."""
    from sensorguard.training.labels import in_windows

    seen = flagged = 0
    for window in windows:
        inside = in_windows(keys, [window])
        if inside.any():
            seen += 1
            flagged += int(flags[inside].any())
    return seen, flagged


def flat_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The report as MLflow metrics: numbers only, per-kind values as `recall_<kind>` etc."""
    flat: dict[str, float] = {}
    for key, value in report.items():
        if key != "per_kind" and isinstance(value, int | float):
            flat[key] = float(value)
    for kind, stats in report.get("per_kind", {}).items():
        flat[f"recall_{kind}"] = float(stats["recall"])
        flat[f"events_{kind}"] = float(stats["events"])
        if stats["mean_time_to_detect_s"] is not None:
            flat[f"time_to_detect_s_{kind}"] = float(stats["mean_time_to_detect_s"])
    return flat


def metric_value(report: Mapping[str, Any], metric: str) -> float:
    """A headline metric, with an undefined value (no events, one class) counted as 0."""
    value = report.get(metric)
    return float(value) if isinstance(value, int | float) else 0.0
