"""Helpers of the alerting tests: a few sensors, an engine on given rules, readings, scores."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sensorguard.alerting.engine import AlertEngine
from sensorguard.alerting.records import Alert
from sensorguard.alerting.rules import parse_rule
from sensorguard.alerting.store import AlertStore
from sensorguard.metadata import MetadataStore
from sensorguard.schemas import Reading, Score, Sensor

SENSORS = (
    Sensor(sensor_id="th-1", sensor_type="climate", site="plant-1", tags={"floor": "2"}),
    Sensor(sensor_id="th-2", sensor_type="climate", site="plant-2"),
    Sensor(sensor_id="snd-1", sensor_type="acoustic", site="plant-1"),
)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def minute(i: float) -> datetime:
    return T0 + timedelta(minutes=i)


def engine(
    metadata: MetadataStore,
    alerts: AlertStore,
    *rules: dict[str, object],
    sent: list[Alert] | None = None,
) -> AlertEngine:
    from sensorguard.alerting.delivery import LogDelivery

    class Recorded(LogDelivery):
        """The log delivery, also keeping what it was given."""

        def notify(self, batch: Sequence[Alert]) -> None:
            assert sent is not None
            sent.extend(batch)
            super().notify(batch)

    parsed = [parse_rule(r, source="test") for r in rules]
    delivery = Recorded() if sent is not None else None
    return AlertEngine(parsed, alerts, metadata, delivery=delivery, clock=lambda: minute(0))


def reading(sensor: str, i: float, **channels: float) -> Reading:
    return Reading(sensor_id=sensor, ts=minute(i), channels=channels)


def score(
    sensor: str, i: float, flag: bool, kind: str = "", value: float = 1.0, model: str = "m"
) -> Score:
    return Score(
        sensor_id=sensor,
        ts=minute(i),
        score=value,
        flag=flag,
        threshold=3.0,
        model=model,
        model_version="1",
        kind=kind if flag else "",
        contributions={"temperature": 1.0} if flag else {},
    )
