"""Verdicts on alerts: stored as labels over the alert's window, audited, listed, refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime

import pytest
from alerting_helpers import T0, minute

from sensorguard.alerting import actions
from sensorguard.alerting.delivery import LogDelivery
from sensorguard.alerting.store import AlertStore, check_verdict
from sensorguard.errors import ValidationFailed
from sensorguard.metadata import MetadataStore


@pytest.fixture
def clocked(metadata: MetadataStore) -> Iterator[tuple[AlertStore, list[datetime]]]:
    now = [minute(10)]
    store = AlertStore(metadata.path, clock=lambda: now[0])
    yield store, now
    store.close()


def test_an_acknowledgement_with_a_verdict_labels_the_window_so_far_and_audits_it(
    metadata: MetadataStore, clocked: tuple[AlertStore, list[datetime]]
) -> None:
    store, _ = clocked
    alert, _ = store.trigger("sensor-fault", "th-1", at=minute(2), kind="level_shift")
    acked = actions.acknowledge(store, LogDelivery(), alert.alert_id, "ann", "look", "false_alarm")
    assert acked.state == "acknowledged"
    [label] = store.labels.find()
    assert (label.alert_id, label.sensor_id, label.rule, label.kind) == (
        alert.alert_id,
        "th-1",
        "sensor-fault",
        "level_shift",
    )
    assert (label.start, label.end, label.verdict, label.actor) == (
        minute(2),
        minute(10),
        "false_alarm",
        "ann",
    )
    [entry] = metadata.audit_log(action="alert.verdict")
    assert entry.actor == "ann" and entry.subject == f"alert/{alert.alert_id}"
    assert entry.detail["verdict"] == "false_alarm" and entry.detail["label_id"] == label.label_id
    assert store.events(alert.alert_id)[-1]["detail"]["verdict"] == "false_alarm"


def test_a_resolution_with_a_verdict_covers_the_window_up_to_the_resolution(
    clocked: tuple[AlertStore, list[datetime]],
) -> None:
    store, now = clocked
    alert, _ = store.trigger("sensor-fault", "th-1", at=minute(2))
    now[0] = minute(30)
    actions.resolve(store, LogDelivery(), alert.alert_id, "bob", "fixed", "maintenance")
    [label] = store.labels.find(verdict="maintenance")
    assert (label.start, label.end) == (minute(2), minute(30))


def test_a_resolved_alert_can_be_judged_after_the_fact_and_the_latest_verdict_is_listed_last(
    clocked: tuple[AlertStore, list[datetime]],
) -> None:
    store, now = clocked
    alert, _ = store.trigger("sensor-fault", "th-2", at=minute(2))
    now[0] = minute(20)
    store.resolve(alert.alert_id, "engine", reason="cleared")
    now[0] = minute(300)
    actions.judge(store, alert.alert_id, "ann", "real_fault")
    actions.judge(store, alert.alert_id, "ann", "false_alarm")
    labels = store.labels.find(sensor_ids=["th-2"])
    assert [lab.verdict for lab in labels] == ["real_fault", "false_alarm"]
    assert {lab.end for lab in labels} == {minute(20)}  # the alert's window, not the verdict's
    assert store.get(alert.alert_id).state == "resolved"
    assert store.labels.find(sensor_ids=["th-1"]) == []
    assert store.labels.find(since=minute(301)) == []
    assert len(store.labels.find(start=minute(19), end=minute(21))) == 2
    assert store.labels.find(start=minute(21)) == []


def test_unknown_verdicts_and_refused_changes_store_no_label(
    clocked: tuple[AlertStore, list[datetime]],
) -> None:
    store, _ = clocked
    with pytest.raises(ValidationFailed, match="real_fault, false_alarm, maintenance"):
        check_verdict("broken")
    assert check_verdict("") is None and check_verdict("maintenance") == "maintenance"
    alert, _ = store.trigger("sensor-fault", "th-1", at=T0)
    store.resolve(alert.alert_id, "engine")
    with pytest.raises(ValidationFailed, match="state"):
        store.resolve(alert.alert_id, "ann", verdict="false_alarm")
    assert store.labels.find() == []
    # The table refuses what the type would: no code path stores another word.
    with pytest.raises(sqlite3.IntegrityError):
        conn = sqlite3.connect(store._db.path)
        conn.execute(
            "INSERT INTO alert_labels (alert_id, sensor_id, rule, window_start, window_end, "
            "verdict, actor, at) VALUES (?, 'th-1', 'r', 'a', 'b', 'oops', 'x', 'y')",
            (alert.alert_id,),
        )
