"""Detection metrics: point precision/recall/F1/PR-AUC, event recall per fault kind, time to
detect and false alarms per sensor-day."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sensorguard.errors import ValidationFailed

NS_PER_SECOND = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_SECOND

# Label spellings that mean "no fault" in a label column of strings.
NORMAL_LABELS = frozenset({"", "0", "0.0", "false", "normal", "none", "ok", "nan"})
DEFAULT_KIND = "anomaly"


@dataclass(frozen=True)
class Event:
    """A labelled fault: first and last timestamp (inclusive) and its kind."""

    start: np.datetime64
    end: np.datetime64
    kind: str = DEFAULT_KIND


def label_kinds(labels: Sequence[Any] | npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Each row's fault kind, or "" for a normal row.

    Numbers and booleans: non-zero is the generic ``"anomaly"``. Strings: the spellings in
    :data:`NORMAL_LABELS` are normal, anything else is the kind itself (``"spike"``, ...).
    """
    out: npt.NDArray[np.object_] = np.empty(len(labels), dtype=object)  # type: ignore[arg-type]
    for i, value in enumerate(labels):  # type: ignore[arg-type]
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out[i] = ""
        elif isinstance(value, bool | np.bool_):
            out[i] = DEFAULT_KIND if value else ""
        elif isinstance(value, int | float | np.integer | np.floating):
            out[i] = DEFAULT_KIND if value != 0 else ""
        else:
            text = str(value).strip()
            out[i] = "" if text.lower() in NORMAL_LABELS else text
    return out


