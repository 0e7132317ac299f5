"""Verdict labels merged with fault labels: each verdict's effect on training and evaluation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from sensorguard.alerting.records import Verdict, VerdictLabel
from sensorguard.training.evaluate import evaluate_verdicts
from sensorguard.training.labels import LabelSet, LabelWindow, in_windows

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def verdict(
    alert_id: int, what: Verdict, start: float, end: float, *, kind: str = "", given: float = 0
) -> VerdictLabel:
    return VerdictLabel(
        label_id=alert_id * 10 + int(given),
        alert_id=alert_id,
        sensor_id="th-1",
        rule="sensor-fault",
        kind=kind,
        start=at(start),
        end=at(end),
        verdict=what,
        actor="ann",
        at=at(1000 + given),
    )


FAULT = LabelWindow(sensor_id="th-1", kind="spike", start=at(100), end=at(110))


def test_each_verdict_lands_where_training_reads_it() -> None:
    merged = LabelSet.merged(
        [FAULT],
        [
            verdict(1, "real_fault", 10, 20, kind="stuck"),
            verdict(2, "false_alarm", 30, 40),
            verdict(3, "maintenance", 50, 60),
            verdict(4, "real_fault", 200, 210, kind="dropout"),
        ],
    )
    assert [(w.kind, w.start) for w in merged.faults] == [
        ("spike", at(100)),
        ("stuck", at(10)),
        ("flagged", at(200)),  # a dropout verdict's window is the alert's, not a gap
    ]
    assert [w.start for w in merged.normal] == [at(30)]
    assert [w.start for w in merged.excluded] == [at(50)]
    assert merged.in_span(at(25), at(55)) == LabelSet((), merged.normal, merged.excluded)


def test_a_labelled_fault_stands_against_overlapping_verdicts_and_the_latest_verdict_wins() -> None:
    merged = LabelSet.merged(
        [FAULT],
        [
            verdict(1, "real_fault", 105, 115),  # the same fault: no second event
            verdict(2, "false_alarm", 95, 105),  # cannot make a known fault normal
            verdict(3, "real_fault", 30, 40, given=0),
            verdict(3, "maintenance", 30, 50, given=1),  # the operator's last word
        ],
    )
    assert merged.faults == (FAULT,)
    assert merged.normal == ()
    assert [(w.start, w.end) for w in merged.excluded] == [(at(30), at(50))]
    assert LabelSet.of([FAULT]) == LabelSet(faults=(FAULT,)) and not LabelSet.of(None)


def test_evaluation_drops_maintenance_rows_and_counts_flagged_false_alarm_windows() -> None:
    ts = pd.date_range(T0, periods=240, freq="1min")
    keys = pd.DataFrame({"sensor_id": "th-1", "ts": ts})
    flags = np.zeros(len(ts), dtype=bool)
    flags[100:110] = True  # the fault, found
    flags[30:35] = True  # inside the false-alarm window
    flags[52:58] = True  # inside maintenance: not a false alarm
    scores = flags.astype(float) * 5
    labels = LabelSet.merged(
        [FAULT], [verdict(2, "false_alarm", 30, 40), verdict(3, "maintenance", 50, 60)]
    )
    report = evaluate_verdicts(keys, scores, flags, None, labels)
    plain = evaluate_verdicts(keys, scores, flags, None, [FAULT])
    assert report["rows"] == 230 and plain["rows"] == 240
    assert (report["confirmed_false_alarms"], report["confirmed_false_alarms_flagged"]) == (1, 1)
    assert report["false_alarms"] == 1 and plain["false_alarms"] == 2
    assert report["event_recall"] == 1.0
    assert in_windows(keys, labels.excluded).sum() == 10
