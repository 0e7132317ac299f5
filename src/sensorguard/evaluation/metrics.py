"""Detection metrics: point precision/recall/F1/PR-AUC, event recall per fault kind, time to
detect and false alarms per sensor-day."""

from __future__ import annotations

from collections.abc import Sequence
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


def events_from_labels(
    timestamps: npt.ArrayLike, labels: Sequence[Any] | npt.ArrayLike
) -> list[Event]:
    """Contiguous runs of rows with the same fault kind, as events."""
    ts = np.asarray(timestamps, dtype="datetime64[ns]")
    kinds = label_kinds(labels)
    if len(ts) != len(kinds):
        raise ValidationFailed("labels", len(kinds), f"one per timestamp ({len(ts)})")
    events: list[Event] = []
    start: int | None = None
    for i in range(len(kinds) + 1):
        kind = kinds[i] if i < len(kinds) else ""
        if start is not None and kind != kinds[start]:
            events.append(Event(ts[start], ts[i - 1], str(kinds[start])))
            start = None
        if start is None and kind:
            start = i
    return events


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


def _runs(mask: npt.NDArray[np.bool_]) -> int:
    """Number of contiguous runs of True."""
    if not len(mask):
        return 0
    return int(mask[0]) + int(np.count_nonzero(mask[1:] & ~mask[:-1]))


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
    ts = np.asarray(timestamps, dtype="datetime64[ns]").astype(np.int64)
    flagged = np.asarray(flags).astype(bool)
    if len(ts) != len(flagged):
        raise ValidationFailed("flags", len(flagged), f"one per timestamp ({len(ts)})")
    tol = round(tolerance_s * NS_PER_SECOND)
    covered = np.zeros(len(ts), dtype=bool)
    per_kind: dict[str, dict[str, Any]] = {}
    delays: list[float] = []
    for event in events:
        lo = int(np.array([event.start], dtype="datetime64[ns]").astype(np.int64)[0]) - tol
        hi = int(np.array([event.end], dtype="datetime64[ns]").astype(np.int64)[0]) + tol
        inside = (ts >= lo) & (ts <= hi)
        covered |= inside
        hits = np.flatnonzero(inside & flagged)
        stats = per_kind.setdefault(event.kind, {"events": 0, "detected": 0, "delays_s": []})
        stats["events"] += 1
        if len(hits):
            first = int(ts[hits].min())
            delay = max(0.0, (first - (lo + tol)) / NS_PER_SECOND)
            stats["detected"] += 1
            stats["delays_s"].append(delay)
            delays.append(delay)
    kinds: dict[str, dict[str, Any]] = {}
    for kind, stats in sorted(per_kind.items()):
        kinds[kind] = {
            "events": stats["events"],
            "detected": stats["detected"],
            "recall": stats["detected"] / stats["events"],
            "mean_time_to_detect_s": float(np.mean(stats["delays_s"]))
            if stats["delays_s"]
            else None,
        }
    false_alarms = _runs(flagged & ~covered)
    span_days = (int(ts.max()) - int(ts.min())) / NS_PER_DAY if len(ts) > 1 else 0.0
    n_events = len(events)
    return {
        "events": n_events,
        "detected": len(delays),
        "event_recall": len(delays) / n_events if n_events else None,
        "mean_time_to_detect_s": float(np.mean(delays)) if delays else None,
        "false_alarms": false_alarms,
        "sensor_days": span_days,
        "false_alarms_per_sensor_day": false_alarms / span_days if span_days > 0 else None,
        "per_kind": kinds,
    }
