"""The engine as a process: the streams in, the timer ticking, offsets after alerts."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from sensorguard import metrics
from sensorguard.alerting.engine import AlertChange, AlertEngine
from sensorguard.alerting.rules import AlertRule, ModelQualityCondition
from sensorguard.stream import (
    ANOMALY_SCORES,
    SENSOR_DATA,
    SENSOR_DATA_DLQ,
    Record,
    Stream,
    poll_batches,
)
from sensorguard.stream.codec import DeadLetter, decode_dead_letter, decode_reading, decode_score

if TYPE_CHECKING:
    from sensorguard.metadata import MetadataStore
    from sensorguard.monitoring import SystemMetricsPublisher
    from sensorguard.settings import Settings

log = logging.getLogger(__name__)

ENGINE_GROUP = "alerting"
ENGINE_TOPICS = (ANOMALY_SCORES, SENSOR_DATA, SENSOR_DATA_DLQ)
# What training records for every registered version (evaluation.metrics.event_metrics).
FALSE_ALARM_METRIC = "false_alarms_per_sensor_day"


@dataclass
class EngineStats:
    scores: int = 0
    readings: int = 0
    dead_letters: int = 0
    unattributed: int = 0  # dead letters naming no sensor: data-quality rules cannot use them
    opened: int = 0
    resolved: int = 0
    undecodable: int = 0

    def count(self, changes: list[AlertChange]) -> None:
        self.opened += sum(c.change == "opened" for c in changes)
        self.resolved += sum(c.change == "resolved" for c in changes)
        for c in changes:
            metrics.ALERTS.labels(c.alert.rule, c.alert.severity, c.change).inc()


def run_engine(
    engine: AlertEngine,
    stream: Stream,
    metadata: MetadataStore,
    *,
    group: str = ENGINE_GROUP,
    tick_s: float = 30.0,
    until_idle_s: float | None = None,
    stop: threading.Event | None = None,
    batch_size: int = 2000,
    publisher: SystemMetricsPublisher | None = None,
) -> EngineStats:
    """Evaluate rules on the scores, readings and dead letters until stopped; offsets are
    committed after the alerts of a batch are stored (a crash re-evaluates the batch:
    triggers find the same alert). Consumer-lag rules read this stream's lag on the timer."""
    stop = stop or threading.Event()
    stats = EngineStats()
    consumer = stream.consumer(list(ENGINE_TOPICS), group)
    last_tick = -math.inf

    def tick_when_due() -> None:
        nonlocal last_tick
        if time.monotonic() - last_tick >= tick_s:
            stats.count(engine.tick(sensors=metadata.list_sensors(), lags=stream))
            last_tick = time.monotonic()

    try:
        tick_when_due()
        for records in poll_batches(
            consumer, stop=stop, batch_size=batch_size, until_idle_s=until_idle_s
        ):
            tick_when_due()
            if publisher is not None:
                publisher.tick(asdict(stats))
            if not records:
                continue
            scores, readings, letters = [], [], []
            for rec in records:
                try:
                    if rec.topic == ANOMALY_SCORES:
                        scores.append(decode_score(rec.value))
                    elif rec.topic == SENSOR_DATA_DLQ:
                        letters.append(attributed(decode_dead_letter(rec.value), rec))
                    else:
                        readings.append(decode_reading(rec.value))
                except ValidationError:
                    stats.undecodable += 1
            stats.scores += len(scores)
            stats.readings += len(readings)
            stats.dead_letters += len(letters)
            stats.unattributed += sum(letter.sensor_id is None for letter in letters)
            stats.count(engine.on_readings(readings))
            stats.count(engine.on_dead_letters(letters))
            stats.count(engine.on_scores(scores))
            consumer.commit(records)
    finally:
        consumer.close()
    return stats


def attributed(letter: DeadLetter, rec: Record) -> DeadLetter:
    """The letter with the sensor it is about, when only its record's key names it.

    The ingest path keys a dead letter by the sensor id validation found (None when the
    payload did not parse); the store writer's letters (a `sensor-data` record that did not
    decode) carry no sensor_id but keep that record's key, which the data path sets to it.
    """
    if letter.sensor_id is not None or rec.key is None:
        return letter
    return letter.model_copy(update={"sensor_id": rec.key})


def with_expected_rates(rules: Sequence[AlertRule], settings: Settings) -> list[AlertRule]:
    """Model-quality rules that give no expected false-alarm rate get their champion's, read
    from the registry now (MLflow is asked only when such a rule exists).

    A rule whose champion has no usable rate (no champion, no such tag, a rate of 0 or MLflow
    unreachable) is kept as it is and logged: the engine leaves it unevaluated, and the other
    rules run, since a registry outage must not silence every deadman alert.
    """
    from sensorguard.champion import champion_metric

    wanted = [
        (r, r.condition)
        for r in rules
        if isinstance(r.condition, ModelQualityCondition)
        and r.condition.expected_false_alarms_per_sensor_day is None
    ]
    if not wanted:
        return list(rules)
    from mlflow.exceptions import MlflowException

    from sensorguard.training.tracking import mlflow_client

    client = mlflow_client(settings)
    resolved: dict[str, AlertRule] = {}
    for rule, cond in wanted:
        try:
            found = champion_metric(client, cond.group, FALSE_ALARM_METRIC)
        except (MlflowException, OSError) as err:
            log.error(
                "rule %s: cannot read the champion of group %s: %s", rule.name, cond.group, err
            )
            continue
        if found is None or found[1] <= 0:
            log.error(
                "rule %s: the champion of group %s has no positive metric.%s tag (got %s); "
                "give expected_false_alarms_per_sensor_day in the rule",
                rule.name,
                cond.group,
                FALSE_ALARM_METRIC,
                found,
            )
            continue
        version, rate = found
        log.info(
            "rule %s: group %s champion v%s was validated at %.3g false alarms per sensor-day",
            rule.name,
            cond.group,
            version,
            rate,
        )
        update = {"expected_false_alarms_per_sensor_day": rate}
        resolved[rule.name] = rule.model_copy(update={"condition": cond.model_copy(update=update)})
    return [resolved.get(r.name, r) for r in rules]
