"""The engine as a process: the streams in, the deadman timer ticking, offsets after alerts."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from sensorguard.alerting.engine import AlertChange, AlertEngine
from sensorguard.stream import ANOMALY_SCORES, SENSOR_DATA, Stream, poll_batches
from sensorguard.stream.codec import decode_reading, decode_score

if TYPE_CHECKING:
    from sensorguard.metadata import MetadataStore

log = logging.getLogger(__name__)

ENGINE_GROUP = "alerting"


@dataclass
class EngineStats:
    scores: int = 0
    readings: int = 0
    opened: int = 0
    resolved: int = 0
    undecodable: int = 0

    def count(self, changes: list[AlertChange]) -> None:
        self.opened += sum(c.change == "opened" for c in changes)
        self.resolved += sum(c.change == "resolved" for c in changes)


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
) -> EngineStats:
    """Evaluate rules on both topics until stopped; offsets are committed after the alerts
    of a batch are stored (a crash re-evaluates the batch: triggers find the same alert)."""
    stop = stop or threading.Event()
    stats = EngineStats()
    consumer = stream.consumer([ANOMALY_SCORES, SENSOR_DATA], group)
    last_tick = -math.inf

    def tick_when_due() -> None:
        nonlocal last_tick
        if time.monotonic() - last_tick >= tick_s:
            stats.count(engine.tick(sensors=metadata.list_sensors()))
            last_tick = time.monotonic()

    try:
        tick_when_due()
        for records in poll_batches(
            consumer, stop=stop, batch_size=batch_size, until_idle_s=until_idle_s
        ):
            tick_when_due()
            if not records:
                continue
            scores, readings = [], []
            for rec in records:
                try:
                    if rec.topic == ANOMALY_SCORES:
                        scores.append(decode_score(rec.value))
                    else:
                        readings.append(decode_reading(rec.value))
                except ValidationError:
                    stats.undecodable += 1
            stats.scores += len(scores)
            stats.readings += len(readings)
            stats.count(engine.on_readings(readings))
            stats.count(engine.on_scores(scores))
            consumer.commit(records)
    finally:
        consumer.close()
    return stats
