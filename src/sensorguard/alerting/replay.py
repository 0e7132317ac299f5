"""Dry run: what a rule would have raised over stored scores and readings, before it is enabled.

The rule runs in the real engine, in event time, against a scratch alert store (nothing real
is opened or notified), with the real sensor registry for its selector.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sensorguard.alerting.engine import AlertEngine
from sensorguard.alerting.records import Alert
from sensorguard.alerting.rules import AlertRule, AnomalyCondition, DeadmanCondition
from sensorguard.alerting.store import AlertStore

if TYPE_CHECKING:
    from sensorguard.metadata import MetadataStore
    from sensorguard.schemas import Reading, Sensor
    from sensorguard.store import TimeSeriesStore


@dataclass
class DryRun:
    rule: str
    start: datetime
    end: datetime
    sensors: int
    readings: int = 0
    scores: int = 0
    alerts: list[Alert] = field(default_factory=list)

    @property
    def by_sensor(self) -> Counter[str]:
        return Counter(a.sensor_id for a in self.alerts)


def dry_run(
    rule: AlertRule,
    metadata: MetadataStore,
    store: TimeSeriesStore,
    start: datetime,
    end: datetime,
) -> DryRun:
    sensors = [s for s in metadata.list_sensors() if rule.selector.matches(s)]
    ids = [s.sensor_id for s in sensors]
    result = DryRun(rule.name, start, end, len(sensors))
    with tempfile.TemporaryDirectory(prefix="sg-dry-run-") as scratch:
        alerts = AlertStore(Path(scratch) / "alerts.db")
        try:
            engine = AlertEngine(
                [rule.model_copy(update={"enabled": True})], alerts, metadata, clock=lambda: end
            )
            if not ids:
                return result
            if isinstance(rule.condition, AnomalyCondition):
                scores = store.read_scores(ids, start, end)
                result.scores = len(scores)
                engine.on_scores(scores)
            else:
                readings = store.read_readings(ids, start, end)
                result.readings = len(readings)
                if isinstance(rule.condition, DeadmanCondition):
                    _replay_with_ticks(
                        engine, readings, sensors, start, end, rule.condition.silent_minutes
                    )
                else:
                    engine.on_readings(readings)
            result.alerts = sorted(alerts.history(limit=100_000), key=lambda a: a.started_at)
        finally:
            alerts.close()
    return result


def _replay_with_ticks(
    engine: AlertEngine,
    readings: Sequence[Reading],
    sensors: Sequence[Sensor],
    start: datetime,
    end: datetime,
    silent_minutes: float,
) -> None:
    """Readings in time order with the deadman timer ticking in between, as it would live."""
    ordered = sorted(readings, key=lambda r: r.ts)
    step = timedelta(minutes=max(1.0, min(5.0, silent_minutes / 2)))
    at, i = start, 0
    engine.tick(start, sensors)
    while at < end:
        at = min(at + step, end)
        batch = []
        while i < len(ordered) and ordered[i].ts < at:
            batch.append(ordered[i])
            i += 1
        engine.on_readings(batch)
        engine.tick(at)
