"""The one ingest path every front door (HTTP, MQTT) goes through: validate, publish, dead-letter."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sensorguard import metrics
from sensorguard.errors import BackendUnavailable
from sensorguard.schemas import BatchResult
from sensorguard.stream import SENSOR_DATA, SENSOR_DATA_DLQ, Stream
from sensorguard.stream.codec import dead_letter, encode_reading
from sensorguard.validation import ReadingValidator

log = logging.getLogger(__name__)


class DeadLettersUnrecorded(BackendUnavailable):
    """The batch's good rows were published, but its rejections could not be dead-lettered.

    Carries the result, so a front door can say truthfully what was accepted. Resending the
    whole batch is safe (published readings are absorbed as duplicates) and records them.
    """

    def __init__(self, result: BatchResult, cause: BackendUnavailable) -> None:
        self.result = result
        super().__init__(
            f"{len(result.accepted)} readings were accepted, but {len(result.rejected)} "
            f"rejections could not be recorded in {SENSOR_DATA_DLQ}: {cause}"
        )


class IngestPipeline:
    """Validates raw rows; valid ones go to `sensor-data` keyed by sensor_id, invalid to the DLQ.

    `submit` returns only after both publishes are durable, so a caller that got an answer
    may forget the batch: nothing it was told was accepted can be lost. If the readings were
    published but the dead letters were not, it raises DeadLettersUnrecorded (a
    BackendUnavailable that says what was accepted); any other BackendUnavailable means the
    readings were not acknowledged, and the batch is to be sent again.
    """

    def __init__(self, validator: ReadingValidator, stream: Stream) -> None:
        self.validator = validator
        self.stream = stream

    def submit(self, rows: Sequence[Any], source: str) -> BatchResult:
        # Metrics get the front door only ("mqtt", not "mqtt:sensors/site/id"): one series per
        # sensor would swamp Prometheus. The dead letter keeps the full source.
        door = source.split(":", 1)[0]
        with metrics.INGEST_SECONDS.labels(door).time():
            result = self.validator.validate_batch(rows)
            self.stream.publish(
                SENSOR_DATA, [(r.sensor_id, encode_reading(r)) for r in result.accepted]
            )
            metrics.READINGS_RECEIVED.labels(door).inc(len(rows))
            metrics.READINGS_ACCEPTED.labels(door).inc(len(result.accepted))
            if result.rejected:
                letters = [
                    (rej.sensor_id, dead_letter(source, _jsonable(rows[rej.index]), rej))
                    for rej in result.rejected
                ]
                try:
                    self.stream.publish(SENSOR_DATA_DLQ, letters)
                except BackendUnavailable as err:
                    raise DeadLettersUnrecorded(result, err) from err
                metrics.DEAD_LETTERS.labels(door).inc(len(letters))
        for rej in result.rejected:
            metrics.READINGS_REJECTED.labels(door, rej.field).inc()
        return result


def retry_until_stopped(
    step: Callable[[], object],
    *,
    what: str,
    stop: threading.Event,
    cap_s: float = 30.0,
    on_retry: Callable[[], None] | None = None,
) -> bool:
    """Run ``step`` until a backend takes it (True) or ``stop`` is set while it fails (False)."""
    for delay in retry_delays(stop, cap_s):
        try:
            step()
            return True
        except BackendUnavailable as err:
            if on_retry is not None:
                on_retry()
            log.warning("%s failed (%s); retrying in %.1fs", what, err, delay)
    return False


def retry_delays(stop: threading.Event, cap_s: float = 30.0) -> Iterator[float]:
    """Waits between retries of a failing step: 0.5 s doubling up to `cap_s`.

    Each delay is waited out when the next one is asked for, and the iteration ends if `stop`
    is set meanwhile: a retry loop over it that runs out was stopped.
    """
    delay = 0.5
    while True:
        yield delay
        if stop.wait(delay):
            return
        delay = min(delay * 2, cap_s)


def _jsonable(raw: Any) -> Any:
    """The raw row as it can be kept in a dead letter (JSON-native or its repr)."""
    if isinstance(raw, dict | list | str | int | float | bool) or raw is None:
        return raw
    return repr(raw)
