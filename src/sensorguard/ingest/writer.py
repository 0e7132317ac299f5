"""The store writer: moves readings from `sensor-data` into the store, at least once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from sensorguard import metrics
from sensorguard.errors import BackendUnavailable
from sensorguard.ingest.pipeline import retry_until_stopped
from sensorguard.schemas import Reading, Rejection
from sensorguard.store import TimeSeriesStore
from sensorguard.stream import (
    SENSOR_DATA,
    SENSOR_DATA_DLQ,
    Message,
    Record,
    Stream,
    poll_batches,
)
from sensorguard.stream.codec import dead_letter, decode_reading, parse_json

if TYPE_CHECKING:
    from sensorguard.monitoring import SystemMetricsPublisher

log = logging.getLogger(__name__)

WRITER_GROUP = "store-writer"


@dataclass
class WriterStats:
    polled: int = 0
    written: int = 0
    dead_lettered: int = 0
    retries: int = 0
    commit_failures: int = 0


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
    publisher: SystemMetricsPublisher | None = None,
) -> WriterStats:
    """Poll, write, then commit: offsets move only after the store acknowledged the write.

    A crash between write and commit replays the batch, which the idempotent upsert absorbs.
    A store outage (BackendUnavailable) is retried; any other error of the store is about the
    records, so retrying the batch would fail forever: the records it refuses are
    dead-lettered with the error, and the rest written. Returns when `stop` is set, or after
    `until_idle_s` seconds without a record. `publisher` reports on the loop every round.
    """
    stop = stop or threading.Event()
    stats = WriterStats()
    consumer = stream.consumer([SENSOR_DATA], group)
    try:
        for records in poll_batches(
            consumer, stop=stop, batch_size=batch_size, until_idle_s=until_idle_s
        ):
            metrics.WRITER_BATCH.set(len(records))
            if publisher is not None:
                publisher.tick(asdict(stats))
            if not records:
                continue
            stats.polled += len(records)
            started = time.perf_counter()
            decoded = _decode(stream, records, stats, stop, max_backoff_s)
            if decoded is None or not _store(stream, store, decoded, stats, stop, max_backoff_s):
                break  # stopped while a backend was down: leave the offsets uncommitted
            try:
                consumer.commit(records)
            except BackendUnavailable as err:
                # Written already: a rebalance (or a broker gone mid-commit) makes whoever owns
                # the partitions next write the batch again, which the upsert absorbs. Crashing
                # here instead would only replay it once more after a restart.
                stats.commit_failures += 1
                log.warning("offset commit refused, going on (the batch replays): %s", err)
            if publisher is not None:
                publisher.observe_latency(time.perf_counter() - started)
            if on_batch:
                on_batch(stats)
    finally:
        consumer.close()
    return stats


def _decode(
    stream: Stream, records: list[Record], stats: WriterStats, stop: threading.Event, cap_s: float
) -> list[tuple[Record, Reading]] | None:
    """Each record with its reading; undecodable ones dead-lettered. None if stopped first."""
    decoded: list[tuple[Record, Reading]] = []
    bad = []
    for rec in records:
        try:
            decoded.append((rec, decode_reading(rec.value)))
        except ValidationError as err:
            # Ingest validated it, so this is a foreign producer: keep it, with the reason.
            rej = Rejection(index=rec.offset, field="value", reason=str(err).splitlines()[0])
            raw = rec.value.decode("utf-8", "replace")
            bad.append((rec.key, dead_letter(_source(rec), raw, rej)))
    if not _dead_letter(stream, bad, stats, stop, cap_s):
        return None
    if bad:
        log.warning("%d undecodable records from %s moved to the DLQ", len(bad), SENSOR_DATA)
    return decoded


def _store(
    stream: Stream,
    store: TimeSeriesStore,
    decoded: list[tuple[Record, Reading]],
    stats: WriterStats,
    stop: threading.Event,
    cap_s: float,
) -> bool:
    """True once every reading is stored or dead-lettered; False if stopped while one failed."""
    try:
        return _write_with_retry(store, [r for _, r in decoded], stats, stop, cap_s)
    except Exception as err:  # not an outage (those are retried): something in the batch
        log.warning(
            "the store refused a batch of %d (%s: %s); writing it reading by reading",
            len(decoded),
            type(err).__name__,
            err,
        )
    poison = []
    # Slow, but only on this rare path: it finds the records at fault and keeps the others.
    for rec, reading in decoded:
        try:
            if not _write_with_retry(store, [reading], stats, stop, cap_s):
                return False
        except Exception as err:
            rej = Rejection(
                index=rec.offset,
                field="store",
                reason=f"the store refused the reading: {type(err).__name__}: {err}",
                sensor_id=reading.sensor_id,
            )
            poison.append((rec.key, dead_letter(_source(rec), parse_json(rec.value), rej)))
    if poison:
        log.warning("%d readings the store refused moved to the DLQ", len(poison))
    return _dead_letter(stream, poison, stats, stop, cap_s)


def _source(rec: Record) -> str:
    return f"{rec.topic}[{rec.partition}]"


def _dead_letter(
    stream: Stream,
    letters: list[Message],
    stats: WriterStats,
    stop: threading.Event,
    cap_s: float,
) -> bool:
    """Publish dead letters, retrying while the stream is down; False if stopped first."""
    if not letters:
        return True
    if not retry_until_stopped(
        lambda: stream.publish(SENSOR_DATA_DLQ, letters),
        what="dead-letter publish",
        stop=stop,
        cap_s=cap_s,
    ):
        return False
    stats.dead_lettered += len(letters)
    metrics.DEAD_LETTERS.labels("writer").inc(len(letters))
    return True


def _write_with_retry(
    store: TimeSeriesStore,
    readings: list[Reading],
    stats: WriterStats,
    stop: threading.Event,
    max_backoff_s: float,
) -> bool:
    """True once the store took the batch; False if stopped while it was still failing."""

    def write() -> None:
        with metrics.STORE_WRITE_SECONDS.labels("readings").time():
            stats.written += store.write_readings(readings)
        metrics.WRITER_WRITTEN.inc(len(readings))

    def retried() -> None:
        stats.retries += 1
        metrics.WRITER_RETRIES.inc()

    return retry_until_stopped(
        write, what="store write", stop=stop, cap_s=max_backoff_s, on_retry=retried
    )
