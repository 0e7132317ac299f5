"""Message streams (topics, consumer groups), chosen by URL (sqlite:// or kafka://)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sensorguard.errors import UnsupportedURL
from sensorguard.stream.base import (
    ALL_TOPICS,
    ANOMALY_SCORES,
    SENSOR_DATA,
    SENSOR_DATA_DLQ,
    SYSTEM_METRICS,
    Message,
    Record,
    Stream,
    StreamConsumer,
    poll_batches,
)

if TYPE_CHECKING:
    from sensorguard.settings import Settings

__all__ = [
    "ALL_TOPICS",
    "ANOMALY_SCORES",
    "SENSOR_DATA",
    "SENSOR_DATA_DLQ",
    "SYSTEM_METRICS",
    "Message",
    "Record",
    "Stream",
    "StreamConsumer",
    "open_stream",
    "poll_batches",
]


def open_stream(
    url: str,
    *,
    partitions: int = 6,
    ensure_topics: bool = True,
    settings: Settings | None = None,
) -> Stream:
    """Open the stream a URL names; backends import their clients only when chosen.

    `settings` carries Kafka's client options (timeouts, linger, compression, TLS/SASL);
    without it the process's settings (`get_settings()`) apply."""
    stream: Stream
    if url.startswith("sqlite:///"):
        from sensorguard.stream.local import LocalLog

        stream = LocalLog.from_url(url, partitions=partitions)
    elif url.startswith("kafka://"):
        from sensorguard.stream.kafka import KafkaStream

        stream = KafkaStream.from_url(url, partitions=partitions, settings=settings)
    else:
        raise UnsupportedURL("SENSORGUARD_STREAM_URL", url, ("sqlite", "kafka"))
    if ensure_topics:
        stream.ensure_topics()
    return stream
