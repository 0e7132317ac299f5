"""Event metrics: label runs become events, one sensor's or several sensors' flags are matched."""

from __future__ import annotations

import numpy as np
import pytest

from sensorguard.evaluation import Event, event_metrics, event_metrics_by_sensor, events_from_labels

T0 = np.datetime64("2024-01-01T00:00", "ns")


def minutes(n: int) -> np.ndarray:
    return T0 + np.arange(n) * np.timedelta64(1, "m")


def test_label_runs_become_events_split_by_kind() -> None:
    ts = minutes(8)
    labels = ["", "spike", "spike", "drift", 0, 1, 1, "normal"]
    events = events_from_labels(ts, labels)
    assert [(e.start, e.end, e.kind) for e in events] == [
        (ts[1], ts[2], "spike"),
        (ts[3], ts[3], "drift"),
        (ts[5], ts[6], "anomaly"),
    ]


def test_one_sensor_detection_delay_and_false_alarms() -> None:
    ts = minutes(10)
    flags = np.zeros(10, dtype=bool)
    flags[[4, 7, 8]] = True  # 4: inside the event, one minute late; 7-8: one false alarm
    result = event_metrics(ts, flags, [Event(ts[3], ts[5], "spike")])
    assert (result["events"], result["detected"], result["false_alarms"]) == (1, 1, 1)
    assert result["mean_time_to_detect_s"] == 60.0
    assert result["sensor_days"] == pytest.approx(9 / 1440)


def test_several_sensors_pool_their_own_timelines() -> None:
    ts = minutes(10)
    a_flags = np.zeros(10, dtype=bool)
    a_flags[[4, 8]] = True
    b_flags = np.zeros(10, dtype=bool)
    b_flags[[0, 1]] = True
    events = {"a": [Event(ts[3], ts[4], "spike")], "b": [Event(ts[5], ts[6], "drift")]}
    # Interleaved and shuffled: each sensor's rows are put back in time order on their own.
    order = np.random.default_rng(3).permutation(20)
    sensors = np.array(["a", "b"] * 10)[order]
    times = np.repeat(ts, 2)[order]
    flags = np.column_stack([a_flags, b_flags]).ravel()[order]
    pooled = event_metrics_by_sensor(sensors, times, flags, events)
    a = event_metrics(ts, a_flags, events["a"])
    b = event_metrics(ts, b_flags, events["b"])
    assert pooled["per_kind"] == {**a["per_kind"], **b["per_kind"]}
    assert (pooled["events"], pooled["detected"], pooled["event_recall"]) == (2, 1, 0.5)
    assert pooled["false_alarms"] == a["false_alarms"] + b["false_alarms"] == 2
    assert pooled["sensor_days"] == pytest.approx(a["sensor_days"] + b["sensor_days"])
    assert pooled["mean_time_to_detect_s"] == 60.0