def runs(mask: npt.ArrayLike) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """First and last row of every run of consecutive true values."""
    flag = np.asarray(mask).astype(bool)
    edges = np.diff(np.concatenate([[0], flag.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1


def events_from_labels(
    timestamps: npt.ArrayLike, labels: Sequence[Any] | npt.ArrayLike
) -> list[Event]:
    """Contiguous runs of rows with the same fault kind, as events."""
    ts = np.asarray(timestamps, dtype="datetime64[ns]")
    kinds = label_kinds(labels)
    if len(ts) != len(kinds):
        raise ValidationFailed("labels", len(kinds), f"one per timestamp ({len(ts)})")
    if not len(kinds):
        return []
    starts = np.flatnonzero(np.concatenate([[True], kinds[1:] != kinds[:-1]]))
    ends = np.append(starts[1:] - 1, len(kinds) - 1)
    return [
        Event(ts[start], ts[end], str(kinds[start]))
        for start, end in zip(starts, ends, strict=True)
        if kinds[start]
    ]


def point_metrics(
    labels: npt.ArrayLike, flags: npt.ArrayLike, scores: npt.ArrayLike | None = None
) -> dict[str, float | None]:
    """Row-level precision, recall, F1 (0 when undefined) and PR-AUC (average precision)."""
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support

    truth = np.asarray(labels).astype(bool)
    pred = np.asarray(flags).astype(bool)
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, pred, average="binary", zero_division=0.0
    )
    pr_auc: float | None = None
    if scores is not None and truth.any() and not truth.all():
        pr_auc = float(average_precision_score(truth, np.asarray(scores, dtype=np.float64)))
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "pr_auc": pr_auc,
    }


def _ns(moment: np.datetime64) -> int:
    return int(np.array([moment], dtype="datetime64[ns]").astype(np.int64)[0])


def event_metrics(
    timestamps: npt.ArrayLike,
    flags: npt.ArrayLike,
    events: Sequence[Event],
    *,
    tolerance_s: float = 0.0,
) -> dict[str, Any]:
    """Event recall (overall and per kind), mean time to detect, false alarms per sensor-day.

    An event is detected if any flag falls in [start - tolerance, end + tolerance]; its time to
    detect runs from its start to that first flag (0 if the flag came early, within the
    tolerance). Flags outside every widened event are false alarms, a run of consecutive
    flagged rows counting once; they are divided by the span of ``timestamps`` in days.
    """
    ts, flagged = _timeline(timestamps, flags)
    return _event_summary(*_event_tally(ts, flagged, events, tolerance_s))


def event_metrics_by_sensor(
    sensor_ids: npt.ArrayLike,
    timestamps: npt.ArrayLike,
    flags: npt.ArrayLike,
    events: Mapping[str, Sequence[Event]],
    *,
    tolerance_s: float = 0.0,
) -> dict[str, Any]:
    """:func:`event_metrics` over several sensors' rows, pooled into one report.

    Each sensor's rows, taken in time order, are matched against its own ``events`` (so a
    false alarm is a run of flags on one sensor's timeline); false alarms and sensor-days add
    up, recall and time to detect are over every event of the sensors that have rows.
    """
    sensors = np.asarray(sensor_ids)
    ts, flagged = _timeline(timestamps, flags)
    if len(sensors) != len(ts):
        raise ValidationFailed("sensor_ids", len(sensors), f"one per timestamp ({len(ts)})")
    delays: list[tuple[str, float | None]] = []
    false_alarms, sensor_days = 0, 0.0
    for sensor in dict.fromkeys(sensors.tolist()):
        rows = np.flatnonzero(sensors == sensor)
        rows = rows[np.argsort(ts[rows], kind="stable")]
        found, alarms, days = _event_tally(
            ts[rows], flagged[rows], events.get(sensor, ()), tolerance_s
        )
        delays += found
        false_alarms += alarms
        sensor_days += days
    return _event_summary(delays, false_alarms, sensor_days)


def _timeline(
    timestamps: npt.ArrayLike, flags: npt.ArrayLike
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    ts = np.asarray(timestamps, dtype="datetime64[ns]").astype(np.int64)
    flagged = np.asarray(flags).astype(bool)
    if len(ts) != len(flagged):
        raise ValidationFailed("flags", len(flagged), f"one per timestamp ({len(ts)})")
    return ts, flagged


def _event_tally(
    ts: npt.NDArray[np.int64],
    flagged: npt.NDArray[np.bool_],
    events: Sequence[Event],
    tolerance_s: float,
) -> tuple[list[tuple[str, float | None]], int, float]:
    """Each event's (kind, time to detect or None), the false alarms and the span in days."""
    tol = round(tolerance_s * NS_PER_SECOND)
    covered = np.zeros(len(ts), dtype=bool)
    delays: list[tuple[str, float | None]] = []
    for event in events:
        lo, hi = _ns(event.start) - tol, _ns(event.end) + tol
        inside = (ts >= lo) & (ts <= hi)
        covered |= inside
        hits = np.flatnonzero(inside & flagged)
        first = int(ts[hits].min()) if len(hits) else None
        delays.append(
            (event.kind, None if first is None else max(0.0, (first - (lo + tol)) / NS_PER_SECOND))
        )
    false_alarms = len(runs(flagged & ~covered)[0])
    span_days = (int(ts.max()) - int(ts.min())) / NS_PER_DAY if len(ts) > 1 else 0.0
    return delays, false_alarms, span_days


def _event_summary(
    delays: Sequence[tuple[str, float | None]], false_alarms: int, sensor_days: float
) -> dict[str, Any]:
    """The :func:`event_metrics` report from each event's (kind, time to detect or None)."""
    by_kind: dict[str, list[float | None]] = {}
    for kind, delay in delays:
        by_kind.setdefault(kind, []).append(delay)
    per_kind: dict[str, dict[str, Any]] = {}
    for kind, kind_delays in sorted(by_kind.items()):
        found = [d for d in kind_delays if d is not None]
        per_kind[kind] = {
            "events": len(kind_delays),
            "detected": len(found),
            "recall": len(found) / len(kind_delays),
            "mean_time_to_detect_s": float(np.mean(found)) if found else None,
        }
    found = [d for _, d in delays if d is not None]
    return {
        "events": len(delays),
        "detected": len(found),
        "event_recall": len(found) / len(delays) if delays else None,
        "mean_time_to_detect_s": float(np.mean(found)) if found else None,
        "false_alarms": false_alarms,
        "sensor_days": sensor_days,
        "false_alarms_per_sensor_day": false_alarms / sensor_days if sensor_days > 0 else None,
        "per_kind": per_kind,
    }
