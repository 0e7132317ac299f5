"""Label windows: CSV round trip, errors naming line and field, row labels, observable events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sensorguard.errors import ConfigError
from sensorguard.simulate import Simulation
from sensorguard.training.labels import (
    LabelWindow,
    read_labels_csv,
    row_labels,
    sensor_events,
    write_labels_csv,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def stamps(*offsets: int) -> np.ndarray:
    return np.array([pd.Timestamp(minutes(m)).value for m in offsets], dtype=np.int64)


def test_csv_round_trip_of_simulator_labels(
    tmp_path: Path, fleet_labels: list[LabelWindow]
) -> None:
    path = write_labels_csv(fleet_labels, tmp_path / "labels.csv")
    assert read_labels_csv(path) == fleet_labels
    assert path.read_text().splitlines()[0] == "sensor_id,channel,kind,start,end"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("sensor_id,kind,start,end\n", "missing column 'channel'"),
        (
            "sensor_id,channel,kind,start,end\n"
            "th-1,temperature,spike,2026-03-01T00:00:00+00:00,2026-03-01T00:05:00+00:00\n"
            "th-1,temperature,spike,yesterday,2026-03-01T00:05:00+00:00\n",
            "labels.csv:3: start: ",
        ),
        (
            "sensor_id,channel,kind,start,end\n"
            "th-1,,dropout,2026-03-01T01:00:00+00:00,2026-03-01T00:00:00+00:00\n",
            "labels.csv:2: row: end must be after start",
        ),
    ],
)
def test_bad_label_files_name_line_and_field(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        read_labels_csv(path)
    assert expected in str(err.value)


def test_row_labels_mark_fault_rows_and_the_reading_after_a_gap() -> None:
    ts = stamps(0, 1, 2, 3, 4, 9, 10)  # readings 5..8 are missing
    labels = [
        LabelWindow(
            sensor_id="a", channel="temperature", kind="spike", start=minutes(1), end=minutes(3)
        ),
        LabelWindow(sensor_id="a", kind="dropout", start=minutes(5), end=minutes(9)),
        LabelWindow(
            sensor_id="b", channel="humidity", kind="stuck", start=minutes(0), end=minutes(10)
        ),
    ]
    label, kind = row_labels("a", ts, labels)
    assert label.tolist() == [0, 1, 1, 0, 0, 1, 0]
    assert kind.tolist() == ["", "spike", "spike", "", "", "dropout", ""]


def test_events_end_at_the_last_labelled_row_plus_grace_and_skip_unseen_faults() -> None:
    ts = stamps(0, 1, 2, 3, 9, 10)
    labels = [
        LabelWindow(
            sensor_id="a", channel="temperature", kind="spike", start=minutes(1), end=minutes(3)
        ),
        LabelWindow(sensor_id="a", kind="dropout", start=minutes(4), end=minutes(9)),
        # Refused at ingest (out of range): no row shows it, no model can flag it.
        LabelWindow(
            sensor_id="a", channel="humidity", kind="out_of_range", start=minutes(5), end=minutes(7)
        ),
        # Outside this span entirely: not counted at all.
        LabelWindow(
            sensor_id="a", channel="humidity", kind="spike", start=minutes(50), end=minutes(51)
        ),
    ]
    events, unobservable = sensor_events("a", ts, labels, grace_s=60)
    assert unobservable == 1
    assert [(e.kind, e.start, e.end) for e in events] == [
        (
            "spike",
            np.datetime64(minutes(1).replace(tzinfo=None), "ns"),
            np.datetime64(minutes(3).replace(tzinfo=None), "ns"),
        ),
        (
            "dropout",
            np.datetime64(minutes(4).replace(tzinfo=None), "ns"),
            np.datetime64(minutes(10).replace(tzinfo=None), "ns"),
        ),
    ]


def test_simulator_labels_cover_the_simulators_point_labels(
    fleet: Simulation, fleet_labels: list[LabelWindow]
) -> None:
    frame = fleet.readings.sort_values(["sensor_id", "ts"])
    expected = fleet.point_labels().loc[frame.index]
    for sensor_id, rows in frame.groupby("sensor_id"):
        ts = rows["ts"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        label, kind = row_labels(str(sensor_id), ts, fleet_labels)
        theirs = expected.loc[rows.index]
        # Ours adds the first reading after each dropout; everything else agrees.
        agree = kind != "dropout"
        assert (label[agree] == theirs["label"].to_numpy()[agree]).all()
