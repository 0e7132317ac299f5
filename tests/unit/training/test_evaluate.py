"""Group evaluation: pooled point metrics, per-sensor events summed, false alarms per sensor-day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from sensorguard.training.evaluate import evaluate_verdicts, flat_metrics, metric_value
from sensorguard.training.labels import LabelWindow

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = 1440


def evaluate_scores(
    keys: pd.DataFrame,
    scores: np.ndarray,
    threshold: float,
    labels: list[LabelWindow],
    kinds: np.ndarray | None = None,
    **kwargs: float,
) -> dict[str, object]:
    """Flags from a plain threshold: these tests are about the matching, not the episodes."""
    return evaluate_verdicts(keys, scores, scores > threshold, kinds, labels, **kwargs)  # type: ignore[arg-type]


def keys_for(*sensors: str, n: int = DAY + 1) -> pd.DataFrame:
    ts = pd.date_range(T0, periods=n, freq="1min", tz="UTC")
    return pd.concat([pd.DataFrame({"sensor_id": s, "ts": ts}) for s in sensors], ignore_index=True)


def window(sensor: str, kind: str, start: int, end: int) -> LabelWindow:
    return LabelWindow(
        sensor_id=sensor,
        channel="temperature",
        kind=kind,
        start=T0 + timedelta(minutes=start),
        end=T0 + timedelta(minutes=end),
    )


def test_perfect_scores_on_two_sensors() -> None:
    keys = keys_for("a", "b")
    labels = [window("a", "spike", 100, 103), window("b", "drift", 200, 260)]
    scores = np.zeros(len(keys))
    scores[100:103] = 5.0
    scores[DAY + 1 + 200 : DAY + 1 + 260] = 5.0
    report = evaluate_scores(keys, scores, 1.0, labels)
    assert report["precision"] == report["recall"] == report["f1"] == 1.0
    assert report["pr_auc"] == pytest.approx(1.0)
    assert report["event_recall"] == 1.0
    assert report["per_kind"]["spike"]["recall"] == report["per_kind"]["drift"]["recall"] == 1.0
    assert report["mean_time_to_detect_s"] == 0.0
    assert report["false_alarms"] == 0
    assert report["sensor_days"] == pytest.approx(2.0)


def test_late_detection_misses_and_false_alarms_are_counted_per_sensor() -> None:
    keys = keys_for("a", "b")
    labels = [
        window("a", "spike", 100, 103),
        window("a", "drift", 500, 600),
        window("b", "drift", 200, 260),
    ]
    scores = np.zeros(len(keys))
    scores[101] = 5.0  # spike on a found one minute late
    scores[700:705] = 5.0  # one false alarm run on a
    scores[DAY + 1 + 50] = 5.0  # and one on b; b's drift is missed
    report = evaluate_scores(keys, scores, 1.0, labels)
    assert report["events"] == 3
    assert report["detected"] == 1
    assert report["per_kind"]["spike"] == {
        "events": 1,
        "detected": 1,
        "recall": 1.0,
        "mean_time_to_detect_s": 60.0,
    }
    assert report["per_kind"]["drift"]["recall"] == 0.0
    assert report["false_alarms"] == 2
    assert report["false_alarms_per_sensor_day"] == pytest.approx(1.0)
    flat = flat_metrics(report)
    assert flat["recall_drift"] == 0.0 and flat["events_drift"] == 2.0
    assert "per_kind" not in flat


def test_grace_turns_echo_flags_into_part_of_the_event() -> None:
    keys = keys_for("a")
    labels = [window("a", "level_shift", 100, 160)]
    scores = np.zeros(len(keys))
    scores[170] = 5.0  # ten minutes after the shift ended
    assert evaluate_scores(keys, scores, 1.0, labels)["false_alarms"] == 1
    graced = evaluate_scores(keys, scores, 1.0, labels, grace_s=900)
    assert graced["false_alarms"] == 0 and graced["event_recall"] == 1.0


def test_undefined_metrics_count_as_zero_for_ranking() -> None:
    report = evaluate_scores(keys_for("a", n=100), np.zeros(100), 1.0, [])
    assert report["event_recall"] is None and report["pr_auc"] is None
    assert metric_value(report, "event_recall") == 0.0


def test_kind_accuracy_counts_detected_events_named_right() -> None:
    keys = keys_for("a")
    labels = [window("a", "spike", 100, 103), window("a", "drift", 500, 600)]
    scores = np.zeros(len(keys))
    scores[100:103] = 5.0
    scores[550:600] = 5.0
    kinds = np.full(len(keys), "", dtype=object)
    kinds[100:103] = "spike"
    kinds[550:600] = "level_shift"  # detected, but named wrong
    report = evaluate_scores(keys, scores, 1.0, labels, kinds)
    assert report["event_recall"] == 1.0
    assert report["kind_accuracy"] == 0.5
    assert evaluate_scores(keys, scores, 1.0, labels)["kind_accuracy"] is None
