"""The stream interface every backend (local durable log, Kafka) implements."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

# The topics of the data path (ARCHITECTURE.md: contracts worth keeping stable).
SENSOR_DATA = "sensor-data"
SENSOR_DATA_DLQ = "sensor-data-dlq"
ANOMALY_SCORES = "anomaly-scores"
SYSTEM_METRICS = "system-metrics"
ALL_TOPICS = (SENSOR_DATA, SENSOR_DATA_DLQ, ANOMALY_SCORES, SYSTEM_METRICS)


@dataclass(frozen=True, slots=True)
class Record:
    """One message as a consumer sees it."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    timestamp_ms: int


def next_offsets(records: Sequence[Record]) -> dict[tuple[str, int], int]:
    """Per (topic, partition), the offset to commit: one past the highest record processed."""
    highest: dict[tuple[str, int], int] = {}
    for rec in records:
        key = (rec.topic, rec.partition)
        highest[key] = max(highest.get(key, -1), rec.offset)
    return {key: offset + 1 for key, offset in highest.items()}


Message = tuple[str | None, bytes]
"""(key, value) as a producer sends it; the key picks the partition, keeping one sensor in order."""


class StreamConsumer(Protocol):
    """A member of a consumer group. Offsets are committed only when the caller says so."""

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]: ...

    def commit(self, records: Sequence[Record]) -> None:
        """Mark these records (and everything before them in their partitions) processed."""

    def assignment(self) -> frozenset[tuple[str, int]]:
        """The (topic, partition) pairs this member reads now; a rebalance changes them."""

    def close(self) -> None: ...


class Stream(Protocol):
    def ensure_topics(self, topics: Sequence[str] = ALL_TOPICS) -> None:
        """Create missing topics; safe to run twice."""

    def publish(self, topic: str, messages: Sequence[Message]) -> None:
        """Append messages and return once they are durable (acknowledged); raise if not."""

    def consumer(self, topics: Sequence[str], group: str) -> StreamConsumer:
        """Join a consumer group; a new group starts at the earliest offset."""

    def tail(self, topics: Sequence[str]) -> StreamConsumer:
        """A reader of what is published from now on, in no group: it starts at the end of
        every partition and commits nothing (live views, not processing)."""

    def lag(self, group: str, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        """Records per (topic, partition) that ``group`` has not committed yet: the end offset
        less the committed one (a partition never committed counts from its earliest offset,
        where a new member would start). ``group`` is the logical name given to ``consumer``."""

    def close(self) -> None: ...


def poll_batches(
    consumer: StreamConsumer,
    *,
    stop: threading.Event,
    batch_size: int,
    until_idle_s: float | None = None,
    timeout_s: float = 0.5,
) -> Iterator[list[Record]]:
    """Every poll's records (empty ones too, so a caller can do timed work between them)
    until ``stop`` is set, or until ``until_idle_s`` passes without a record."""
    idle_since = time.monotonic()
    while not stop.is_set():
        records = consumer.poll(batch_size, timeout_s=timeout_s)
        if records:
            idle_since = time.monotonic()
        elif until_idle_s is not None and time.monotonic() - idle_since >= until_idle_s:
            return
        yield records
