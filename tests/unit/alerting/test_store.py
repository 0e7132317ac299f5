"""The lifecycle in the database: one active alert per (rule, sensor), however triggers race."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from sensorguard.alerting.store import AlertStore
from sensorguard.errors import ValidationFailed
from sensorguard.metadata import MetadataStore


def _trigger_many(path: str, worker: int, barrier: object, n: int) -> list[bool]:
    store = AlertStore(Path(path))
    barrier.wait()  # type: ignore[attr-defined]
    opened = [store.trigger("hot", "th-1", score=float(worker * n + i))[1] for i in range(n)]
    store.close()
    return opened


def test_concurrent_triggers_from_threads_give_one_open_alert(alerts: AlertStore) -> None:
    barrier = threading.Barrier(8)
    opened: list[bool] = []

    def worker() -> None:
        barrier.wait()
        for _ in range(20):
            opened.append(alerts.trigger("hot", "th-1", score=1.0)[1])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert opened.count(True) == 1 and len(opened) == 160
    assert len(alerts.active()) == 1


def test_concurrent_triggers_from_processes_give_one_open_alert(metadata: MetadataStore) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(4)
        with ctx.Pool(4) as pool:
            results = pool.starmap(
                _trigger_many, [(str(metadata.path), w, barrier, 25) for w in range(4)]
            )
    opened = [o for worker in results for o in worker]
    assert opened.count(True) == 1
    store = AlertStore(metadata.path)
    (alert,) = store.active()
    assert alert.score == 99.0  # the highest of every trigger
    store.close()


def test_lifecycle_open_acknowledged_resolved_with_history(alerts: AlertStore) -> None:
    alert, _ = alerts.trigger("hot", "th-1", site="plant-1", score=5.0, summary="too hot")
    acked = alerts.acknowledge(alert.alert_id, "ops", silence_id="s-1")
    assert acked.state == "acknowledged" and acked.acknowledged_by == "ops"
    with pytest.raises(ValidationFailed, match="state"):
        alerts.acknowledge(alert.alert_id, "ops")
    done = alerts.resolve(alert.alert_id, "ops", reason="fixed the fan")
    assert done.state == "resolved" and done.resolved_at is not None
    # A new trigger after resolution is a new alert.
    again, opened = alerts.trigger("hot", "th-1", site="plant-1")
    assert opened and again.alert_id != alert.alert_id
    assert [a.alert_id for a in alerts.history(site="plant-1")] == [again.alert_id, alert.alert_id]
    assert [e["event"] for e in alerts.events(alert.alert_id)] == [
        "opened",
        "acknowledged",
        "resolved",
    ]


def test_alert_state_survives_a_restart(metadata: MetadataStore) -> None:
    first = AlertStore(metadata.path)
    alert, _ = first.trigger("hot", "th-1")
    first.close()
    second = AlertStore(metadata.path)
    assert [a.alert_id for a in second.active()] == [alert.alert_id]
    assert second.trigger("hot", "th-1")[1] is False
    second.close()


def test_the_database_itself_refuses_a_second_active_alert(alerts: AlertStore) -> None:
    import sqlite3

    alerts.trigger("hot", "th-1")
    with pytest.raises(sqlite3.IntegrityError), alerts._db.write() as conn:
        conn.execute(
            "INSERT INTO alerts (rule, sensor_id, severity, state, started_at, updated_at) "
            "VALUES ('hot', 'th-1', 'warning', 'open', 'x', 'x')"
        )
