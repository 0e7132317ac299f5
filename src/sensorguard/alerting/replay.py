"""Dry run: what a rule would have raised over stored scores and readings, before it is enabled.

The rule runs in the real engine, in event time, against a scratch alert store (nothing real
is opened or notified), with the real sensor registry for its selector. Only what the store
keeps can be replayed: readings and scores. Dead letters are not stored (they live on the
`sensor-data-dlq` topic only) and consumer lag is a property of the stream at one moment, so
data-quality and consumer-lag rules are not replayed; the result says so in ``note`` rather
than pretending they would have been quiet.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from sensorguard.alerting.engine import AlertEngine
from sensorguard.alerting.records import Alert
from sensorguard.alerting.rules import (
    AlertRule,
    AnomalyCondition,
    ConsumerLagCondition,
    DataQualityCondition,
    DeadmanCondition,
    ModelQualityCondition,
)
from sensorguard.alerting.store import AlertStore

if TYPE_CHECKING:
    from sensorguard.metadata import MetadataStore
    from sensorguard.store import TimeSeriesStore

NOT_REPLAYABLE = {
    "data_quality": "dead letters are not stored (only on the sensor-data-dlq topic), so a "
    "data_quality rule cannot be replayed; nothing was evaluated",
    "consumer_lag": "consumer lag is not stored (it is read from the stream on the engine's "
    "timer), so a consumer_lag rule cannot be replayed; nothing was evaluated",
}


@dataclass
class DryRun:
    rule: str
    start: datetime
    end: datetime
    sensors: int
    readings: int = 0
    scores: int = 0
    alerts: list[Alert] = field(default_factory=list)
    note: str = ""  # why the replay says less than it seems to (or nothing at all)

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
    cond = rule.condition
    if isinstance(cond, DataQualityCondition | ConsumerLagCondition):
        return DryRun(rule.name, start, end, len(sensors), note=NOT_REPLAYABLE[cond.type])
    result = DryRun(rule.name, start, end, len(sensors))
    if (
        isinstance(cond, ModelQualityCondition)
        and cond.expected_false_alarms_per_sensor_day is None
    ):
        result.note = (
            f"no expected false-alarm rate for group {cond.group} (give "
            "expected_false_alarms_per_sensor_day, or promote a champion with the "
            "metric.false_alarms_per_sensor_day tag); nothing was evaluated"
        )
        return result
    with tempfile.TemporaryDirectory(prefix="sg-dry-run-") as scratch:
        alerts = AlertStore(Path(scratch) / "alerts.db")
        try:
            engine = AlertEngine(
                [rule.model_copy(update={"enabled": True})], alerts, metadata, clock=lambda: end
            )
            if not ids:
                return result
            if isinstance(cond, AnomalyCondition | ModelQualityCondition):
                scores = store.read_scores(ids, start, end)
                result.scores = len(scores)
                if isinstance(cond, ModelQualityCondition):
                    # A group rule is judged per batch: feed the history in time-ordered steps,
                    # as the live stream would arrive, not as one batch judged at its end.
                    step = timedelta(seconds=min(max(cond.window_s / 20, 60.0), 900.0))
                    _replay_in_steps(scores, start, end, step, engine.on_scores)
                else:
                    engine.on_scores(scores)
            else:
                readings = store.read_readings(ids, start, end)
                result.readings = len(readings)
                if isinstance(cond, DeadmanCondition):
                    step = timedelta(minutes=max(1.0, min(5.0, cond.silent_minutes / 2)))
                    engine.tick(start, sensors)
                    _replay_in_steps(
                        readings, start, end, step, engine.on_readings, tick=engine.tick
                    )
                else:
                    engine.on_readings(readings)
            result.alerts = sorted(alerts.history(limit=100_000), key=lambda a: a.started_at)
        finally:
            alerts.close()
    return result


class _Timed(Protocol):
    @property
    def ts(self) -> datetime: ...


T = TypeVar("T", bound=_Timed)


def _replay_in_steps(
    items: Sequence[T],
    start: datetime,
    end: datetime,
    step: timedelta,
    feed: Callable[[list[T]], object],
    *,
    tick: Callable[[datetime], object] | None = None,
) -> None:
    """Items in time order, one step of event time at a time from ``start`` to ``end``, with
    the engine's timer ticking after each step (``tick``) as it would live."""
    ordered = sorted(items, key=lambda item: item.ts)
    at, i = start, 0
    while at < end:
        at = min(at + step, end)
        batch = []
        while i < len(ordered) and ordered[i].ts < at:
            batch.append(ordered[i])
            i += 1
        feed(batch)
        if tick is not None:
            tick(at)
