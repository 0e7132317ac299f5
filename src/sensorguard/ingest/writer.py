"""The store writer: moves readings from `sensor-data` into the store, at least once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from sensorguard import metrics
from sensorguard.ingest.pipeline import retry_until_stopped
from sensorguard.schemas import Reading, Rejection
from sensorguard.store import TimeSeriesStore
from sensorguard.stream import SENSOR_DATA, SENSOR_DATA_DLQ, Record, Stream, poll_batches
from sensorguard.stream.codec import dead_letter, decode_reading

log = logging.getLogger(__name__)

WRITER_GROUP = "store-writer"


@dataclass
class WriterStats:
    polled: int = 0
    written: int = 0
    dead_lettered: int = 0
    retries: int = 0


def run_writer(
    stream: Stream,
    store: TimeSeriesStore,
    *,
    group: str = WRITER_GROUP,
    batch_size: int = 1000,
    until_idle_s: float | None = None,
    stop: threading.Event | None = None,
    max_backoff_s: float = 30.0,
    on_batch: Callable[[WriterStats], None] | None = None,
) -> WriterStats:
    """Poll, write, then commit: offsets move only after the store acknowledged the write.

    A crash between write and commit replays the batch, which the idempotent upsert absorbs.
    Returns when `stop` is set, or after `until_idle_s` seconds without a record.
    """
    stop = stop or threading.Event()
    stats = WriterStats()
    consumer = stream.consumer([SENSOR_DATA], group)
    try:
        for records in poll_batches(
            consumer, stop=stop, batch_size=batch_size, until_idle_s=until_idle_s
        ):
            metrics.WRITER_BATCH.set(len(records))
            if not records:
                continue
            stats.polled += len(records)
            readings = _decode(stream, records, stats)
            if not _write_with_retry(store, readings, stats, stop, max_backoff_s):
                break  # stopped while the store was down: leave the offsets uncommitted
            consumer.commit(records)
            if on_batch:
                on_batch(stats)
    finally:
        consumer.close()
    return stats


def _decode(stream: Stream, records: list[Record], stats: WriterStats) -> list[Reading]:
    readings: list[Reading] = []
    bad = []
    for rec in records:
        try:
            readings.append(decode_reading(rec.value))
        except ValidationError as err:
            # Ingest validated it, so this is a foreign producer: keep it, with the reason.
            rej = Rejection(index=rec.offset, field="value", reason=str(err).splitlines()[0])
            raw = rec.value.decode("utf-8", "replace")
            bad.append((rec.key, dead_letter(f"{rec.topic}[{rec.partition}]", raw, rej)))
    if bad:
        stream.publish(SENSOR_DATA_DLQ, bad)
        stats.dead_lettered += len(bad)
        log.warning("%d undecodable records from %s moved to the DLQ", len(bad), SENSOR_DATA)
    return readings


def _write_with_retry(
    store: TimeSeriesStore,
    readings: list[Reading],
    stats: WriterStats,
    stop: threading.Event,
    max_backoff_s: float,
) -> bool:
    """True once the store took the batch; False if stopped while it was still failing."""

    def write() -> None:
        stats.written += store.write_readings(readings)
        metrics.WRITER_WRITTEN.inc(len(readings))

    def retried() -> None:
        stats.retries += 1
        metrics.WRITER_RETRIES.inc()

    return retry_until_stopped(
        write, what="store write", stop=stop, cap_s=max_backoff_s, on_retry=retried
    )
